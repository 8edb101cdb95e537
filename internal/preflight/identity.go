package preflight

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// CheckAWSConfig is the result when the SDK's shared configuration could
// not be loaded at all (a named profile that does not exist, a malformed
// ~/.aws/config): err is awsconfig.LoadDefaultConfig's.
func CheckAWSConfig(err error) Result {
	return Result{Name: "credentials", Status: Fail, Detail: fmt.Sprintf("loading the AWS SDK configuration: %v", err),
		Remedy: "fix the SDK settings it names (AWS_PROFILE, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, ~/.aws/config)"}
}

// CheckCredentials retrieves credentials through the SDK chain, as the
// worker does on its first call. It says where they came from and at most
// the first four characters of the access key id, which tell a long-term
// user key (AKIA) from temporary credentials (ASIA); never the secret or
// the session token.
func CheckCredentials(ctx context.Context, p aws.CredentialsProvider) Result {
	r := Result{Name: "credentials"}
	if p == nil {
		r.Status, r.Detail = Fail, "the SDK chain found no credentials provider"
		r.Remedy = "give the process credentials: a task or instance role, EKS IRSA, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
		return r
	}
	creds, err := p.Retrieve(ctx)
	if err != nil {
		r.Status, r.Detail = Fail, fmt.Sprintf("retrieving credentials: %v", err)
		r.Remedy = "give the process credentials: a task or instance role, EKS IRSA, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
		return r
	}
	r.Status = Pass
	r.Detail = "from " + orUnknown(creds.Source)
	// Access key ids are 16 to 128 characters (IAM AccessKey model); a
	// shorter one is a test value and showing any of it says nothing.
	if len(creds.AccessKeyID) >= 16 {
		r.Detail += ", access key " + creds.AccessKeyID[:4] + "…"
	}
	if creds.CanExpire {
		r.Detail += ", expires " + creds.Expires.UTC().Format(time.RFC3339)
	}
	return r
}

// CheckRegion: the SDK sends every call to its region's endpoint, so a
// missing region fails every call.
func CheckRegion(region string) Result {
	if region == "" {
		return Result{Name: "region", Status: Fail, Detail: "no region",
			Remedy: "set AWS_REGION (or region in the profile) to the region of queue_url"}
	}
	return Result{Name: "region", Status: Pass, Detail: region}
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed provider"
	}
	return s
}
