package redrive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/consumer"
	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// env is an emulator with a dead-letter queue and two source queues.
type env struct {
	c          *sqs.Client
	dlq, a, b  string
	emulator   string
	queueCount int
}

func newEnv(t *testing.T, p *testenv.Process) *env {
	t.Helper()
	e := &env{c: sqs.NewFromConfig(testenv.AWSConfig(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(p.Endpoint) }), emulator: p.Name}
	e.dlq, e.a, e.b = e.queue(t, "invalidations-dlq"), e.queue(t, "invalidations-a"), e.queue(t, "invalidations-b")
	return e
}

func (e *env) queue(t *testing.T, name string) string {
	t.Helper()
	out, err := e.c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": "60"}})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// dead is a message as the worker dead-letters it.
type dead struct {
	body, reason, source string
	extra                map[string]string // producer attributes
}

func strAttr(s string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s)}
}

// put sends ms to the DLQ with the attributes the consumer sets
// (internal/consumer/deadletter.go).
func (e *env) put(t *testing.T, ms []dead) {
	t.Helper()
	for i, m := range ms {
		attrs := map[string]types.MessageAttributeValue{}
		if m.reason != "" {
			attrs[consumer.AttrReasonCode] = strAttr(m.reason)
			attrs[consumer.AttrReason] = strAttr("because of test case " + strconv.Itoa(i))
			attrs[consumer.AttrSourceMessageID] = strAttr(fmt.Sprintf("src-%d", i))
			attrs[consumer.AttrDeadLetteredAt] = strAttr(time.Now().UTC().Format(time.RFC3339))
		}
		if m.source != "" {
			attrs[consumer.AttrSourceQueue] = strAttr(m.source)
		}
		for k, v := range m.extra {
			attrs[k] = strAttr(v)
		}
		if len(attrs) == 0 {
			attrs = nil
		}
		if _, err := e.c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(e.dlq), MessageBody: aws.String(m.body), MessageAttributes: attrs}); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
	}
}

func (e *env) counts(t *testing.T, q string) (visible, notVisible int) {
	t.Helper()
	out, err := e.c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	visible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	notVisible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, notVisible
}

// drain receives and deletes the messages of q until want arrived or the
// deadline, and returns them. It hides what it receives for 5 s only: when
// a response is lost on the connection the SDK retries the receive, and
// the messages of the lost response must reappear before the deadline.
func (e *env) drain(t *testing.T, q string, want int) []types.Message {
	t.Helper()
	var got []types.Message
	seen := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		out, err := e.c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10,
			WaitTimeSeconds: 1, VisibilityTimeout: 5, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			if !seen[aws.ToString(m.MessageId)] {
				seen[aws.ToString(m.MessageId)] = true
				got = append(got, m)
			}
			if _, err := e.c.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return got
}

func bodies(ms []types.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, aws.ToString(m.Body))
	}
	sort.Strings(out)
	return out
}

func v1(dist string, path string) string {
	return string(message.EncodeV1(dist, []string{path}))
}

// fixture: 5 invalid_path for E1 from A (one with a producer attribute),
// 3 distribution_not_allowed for E2 from A, 2 invalid_path for E2 from B,
// 1 moved by SQS's own redrive policy (no attributes at all).
func fixture(e *env) []dead {
	var ms []dead
	for i := range 5 {
		d := dead{body: v1("E1", fmt.Sprintf("/e1/%d", i)), reason: message.CodeInvalidPath, source: e.a}
		if i == 0 {
			d.extra = map[string]string{"app": "cms"}
		}
		ms = append(ms, d)
	}
	for i := range 3 {
		ms = append(ms, dead{body: fmt.Sprintf(`{"distribution":"E2","paths":["/na/%d"]}`, i), reason: message.CodeDistributionNotAllowed, source: e.a})
	}
	for i := range 2 {
		ms = append(ms, dead{body: v1("E2", fmt.Sprintf("/b/%d", i)), reason: message.CodeInvalidPath, source: e.b})
	}
	ms = append(ms, dead{body: "not json at all"})
	return ms
}

