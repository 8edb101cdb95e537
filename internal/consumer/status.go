package consumer

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/status"
)

// attributesTTL: the status page asks for the queues' depths at most this
// often (GetQueueAttributes on the queue and its DLQ).
const attributesTTL = 15 * time.Second

type attrCache struct {
	at                time.Time
	visible, inFlight *int
	dlqVisible        *int
	err               string
}

// Status returns the queue's part of the status page: its depth and
// in-flight count from a cached GetQueueAttributes, the DLQ's depth, and
// what this consumer holds.
func (c *Consumer) Status(ctx context.Context) status.Queue {
	now := time.Now()
	c.mu.Lock()
	cached := c.attrs
	held := len(c.held)
	var oldest time.Time
	for _, e := range c.held {
		if s := e.msg.SentAt(); !s.IsZero() && (oldest.IsZero() || s.Before(oldest)) {
			oldest = s
		}
	}
	dlq := c.dlqURL
	c.mu.Unlock()
	if now.Sub(cached.at) >= attributesTTL {
		cached = c.fetchAttrs(ctx, dlq, now)
		c.mu.Lock()
		c.attrs = cached
		c.mu.Unlock()
	}
	q := status.Queue{URL: c.opts.QueueURL, Lane: c.opts.Lane, Pollers: c.opts.Pollers, Held: held,
		Visible: cached.visible, InFlight: cached.inFlight, AttributesAt: cached.at, AttrError: cached.err,
		Received: c.nReceived.Load(), Deleted: c.nDeleted.Load()}
	if !oldest.IsZero() {
		q.OldestAge = status.D(now.Sub(oldest))
	}
	if dlq != "" {
		q.DLQ = &status.DeadLetterQ{URL: dlq, Visible: cached.dlqVisible}
	}
	return q
}

func (c *Consumer) fetchAttrs(ctx context.Context, dlq string, now time.Time) attrCache {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	a := attrCache{at: now}
	count := func(url string) (visible, inFlight *int, err error) {
		out, err := c.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
				types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			return nil, nil, err
		}
		num := func(k types.QueueAttributeName) *int {
			if n, err := strconv.Atoi(out.Attributes[string(k)]); err == nil {
				return &n
			}
			return nil
		}
		return num(types.QueueAttributeNameApproximateNumberOfMessages), num(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible), nil
	}
	var err error
	if a.visible, a.inFlight, err = count(c.opts.QueueURL); err != nil {
		a.err = "GetQueueAttributes: " + err.Error()
	}
	if dlq != "" {
		if v, _, err := count(dlq); err == nil {
			a.dlqVisible = v
		}
	}
	return a
}
