package consumer

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/metrics"
	"github.com/acme/cf-invalidator/internal/retry"
)

// Delete queues held messages for batched DeleteMessageBatch calls. Call it
// only once CloudFront accepted invalidations covering all of their paths.
// Ids the consumer does not hold are ignored (a Group passes every id to
// each of its consumers).
func (c *Consumer) Delete(ids ...string) {
	c.mu.Lock()
	if h := c.deleteHead; h > 0 && h >= len(c.toDelete)/2 {
		// Move what is still queued to the front, so the array does not
		// grow with deletes already sent (amortized: at most once per half).
		k := copy(c.toDelete, c.toDelete[h:])
		clear(c.toDelete[k:])
		c.toDelete, c.deleteHead = c.toDelete[:k], 0
	}
	n := len(c.toDelete)
	for _, id := range ids {
		if _, ok := c.held[id]; ok {
			c.toDelete = append(c.toDelete, id)
		}
	}
	queued := len(c.toDelete) > n
	c.mu.Unlock()
	if queued {
		c.wakeDeleter()
	}
}

// wakeDeleter tells an idle deleter that deletes are queued.
func (c *Consumer) wakeDeleter() {
	select {
	case c.deleteReady <- struct{}{}:
	default: // one is already told; it wakes another if there is more
	}
}

// nextDeletes takes up to MaxBatch queued deletes (the SQS batch limit),
// oldest first, and wakes another deleter when more are queued, so a wave
// of deletes (a batch accepted at once) goes out on every deleter.
//
// The queue is a slice under c.mu, not a channel of ids: a channel would
// need room for every held message (sends must not block the settling
// path), a buffer of max_held strings that the garbage collector scans on
// every cycle, and one channel operation per message.
func (c *Consumer) nextDeletes() []string {
	c.mu.Lock()
	q := c.toDelete[c.deleteHead:]
	n := min(len(q), MaxBatch)
	ids := slices.Clone(q[:n])
	clear(q[:n])
	c.deleteHead += n
	if c.deleteHead == len(c.toDelete) {
		// Empty: reuse the array, unless a wave made it large; then let it
		// go, or the GC scans it on every cycle from then on.
		c.toDelete, c.deleteHead = c.toDelete[:0], 0
		if cap(c.toDelete) > maxIdleDeleteQueue {
			c.toDelete = nil
		}
	}
	more := c.deleteHead < len(c.toDelete)
	c.mu.Unlock()
	if more {
		c.wakeDeleter()
	}
	return ids
}

// maxIdleDeleteQueue is the largest delete queue array kept once empty.
const maxIdleDeleteQueue = 1024

// deleter sends queued deletes in batches of up to 10 without waiting to
// fill one: a lone delete goes out at once.
func (c *Consumer) deleter(ctx context.Context) {
	defer c.bg.Done()
	for {
		select {
		case <-c.deleteReady:
		case <-ctx.Done():
			return
		}
		for ctx.Err() == nil {
			ids := c.nextDeletes()
			if len(ids) == 0 {
				break
			}
			c.deleteBatch(ctx, ids)
		}
	}
}

// deleteBatch deletes ids, retrying the whole call and any Failed entries
// with backoff while the messages stay held (the heartbeat keeps them
// invisible). A ReceiptHandleIsInvalid entry means our lease is gone: the
// message will come back and its re-submission reuses the CallerReference.
func (c *Consumer) deleteBatch(ctx context.Context, ids []string) {
	for attempt := 0; len(ids) > 0; attempt++ {
		entries := c.batchEntries(ids)
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
		done := make([]string, 0, len(out.Successful))
		for _, ok := range out.Successful {
			if i, found := entryIndex(ok.Id, len(entries)); found {
				done = append(done, entries[i].id)
			}
		}
		c.deleted(done, time.Now())
		ids = c.retryable(out.Failed, entries, "DeleteMessageBatch")
		if len(ids) > 0 && !retry.Sleep(ctx, c.opts.Backoff.Delay(attempt)) {
			return
		}
	}
}

