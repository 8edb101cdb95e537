// Package worker is the pipeline between the consumer and CloudFront:
// decode each received message, put its paths into the coalescer, submit
// each flushed request, and settle every message exactly when the requests
// covering all of its paths were accepted — or dead-letter it when they
// never can be.
//
// Each message carries a count of outstanding obligations: one per
// Add/Requeue into a coalescer group until that group flushes, then one per
// request covering it. It is deleted when the count reaches zero.
package worker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/coalesce"
	"github.com/acme/cf-invalidator/internal/consumer"
	"github.com/acme/cf-invalidator/internal/invalidate"
	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/metrics"
	"github.com/acme/cf-invalidator/internal/retry"
)

// queue is what the worker needs from the consumer to settle messages.
type queue interface {
	Delete(id string)
	DeadLetter(ctx context.Context, m *consumer.Message, r consumer.Rejection) error
	DeadLetterPart(ctx context.Context, m *consumer.Message, r consumer.Rejection) error
	Abandon(id string)
}

// submitter sends one invalidation request.
type submitter interface {
	Submit(ctx context.Context, r invalidate.Request) (invalidate.Result, error)
}

// decoder turns a body into targets.
type decoder interface {
	Decode(body []byte) (message.Decoded, error)
}

var (
	_ queue     = (*consumer.Consumer)(nil)
	_ submitter = (*invalidate.Submitter)(nil)
	_ decoder   = (*message.Decoder)(nil)
)

// Options configures a Worker.
type Options struct {
	Window            time.Duration
	SubmitConcurrency int
	// Backoff paces retries after transient and quota errors.
	Backoff retry.Backoff
	Logger  *zap.Logger
	Metrics *metrics.Metrics
	// Gate: quota accounting, collapse, budgets and completion tracking.
	Gate GateOptions
}

// Worker runs the pipeline.
type Worker struct {
	q    queue
	sub  submitter
	dec  decoder
	co   *coalesce.Coalescer
	log  *zap.Logger
	m    *metrics.Metrics
	opts Options

	// ctx bounds CreateInvalidation calls and dead-letter sends; cancelled
	// when the shutdown grace period ends.
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{} // CreateInvalidation calls in flight
	subs   sync.WaitGroup

	mu            sync.Mutex
	pending       map[string]*tracked
	quotaAttempts map[string]int // consecutive quota refusals per distribution
	changed       chan struct{}  // signalled when pending shrinks

	paused      atomic.Bool
	pauseReason atomic.Value // string
}

type tracked struct {
	msg         *consumer.Message
	obligations int
	since       time.Time // when the pipeline took it: max_hold counts from here
}

// New returns a Worker.
func New(q queue, sub submitter, dec decoder, o Options) *Worker {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewUnregistered()
	}
	if o.SubmitConcurrency <= 0 {
		o.SubmitConcurrency = 2
	}
	if o.Backoff.Base == 0 {
		o.Backoff = retry.Backoff{Base: time.Second, Max: 2 * time.Minute}
	}
	if o.Gate.Recheck <= 0 {
		o.Gate.Recheck = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{
		q: q, sub: sub, dec: dec, log: o.Logger, m: o.Metrics, opts: o,
		ctx: ctx, cancel: cancel,
		sem:           make(chan struct{}, o.SubmitConcurrency),
		pending:       map[string]*tracked{},
		quotaAttempts: map[string]int{},
		changed:       make(chan struct{}, 1),
	}
	w.co = coalesce.New(coalesce.Options{Window: o.Window, Flush: w.flush})
	return w
}

// Handle is the consumer's handler: it takes each new message into the
// pipeline. Poison is dead-lettered here, before anything reaches CloudFront.
func (w *Worker) Handle(_ context.Context, msgs []*consumer.Message) {
	for _, m := range msgs {
		w.take(m)
	}
}

func (w *Worker) take(m *consumer.Message) {
	d, err := w.dec.Decode([]byte(m.Body))
	if err != nil {
		var rej *message.Rejection
		if !errors.As(err, &rej) {
			rej = &message.Rejection{Code: message.CodeMalformed, Reason: err.Error()}
		}
		_ = w.q.DeadLetter(w.ctx, m, consumer.Rejection{Code: rej.Code, Reason: rej.Reason})
		return
	}
	if d.Ignore {
		w.m.Ignored.WithLabelValues(d.IgnoreCode).Inc()
		w.log.Info("message ignored", zap.String("message_id", m.ID), zap.String("reason", d.IgnoreReason))
		w.q.Delete(m.ID)
		return
	}
	for _, r := range d.Rejected {
		rej := consumer.Rejection{Code: r.Code, Reason: r.Reason, Body: r.Body}
		if err := w.q.DeadLetterPart(w.ctx, m, rej); err != nil {
			// Its rejected part must not be lost when the rest is accepted
			// and the message deleted: leave it to come back.
			w.q.Abandon(m.ID)
			return
		}
	}
	w.mu.Lock()
	w.pending[m.ID] = &tracked{msg: m, obligations: len(d.Targets), since: time.Now()}
	w.mu.Unlock()
	for _, t := range d.Targets {
		w.m.PathsIn.Add(float64(len(t.Paths)))
		w.co.Add(t.DistributionID, m.ID, t.Paths)
	}
}

// flush converts a batch's group obligations into request obligations and
// starts a submission per request. It runs on the coalescer's timer.
func (w *Worker) flush(b coalesce.Batch) {
	w.m.BatchAge.Observe(b.Flushed.Sub(b.Opened).Seconds())
	for _, r := range b.Requests {
		w.obligate(r.Messages) // before the tokens go, so no message looks finished in between
	}
	w.mu.Lock()
	var done []string
	for id, n := range b.Tokens {
		if w.settleLocked(id, n) {
			done = append(done, id)
		}
	}
	w.mu.Unlock()
	w.deleteAll(done)
	for _, r := range b.Requests {
		w.subs.Add(1)
		go w.submit(r)
	}
}

// settleLocked removes n obligations from id and reports whether it has
// none left (and so is no longer pending).
func (w *Worker) settleLocked(id string, n int) bool {
	t := w.pending[id]
	if t == nil {
		return false // dead-lettered meanwhile
	}
	t.obligations -= n
	if t.obligations > 0 {
		return false
	}
	delete(w.pending, id)
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return true
}

func (w *Worker) deleteAll(ids []string) {
	for _, id := range ids {
		w.q.Delete(id)
	}
}

// Pending returns the number of messages in the pipeline.
func (w *Worker) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}
