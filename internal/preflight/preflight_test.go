package preflight

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/acme/cf-invalidator/internal/config"
)

func staticCreds(c aws.Credentials, err error) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, err })
}

func TestCheckCredentials(t *testing.T) {
	ctx := context.Background()
	secret := "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

	r := CheckCredentials(ctx, staticCreds(aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: secret,
		SessionToken: "token-secret", Source: "EnvConfigCredentials"}, nil))
	if r.Status != Pass || r.Detail != "from EnvConfigCredentials, access key AKIA…" {
		t.Errorf("long-term key: %+v", r)
	}
	for _, leak := range []string{secret, "token-secret", "IOSFODNN"} {
		if strings.Contains(r.Detail+r.Remedy, leak) {
			t.Errorf("credentials result shows %q: %+v", leak, r)
		}
	}

	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	r = CheckCredentials(ctx, staticCreds(aws.Credentials{AccessKeyID: "ASIAIOSFODNN7EXAMPLE", Source: "AssumeRoleProvider",
		CanExpire: true, Expires: exp}, nil))
	if r.Status != Pass || r.Detail != "from AssumeRoleProvider, access key ASIA…, expires 2030-01-02T03:04:05Z" {
		t.Errorf("temporary key: %+v", r)
	}

	r = CheckCredentials(ctx, staticCreds(aws.Credentials{AccessKeyID: "test"}, nil))
	if r.Status != Pass || r.Detail != "from an unnamed provider" {
		t.Errorf("short test key: %+v", r)
	}

	r = CheckCredentials(ctx, staticCreds(aws.Credentials{}, errors.New("no EC2 IMDS role found")))
	if r.Status != Fail || !strings.Contains(r.Detail, "no EC2 IMDS role found") || !strings.Contains(r.Remedy, "AWS_PROFILE") {
		t.Errorf("retrieve error: %+v", r)
	}
	if r = CheckCredentials(ctx, nil); r.Status != Fail || !strings.Contains(r.Remedy, "role") {
		t.Errorf("nil provider: %+v", r)
	}
}

func TestCheckRegionAndAWSConfig(t *testing.T) {
	if r := CheckRegion(""); r.Status != Fail || !strings.Contains(r.Remedy, "AWS_REGION") {
		t.Errorf("no region: %+v", r)
	}
	if r := CheckRegion("eu-west-1"); r.Status != Pass || r.Detail != "eu-west-1" {
		t.Errorf("region: %+v", r)
	}
	r := CheckAWSConfig(errors.New("failed to get shared config profile, prod"))
	if r.Status != Fail || !strings.Contains(r.Detail, "profile, prod") || !strings.Contains(r.Remedy, "AWS_PROFILE") {
		t.Errorf("aws config: %+v", r)
	}
}

func TestCheckDistribution(t *testing.T) {
	ctx := context.Background()
	d := Distribution{ID: "E2EXAMPLE", Key: "distributions[1].id"}

	f := &fakeCF{invalidations: map[string][]string{"E2EXAMPLE": nil}}
	rs := CheckDistribution(ctx, f, d)
	wantSummary(t, rs, "distribution=pass", "distribution.get_invalidation=skip")
	wantText(t, rs[1], "cloudfront:GetInvalidation", "arn:aws:cloudfront::ACCOUNT_ID:distribution/E2EXAMPLE")
	if !slices.Equal(f.maxItems, []int32{1}) {
		t.Errorf("MaxItems = %v, want [1]", f.maxItems)
	}

	f = &fakeCF{invalidations: map[string][]string{"E2EXAMPLE": {"I2", "I1"}}}
	rs = CheckDistribution(ctx, f, d)
	wantSummary(t, rs, "distribution=pass", "distribution.get_invalidation=pass")
	if want := []string{"ListInvalidations E2EXAMPLE", "GetInvalidation E2EXAMPLE I2"}; !slices.Equal(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}

	f.getErr = map[string]error{"E2EXAMPLE": &cftypes.AccessDenied{Message: aws.String("denied")}}
	rs = CheckDistribution(ctx, f, d)
	wantSummary(t, rs, "distribution=pass", "distribution.get_invalidation=fail")
	wantText(t, rs[1], "grant cloudfront:GetInvalidation on arn:aws:cloudfront::ACCOUNT_ID:distribution/E2EXAMPLE")

	f = &fakeCF{invalidations: map[string][]string{}}
	rs = CheckDistribution(ctx, f, d)
	wantSummary(t, rs, "distribution=fail")
	wantText(t, rs[0], "NoSuchDistribution", "no distribution E2EXAMPLE", "fix distributions[1].id")

	for _, denied := range []error{&cftypes.AccessDenied{Message: aws.String("denied")}, &smithy.GenericAPIError{Code: "AccessDenied"}} {
		f = &fakeCF{listErr: map[string]error{"E2EXAMPLE": denied}}
		rs = CheckDistribution(ctx, f, d)
		wantSummary(t, rs, "distribution=fail")
		wantText(t, rs[0], "cloudfront:ListInvalidations", "cloudfront:CreateInvalidation", "distribution/E2EXAMPLE", "InvalidateAllowListedDistributions")
	}
}

