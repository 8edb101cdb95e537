// Package consumer owns everything SQS: the long-poll receivers, the ledger
// of held messages, the visibility heartbeat that keeps them invisible while
// they wait, batched deletes, dead-lettering of poison, and the release of
// whatever is still held at shutdown.
//
// A message is "held" from the moment it is received until it is deleted,
// dead-lettered, released, or abandoned (left to reappear on its own). The
// number held is bounded by MaxHeld: receivers wait for room instead of
// growing the ledger without limit.
package consumer

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/metrics"
	"github.com/acme/cf-invalidator/internal/retry"
)

// SQS limits the consumer obeys (Amazon SQS Developer Guide, quotas).
const (
	// MaxBatch: ReceiveMessage returns at most 10 messages; DeleteMessageBatch,
	// ChangeMessageVisibilityBatch and SendMessageBatch take at most 10 entries.
	MaxBatch = 10
	// LongPoll: the longest ReceiveMessage wait, 20 s.
	LongPoll = 20 * time.Second
	// MaxVisibility: a message's visibility cannot be extended past 12 hours
	// from its receipt.
	MaxVisibility = 12 * time.Hour
	// holdMargin keeps our last extension clear of the 12 h cap.
	holdMargin = 5 * time.Minute
)

// sqsAPI is the part of the SQS client the consumer uses.
type sqsAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	GetQueueUrl(context.Context, *sqs.GetQueueUrlInput, ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
}

var _ sqsAPI = (*sqs.Client)(nil)

// Message is a received SQS message. The receipt handle stays inside the
// consumer: it is a credential for the message and never logged.
//
// It is kept small (a worker may hold 100,000): with the consumer's own
// fields, an entry is 96 bytes, a size class of Go's allocator.
type Message struct {
	ID   string
	Body string
	// SentMs is SQS's SentTimestamp, Unix milliseconds (0: not known);
	// SentAt gives it as a time.
	SentMs     int64
	Attributes map[string]types.MessageAttributeValue
	// ReceiveCount is SQS's ApproximateReceiveCount.
	ReceiveCount int32
	// Bulk: it came from a bulk-lane queue (Options.Bulk).
	Bulk bool
}

// SentAt is the SentTimestamp (zero when not known).
func (m *Message) SentAt() time.Time {
	if m.SentMs == 0 {
		return time.Time{}
	}
	return time.UnixMilli(m.SentMs)
}

// Handler receives each batch of newly received messages. It runs on the
// poller's goroutine: a slow handler slows that poller only.
type Handler func(ctx context.Context, msgs []*Message)

// Options configures a Consumer.
type Options struct {
	QueueURL string
	// Lane names the queue's lane ("live", "bulk") for logs and the status.
	Lane string
	// Bulk: the queue is a bulk lane; every message received says so.
	Bulk       bool
	DLQURL     string // "" = discover from the queue's RedrivePolicy
	Pollers    int
	Visibility time.Duration
	MaxHeld    int
	// WaitTime is the long-poll wait; 0 means LongPoll (20 s).
	WaitTime time.Duration
	Logger   *zap.Logger
	Metrics  *metrics.Metrics
	// Backoff paces retries of failed SQS calls; zero means 1 s .. 30 s.
	Backoff retry.Backoff
	// OnLost is told of every message the consumer stops holding without
	// deleting, dead-lettering or releasing it: SQS refused its receipt
	// handle (the lease is gone, it will be redelivered). The pipeline
	// forgets it too.
	OnLost func(id string)
	// FillPause: after a receive that brought back fewer messages than it
	// asked for, the poller waits this long before the next one. A long
	// poll returns as soon as anything is there, so at moderate rates the
	// pollers come back with a message or two each, or (fauxqs wakes every
	// waiting poll for each arrival) with nothing, and every ReceiveMessage
	// costs about the same CPU whatever it carries. The pause lets the
	// queue fill the next one; a full receive never pauses, so a backlog
	// is not slowed, and after an empty 20 s poll the pause is nothing. It
	// adds at most this much to a message's wait. 0 means
	// DefaultFillPause, negative never pauses.
	FillPause time.Duration
}

