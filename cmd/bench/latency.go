package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// ageMetric is the worker's histogram of message age at delete.
const ageMetric = "invalidator_message_age_at_delete_seconds"

// latencyResult is the latency phase's outcome.
type latencyResult struct {
	rate     int
	duration time.Duration
	sent     int
	stats    latencyStats
	missing  int            // deleted messages with no send time at all
	noSentTS int            // received without SentTimestamp (the producer's send time was used)
	maxLag   time.Duration  // how late the producer was against its schedule, at worst
	problems []string       // what the proxy could not read
	ops      map[string]int // the worker's SQS requests by operation
	cpu      time.Duration  // the worker's user+system time, start to exit

	// The worker's own histogram (reason="settled" when it has that label).
	histCount float64
	histP99   float64 // upper bound of the bucket holding the p99; NaN without the metric
	histErr   string
}

// latencyPhase runs the worker behind the recording proxy and an open-loop
// producer, then reads per-message latencies off the proxy's record.
func (h *harness) latencyPhase(ctx context.Context) (*latencyResult, error) {
	const name = "latency"
	o := h.o
	lr := &latencyResult{rate: o.latencyRate, duration: o.latencyDuration}
	queue, err := createQueue(ctx, h.sqs, "bench-latency")
	if err != nil {
		return nil, err
	}
	rec := newRecorder()
	handler, err := rec.handler(h.sqsURL)
	if err != nil {
		return nil, err
	}
	proxy := httptest.NewServer(handler)
	h.cleanups = append(h.cleanups, proxy.Close)
	w, port, err := h.startWorker(ctx, "worker-latency", queue, proxy.URL)
	if err != nil {
		return nil, err
	}
	// The worker is receiving once each poller has a long poll under way.
	if err := waitFor(ctx, 30*time.Second, func() bool { return rec.receiveRequests() >= o.pollers }); err != nil {
		return nil, fmt.Errorf("%s: the worker's pollers did not start: %w; last log lines:\n%s", name, err, w.tail(20))
	}
	n := int(float64(o.latencyRate) * o.latencyDuration.Seconds())
	n -= n % batchSize
	bodies, _, _ := workload(o, h.ids, n)
	progress("%s: sending %d messages/s for %s (open loop), window %s", name, o.latencyRate, o.latencyDuration, o.window)
	sent, lag, err := openLoop(ctx, h.sqs, queue, bodies, o.latencyRate)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	lr.sent, lr.maxLag = len(sent), lag
	// Everything sent is deleted within a window and a few seconds; allow
	// a minute more before calling it stuck.
	if err := waitFor(ctx, o.window+time.Minute, func() bool { return rec.deletes() >= len(sent) }); err != nil {
		return nil, fmt.Errorf("%s: %d of %d deleted: %w; last log lines:\n%s", name, rec.deletes(), len(sent), err, w.tail(20))
	}
	lat, missing := rec.latencies(sent)
	lr.stats, lr.missing = summarise(lat), missing
	rec.mu.Lock()
	lr.noSentTS, lr.problems, lr.ops = rec.noSentAt, rec.problems, maps.Clone(rec.ops)
	rec.mu.Unlock()
	lr.histP99 = math.NaN()
	if page, err := fetchPage(ctx, fmt.Sprintf("http://127.0.0.1:%d/metrics", port)); err != nil {
		lr.histErr = err.Error()
	} else if bs, err := histogramBuckets(page, ageMetric); err != nil {
		lr.histErr = err.Error()
	} else {
		if settled, err := histogramBuckets(page, ageMetric, `reason="settled"`); err == nil {
			bs = settled
		}
		lr.histP99, lr.histCount = bucketQuantile(bs, 0.99)
	}
	if err := h.stopWorker(ctx, w); err != nil {
		return nil, err
	}
	lr.cpu, _ = rusage(w)
	return lr, nil
}

// openLoop sends bodies at rate messages/s, 10 a SendMessageBatch, each
// batch at its scheduled time whether or not earlier ones have returned (an
// open loop: a slow consumer cannot slow the producer down). It returns
// each message's send time (when its batch call started) by MessageId and
// the worst lateness against the schedule.
func openLoop(ctx context.Context, c *sqs.Client, queue string, bodies []string, rate int) (map[string]time.Time, time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	interval := time.Duration(float64(time.Second) * batchSize / float64(rate))
	var mu sync.Mutex
	sent := make(map[string]time.Time, len(bodies))
	var maxLag time.Duration
	var wg sync.WaitGroup
	begin := time.Now()
	for i := 0; i < len(bodies) && ctx.Err() == nil; i += batchSize {
		due := begin.Add(time.Duration(i/batchSize) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		maxLag = max(maxLag, time.Since(due))
		batch := bodies[i:min(i+batchSize, len(bodies))]
		wg.Go(func() {
			at := time.Now()
			ids, err := sendBatchIDs(ctx, c, queue, batch)
			if err != nil {
				cancel(err)
				return
			}
			mu.Lock()
			for _, id := range ids {
				sent[id] = at
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, 0, fmt.Errorf("open-loop producer: %w", err)
	}
	return sent, maxLag, nil
}

// sendBatchIDs sends one batch, retrying failed entries, and returns the
// MessageIds.
func sendBatchIDs(ctx context.Context, c *sqs.Client, queue string, bodies []string) ([]string, error) {
	pending := make(map[string]string, len(bodies))
	for i, b := range bodies {
		pending[strconv.Itoa(i)] = b
	}
	var ids []string
	for attempt := 1; len(pending) > 0; attempt++ {
		if attempt > sendAttempts {
			return ids, fmt.Errorf("SendMessageBatch: %d entries still failing after %d attempts", len(pending), sendAttempts)
		}
		entries := make([]types.SendMessageBatchRequestEntry, 0, len(pending))
		for id, body := range pending {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(body)})
		}
		out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queue), Entries: entries})
		if err != nil {
			return ids, fmt.Errorf("SendMessageBatch: %w", err)
		}
		for _, ok := range out.Successful {
			delete(pending, aws.ToString(ok.Id))
			ids = append(ids, aws.ToString(ok.MessageId))
		}
	}
	return ids, nil
}

// waitFor polls cond every 50 ms for at most within.
func waitFor(ctx context.Context, within time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("not within %s: %w", within, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
