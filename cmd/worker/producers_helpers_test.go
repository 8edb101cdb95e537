package main

// Helpers of the producer end-to-end tests (producers_test.go): producers we
// do not control — moto's S3 bucket notifications, moto's SNS fan-out and the
// aws cli — feed the real worker binary, all against one moto_server per test.
// Names start with "prod" so they cannot collide with other tests' helpers.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/testenv"
)

// prodDist is one entry of INVALIDATOR_DISTRIBUTIONS (the config's
// distributions[] as JSON), with the s3 mapping the helpers_test.go config
// writer does not know about.
type prodDist struct {
	ID               string   `json:"id"`
	Aliases          []string `json:"aliases,omitempty"`
	S3               []prodS3 `json:"s3,omitempty"`
	IndexDirectories *bool    `json:"index_directories,omitempty"`
}

type prodS3 struct {
	Bucket     string `json:"bucket"`
	Prefix     string `json:"prefix,omitempty"`
	OriginPath string `json:"origin_path,omitempty"`
}

// prodStartWorker runs the worker on queue (dead-lettering to dlq) with the
// given allow-list, passed as INVALIDATOR_DISTRIBUTIONS, which replaces the
// config file's list as a whole. Window 1 s, visibility 30 s.
func prodStartWorker(t *testing.T, endpoint, queue, dlq string, dists []prodDist, env ...string) *workerProc {
	t.Helper()
	js, err := json.Marshal(dists)
	if err != nil {
		t.Fatal(err)
	}
	cfg := workerConfig{QueueURL: queue, DLQURL: dlq, Window: "1s", Visibility: "30s", Grace: "5s",
		Distributions: []dist{{ID: dists[0].ID}}} // replaced by the environment
	env = append(env, "INVALIDATOR_DISTRIBUTIONS="+string(js))
	return startWorker(t, cfg, endpoint, endpoint, env...)
}

func snsClient(endpoint string) *sns.Client {
	return sns.NewFromConfig(testenv.AWSConfig(), func(o *sns.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// prodQueueArn returns the QueueArn of queueURL.
func prodQueueArn(t *testing.T, c *sqs.Client, queueURL string) string {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("GetQueueAttributes QueueArn: %v", err)
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		t.Fatalf("queue %s has no QueueArn", queueURL)
	}
	return arn
}

// prodS3Distribution creates a moto distribution (CallerReference ref) whose
// origin is bucket (an S3 origin) with originPath ("" or "/site") and
// returns its id.
func prodS3Distribution(t *testing.T, c *cloudfront.Client, ref, bucket, originPath string) string {
	t.Helper()
	out, err := c.CreateDistribution(context.Background(), &cloudfront.CreateDistributionInput{
		DistributionConfig: &cftypes.DistributionConfig{
			CallerReference: aws.String(ref),
			Comment:         aws.String("origin s3://" + bucket + originPath),
			Enabled:         aws.Bool(true),
			Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
				Id:             aws.String("s3-" + bucket),
				DomainName:     aws.String(bucket + ".s3." + testenv.Region + ".amazonaws.com"),
				OriginPath:     aws.String(originPath),
				S3OriginConfig: &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String("")},
			}}},
			DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
				TargetOriginId:       aws.String("s3-" + bucket),
				ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyRedirectToHttps,
			},
		},
	})
	if err != nil {
		t.Fatalf("moto CreateDistribution (S3 origin %s%s): %v", bucket, originPath, err)
	}
	return aws.ToString(out.Distribution.Id)
}

// prodCLI runs the aws cli against endpoint and decodes its JSON output
// (nil for no output).
func prodCLI(t *testing.T, endpoint string, args ...string) map[string]any {
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

// prodUpload writes files (key → content) under a fresh directory and
// uploads them all with one `aws s3 cp --recursive` (one PutObject per file).
func prodUpload(t *testing.T, endpoint, bucket string, keys ...string) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range keys {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("content of "+k+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testenv.AWSCLI(t, endpoint, "s3", "cp", "--recursive", "--only-show-errors", dir, "s3://"+bucket+"/")
}

// prodNotifyQueue configures bucket to notify queueArn of every object
// creation and removal; moto sends an s3:TestEvent to the queue at once.
func prodNotifyQueue(t *testing.T, endpoint, bucket, queueArn string) {
	t.Helper()
	cfg := fmt.Sprintf(`{"QueueConfigurations":[{"QueueArn":%q,"Events":["s3:ObjectCreated:*","s3:ObjectRemoved:*"]}]}`, queueArn)
	prodCLI(t, endpoint, "s3api", "put-bucket-notification-configuration", "--bucket", bucket, "--notification-configuration", cfg)
}

// prodPeek receives want distinct messages from queueURL without consuming
// them: it makes each visible again at once (ChangeMessageVisibilityBatch 0;
// ReceiveMessage cannot ask for visibility 0, the SDK leaves a zero out).
// Each peek adds one to the messages' receive count.
func prodPeek(t *testing.T, c *sqs.Client, queueURL string, want int, within time.Duration) []types.Message {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	var got []types.Message
	deadline := time.Now().Add(within)
	for len(got) < want && time.Now().Before(deadline) {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("peek ReceiveMessage %s: %v", queueURL, err)
		}
		var entries []types.ChangeMessageVisibilityBatchRequestEntry
		for i, m := range out.Messages {
			entries = append(entries, types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
			if id := aws.ToString(m.MessageId); !seen[id] {
				seen[id] = true
				got = append(got, m)
			}
		}
		if len(entries) == 0 {
			continue
		}
		res, err := c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil {
			t.Fatalf("peek ChangeMessageVisibilityBatch: %v", err)
		}
		if len(res.Failed) > 0 {
			t.Fatalf("peek ChangeMessageVisibilityBatch: %d failed, first %s", len(res.Failed), aws.ToString(res.Failed[0].Message))
		}
	}
	if len(got) != want {
		t.Fatalf("peek %s: %d messages within %s, want %d", queueURL, len(got), within, want)
	}
	return got
}

// prodBodies returns the bodies of ms, parsed as JSON objects.
func prodBodies(t *testing.T, ms []types.Message) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range ms {
		var v map[string]any
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &v); err != nil {
			t.Fatalf("body is not a JSON object: %v\n%s", err, aws.ToString(m.Body))
		}
		out = append(out, v)
	}
	return out
}