// DefaultFillPause is Options.FillPause's default: a small part of any
// window worth configuring (the worker's default is 10 s).
const DefaultFillPause = 50 * time.Millisecond

// Consumer receives, holds and settles SQS messages.
type Consumer struct {
	api   sqsAPI
	opts  Options
	log   *zap.Logger
	m     *metrics.Metrics
	slots chan struct{} // one token per held message: bounds the ledger

	mu     sync.Mutex
	held   map[string]*entry
	dlqURL string
	attrs  attrCache // the status page's GetQueueAttributes, cached

	nReceived, nDeleted atomic.Int64 // for the status page
	epoch               time.Time    // entry times count from here

	toDelete    []string // queued deletes (Delete) from deleteHead on, under mu
	deleteHead  int
	deleteReady chan struct{} // a deleter has work: toDelete is not empty
	ready       chan struct{}
	readyOne    sync.Once
	stopLoop    context.CancelFunc // StopReceiving: no new ReceiveMessage calls
	wg          sync.WaitGroup     // pollers
	bg          sync.WaitGroup     // heartbeat and deleters
	idle        chan struct{}      // signalled when a message leaves the ledger
}

// entry is one held message: the Message handed to the handler lives in it
// (one allocation per message), times are offsets from Consumer.epoch (8
// bytes each and monotonic, where a time.Time takes 24).
type entry struct {
	msg        Message
	receipt    string
	receivedAt time.Duration
	visibleAt  time.Duration // when SQS makes it visible again unless extended
	// deadLettered: its copy is in the dead-letter queue; the delete that
	// follows is counted under reason dead_lettered.
	deadLettered bool
}

// New returns a Consumer; call Start to begin receiving.
func New(api sqsAPI, o Options) *Consumer {
	if o.WaitTime == 0 {
		o.WaitTime = LongPoll
	}
	if o.Backoff.Base == 0 {
		o.Backoff = retry.Backoff{Base: time.Second, Max: 30 * time.Second}
	}
	if o.FillPause == 0 {
		o.FillPause = DefaultFillPause
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewUnregistered()
	}
	return &Consumer{
		api: api, opts: o, log: o.Logger, m: o.Metrics,
		slots:       make(chan struct{}, o.MaxHeld),
		held:        map[string]*entry{},
		dlqURL:      o.DLQURL,
		epoch:       time.Now(),
		deleteReady: make(chan struct{}, 1),
		ready:       make(chan struct{}),
		idle:        make(chan struct{}, 1),
	}
}

// now is the time since c.epoch, the clock of entry times.
func (c *Consumer) now() time.Duration { return time.Since(c.epoch) }

// Ready is closed after the first successful ReceiveMessage.
func (c *Consumer) Ready() <-chan struct{} { return c.ready }

// Start launches the pollers and the heartbeat and deleters (until bgCtx
// ends). Pollers stop issuing receives after StopReceiving; recvCtx ending
// also cancels a receive under way. Keep bgCtx alive past both so held
// messages keep their visibility and accepted ones get deleted during
// shutdown.
func (c *Consumer) Start(recvCtx, bgCtx context.Context, h Handler) {
	loopCtx, stop := context.WithCancel(recvCtx)
	c.stopLoop = stop
	for i := 0; i < c.opts.Pollers; i++ {
		c.wg.Add(1)
		go c.poll(loopCtx, recvCtx, i, h)
	}
	c.bg.Add(1)
	go c.heartbeat(bgCtx)
	for i := 0; i < deleters(c.opts.Pollers); i++ {
		c.bg.Add(1)
		go c.deleter(bgCtx)
	}
}

// deleters: one DeleteMessageBatch worker per poller, so deletes (which come
// in a wave when a batch is accepted) keep pace with receives; each call
// settles up to 10 messages.
func deleters(pollers int) int { return max(1, pollers) }

// StopReceiving stops the pollers from starting new receives. A long poll
// under way is left to finish rather than cancelled: SQS keeps serving a
// poll whose client went away, so a cancelled poll would still take
// messages (released ones included) and strand them for a visibility
// timeout. What such a poll brings back is released at once, not handled.
func (c *Consumer) StopReceiving() { c.stopLoop() }

