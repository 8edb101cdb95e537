package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/consumer"
)

// CreateQueue creates a queue with attrs and returns its URL.
func CreateQueue(t testing.TB, c *sqs.Client, name string, attrs map[string]string) string {
	t.Helper()
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// QueueArn returns the QueueArn of queueURL.
func QueueArn(t testing.TB, c *sqs.Client, queueURL string) string {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("GetQueueAttributes QueueArn %s: %v", queueURL, err)
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		t.Fatalf("queue %s has no QueueArn", queueURL)
	}
	return arn
}

// CreateQueues creates name-dlq and name, the second redriving to the first
// after maxReceive receives, both with a default visibility of visibility
// (0: the emulator's default, 30 s).
func CreateQueues(t testing.TB, c *sqs.Client, name string, maxReceive int, visibility time.Duration) (queueURL, dlqURL string) {
	t.Helper()
	attrs := func() map[string]string {
		if visibility == 0 {
			return map[string]string{}
		}
		return map[string]string{"VisibilityTimeout": strconv.Itoa(int(visibility / time.Second))}
	}
	dlqURL = CreateQueue(t, c, name+"-dlq", attrs())
	a := attrs()
	a["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, QueueArn(t, c, dlqURL), maxReceive)
	return CreateQueue(t, c, name, a), dlqURL
}

// SendBody sends one body and returns its MessageId.
func SendBody(t testing.TB, c *sqs.Client, queueURL, body string) string {
	t.Helper()
	out, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatalf("SendMessage (%d bytes): %v", len(body), err)
	}
	return aws.ToString(out.MessageId)
}

// SendBodies sends every body with SendMessageBatch (10 at a time), fails on
// any failed entry, and returns the MessageIds in the order of bodies.
func SendBodies(t testing.TB, c *sqs.Client, queueURL string, bodies []string) []string {
	t.Helper()
	ids := make([]string, len(bodies))
	for i := 0; i < len(bodies); i += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for j := i; j < min(i+10, len(bodies)); j++ {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(bodies[j])})
		}
		out, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil {
			t.Fatalf("SendMessageBatch: %v", err)
		}
		if len(out.Failed) > 0 {
			t.Fatalf("SendMessageBatch: %d failed entries, first %s: %s", len(out.Failed),
				aws.ToString(out.Failed[0].Code), aws.ToString(out.Failed[0].Message))
		}
		for _, s := range out.Successful {
			j, err := strconv.Atoi(aws.ToString(s.Id))
			if err != nil || j < i || j >= len(bodies) {
				t.Fatalf("SendMessageBatch: answer names entry %q", aws.ToString(s.Id))
			}
			ids[j] = aws.ToString(s.MessageId)
		}
	}
	seen := map[string]bool{}
	for j, id := range ids {
		if id == "" || seen[id] {
			t.Fatalf("SendMessageBatch: message %d has MessageId %q (missing or not distinct)", j, id)
		}
		seen[id] = true
	}
	return ids
}

// QueueCounts returns ApproximateNumberOfMessages and …NotVisible.
func QueueCounts(t testing.TB, c *sqs.Client, queueURL string) (visible, notVisible int) {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes counts %s: %v", queueURL, err)
	}
	visible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	notVisible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, notVisible
}

// WaitDrained waits until the queue holds no message, visible or not.
func WaitDrained(t testing.TB, c *sqs.Client, queueURL string, within time.Duration) {
	t.Helper()
	Poll(t, within, 100*time.Millisecond, "queue drained", func() (bool, string) {
		v, nv := QueueCounts(t, c, queueURL)
		return v+nv == 0, fmt.Sprintf("visible=%d notVisible=%d", v, nv)
	})
}

// Message is a message a test received itself (typically from a
// dead-letter queue), with its attributes.
type Message struct {
	ID, Body   string
	ReasonCode string            // invalidator.reason_code
	Reason     string            // invalidator.reason
	Attrs      map[string]string // message attributes (string values)
	Sent       time.Time         // SentTimestamp (millisecond resolution)
	SeenAt     time.Time         // when the test received it
}

// SourceID is the MessageId of the message the worker dead-lettered this
// copy of (invalidator.source_message_id), "" for other messages.
func (m Message) SourceID() string { return m.Attrs[consumer.AttrSourceMessageID] }

func toMessage(m types.Message, now time.Time) Message {
	d := Message{ID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), Attrs: map[string]string{}, SeenAt: now}
	for k, v := range m.MessageAttributes {
		d.Attrs[k] = aws.ToString(v.StringValue)
	}
	d.ReasonCode, d.Reason = d.Attrs[consumer.AttrReasonCode], d.Attrs[consumer.AttrReason]
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		d.Sent = time.UnixMilli(ms)
	}
	return d
}

func receiveInput(queueURL string) *sqs.ReceiveMessageInput {
	return &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameSentTimestamp},
	}
}

