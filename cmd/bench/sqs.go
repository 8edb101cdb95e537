package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

const (
	region = "us-east-1"
	// SQS: a batch call carries at most 10 entries and ReceiveMessage
	// returns at most 10 messages.
	batchSize = 10
	// A standard queue allows about 120,000 in-flight messages; the worker's
	// max_held is bounded by it.
	maxHeld = 120_000
	// sendAttempts bounds the retries of entries a SendMessageBatch reports
	// as failed (partial failure comes back with HTTP 200).
	sendAttempts = 5
)

func newSQS(endpoint string, conns int) *sqs.Client {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = conns
	})
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:  httpClient,
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

func createQueue(ctx context.Context, c *sqs.Client, name string) (string, error) {
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName:  aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": "60"},
	})
	if err != nil {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// sendAll sends bodies to queueURL, 10 per SendMessageBatch, with
// `concurrency` calls in flight, retrying entries reported as failed.
func sendAll(ctx context.Context, c *sqs.Client, queueURL string, bodies []string, concurrency int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan []string)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for b := range batches {
				if err := sendBatch(ctx, c, queueURL, b); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := 0; i < len(bodies); i += batchSize {
		select {
		case batches <- bodies[i:min(i+batchSize, len(bodies))]:
		case <-ctx.Done():
			break feed
		}
	}
	close(batches)
	wg.Wait()
	return context.Cause(ctx)
}

func sendBatch(ctx context.Context, c *sqs.Client, queueURL string, bodies []string) error {
	pending := make(map[string]string, len(bodies)) // entry id → body
	for i, b := range bodies {
		pending[strconv.Itoa(i)] = b
	}
	for attempt := 1; len(pending) > 0; attempt++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt > sendAttempts {
			return fmt.Errorf("SendMessageBatch: %d entries still failing after %d attempts", len(pending), sendAttempts)
		}
		entries := make([]types.SendMessageBatchRequestEntry, 0, len(pending))
		for id, body := range pending {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(body)})
		}
		out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(100 * time.Millisecond) // the SDK already retried: give the emulator a moment
			continue
		}
		for _, ok := range out.Successful {
			delete(pending, aws.ToString(ok.Id))
		}
	}
	return nil
}

// bareLoop runs `pollers` receive+delete loops until n messages were deleted
// and returns how long that took. With window > 0 it deletes as the worker
// must: each received batch at the end of the window it was received in
// (windows of that length from the start), by `pollers` deleters, so that
// between 0 and rate×window messages are in flight, rate×window/2 on
// average, as in the worker. That is a diagnostic of what fauxqs's cost of
// in-flight messages leaves of the ceiling, not the baseline.
func bareLoop(ctx context.Context, c *sqs.Client, queueURL string, n, pollers int, window time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var deleted atomic.Int64
	var elapsed time.Duration
	var once sync.Once
	begin := time.Now()
	count := func(k int) {
		if deleted.Add(int64(k)) >= int64(n) {
			once.Do(func() { elapsed = time.Since(begin); cancel(errDone) })
		}
	}
	type held struct {
		due     time.Time
		entries []types.DeleteMessageBatchRequestEntry
	}
	var queue chan held
	var wg sync.WaitGroup
	windowEnd := func(t time.Time) time.Time { return begin.Add((t.Sub(begin)/window + 1) * window) }
	if window > 0 {
		queue = make(chan held, maxHeld/batchSize)
		for range pollers {
			wg.Go(func() {
				for {
					var h held
					select {
					case h = <-queue:
					case <-ctx.Done():
						return
					}
					if d := time.Until(h.due); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return
						}
					}
					k, err := deleteEntries(ctx, c, queueURL, h.entries)
					if err != nil && ctx.Err() == nil {
						cancel(err)
						return
					}
					count(k)
				}
			})
		}
	}
	for range pollers {
		wg.Go(func() {
			for ctx.Err() == nil {
				entries, err := receive(ctx, c, queueURL)
				if err != nil && ctx.Err() == nil {
					cancel(err)
					return
				}
				if len(entries) == 0 {
					continue
				}
				if window > 0 {
					select {
					case queue <- held{windowEnd(time.Now()), entries}:
					case <-ctx.Done():
					}
					continue
				}
				k, err := deleteEntries(ctx, c, queueURL, entries)
				if err != nil && ctx.Err() == nil {
					cancel(err)
					return
				}
				count(k)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); !errors.Is(err, errDone) {
		return 0, fmt.Errorf("bare loop (%d of %d deleted): %w", deleted.Load(), n, err)
	}
	return elapsed, nil
}

var errDone = errors.New("done")

// receive receives up to 10 messages (long poll 1 s) and returns their
// delete entries.
func receive(ctx context.Context, c *sqs.Client, queueURL string) ([]types.DeleteMessageBatchRequestEntry, error) {
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(queueURL),
		MaxNumberOfMessages: batchSize,
		WaitTimeSeconds:     1,
	})
	if err != nil || len(out.Messages) == 0 {
		return nil, wrap("ReceiveMessage", err)
	}
	entries := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
	for i, m := range out.Messages {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
	}
	return entries, nil
}

// deleteEntries deletes entries in one batch, retrying entries reported as
// failed once; it returns how many were deleted.
func deleteEntries(ctx context.Context, c *sqs.Client, queueURL string, entries []types.DeleteMessageBatchRequestEntry) (int, error) {
	deleted := 0
	for attempt := 0; attempt < 2 && len(entries) > 0; attempt++ {
		dout, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil {
			return deleted, wrap("DeleteMessageBatch", err)
		}
		deleted += len(dout.Successful)
		entries = retryable(entries, dout.Failed)
	}
	if len(entries) > 0 {
		return deleted, fmt.Errorf("DeleteMessageBatch: %d entries failed twice", len(entries))
	}
	return deleted, nil
}

// retryable returns the entries of a failed list that were not the
// sender's fault.
func retryable(entries []types.DeleteMessageBatchRequestEntry, failed []types.BatchResultErrorEntry) []types.DeleteMessageBatchRequestEntry {
	var out []types.DeleteMessageBatchRequestEntry
	for _, f := range failed {
		for _, e := range entries {
			if aws.ToString(e.Id) == aws.ToString(f.Id) && !f.SenderFault {
				out = append(out, e)
			}
		}
	}
	return out
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// queueDepth returns ApproximateNumberOfMessages and …NotVisible.
func queueDepth(ctx context.Context, c *sqs.Client, queueURL string) (visible, inFlight int, err error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("GetQueueAttributes: %w", err)
	}
	visible, err1 := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, err2 := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("GetQueueAttributes: %w", err)
	}
	return visible, inFlight, nil
}