// deleted forgets messages SQS confirmed deleted (under one lock for the
// batch) and counts them.
func (c *Consumer) deleted(ids []string, now time.Time) {
	gone := c.forgetAll(ids)
	c.m.Deleted.Add(float64(len(gone)))
	c.nDeleted.Add(int64(len(gone)))
	for _, e := range gone {
		c.observeAge(e, now)
	}
}

// observeAge records how old a message was when SQS confirmed its delete.
// SentTimestamp comes from SQS's clock: a negative age (clock skew) counts
// as 0; a message without one (not requested) is not observed.
func (c *Consumer) observeAge(e *entry, now time.Time) {
	if e.msg.SentMs == 0 {
		return
	}
	reason := metrics.ReasonSettled
	if e.deadLettered {
		reason = metrics.ReasonDeadLettered
	}
	c.m.MessageAgeAtDelete.WithLabelValues(reason).Observe(max(now.Sub(e.msg.SentAt()), 0).Seconds())
}

type batchEntry struct{ id, receipt string }

// entryIDs are the batch-local entry ids "0".."9" of batch calls: entry i
// of a batch is message i of its []batchEntry.
var entryIDs = func() (ids [MaxBatch]string) {
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	return ids
}()

// entryIndex maps a batch result's entry id back to its index in a batch
// of n, reporting whether it is one of ours.
func entryIndex(id *string, n int) (int, bool) {
	i, err := strconv.Atoi(aws.ToString(id))
	return i, err == nil && i >= 0 && i < n && i < MaxBatch
}

// batchEntries pairs each still-held id with its current receipt handle.
func (c *Consumer) batchEntries(ids []string) []batchEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	entries := make([]batchEntry, 0, len(ids))
	for _, id := range ids {
		if e, ok := c.held[id]; ok {
			entries = append(entries, batchEntry{id, e.receipt})
		}
	}
	return entries
}

// toDeleteEntries builds the request entries; they point into es and into
// entryIDs, which nothing writes, so building a batch allocates once.
func toDeleteEntries(es []batchEntry) []types.DeleteMessageBatchRequestEntry {
	out := make([]types.DeleteMessageBatchRequestEntry, len(es))
	for i := range es {
		out[i] = types.DeleteMessageBatchRequestEntry{Id: &entryIDs[i], ReceiptHandle: &es[i].receipt}
	}
	return out
}

// retryable sorts a batch call's Failed entries: sender faults about the
// receipt handle drop the message from the ledger (it is not ours any more);
// the rest are returned for another try.
func (c *Consumer) retryable(failed []types.BatchResultErrorEntry, entries []batchEntry, op string) []string {
	var again []string
	for _, f := range failed {
		c.m.SQSErrors.WithLabelValues(op).Inc()
		i, ok := entryIndex(f.Id, len(entries))
		if !ok {
			c.log.Warn("sqs "+op+" reported an entry id it was not sent", zap.String("entry_id", aws.ToString(f.Id)))
			continue
		}
		id := entries[i].id
		code := aws.ToString(f.Code)
		if f.SenderFault && code != "InternalError" {
			c.log.Warn("sqs "+op+" entry refused; message lease lost, it will be redelivered",
				zap.String("message_id", id), zap.String("code", code), zap.String("reason", aws.ToString(f.Message)))
			if _, held := c.forget(id); held && c.opts.OnLost != nil {
				c.opts.OnLost(id)
			}
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
	now := c.now()
	var due []batchEntry
	var secs []int32
	c.mu.Lock()
	for id, e := range c.held {
		if e.visibleAt-now >= c.opts.Visibility/2 {
			continue
		}
		left := e.receivedAt + MaxVisibility - holdMargin - now
		if left <= 0 {
			continue // at SQS's 12 h cap: let it lapse and come back
		}
		d := min(c.opts.Visibility, left)
		due = append(due, batchEntry{id, e.receipt})
		secs = append(secs, int32(d/time.Second))
		e.visibleAt = now + d
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
	for i := range es {
		entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
			Id: &entryIDs[i], ReceiptHandle: &es[i].receipt, VisibilityTimeout: secs[i],
		}
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
		c.retryable(out.Failed, es, "ChangeMessageVisibilityBatch")
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