// ReceiveAll receives from queueURL (long polls of 1 s) until want distinct
// messages arrived or within passed, and returns what arrived. It does not
// delete them; a message received once stays invisible for the queue's
// visibility timeout, which is longer than any test waits.
func ReceiveAll(t testing.TB, c *sqs.Client, queueURL string, want int, within time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(within)
	seen := map[string]bool{}
	var got []Message
	for len(got) < want && time.Now().Before(deadline) {
		out, err := c.ReceiveMessage(context.Background(), receiveInput(queueURL))
		if err != nil {
			t.Fatalf("ReceiveMessage %s: %v", queueURL, err)
		}
		now := time.Now()
		for _, m := range out.Messages {
			if id := aws.ToString(m.MessageId); !seen[id] {
				seen[id] = true
				got = append(got, toMessage(m, now))
			}
		}
	}
	return got
}

// Peek receives want distinct messages from queueURL without consuming
// them: it makes each visible again at once (ChangeMessageVisibilityBatch 0;
// ReceiveMessage cannot ask for visibility 0, the SDK leaves a zero out).
// Each peek adds one to the messages' receive count. It fails the test
// unless exactly want messages arrived within the time.
func Peek(t testing.TB, c *sqs.Client, queueURL string, want int, within time.Duration) []Message {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	var got []Message
	deadline := time.Now().Add(within)
	for len(got) < want && time.Now().Before(deadline) {
		out, err := c.ReceiveMessage(ctx, receiveInput(queueURL))
		if err != nil {
			t.Fatalf("peek ReceiveMessage %s: %v", queueURL, err)
		}
		now := time.Now()
		var entries []types.ChangeMessageVisibilityBatchRequestEntry
		for i, m := range out.Messages {
			entries = append(entries, types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
			if id := aws.ToString(m.MessageId); !seen[id] {
				seen[id] = true
				got = append(got, toMessage(m, now))
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

// JSONBodies returns the bodies of ms parsed as JSON objects.
func JSONBodies(t testing.TB, ms []Message) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range ms {
		var v map[string]any
		if err := json.Unmarshal([]byte(m.Body), &v); err != nil {
			t.Fatalf("body of %s is not a JSON object: %v\n%s", m.ID, err, m.Body)
		}
		out = append(out, v)
	}
	return out
}

// NoMoreDLQ fails if another message reaches dlq within a second. Messages
// a test already received are invisible for the DLQ's visibility timeout
// (30 s), so only new ones would show.
func NoMoreDLQ(t testing.TB, c *sqs.Client, dlq string) {
	t.Helper()
	if more := ReceiveAll(t, c, dlq, 1, time.Second); len(more) > 0 {
		t.Errorf("unexpected DLQ message: code %q reason %q body %s", more[0].ReasonCode, more[0].Reason, Abridge(more[0].Body, 300))
	}
}

// ReceiveVisibility is how long ReceiveUntil hides what it receives: well
// inside any wait, because when a response is lost on the connection the
// SDK retries the ReceiveMessage, and the messages of the lost response
// must reappear in time to be counted (seen with aws-sdk-go-v2 and fauxqs:
// "use of closed network connection", then "retrying request
// SQS/ReceiveMessage").
const ReceiveVisibility = 5 // seconds

// ReceiveUntil receives from each queue until done says so or within
// passes, and returns the messages by queue, each once. It short-polls (the
// emulators answer a short poll with every visible message) and rests
// briefly when no queue had anything new.
func ReceiveUntil(t testing.TB, c *sqs.Client, queues []string, within time.Duration, done func(got map[string][]types.Message) bool) map[string][]types.Message {
	t.Helper()
	got := map[string][]types.Message{}
	seen := map[string]bool{}
	deadline := time.Now().Add(within)
	for !done(got) && time.Now().Before(deadline) {
		fresh := 0
		for _, q := range queues {
			out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10,
				VisibilityTimeout: ReceiveVisibility, MessageAttributeNames: []string{"All"}})
			if err != nil {
				t.Fatalf("ReceiveMessage %s: %v", q, err)
			}
			for _, m := range out.Messages {
				if id := aws.ToString(m.MessageId); !seen[id] {
					seen[id] = true
					fresh++
					got[q] = append(got[q], m)
				}
			}
		}
		if fresh == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return got
}

// SendDeadLettered puts bodies into dlq with the attributes the worker sets
// when it dead-letters (internal/consumer/deadletter.go), 10 at a time: the
// fixture of the redrive and inspect tests.
func SendDeadLettered(t testing.TB, c *sqs.Client, dlq, source, reason string, bodies []string) {
	t.Helper()
	str := func(s string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s)}
	}
	for i := 0; i < len(bodies); i += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for j := i; j < min(i+10, len(bodies)); j++ {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(bodies[j]),
				MessageAttributes: map[string]types.MessageAttributeValue{
					consumer.AttrReasonCode:      str(reason),
					consumer.AttrReason:          str("test: " + reason),
					consumer.AttrSourceQueue:     str(source),
					consumer.AttrSourceMessageID: str(fmt.Sprintf("orig-%d", j)),
					consumer.AttrDeadLetteredAt:  str(time.Now().UTC().Format(time.RFC3339)),
				}})
		}
		out, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(dlq), Entries: entries})
		if err != nil || len(out.Failed) > 0 {
			t.Fatalf("SendMessageBatch to the DLQ: %v %+v", err, out)
		}
	}
}
