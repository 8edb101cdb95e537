package inspect

import (
	"bytes"
	"context"
	"fmt"
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

type env struct {
	c          *sqs.Client
	queue, dlq string
}

// newEnv creates a queue redriving to a dead-letter queue after 5
// receives, and puts reasons (code → count) plus one message without a
// reason into the dead-letter queue.
func newEnv(t *testing.T, p *testenv.Process, reasons map[string]int) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{c: sqs.NewFromConfig(testenv.AWSConfig(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(p.Endpoint) })}
	dlq, err := e.c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("inv-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	e.dlq = aws.ToString(dlq.QueueUrl)
	arn, err := e.c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	policy := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"5"}`, arn.Attributes["QueueArn"])
	q, err := e.c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("inv"), Attributes: map[string]string{"RedrivePolicy": policy}})
	if err != nil {
		t.Fatal(err)
	}
	e.queue = aws.ToString(q.QueueUrl)
	str := func(s string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s)}
	}
	n := 0
	for code, count := range reasons {
		for range count {
			n++
			_, err := e.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: dlq.QueueUrl, MessageBody: aws.String(fmt.Sprintf(`{"distribution_id":"E1","paths":["/%d"]}`, n)),
				MessageAttributes: map[string]types.MessageAttributeValue{consumer.AttrReasonCode: str(code), consumer.AttrSourceQueue: str(e.queue)}})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := e.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: dlq.QueueUrl, MessageBody: aws.String("moved by SQS")}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) counts(t *testing.T, q string) (int, int) {
	t.Helper()
	out, err := e.c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	nv, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return v, nv
}

var fixture = map[string]int{message.CodeInvalidPath: 3, message.CodeDistributionNotAllowed: 2}

// TestDeadLetterQueueMoto: moto knows ListDeadLetterSourceQueues.
func TestDeadLetterQueueMoto(t *testing.T) {
	e := newEnv(t, testenv.Moto(t), fixture)
	start := time.Now()
	later := start.Add(time.Hour)
	r, err := Inspect(context.Background(), e.c, Options{QueueURL: e.dlq, Peek: DefaultPeek, Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Visible != 6 || r.InFlight != 0 || r.Peeked != 6 {
		t.Fatalf("visible %d, in flight %d, peeked %d; want 6, 0, 6", r.Visible, r.InFlight, r.Peeked)
	}
	want := map[string]int{message.CodeInvalidPath: 3, message.CodeDistributionNotAllowed: 2, NoReason: 1}
	if fmt.Sprint(r.ByReason) != fmt.Sprint(want) {
		t.Fatalf("by reason %v, want %v", r.ByReason, want)
	}
	if len(r.DeadLetterSources) != 1 || !strings.HasSuffix(r.DeadLetterSources[0], "/inv") || r.SourcesError != "" {
		t.Fatalf("sources %q, error %q", r.DeadLetterSources, r.SourcesError)
	}
	if !r.IsDeadLetterQueue() || r.Redrive != nil {
		t.Fatalf("IsDeadLetterQueue %v, redrive %+v", r.IsDeadLetterQueue(), r.Redrive)
	}
	if r.Oldest.Before(start.Add(-time.Minute)) || r.Oldest.After(start.Add(time.Minute)) || r.OldestAge < 58*time.Minute {
		t.Fatalf("oldest %s (age %s at %s)", r.Oldest, r.OldestAge, later)
	}
	if v, nv := e.counts(t, e.dlq); v != 6 || nv != 0 {
		t.Fatalf("after the peek: visible %d, not visible %d; want all 6 released", v, nv)
	}
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", buf.String())
	for _, s := range []string{"visible:", "dead-letter queue of:", "/inv", "invalid_path", "oldest message:", "1h old"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("report lacks %q", s)
		}
	}
}

// TestSourceQueueNotPeeked: a queue with a RedrivePolicy is not peeked
// unless forced, since a peek counts toward maxReceiveCount.
func TestSourceQueueNotPeeked(t *testing.T) {
	e := newEnv(t, testenv.Moto(t), nil)
	if _, err := e.c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(e.queue), MessageBody: aws.String("{}")}); err != nil {
		t.Fatal(err)
	}
	r, err := Inspect(context.Background(), e.c, Options{QueueURL: e.queue, Peek: DefaultPeek})
	if err != nil {
		t.Fatal(err)
	}
	if r.Redrive == nil || r.Redrive.MaxReceiveCount != 5 || !strings.HasSuffix(r.Redrive.DeadLetterTargetArn, ":inv-dlq") {
		t.Fatalf("redrive %+v", r.Redrive)
	}
	if r.PeekSkipped == "" || r.Peeked != 0 || r.ByReason != nil {
		t.Fatalf("peeked %d (skipped %q)", r.Peeked, r.PeekSkipped)
	}
	out, err := e.c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.queue),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v %d", err, len(out.Messages))
	}
	if n := out.Messages[0].Attributes["ApproximateReceiveCount"]; n != "1" {
		t.Fatalf("receive count %s after inspect: it received the message", n)
	}
	r, err = Inspect(context.Background(), e.c, Options{QueueURL: e.queue, Peek: 10, ForcePeek: true})
	if err != nil || r.PeekSkipped != "" {
		t.Fatalf("forced: %v %q", err, r.PeekSkipped)
	}
}

// TestFauxqsWithoutListDeadLetterSourceQueues: fauxqs lacks the call; the
// report says so and goes on. Peek limits the messages looked at.
func TestFauxqsWithoutListDeadLetterSourceQueues(t *testing.T) {
	e := newEnv(t, testenv.Fauxqs(t), map[string]int{message.CodeInvalidPath: 9})
	r, err := Inspect(context.Background(), e.c, Options{QueueURL: e.dlq, Peek: 4, PeekVisibility: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.SourcesError == "" {
		t.Logf("fauxqs now answers ListDeadLetterSourceQueues: %q", r.DeadLetterSources)
	}
	if r.Visible != 10 || r.Peeked != 4 {
		t.Fatalf("visible %d peeked %d; want 10 and 4", r.Visible, r.Peeked)
	}
	if !r.IsDeadLetterQueue() {
		t.Fatal("peeked messages carry reason codes: it is a DLQ")
	}
	if v, nv := e.counts(t, e.dlq); v != 10 || nv != 0 {
		t.Fatalf("after the peek: visible %d, not visible %d", v, nv)
	}
	var buf bytes.Buffer
	_ = r.Write(&buf)
	if !strings.Contains(buf.String(), "oldest of the 4 peeked") {
		t.Errorf("report does not say the age is a bound:\n%s", buf.String())
	}
}

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", -time.Second: "0s", 1500 * time.Millisecond: "2s", 4 * 24 * time.Hour: "4d",
		95*time.Hour + 30*time.Second: "3d23h30s", time.Hour: "1h", 125 * time.Second: "2m5s",
	} {
		if got := human(d); got != want {
			t.Errorf("human(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestDeadLetterURL: the dead-letter queue of a source queue is found from
// its RedrivePolicy; a queue without one has none; an unreadable target is
// an error naming the queue.
func TestDeadLetterURL(t *testing.T) {
	e := newEnv(t, testenv.Moto(t), nil)
	ctx := context.Background()
	src, err := Inspect(ctx, e.c, Options{QueueURL: e.queue})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DeadLetterURL(ctx, e.c, src); err != nil || got != e.dlq {
		t.Fatalf("DeadLetterURL(source) = %q, %v; want %s", got, err, e.dlq)
	}
	dlq, err := Inspect(ctx, e.c, Options{QueueURL: e.dlq})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DeadLetterURL(ctx, e.c, dlq); err != nil || got != "" {
		t.Fatalf("DeadLetterURL(dlq) = %q, %v; want none", got, err)
	}
	src.Redrive.DeadLetterTargetArn = "arn:aws:sqs:us-east-1:123456789012:absent"
	if _, err := DeadLetterURL(ctx, e.c, src); err == nil || !strings.Contains(err.Error(), "GetQueueUrl absent (the dead-letter queue of "+e.queue) {
		t.Fatalf("DeadLetterURL(absent target) error = %v", err)
	}
	src.Redrive.DeadLetterTargetArn = "(unreadable: x)"
	if _, err := DeadLetterURL(ctx, e.c, src); err == nil || !strings.Contains(err.Error(), "is not an SQS queue ARN") {
		t.Fatalf("DeadLetterURL(bad ARN) error = %v", err)
	}
}