// TestFilteredMoveKeepsTheRest: a filtered run moves exactly the matching
// messages, to their source queue, with the producer's attributes and
// without ours; the rest are visible in the DLQ again right after.
func TestFilteredMoveKeepsTheRest(t *testing.T) {
	e := newEnv(t, testenv.Fauxqs(t))
	e.put(t, fixture(e))
	res, err := Run(context.Background(), e.c, Options{From: e.dlq, Reasons: []string{message.CodeInvalidPath}, Distributions: []string{"E1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Counts{
		message.CodeInvalidPath:            {Moved: 5, Skipped: 2},
		message.CodeDistributionNotAllowed: {Skipped: 3},
		NoReason:                           {Skipped: 1},
	}
	checkCounts(t, res, want)
	if v, nv := e.counts(t, e.dlq); v != 6 || nv != 0 {
		t.Fatalf("DLQ visible=%d notVisible=%d right after the run; want the 6 kept messages visible again", v, nv)
	}
	moved := e.drain(t, e.a, 5)
	if len(moved) != 5 {
		t.Fatalf("%d messages in the source queue, want 5", len(moved))
	}
	for _, m := range moved {
		if !strings.Contains(aws.ToString(m.Body), `"E1"`) {
			t.Errorf("moved %s", aws.ToString(m.Body))
		}
		for k := range m.MessageAttributes {
			if strings.HasPrefix(k, "invalidator.") {
				t.Errorf("moved message still carries %s", k)
			}
		}
		if strings.HasSuffix(aws.ToString(m.Body), `/e1/0"]}`) && aws.ToString(m.MessageAttributes["app"].StringValue) != "cms" {
			t.Errorf("producer attribute lost: %v", m.MessageAttributes)
		}
	}
	if v, nv := e.counts(t, e.b); v+nv != 0 {
		t.Fatalf("queue B got %d messages", v+nv)
	}

	// Unfiltered: each to its own source queue; the one without a source
	// queue fails and stays.
	res, err = Run(context.Background(), e.c, Options{From: e.dlq})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, res, map[string]Counts{
		message.CodeInvalidPath:            {Moved: 2},
		message.CodeDistributionNotAllowed: {Moved: 3},
		NoReason:                           {Failed: 1},
	})
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], consumer.AttrSourceQueue) {
		t.Fatalf("errors %q", res.Errors)
	}
	if got := bodies(e.drain(t, e.b, 2)); len(got) != 2 || !strings.Contains(got[0], "/b/0") {
		t.Fatalf("queue B got %q", got)
	}
	if got := e.drain(t, e.a, 3); len(got) != 3 {
		t.Fatalf("queue A got %d more, want 3", len(got))
	}
	left := e.drain(t, e.dlq, 1)
	if len(left) != 1 || aws.ToString(left[0].Body) != "not json at all" {
		t.Fatalf("DLQ holds %q", bodies(left))
	}
	var buf bytes.Buffer
	if err := res.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("summary:\n%s", buf.String())
	for _, want := range []string{"REASON", "MOVED", "invalid_path", "TOTAL", "failed: message"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}

func checkCounts(t *testing.T, res Result, want map[string]Counts) {
	t.Helper()
	got := map[string]Counts{}
	for k, c := range res.ByReason {
		got[k] = *c
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
}

// TestDryRunChangesNothing: counts, bodies and the target are as before.
func TestDryRunChangesNothing(t *testing.T) {
	e := newEnv(t, testenv.Fauxqs(t))
	e.put(t, fixture(e))
	before, _ := e.counts(t, e.dlq)
	res, err := Run(context.Background(), e.c, Options{From: e.dlq, DryRun: true, To: e.b})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, res, map[string]Counts{
		message.CodeInvalidPath:            {Moved: 7},
		message.CodeDistributionNotAllowed: {Moved: 3},
		NoReason:                           {Moved: 1},
	})
	if v, nv := e.counts(t, e.dlq); v != before || nv != 0 {
		t.Fatalf("DLQ visible=%d notVisible=%d after a dry run, want %d and 0", v, nv, before)
	}
	for _, q := range []string{e.a, e.b} {
		if v, nv := e.counts(t, q); v+nv != 0 {
			t.Fatalf("a dry run sent %d messages to %s", v+nv, q)
		}
	}
	var buf bytes.Buffer
	_ = res.WriteTable(&buf)
	if !strings.Contains(buf.String(), "WOULD MOVE") || !strings.Contains(buf.String(), "dry run") {
		t.Fatalf("summary:\n%s", buf.String())
	}
}