// WaitPollers waits until every poller has returned (after StopReceiving,
// within one long poll, or at once when recvCtx ends).
func (c *Consumer) WaitPollers() { c.wg.Wait() }

// WaitPollersFor waits up to d for the pollers and reports whether they
// all returned.
func (c *Consumer) WaitPollersFor(d time.Duration) bool {
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// WaitBackground waits for the heartbeat and deleters after bgCtx ended.
func (c *Consumer) WaitBackground() { c.bg.Wait() }

// Held returns the number of messages held.
func (c *Consumer) Held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.held)
}

// Idle is signalled (not closed) whenever a message leaves the ledger.
func (c *Consumer) Idle() <-chan struct{} { return c.idle }

// poll receives until loop ends (StopReceiving); recv bounds the receive
// call itself.
func (c *Consumer) poll(loop, recv context.Context, id int, h Handler) {
	defer c.wg.Done()
	log := c.log.With(zap.Int("poller", id))
	failures := 0
	for loop.Err() == nil {
		n := c.acquire(loop)
		if n == 0 {
			return
		}
		msgs, got, err := c.receive(recv, n)
		c.releaseSlots(n - len(msgs)) // slots not taken by a new message
		if err != nil {
			if recv.Err() != nil {
				return
			}
			c.m.SQSErrors.WithLabelValues("ReceiveMessage").Inc()
			d := c.opts.Backoff.Delay(failures)
			failures++
			log.Warn("sqs ReceiveMessage failed; backing off", zap.Error(err), zap.Duration("backoff", d))
			retry.Sleep(loop, d)
			continue
		}
		failures = 0
		c.readyOne.Do(func() { close(c.ready) })
		if loop.Err() != nil { // stopping: give these back instead of starting work
			c.releaseMessages(msgs)
			return
		}
		if len(msgs) > 0 {
			h(recv, msgs)
		}
		if got < n && c.opts.FillPause > 0 {
			retry.Sleep(loop, c.opts.FillPause)
		}
	}
}

// releaseMessages makes msgs visible again at once and forgets them.
func (c *Consumer) releaseMessages(msgs []*Message) {
	if len(msgs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var es []batchEntry
	c.mu.Lock()
	for _, m := range msgs {
		if e, ok := c.held[m.ID]; ok {
			es = append(es, batchEntry{m.ID, e.receipt})
		}
	}
	c.mu.Unlock()
	n := c.release(ctx, es)
	c.log.Info("released messages received while stopping", zap.Int("messages", n))
}

// acquire blocks until at least one ledger slot is free and takes up to
// MaxBatch; it returns 0 when ctx ends.
func (c *Consumer) acquire(ctx context.Context) int {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for n < MaxBatch {
		select {
		case c.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func (c *Consumer) releaseSlots(n int) {
	for i := 0; i < n; i++ {
		<-c.slots
	}
}

// receive long-polls for up to n messages and records the new ones in the
// ledger; got is how many SQS returned, duplicates included. A message already held (SQS delivers at least once, and a
// visibility lapse redelivers) only refreshes its receipt handle.
func (c *Consumer) receive(ctx context.Context, n int) (fresh []*Message, got int, err error) {
	out, err := c.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(c.opts.QueueURL),
		MaxNumberOfMessages: int32(n),
		WaitTimeSeconds:     int32(c.opts.WaitTime / time.Second),
		VisibilityTimeout:   int32(c.opts.Visibility / time.Second),
		// Only the system attributes the worker reads: "All" would add six
		// more to every message for the SDK to parse.
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount, types.MessageSystemAttributeNameSentTimestamp,
		},
		MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		return nil, 0, fmt.Errorf("sqs ReceiveMessage: %w", err)
	}
	now := c.now()
	fresh = make([]*Message, 0, len(out.Messages))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range out.Messages {
		if e, ok := c.held[aws.ToString(m.MessageId)]; ok {
			e.receipt, e.visibleAt = strings.Clone(aws.ToString(m.ReceiptHandle)), now+c.opts.Visibility
			continue
		}
		e := newEntry(m)
		e.msg.Bulk = c.opts.Bulk
		e.receivedAt, e.visibleAt = now, now+c.opts.Visibility
		c.held[e.msg.ID] = e
		fresh = append(fresh, &e.msg)
	}
	c.m.Received.Add(float64(len(fresh)))
	c.nReceived.Add(int64(len(fresh)))
	c.m.Held.Set(float64(len(c.held)))
	// The caller frees the slots of duplicates along with the unused ones.
	return fresh, len(out.Messages), nil
}

// newEntry copies what is kept of m into one allocation of its own. The
// SDK decodes a response's strings into shared blocks of up to 4 KiB
// (smithy-go's serde.StringArena): keeping its strings would keep a whole
// block alive per ten messages, about 400 bytes a held message of which the
// message id, receipt handle and body use a fraction.
func newEntry(m types.Message) *entry {
	id, receipt, body := aws.ToString(m.MessageId), aws.ToString(m.ReceiptHandle), aws.ToString(m.Body)
	var b strings.Builder
	b.Grow(len(id) + len(receipt) + len(body))
	b.WriteString(id)
	b.WriteString(receipt)
	b.WriteString(body)
	all := b.String()
	e := &entry{receipt: all[len(id) : len(id)+len(receipt)]}
	e.msg = Message{ID: all[:len(id)], Body: all[len(id)+len(receipt):], Attributes: cloneAttributes(m.MessageAttributes)}
	if v, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)], 10, 32); err == nil {
		e.msg.ReceiveCount = int32(v)
	}
	if v, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil && v > 0 {
		e.msg.SentMs = v
	}
	return e
}

