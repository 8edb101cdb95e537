package consumer

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/metrics"
	"github.com/acme/cf-invalidator/internal/retry"
)

// Delete queues a held message for a batched DeleteMessageBatch. Call it only
// once CloudFront accepted invalidations covering all of its paths.
func (c *Consumer) Delete(id string) {
	c.mu.Lock()
	_, ok := c.held[id]
	c.mu.Unlock()
	if ok {
		c.deletes <- id
	}
}

// deleter drains the delete queue in batches of up to 10 (the SQS batch
// limit) without waiting to fill one: a lone delete goes out at once.
func (c *Consumer) deleter(ctx context.Context) {
	defer c.bg.Done()
	for {
		var ids []string
		select {
		case id := <-c.deletes:
			ids = append(ids, id)
		case <-ctx.Done():
			return
		}
	fill:
		for len(ids) < MaxBatch {
			select {
			case id := <-c.deletes:
				ids = append(ids, id)
			default:
				break fill
			}
		}
		c.deleteBatch(ctx, ids)
	}
}

// deleteBatch deletes ids, retrying the whole call and any Failed entries
// with backoff while the messages stay held (the heartbeat keeps them
// invisible). A ReceiptHandleIsInvalid entry means our lease is gone: the
// message will come back and its re-submission reuses the CallerReference.
func (c *Consumer) deleteBatch(ctx context.Context, ids []string) {
	for attempt := 0; len(ids) > 0; attempt++ {
		entries, byEntry := c.batchEntries(ids)
		if len(entries) == 0 {
			return
		}
		out, err := c.api.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{
			QueueUrl: aws.String(c.opts.QueueURL), Entries: toDeleteEntries(entries),
		})
		if err != nil {
			c.m.SQSErrors.WithLabelValues("DeleteMessageBatch").Inc()
			c.log.Warn("sqs DeleteMessageBatch failed; retrying", zap.Error(err), zap.Int("messages", len(entries)))
			if !retry.Sleep(ctx, c.opts.Backoff.Delay(attempt)) {
				return
			}
			continue
		}
		now := time.Now()
		for _, ok := range out.Successful {
			if id, found := byEntry[aws.ToString(ok.Id)]; found {
				if e, was := c.forget(id); was {
					c.m.Deleted.Inc()
					c.observeAge(e, now)
				}
			}
		}
		ids = c.retryable(out.Failed, byEntry, "DeleteMessageBatch")
		if len(ids) > 0 && !retry.Sleep(ctx, c.opts.Backoff.Delay(attempt)) {
			return
		}
	}
}

// observeAge records how old a message was when SQS confirmed its delete.
// SentTimestamp comes from SQS's clock: a negative age (clock skew) counts
// as 0; a message without one (not requested) is not observed.
func (c *Consumer) observeAge(e *entry, now time.Time) {
	if e.msg.SentAt.IsZero() {
		return
	}
	reason := metrics.ReasonSettled
	if e.deadLettered {
		reason = metrics.ReasonDeadLettered
	}
	c.m.MessageAgeAtDelete.WithLabelValues(reason).Observe(max(now.Sub(e.msg.SentAt), 0).Seconds())
}

type batchEntry struct{ id, receipt string }

// batchEntries pairs each still-held id with its current receipt handle,
// keyed by a batch-local entry id ("0".."9").
func (c *Consumer) batchEntries(ids []string) ([]batchEntry, map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var entries []batchEntry
	byEntry := map[string]string{}
	for _, id := range ids {
		if e, ok := c.held[id]; ok {
			byEntry[strconv.Itoa(len(entries))] = id
			entries = append(entries, batchEntry{id, e.receipt})
		}
	}
	return entries, byEntry
}

func toDeleteEntries(es []batchEntry) []types.DeleteMessageBatchRequestEntry {
	out := make([]types.DeleteMessageBatchRequestEntry, len(es))
	for i, e := range es {
		out[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(e.receipt)}
	}
	return out
}