// TestMaxStopsThere: --max N moves N and leaves the rest visible.
func TestMaxStopsThere(t *testing.T) {
	e := newEnv(t, testenv.Moto(t))
	e.put(t, fixture(e))
	res, err := Run(context.Background(), e.c, Options{From: e.dlq, To: e.b, Max: 4})
	if err != nil {
		t.Fatal(err)
	}
	if tot := res.Total(); tot.Moved != 4 || tot.Failed != 0 || !strings.Contains(res.Stopped, "max") {
		t.Fatalf("total %+v, stopped %q", tot, res.Stopped)
	}
	if v, nv := e.counts(t, e.dlq); v != 7 || nv != 0 {
		t.Fatalf("DLQ visible=%d notVisible=%d, want 7 and 0", v, nv)
	}
	if got := e.drain(t, e.b, 4); len(got) != 4 {
		t.Fatalf("target holds %d, want 4", len(got))
	}
}

// TestSendFailureKeepsTheMessage: a target that does not exist fails the
// send; nothing is deleted.
func TestSendFailureKeepsTheMessage(t *testing.T) {
	e := newEnv(t, testenv.Fauxqs(t))
	e.put(t, fixture(e)[:3])
	missing := strings.Replace(e.a, "invalidations-a", "no-such-queue", 1)
	res, err := Run(context.Background(), e.c, Options{From: e.dlq, To: missing})
	if err != nil {
		t.Fatal(err)
	}
	if tot := res.Total(); tot.Failed != 3 || tot.Moved != 0 {
		t.Fatalf("total %+v", tot)
	}
	if v, nv := e.counts(t, e.dlq); v != 3 || nv != 0 {
		t.Fatalf("DLQ visible=%d notVisible=%d, want all 3 back", v, nv)
	}
}

// flakyDelete is a real SQS client whose DeleteMessageBatch fails.
type flakyDelete struct{ *sqs.Client }

func (f flakyDelete) DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	return nil, errors.New("injected: connection reset")
}

// TestDeleteFailureIsReported: the copy was sent, the original stays; the
// summary says so, and the message is not sent twice in the same run.
func TestDeleteFailureIsReported(t *testing.T) {
	e := newEnv(t, testenv.Fauxqs(t))
	e.put(t, fixture(e)[:2])
	res, err := Run(context.Background(), flakyDelete{e.c}, Options{From: e.dlq, To: e.b, Visibility: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if tot := res.Total(); tot.Failed != 2 || tot.Moved != 0 {
		t.Fatalf("total %+v", tot)
	}
	if len(res.Errors) != 2 || !strings.Contains(res.Errors[0], "DeleteMessage failed") {
		t.Fatalf("errors %q", res.Errors)
	}
	if v, nv := e.counts(t, e.b); v+nv != 2 {
		t.Fatalf("target holds %d messages, want 2: a message was sent twice in one run", v+nv)
	}
	if got := e.drain(t, e.b, 2); len(got) != 2 {
		t.Fatalf("target holds %d copies, want 2", len(got))
	}
	if got := e.drain(t, e.dlq, 2); len(got) != 2 {
		t.Fatalf("DLQ holds %d, want the 2 originals", len(got))
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, o := range []Options{
		{},
		{From: "q", To: "q"},
		{From: "q", Max: -1},
		{From: "q", Visibility: 1500 * time.Millisecond},
		{From: "q", Visibility: 13 * time.Hour},
		{From: "q", Wait: 21 * time.Second},
		{From: "q", Rate: -1},
	} {
		if _, err := Run(context.Background(), nil, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestTargetNames(t *testing.T) {
	sns := `{"Type":"Notification","Message":"{\"distribution\":\"www\",\"paths\":[\"/\"]}"}`
	for body, want := range map[string][]string{
		`{"distribution_id":"E1","paths":["/"]}`:                        {"E1"},
		`{"distribution":"www"}`:                                        {"www"},
		`{"distribution_tenant_id":"dt_1","distribution":"customer-a"}`: {"dt_1", "customer-a"},
		`{"distribution_id":"E1","distribution_tenant_id":"dt_1"}`:      {"E1", "dt_1"},
		`{"distribution_id":42}`:                                        nil,
		`not json`:                                                      nil,
		sns:                                                             {"www"},
		`{"Records":[{"s3":{"bucket":{"name":"b"}}}]}`:                  nil,
	} {
		if got := targetNames(body); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", body, got, want)
		}
	}
}