func TestCheckTenant(t *testing.T) {
	ctx := context.Background()
	tn := Distribution{ID: "dt_2wjDZi3hD1ivOXf6rpZJOSNE1AB", Key: "tenants[0].id"}
	f := &fakeCF{tenants: map[string]bool{tn.ID: true}}
	if r := CheckTenant(ctx, f, tn); r.Status != Pass || r.Name != "tenant" {
		t.Errorf("tenant: %+v", r)
	}
	if !slices.Equal(f.maxItems, []int32{1}) {
		t.Errorf("MaxItems = %v, want [1]", f.maxItems)
	}
	r := CheckTenant(ctx, &fakeCF{}, tn)
	if r.Status != Fail {
		t.Fatalf("missing tenant: %+v", r)
	}
	wantText(t, r, "EntityNotFound", "fix tenants[0].id")
	r = CheckTenant(ctx, &fakeCF{tenantErr: map[string]error{tn.ID: &cftypes.AccessDenied{}}}, tn)
	wantText(t, r, "cloudfront:ListInvalidationsForDistributionTenant", "distribution-tenant/"+tn.ID)
}

func TestCheckCompletion(t *testing.T) {
	ctx := context.Background()
	topic := "arn:aws:sns:us-east-1:123456789012:done"
	cq := host + "/" + account + "/done"
	sq := &fakeSQS{queues: map[string]map[string]string{cq: {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:done"}}}
	both := Plan{TrackCompletion: true, CompletionTopicARN: topic, CompletionQueueURL: cq}

	if rs := CheckCompletion(ctx, nil, sq, region, Plan{TrackCompletion: true}); rs != nil {
		t.Errorf("no targets: %v", rs)
	}
	rs := CheckCompletion(ctx, &fakeSNS{topics: map[string]bool{topic: true}}, sq, region, both)
	wantSummary(t, rs, "completion.topic=pass", "completion.publish=skip", "completion.queue=pass", "completion.send=skip")
	wantText(t, rs[1], "sns:Publish")
	wantText(t, rs[3], "sqs:SendMessage")

	off := both
	off.TrackCompletion = false
	rs = CheckCompletion(ctx, nil, sq, region, off)
	wantSummary(t, rs, "completion=fail")
	wantText(t, rs[0], "track_completion")

	for _, tc := range []struct {
		name   string
		sns    SNSAPI
		status Status
		text   string
	}{
		{"missing topic", &fakeSNS{}, Fail, "fix completion_topic_arn"},
		{"topic denied", &fakeSNS{err: &snstypes.AuthorizationErrorException{}}, Skip, "sns:GetTopicAttributes"},
		{"topic denied, generic", &fakeSNS{err: &smithy.GenericAPIError{Code: "AuthorizationError"}}, Skip, "sns:GetTopicAttributes"},
		{"topic network", &fakeSNS{err: errNetwork}, Fail, "connection refused"},
		{"no client", nil, Skip, "no SNS client"},
	} {
		r := CheckCompletion(ctx, tc.sns, sq, region, Plan{TrackCompletion: true, CompletionTopicARN: topic})[0]
		if r.Status != tc.status {
			t.Errorf("%s: %+v", tc.name, r)
		}
		wantText(t, r, tc.text)
	}

	for _, tc := range []struct {
		name   string
		url    string
		err    error
		status Status
		text   string
	}{
		{"missing queue", host + "/" + account + "/gone", nil, Fail, "fix completion_queue_url"},
		{"queue denied", cq, errDeniedSQS, Skip, "sqs:GetQueueAttributes on arn:aws:sqs:us-east-1:123456789012:done"},
		{"queue in another region", "https://sqs.eu-west-1.amazonaws.com/" + account + "/done", nil, Fail, "eu-west-1"},
		{"not a queue URL", host + "/done", nil, Fail, "not a queue URL"},
	} {
		sq.attrErr = map[string]error{cq: tc.err}
		r := CheckCompletion(ctx, nil, sq, region, Plan{TrackCompletion: true, CompletionQueueURL: tc.url})[0]
		if r.Status != tc.status {
			t.Errorf("%s: %+v", tc.name, r)
		}
		wantText(t, r, tc.text)
	}
}

func TestPreflightRun(t *testing.T) {
	ctx := context.Background()
	good := Clients{
		Credentials: staticCreds(aws.Credentials{AccessKeyID: "test", Source: "test"}, nil), Region: region,
		SQS: standardQueues(),
		CloudFront: &fakeCF{invalidations: map[string][]string{"E1": {"I1"}, "E2": {"I9"}},
			tenants: map[string]bool{"dt_1": true}},
	}
	plan := Plan{
		Queues:        []Queue{testQueue()},
		Distributions: []Distribution{{ID: "E1", Key: "distributions[0].id"}, {ID: "E2", Key: "distributions[1].id"}},
		Tenants:       []Distribution{{ID: "dt_1", Key: "tenants[0].id"}},
		AllowAll:      true,
	}
	rs := Run(ctx, good, plan)
	if Failed(rs) {
		t.Errorf("a good setup failed:\n%s", dump(rs))
	}
	wantSummary(t, rs[:2], "credentials=pass", "region=pass")
	tail := summary(rs)[len(rs)-8:]
	if want := []string{"distribution=pass", "distribution.get_invalidation=pass", "distribution=pass", "distribution.get_invalidation=pass",
		"tenant=pass", "distribution.create_invalidation=skip", "tenant.create_invalidation=skip", "distribution.allow_all=skip"}; !slices.Equal(tail, want) {
		t.Errorf("tail %q, want %q", tail, want)
	}
	if r := find(t, rs, "distribution.create_invalidation"); r.Target != "E1,E2" {
		t.Errorf("create_invalidation target %q", r.Target)
	}
	n := Counts(rs)
	if n[Fail] != 0 || n[Pass]+n[Skip] != len(rs) || n[Skip] < 5 {
		t.Errorf("counts %v of %d", n, len(rs))
	}

	// Several queues are checked in turn, each under its own keys.
	second := testQueue()
	second.URL, second.URLKey, second.DLQURL = host+"/"+account+"/missing", "queues[1].url", ""
	plan.Queues = append(plan.Queues, second)
	rs = Run(ctx, good, plan)
	if !Failed(rs) {
		t.Fatal("a missing second queue passed")
	}
	var missing Result
	for _, r := range rs {
		if r.Name == "queue" && r.Target == second.URL {
			missing = r
		}
	}
	wantText(t, missing, "fix queues[1].url (set in the file)")

	// Without credentials nothing else is tried.
	sq := standardQueues()
	bad := Clients{Credentials: staticCreds(aws.Credentials{}, errors.New("no credentials")), Region: region, SQS: sq, CloudFront: &fakeCF{}}
	rs = Run(ctx, bad, plan)
	wantSummary(t, rs, "credentials=fail", "region=pass", "aws=skip")
	if len(sq.calls) != 0 {
		t.Errorf("calls without credentials: %q", sq.calls)
	}
	bad.Credentials, bad.Region = good.Credentials, ""
	wantSummary(t, Run(ctx, bad, plan), "credentials=pass", "region=fail", "aws=skip")
}

func TestPreflightPlanFor(t *testing.T) {
	c := config.Default()
	c.QueueURL, c.DeadLetterQueueURL = qURL, dlqURL
	c.Distributions = []config.Distribution{{ID: "E1"}, {ID: "E2", MaxHold: 3 * time.Hour}}
	c.CompletionTopicARN = "arn:aws:sns:us-east-1:123456789012:done"
	p := PlanFor(c)
	want := Plan{
		Queues: []Queue{{URL: qURL, URLKey: "queue_url", DLQURL: dlqURL, DLQKey: "dead_letter_queue_url",
			Visibility: time.Minute, VisibilityKey: "visibility_timeout", MaxHold: 3 * time.Hour}},
		Distributions:   []Distribution{{ID: "E1", Key: "distributions[0].id"}, {ID: "E2", Key: "distributions[1].id"}},
		TrackCompletion: true, CompletionTopicARN: c.CompletionTopicARN,
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("PlanFor:\n got %+v\nwant %+v", p, want)
	}
}

func TestPreflightClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want errKind
	}{
		{&sqstypes.QueueDoesNotExist{}, errNotFound},
		{fmt.Errorf("operation error SQS: GetQueueAttributes: %w", &sqstypes.QueueDoesNotExist{}), errNotFound},
		{&smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue"}, errNotFound},
		{&cftypes.NoSuchDistribution{}, errNotFound},
		{&cftypes.EntityNotFound{}, errNotFound},
		{&snstypes.NotFoundException{}, errNotFound},
		{&cftypes.AccessDenied{}, errDenied},
		{&snstypes.AuthorizationErrorException{}, errDenied},
		{&smithy.GenericAPIError{Code: "AccessDeniedException"}, errDenied},
		{&sqstypes.InvalidSecurity{}, errCredentials},
		{&smithy.GenericAPIError{Code: "SignatureDoesNotMatch"}, errCredentials},
		{&smithy.GenericAPIError{Code: "ExpiredToken"}, errCredentials},
		{&smithy.GenericAPIError{Code: "Throttling"}, errOther},
		{errNetwork, errOther},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%T %v) = %d, want %d", tc.err, tc.err, got, tc.want)
		}
	}
}

// The client interfaces hold read calls only: nothing a check calls can
// create an invalidation or receive, change, delete or send a message.
func TestPreflightInterfacesAreReadOnly(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[SQSAPI](), reflect.TypeFor[CloudFrontAPI](), reflect.TypeFor[SNSAPI]()} {
		for i := range typ.NumMethod() {
			if name := typ.Method(i).Name; !strings.HasPrefix(name, "Get") && !strings.HasPrefix(name, "List") {
				t.Errorf("%s has %s, which is not a read", typ.Name(), name)
			}
		}
	}
}