// prodAbridge shortens s for a log line.
func prodAbridge(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// dig walks v by object keys and array indexes (ints).
func dig(v any, path ...any) any {
	for _, k := range path {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// prodS3Keys returns the s3.object.key of every record of S3 event bodies,
// as sent (form-encoded), with its event name: "ObjectCreated:Put a+b.html".
func prodS3Keys(events []map[string]any) []string {
	var out []string
	for _, e := range events {
		recs, _ := e["Records"].([]any)
		for _, r := range recs {
			out = append(out, fmt.Sprintf("%v %v", dig(r, "eventName"), dig(r, "s3", "object", "key")))
		}
	}
	slices.Sort(out)
	return out
}

// prodInvalidated returns dist's invalidations in moto and the union of
// their paths, deduplicated and sorted.
func prodInvalidated(t *testing.T, c *cloudfront.Client, distID string) ([]invalidation, []string) {
	t.Helper()
	invs := listInvalidations(t, c, distID)
	var union []string
	for _, inv := range invs {
		for _, p := range inv.Paths {
			if !slices.Contains(union, p) {
				union = append(union, p)
			}
		}
	}
	slices.Sort(union)
	return invs, union
}

// prodWaitExact waits until dist's invalidations in moto cover want, then
// requires that they hold nothing else and that every invalidation
// CloudFront would have accepted (≤ 3,000 paths, ≤ 15 wildcards) and shows
// as completed. It returns the invalidations.
func prodWaitExact(t *testing.T, c *cloudfront.Client, distID string, want []string, within time.Duration) []invalidation {
	t.Helper()
	poll(t, within, 200*time.Millisecond, "invalidations of "+distID+" cover the expected paths", func() (bool, string) {
		_, union := prodInvalidated(t, c, distID)
		miss := uncovered(want, union)
		return len(miss) == 0, fmt.Sprintf("missing %q; invalidated %q", miss, union)
	})
	invs, union := prodInvalidated(t, c, distID)
	var extra []string
	for _, p := range union {
		if !slices.Contains(want, p) {
			extra = append(extra, p)
		}
	}
	if len(extra) > 0 {
		t.Errorf("distribution %s: invalidated paths %q that no producer asked for (want exactly %q)", distID, extra, want)
	}
	prodCheckLimits(t, invs)
	return invs
}

// prodCheckLimits checks each invalidation against CloudFront's limits.
func prodCheckLimits(t *testing.T, invs []invalidation) {
	t.Helper()
	for _, inv := range invs {
		wild := 0
		for _, p := range inv.Paths {
			if strings.HasSuffix(p, "*") {
				wild++
			}
		}
		if len(inv.Paths) > 3000 || wild > 15 {
			t.Errorf("invalidation %s: %d paths (%d wildcards): over CloudFront's 3,000 / 15", inv.ID, len(inv.Paths), wild)
		}
		if !strings.EqualFold(inv.Status, "completed") {
			t.Errorf("invalidation %s: status %q, want Completed (moto: COMPLETED)", inv.ID, inv.Status)
		}
	}
}

// prodLogInvalidations logs invalidations, abridged.
func prodLogInvalidations(t *testing.T, what string, invs []invalidation) {
	t.Helper()
	for _, inv := range invs {
		ps := inv.Paths
		suffix := ""
		if len(ps) > 8 {
			ps, suffix = ps[:8], fmt.Sprintf(" … (%d paths)", len(inv.Paths))
		}
		t.Logf("%s: invalidation %s %s: %q%s", what, inv.ID, inv.Status, ps, suffix)
	}
}

// prodNoMoreDLQ fails if another message reaches dlq within a second.
// Messages receiveAll already saw are invisible for the DLQ's visibility
// timeout (30 s), so only new ones would show.
func prodNoMoreDLQ(t *testing.T, c *sqs.Client, dlq string) {
	t.Helper()
	if more := receiveAll(t, c, dlq, 1, time.Second); len(more) > 0 {
		t.Errorf("unexpected DLQ message: code %q reason %q body %s", more[0].ReasonCode, more[0].Reason, prodAbridge(more[0].Body, 300))
	}
}

// prodSeries is a series name with one label.
func prodSeries(name, label, value string) string {
	return fmt.Sprintf("%s{%s=%q}", name, label, value)
}
