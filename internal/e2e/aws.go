package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acme/cf-invalidator/internal/testenv"
)

// SQSClient is a real SDK client for the SQS emulator at endpoint.
func SQSClient(endpoint string) *sqs.Client {
	return sqs.NewFromConfig(testenv.AWSConfig(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// CFClient is a real SDK client for the CloudFront API at endpoint (moto or
// the simulator).
func CFClient(endpoint string) *cloudfront.Client {
	return cloudfront.NewFromConfig(testenv.AWSConfig(), func(o *cloudfront.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// SNSClient is a real SDK client for moto's SNS at endpoint.
func SNSClient(endpoint string) *sns.Client {
	return sns.NewFromConfig(testenv.AWSConfig(), func(o *sns.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// ChildEnv is the AWS environment of a worker child process: test
// credentials, no profile files (a developer's ~/.aws must not leak in),
// and the given endpoints ("" leaves one out).
func ChildEnv(sqsEndpoint, cfEndpoint string) []string {
	return append(testenv.AWSEnv(sqsEndpoint, cfEndpoint),
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull, "AWS_CONFIG_FILE="+os.DevNull)
}

// CLI runs the aws cli against endpoint and decodes its JSON output (nil
// for no output).
func CLI(t testing.TB, endpoint string, args ...string) map[string]any {
	t.Helper()
	out := testenv.AWSCLI(t, endpoint, args...)
	if strings.TrimSpace(out) == "" {
		return nil
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("aws %s: output is not a JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// Dig walks v by object keys (strings) and array indexes (ints); nil when
// a step is missing.
func Dig(v any, path ...any) any {
	for _, k := range path {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k < 0 || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// Abridge shortens s (whitespace collapsed) to n bytes for a log line.
func Abridge(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
