package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/zap"
)

// Message attributes set on every dead-lettered message. Names use only
// characters SQS allows (alphanumerics, '-', '_', '.'), and do not start with
// "AWS." or "Amazon.".
const (
	AttrReasonCode      = "invalidator.reason_code"
	AttrReason          = "invalidator.reason"
	AttrSourceMessageID = "invalidator.source_message_id"
	AttrSourceQueue     = "invalidator.source_queue"
	AttrDeadLetteredAt  = "invalidator.dead_lettered_at"
	// maxAttributes: SQS allows at most 10 message attributes per message.
	maxAttributes = 10
	// maxReasonLen keeps the human reason readable; attribute values may be
	// up to the 256 KiB message size, which nobody wants in a console.
	maxReasonLen = 1024
)

// ErrNoDLQ means there is nowhere to send poison: no dead_letter_queue_url
// and no RedrivePolicy on the queue.
var ErrNoDLQ = errors.New("no dead-letter queue configured (set dead_letter_queue_url or a RedrivePolicy on the queue)")

// DiscoverDLQ finds the dead-letter queue: the configured URL, else the
// queue's RedrivePolicy deadLetterTargetArn resolved with GetQueueUrl. It
// returns ErrNoDLQ when there is none.
func (c *Consumer) DiscoverDLQ(ctx context.Context) (string, error) {
	c.mu.Lock()
	known := c.dlqURL
	c.mu.Unlock()
	if known != "" {
		return known, nil
	}
	out, err := c.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(c.opts.QueueURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		return "", fmt.Errorf("sqs GetQueueAttributes RedrivePolicy: %w", err)
	}
	raw := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]
	if raw == "" {
		return "", ErrNoDLQ
	}
	var policy struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	}
	if err := json.Unmarshal([]byte(raw), &policy); err != nil {
		return "", fmt.Errorf("queue RedrivePolicy %q: %w", raw, err)
	}
	// arn:aws:sqs:REGION:ACCOUNT:NAME
	parts := strings.Split(policy.DeadLetterTargetArn, ":")
	if len(parts) != 6 || parts[2] != "sqs" {
		return "", fmt.Errorf("queue RedrivePolicy: deadLetterTargetArn %q is not an SQS queue ARN", policy.DeadLetterTargetArn)
	}
	url, err := c.api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{
		QueueName: aws.String(parts[5]), QueueOwnerAWSAccountId: aws.String(parts[4]),
	})
	if err != nil {
		return "", fmt.Errorf("sqs GetQueueUrl %s: %w", parts[5], err)
	}
	found := aws.ToString(url.QueueUrl)
	c.mu.Lock()
	c.dlqURL = found
	c.mu.Unlock()
	return found, nil
}

// Rejection is why a message or a part of it goes to the dead-letter queue.
type Rejection struct {
	Code   string // machine-readable, e.g. "invalid_path", "cloudfront_NoSuchDistribution"
	Reason string // one human line
	// Body is what to send; nil sends the original body.
	Body []byte
}

// DeadLetter sends the whole message to the DLQ with the reason in its
// attributes, then deletes the original. If the send fails the message is
// abandoned (left to reappear, where SQS's own redrive counts it), never
// deleted; with no DLQ at all it is logged, counted and left on the queue.
func (c *Consumer) DeadLetter(ctx context.Context, m *Message, r Rejection) error {
	if err := c.sendToDLQ(ctx, m, r); err != nil {
		c.Abandon(m.ID)
		return err
	}
	c.m.DeadLettered.WithLabelValues(r.Code).Inc()
	c.mu.Lock()
	if e, ok := c.held[m.ID]; ok {
		e.deadLettered = true // its delete is counted apart from settled ones
	}
	c.mu.Unlock()
	c.Delete(m.ID)
	return nil
}

// DeadLetterPart sends a rejected part of a message (r.Body) to the DLQ and
// leaves the original held, so its valid paths go on. On error the caller
// must not go on with the message (its rejected part would be lost when the
// rest is accepted and it is deleted).
func (c *Consumer) DeadLetterPart(ctx context.Context, m *Message, r Rejection) error {
	if err := c.sendToDLQ(ctx, m, r); err != nil {
		return err
	}
	c.m.DeadLettered.WithLabelValues(r.Code).Inc()
	return nil
}

func (c *Consumer) sendToDLQ(ctx context.Context, m *Message, r Rejection) error {
	log := c.log.With(zap.String("message_id", m.ID), zap.String("reason_code", r.Code), zap.String("reason", r.Reason))
	dlq, err := c.DiscoverDLQ(ctx)
	if err != nil {
		c.m.PoisonKept.WithLabelValues(r.Code).Inc()
		log.Error("poison message left on the queue: no dead-letter queue", zap.Error(err))
		return err
	}
	body := string(r.Body)
	if r.Body == nil {
		body = m.Body
	}
	_, err = c.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(dlq), MessageBody: aws.String(body), MessageAttributes: c.dlqAttributes(m, r),
	})
	if err != nil {
		c.m.SQSErrors.WithLabelValues("SendMessage").Inc()
		c.m.PoisonKept.WithLabelValues(r.Code).Inc()
		log.Error("sqs SendMessage to the dead-letter queue failed; message left on the queue", zap.Error(err))
		return fmt.Errorf("sqs SendMessage (dead-letter queue): %w", err)
	}
	log.Warn("message dead-lettered", zap.Bool("partial", r.Body != nil), zap.Int32("receive_count", m.ReceiveCount))
	return nil
}

func (c *Consumer) dlqAttributes(m *Message, r Rejection) map[string]types.MessageAttributeValue {
	str := func(s string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s)}
	}
	attrs := map[string]types.MessageAttributeValue{
		AttrReasonCode:      str(r.Code),
		AttrReason:          str(truncate(r.Reason, maxReasonLen)),
		AttrSourceMessageID: str(m.ID),
		AttrSourceQueue:     str(c.opts.QueueURL),
		AttrDeadLetteredAt:  str(time.Now().UTC().Format(time.RFC3339)),
	}
	// Keep the producer's own attributes where the limit of 10 allows; ours
	// win a name clash.
	for k, v := range m.Attributes {
		if _, ours := attrs[k]; !ours && len(attrs) < maxAttributes {
			attrs[k] = v
		}
	}
	return attrs
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