// retryable sorts a batch call's Failed entries: sender faults about the
// receipt handle drop the message from the ledger (it is not ours any more);
// the rest are returned for another try.
func (c *Consumer) retryable(failed []types.BatchResultErrorEntry, byEntry map[string]string, op string) []string {
	var again []string
	for _, f := range failed {
		id := byEntry[aws.ToString(f.Id)]
		c.m.SQSErrors.WithLabelValues(op).Inc()
		code := aws.ToString(f.Code)
		if f.SenderFault && code != "InternalError" {
			c.log.Warn("sqs "+op+" entry refused; message lease lost, it will be redelivered",
				zap.String("message_id", id), zap.String("code", code), zap.String("reason", aws.ToString(f.Message)))
			c.forget(id)
			continue
		}
		again = append(again, id)
	}
	return again
}

// heartbeat extends the visibility of held messages well before it runs out:
// it wakes every Visibility/6 and extends each message with less than half
// its visibility left, so a message is extended with between Visibility/3
// and Visibility/2 to go (20–30 s for the default 60 s) — one slow or failed
// call still leaves a full tick to try again. Total hold stays under SQS's
// 12-hour cap.
func (c *Consumer) heartbeat(ctx context.Context) {
	defer c.bg.Done()
	t := time.NewTicker(c.opts.Visibility / 6)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.extendDue(ctx)
		case <-ctx.Done():
			return
		}
	}
}

func (c *Consumer) extendDue(ctx context.Context) {
	now := time.Now()
	var due []batchEntry
	var secs []int32
	c.mu.Lock()
	for id, e := range c.held {
		if e.visibleAt.Sub(now) >= c.opts.Visibility/2 {
			continue
		}
		left := e.receivedAt.Add(MaxVisibility - holdMargin).Sub(now)
		if left <= 0 {
			continue // at SQS's 12 h cap: let it lapse and come back
		}
		d := min(c.opts.Visibility, left)
		due = append(due, batchEntry{id, e.receipt})
		secs = append(secs, int32(d/time.Second))
		e.visibleAt = now.Add(d)
	}
	c.mu.Unlock()
	for i := 0; i < len(due); i += MaxBatch {
		j := min(i+MaxBatch, len(due))
		c.changeVisibility(ctx, due[i:j], secs[i:j], "heartbeat")
	}
}

// changeVisibility sets each entry's visibility timeout; it returns how many
// SQS accepted.
func (c *Consumer) changeVisibility(ctx context.Context, es []batchEntry, secs []int32, why string) int {
	entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(es))
	byEntry := map[string]string{}
	for i, e := range es {
		entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
			Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(e.receipt), VisibilityTimeout: secs[i],
		}
		byEntry[strconv.Itoa(i)] = e.id
	}
	out, err := c.api.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
		QueueUrl: aws.String(c.opts.QueueURL), Entries: entries,
	})
	if err != nil {
		c.m.SQSErrors.WithLabelValues("ChangeMessageVisibilityBatch").Inc()
		c.log.Warn("sqs ChangeMessageVisibilityBatch failed", zap.String("why", why), zap.Error(err), zap.Int("messages", len(es)))
		return 0
	}
	if why == "heartbeat" {
		c.m.VisibilityExtends.Add(float64(len(out.Successful)))
		c.retryable(out.Failed, byEntry, "ChangeMessageVisibilityBatch")
	}
	return len(out.Successful)
}

// ReleaseAll makes every held message visible again at once (visibility 0)
// so another worker can take it, and forgets it. Used at shutdown for what
// was not accepted within the grace period.
func (c *Consumer) ReleaseAll(ctx context.Context) int {
	c.mu.Lock()
	var es []batchEntry
	for id, e := range c.held {
		es = append(es, batchEntry{id, e.receipt})
	}
	c.mu.Unlock()
	return c.release(ctx, es)
}

// release forgets es and then makes them visible. Forgetting first matters:
// a long poll under way may receive a message the moment it is visible, and
// that receive must find it gone from the ledger (a new message to release
// again), not held (a duplicate whose new receipt would be dropped).
func (c *Consumer) release(ctx context.Context, es []batchEntry) int {
	released := 0
	for _, e := range es {
		c.forget(e.id)
	}
	for i := 0; i < len(es); i += MaxBatch {
		j := min(i+MaxBatch, len(es))
		released += c.changeVisibility(ctx, es[i:j], make([]int32, j-i), "release")
	}
	c.m.Released.Add(float64(released))
	return released
}