// cloneAttributes deep-copies message attributes, for the reason newEntry
// copies strings.
func cloneAttributes(in map[string]types.MessageAttributeValue) map[string]types.MessageAttributeValue {
	if len(in) == 0 {
		return nil
	}
	cloneStr := func(p *string) *string {
		if p == nil {
			return nil
		}
		return aws.String(strings.Clone(*p))
	}
	out := make(map[string]types.MessageAttributeValue, len(in))
	for k, v := range in {
		c := types.MessageAttributeValue{
			DataType: cloneStr(v.DataType), StringValue: cloneStr(v.StringValue), BinaryValue: bytes.Clone(v.BinaryValue),
		}
		for _, sv := range v.StringListValues {
			c.StringListValues = append(c.StringListValues, strings.Clone(sv))
		}
		for _, bv := range v.BinaryListValues {
			c.BinaryListValues = append(c.BinaryListValues, bytes.Clone(bv))
		}
		out[strings.Clone(k)] = c
	}
	return out
}

// forget removes a message from the ledger and frees its slot.
func (c *Consumer) forget(id string) (*entry, bool) {
	c.mu.Lock()
	e, ok := c.held[id]
	if ok {
		delete(c.held, id)
		c.m.Held.Set(float64(len(c.held)))
	}
	c.mu.Unlock()
	if ok {
		c.releaseSlots(1)
		select {
		case c.idle <- struct{}{}:
		default:
		}
	}
	return e, ok
}

// Holds reports whether the consumer holds message id.
func (c *Consumer) Holds(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.held[id]
	return ok
}

// Message returns the held message with this id (false when it is not held).
func (c *Consumer) Message(id string) (*Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.held[id]; ok {
		return &e.msg, true
	}
	return nil, false
}

// QueueURL is the queue the consumer reads.
func (c *Consumer) QueueURL() string { return c.opts.QueueURL }

// forgetAll is forget for many messages under one lock; it returns the
// entries of those that were held.
func (c *Consumer) forgetAll(ids []string) []*entry {
	gone := make([]*entry, 0, len(ids))
	c.mu.Lock()
	for _, id := range ids {
		if e, ok := c.held[id]; ok {
			delete(c.held, id)
			gone = append(gone, e)
		}
	}
	if len(gone) > 0 {
		c.m.Held.Set(float64(len(c.held)))
	}
	c.mu.Unlock()
	if len(gone) > 0 {
		c.releaseSlots(len(gone))
		select {
		case c.idle <- struct{}{}:
		default:
		}
	}
	return gone
}

// Abandon stops holding a message without touching it in SQS: it becomes
// visible again when its current visibility timeout runs out, and SQS's own
// redrive policy counts the receive.
func (c *Consumer) Abandon(id string) { c.forget(id) }
