package preflight

// Hand-written fakes of the read-only SDK calls the checks make. They
// answer with the SDK's own error types, so classify sees what it sees from
// AWS.

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

const (
	region  = "us-east-1"
	account = "123456789012"
	host    = "http://127.0.0.1:4566"
	qURL    = host + "/" + account + "/q"
	dlqURL  = host + "/" + account + "/q-dlq"
	qARN    = "arn:aws:sqs:" + region + ":" + account + ":q"
	dlqARN  = "arn:aws:sqs:" + region + ":" + account + ":q-dlq"
)

var (
	errDeniedSQS = &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access to the resource is denied."}
	errNoQueue   = &sqstypes.QueueDoesNotExist{Message: aws.String("The specified queue does not exist.")}
)

// fakeSQS serves queues by URL; a queue is found by name through the path
// /ACCOUNT/NAME of its URL.
type fakeSQS struct {
	queues  map[string]map[string]string // URL → attributes
	attrErr map[string]error             // URL → GetQueueAttributes error
	urlErr  map[string]error             // name → GetQueueUrl error
	calls   []string
}

func (f *fakeSQS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	u := aws.ToString(in.QueueUrl)
	f.calls = append(f.calls, "GetQueueAttributes "+u)
	if err := f.attrErr[u]; err != nil {
		return nil, err
	}
	attrs, ok := f.queues[u]
	if !ok {
		return nil, errNoQueue
	}
	out := map[string]string{}
	for _, n := range in.AttributeNames {
		if v, ok := attrs[string(n)]; ok {
			out[string(n)] = v
		}
	}
	return &sqs.GetQueueAttributesOutput{Attributes: out}, nil
}

func (f *fakeSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	name, acct := aws.ToString(in.QueueName), aws.ToString(in.QueueOwnerAWSAccountId)
	f.calls = append(f.calls, "GetQueueUrl "+acct+"/"+name)
	if err := f.urlErr[name]; err != nil {
		return nil, err
	}
	for u := range f.queues {
		if p, err := url.Parse(u); err == nil && p.Path == "/"+acct+"/"+name {
			return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(u)}, nil
		}
	}
	return nil, errNoQueue
}

// standardQueues is a queue q redriving to q-dlq after 5 receives, both
// with SQS's default retention and no encryption.
func standardQueues() *fakeSQS {
	return &fakeSQS{queues: map[string]map[string]string{
		qURL: {"QueueArn": qARN, "VisibilityTimeout": "60", "MessageRetentionPeriod": "345600", "FifoQueue": "false",
			"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":5}`},
		dlqURL: {"QueueArn": dlqARN, "VisibilityTimeout": "60", "MessageRetentionPeriod": "1209600"},
	}}
}

type fakeCF struct {
	invalidations map[string][]string // distribution → invalidation ids, newest first
	listErr       map[string]error
	getErr        map[string]error
	tenants       map[string]bool
	tenantErr     map[string]error
	maxItems      []int32
	calls         []string
}

func (f *fakeCF) ListInvalidations(_ context.Context, in *cloudfront.ListInvalidationsInput, _ ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsOutput, error) {
	id := aws.ToString(in.DistributionId)
	f.calls = append(f.calls, "ListInvalidations "+id)
	f.maxItems = append(f.maxItems, aws.ToInt32(in.MaxItems))
	if err := f.listErr[id]; err != nil {
		return nil, err
	}
	ids, ok := f.invalidations[id]
	if !ok {
		return nil, &cftypes.NoSuchDistribution{Message: aws.String("The specified distribution does not exist.")}
	}
	list := &cftypes.InvalidationList{}
	for _, i := range ids[:min(len(ids), int(aws.ToInt32(in.MaxItems)))] {
		list.Items = append(list.Items, cftypes.InvalidationSummary{Id: aws.String(i), Status: aws.String("Completed")})
	}
	return &cloudfront.ListInvalidationsOutput{InvalidationList: list}, nil
}

func (f *fakeCF) GetInvalidation(_ context.Context, in *cloudfront.GetInvalidationInput, _ ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error) {
	id := aws.ToString(in.DistributionId)
	f.calls = append(f.calls, "GetInvalidation "+id+" "+aws.ToString(in.Id))
	if err := f.getErr[id]; err != nil {
		return nil, err
	}
	if !slices.Contains(f.invalidations[id], aws.ToString(in.Id)) {
		return nil, &cftypes.NoSuchInvalidation{}
	}
	return &cloudfront.GetInvalidationOutput{}, nil
}

func (f *fakeCF) ListInvalidationsForDistributionTenant(_ context.Context, in *cloudfront.ListInvalidationsForDistributionTenantInput, _ ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsForDistributionTenantOutput, error) {
	id := aws.ToString(in.Id)
	f.calls = append(f.calls, "ListInvalidationsForDistributionTenant "+id)
	f.maxItems = append(f.maxItems, aws.ToInt32(in.MaxItems))
	if err := f.tenantErr[id]; err != nil {
		return nil, err
	}
	if !f.tenants[id] {
		return nil, &cftypes.EntityNotFound{Message: aws.String("The entity was not found.")}
	}
	return &cloudfront.ListInvalidationsForDistributionTenantOutput{InvalidationList: &cftypes.InvalidationList{}}, nil
}

type fakeSNS struct {
	topics map[string]bool
	err    error
}

func (f *fakeSNS) GetTopicAttributes(_ context.Context, in *sns.GetTopicAttributesInput, _ ...func(*sns.Options)) (*sns.GetTopicAttributesOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	if !f.topics[aws.ToString(in.TopicArn)] {
		return nil, &snstypes.NotFoundException{Message: aws.String("Topic does not exist")}
	}
	return &sns.GetTopicAttributesOutput{}, nil
}

// summary is each result as "name=status", for comparing whole runs.
func summary(rs []Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name + "=" + string(r.Status)
	}
	return out
}

func wantSummary(t *testing.T, rs []Result, want ...string) {
	t.Helper()
	if got := summary(rs); !slices.Equal(got, want) {
		t.Errorf("results:\n  %s\nwant:\n  %s\n%s", strings.Join(got, "\n  "), strings.Join(want, "\n  "), dump(rs))
	}
}

// find returns the result called name; the test fails if there is none.
func find(t *testing.T, rs []Result, name string) Result {
	t.Helper()
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no result %q in:\n%s", name, dump(rs))
	return Result{}
}

// wantText fails unless r's Detail+Remedy contains every fragment.
func wantText(t *testing.T, r Result, fragments ...string) {
	t.Helper()
	text := r.Detail + " | " + r.Remedy
	for _, f := range fragments {
		if !strings.Contains(text, f) {
			t.Errorf("%s: %q lacks %q", r.Name, text, f)
		}
	}
}

func dump(rs []Result) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString("  " + r.Name + " " + string(r.Status) + " " + r.Target + ": " + r.Detail + " | " + r.Remedy + "\n")
	}
	return b.String()
}

var errNetwork = errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
