// Package worker is the pipeline between the consumer and CloudFront:
// decode each received message, hand its items to the coverage ledger,
// flush each distribution when its oldest waiting message is due, submit
// what the policy lets through, and delete each message exactly when the
// ledger says every item is covered — by our invalidation, a replica's or a
// person's, created after the message was sent — or dead-letter it when it
// never can be.
//
// Who owns what:
//
//   - internal/ledger owns every held message's uncovered items and is the
//     only source of "this message may be deleted";
//   - internal/cfview owns what CloudFront shows (quota, completion, others'
//     invalidations, the month's spend);
//   - internal/policy decides Fit vs Force vs hold for a planned request;
//   - internal/coalesce schedules flushes and chunks requests;
//   - this package wires them per message and per request, and owns
//     shutdown (Run).
package worker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/cfview"
	"github.com/acme/cf-invalidator/internal/coalesce"
	"github.com/acme/cf-invalidator/internal/consumer"
	"github.com/acme/cf-invalidator/internal/cost"
	"github.com/acme/cf-invalidator/internal/invalidate"
	"github.com/acme/cf-invalidator/internal/ledger"
	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/metrics"
	"github.com/acme/cf-invalidator/internal/policy"
	"github.com/acme/cf-invalidator/internal/retry"
)

// queue is what the worker needs from the consumer to settle messages.
type queue interface {
	Delete(ids ...string)
	DeadLetter(ctx context.Context, m *consumer.Message, r consumer.Rejection) error
	DeadLetterPart(ctx context.Context, m *consumer.Message, r consumer.Rejection) error
	Abandon(id string)
	// Message returns a held message by id (the ledger keeps ids only).
	Message(id string) (*consumer.Message, bool)
}

// submitter sends one invalidation request.
type submitter interface {
	Submit(ctx context.Context, r invalidate.Request) (invalidate.Result, error)
}

// decoder turns a body into targets.
type decoder interface {
	DecodeString(body string) (message.Decoded, error)
}

// view is the shared CloudFront view.
type view interface {
	Run(ctx context.Context)
	Ensure(target string) bool
	Fresh(ctx context.Context, target string, maxAge time.Duration) error
	Submitted(inv cfview.Invalidation) bool
	InProgress(target string) (files, wildcards int)
	Spend(target string) cfview.Spend
	SetActive(target string, active bool)
	Age(target string) (time.Duration, error, bool)
	Recent(target string, n, sample int) []cfview.Invalidation
	Targets() []string
}

// notifier announces completions of own invalidations.
type notifier interface {
	Run(ctx context.Context)
	Watch(id string, messageIDs []string)
	Completed(dist, id string, paths int, created, completed time.Time)
}

var (
	_ queue     = (*consumer.Consumer)(nil)
	_ submitter = (*invalidate.Submitter)(nil)
	_ decoder   = (*message.Decoder)(nil)
	_ view      = (*cfview.View)(nil)
)

// Options configures a Worker.
type Options struct {
	// Window: a message's items are due this long after its receipt.
	Window time.Duration
	// Skew is the clock-skew margin for invalidations not submitted for a
	// message (clock_skew_margin); Lag the per-distribution producer margin.
	Skew time.Duration
	Lag  map[string]time.Duration
	// Jitter bounds the random delay before a flush.
	Jitter time.Duration
	// ViewMaxAge: a flush refreshes the view when it is older than this.
	ViewMaxAge time.Duration
	// Recheck is how long held work (quota, pause, budget) waits before it
	// is tried again; the view is refreshed about that often.
	Recheck           time.Duration
	SubmitConcurrency int
	// Lanes are the lanes' settings by name ("live", "bulk"); a message's
	// lane is its queue's.
	Lanes map[string]Lane
	// Backoff paces retries after transient and quota errors.
	Backoff retry.Backoff
	Limits  policy.Limits
	Gate    *policy.Gate
	Cost    cost.Options
	// Targets are the allow-listed distributions: the month's spend is
	// summed over them (and any other the worker meets).
	Targets []string
	// Tenants maps each allow-listed distribution tenant to its
	// multi-tenant distribution: a tenant's in-progress paths count against
	// its distribution's limits, together with the distribution's own and
	// every sibling tenant's (AWS documents no limits per tenant; this is
	// the conservative reading).
	Tenants map[string]string
	// Notifier announces completions (nil = none).
	Notifier notifier
	Logger   *zap.Logger
	Metrics  *metrics.Metrics
	// Version is shown on the status page.
	Version string
}

// Lane is one lane's settings.
type Lane struct {
	// Window: its messages' items are due this long after receipt (0 =
	// Options.Window).
	Window time.Duration
	// CollapseAbove: its requests are collapsed to at most this many file
	// paths even when CloudFront would take more (0 = off).
	CollapseAbove int
}

// Lane names.
const (
	LaneLive = "live"
	LaneBulk = "bulk"
)

// Live-first rules, so a bulk replay cannot delay a live publish:
//
//   - bulk requests leave liveShare of CloudFront's in-progress allowance
//     (750 of 3,000 file paths, 4 of 15 wildcards) to live work, which may
//     use all of it;
//   - CreateInvalidation slots go to waiting live requests first;
//   - bulk work that has waited bulkAging windows of its lane is no longer
//     treated as bulk: so live work can delay bulk work, never starve it.
const (
	liveShareFiles     = 750
	liveShareWildcards = 4
	bulkAging          = 10
)

// Worker runs the pipeline.
type Worker struct {
	q     queue
	sub   submitter
	dec   decoder
	view  view
	led   *ledger.Ledger
	sched *coalesce.Scheduler
	gate  *policy.Gate
	log   *zap.Logger
	m     *metrics.Metrics
	o     Options

	// ctx bounds CreateInvalidation calls and dead-letter sends; cancelled
	// when the shutdown grace period ends.
	ctx      context.Context
	cancel   context.CancelFunc
	sem      *slots // CreateInvalidation calls in flight, live first
	subs     sync.WaitGroup
	draining atomic.Bool
	changed  chan struct{} // signalled when a message leaves the ledger

	pauses  policy.Pauses
	flushMu sync.Map // target → *sync.Mutex: one flush of a target at a time
	// budgetMu makes a flush's budget judgement and its requests' claims one
	// step across targets: an account budget is shared, and two targets
	// flushing at once must not each spend what remains.
	budgetMu sync.Mutex

	mu       sync.Mutex
	pending  map[string]policy.Room // per pool: paths gated, not yet answered
	underway map[string]int         // per target: paths gated, not yet in the view (billed, for budgets)
	failures map[string]int         // requests refused for now in a row, per target (quota, 5xx, no answer)
	waits    map[string]wait        // why a target's work waits, for the status page
	active   map[string]bool        // targets the view was told are active
	stopped  bool                   // no new submissions (shutdown's grace is over)

	st         *statusState
	statusOpts StatusOptions
}

// wait is the latest reason a target's work is held.
type wait struct {
	code  string
	until time.Time
	text  string // for "backoff": why, in words
}

// New returns a Worker.
func New(q queue, sub submitter, dec decoder, v view, o Options) *Worker {
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
	if o.Recheck <= 0 {
		o.Recheck = 10 * time.Second
	}
	if o.Gate == nil {
		o.Gate = policy.New(policy.Options{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{
		q: q, sub: sub, dec: dec, view: v, gate: o.Gate, log: o.Logger, m: o.Metrics, o: o,
		ctx: ctx, cancel: cancel,
		sem:      newSlots(o.SubmitConcurrency),
		changed:  make(chan struct{}, 1),
		pending:  map[string]policy.Room{},
		underway: map[string]int{},
		failures: map[string]int{},
		waits:    map[string]wait{},
		active:   map[string]bool{},
		st:       newStatusState(),
	}
	w.led = ledger.New(ledger.Options{
		Window: o.Window, Skew: o.Skew,
		Lag: func(t string) time.Duration { return o.Lag[t] },
	})
	w.sched = coalesce.NewScheduler(coalesce.SchedulerOptions{Jitter: o.Jitter, Flush: w.flush})
	return w
}

// Ledger exposes the ledger to tests and the status page.
func (w *Worker) Ledger() *ledger.Ledger { return w.led }

// Handle is the consumer's handler: it takes each new message into the
// pipeline. Poison is dead-lettered here, before anything reaches CloudFront.
func (w *Worker) Handle(_ context.Context, msgs []*consumer.Message) {
	now := time.Now()
	for _, m := range msgs {
		w.take(m, now)
	}
}

func (w *Worker) take(m *consumer.Message, now time.Time) {
	d, err := w.dec.DecodeString(m.Body)
	if err != nil {
		var rej *message.Rejection
		if !errors.As(err, &rej) {
			rej = &message.Rejection{Code: message.CodeMalformed, Reason: err.Error()}
		}
		w.st.deadLettered(rej.Code, rej.Reason, m.ID, m.Body, now)
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
		w.st.deadLettered(r.Code, r.Reason, m.ID, string(r.Body), now)
		if err := w.q.DeadLetterPart(w.ctx, m, rej); err != nil {
			// Its rejected part must not be lost when the rest is accepted
			// and the message deleted: leave it to come back.
			w.q.Abandon(m.ID)
			return
		}
	}
	lane := LaneLive
	if m.Bulk {
		lane = LaneBulk
	}
	lm := ledger.Message{ID: m.ID, Sent: m.SentAt(), Received: now, Targets: make([]ledger.Target, 0, len(d.Targets)),
		Window: w.o.Lanes[lane].Window, Bulk: m.Bulk}
	for _, t := range d.Targets {
		w.m.PathsIn.Add(float64(len(t.Paths)))
		lm.Targets = append(lm.Targets, ledger.Target{ID: t.Key(), Items: t.Paths})
		if t.TenantID != "" {
			w.tenant(t.TenantID, t.DistributionID)
		}
	}
	due, settled := w.led.Add(lm)
	if settled {
		w.m.Settled.WithLabelValues(metrics.SettledArrival).Inc()
		w.q.Delete(m.ID)
		return
	}
	for _, t := range lm.Targets {
		w.touch(t.ID)
		w.sched.Arm(t.ID, due)
	}
}

// tenant notes that target is a distribution tenant of dist: it is
// submitted with the tenant API and shares dist's in-progress limits.
func (w *Worker) tenant(target, dist string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.o.Tenants == nil {
		w.o.Tenants = map[string]string{}
	}
	w.o.Tenants[target] = dist
}

// touch tells the view that target has work (refresh on the busy cadence).
func (w *Worker) touch(target string) {
	w.mu.Lock()
	known := w.active[target]
	w.active[target] = true
	w.mu.Unlock()
	if !known {
		w.view.Ensure(target)
		w.view.SetActive(target, true)
	}
}

// settle deletes the messages the ledger settled.
func (w *Worker) settle(ids []string, by string) {
	if len(ids) == 0 {
		return
	}
	w.m.Settled.WithLabelValues(by).Add(float64(len(ids)))
	w.q.Delete(ids...)
	w.signal()
}

func (w *Worker) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// Observed is the view's OnInvalidation: someone else's invalidation may
// settle held messages. A replica's (or an earlier process's) carries in
// its CallerReference the latest SentTimestamp of the messages it served,
// which covers messages sent before that without the clock-skew margin.
func (w *Worker) Observed(inv cfview.Invalidation) {
	by := metrics.SettledOther
	var bound time.Time
	if inv.Origin == cfview.OriginFleet {
		by = metrics.SettledFleet
		bound, _ = invalidate.SentBound(inv.Reference)
	}
	ids := w.led.Observe(ledger.Invalidation{Target: inv.Target, ID: inv.ID, Created: inv.Created, SentBound: bound, Items: inv.Items})
	if len(ids) > 0 {
		w.log.Info("held messages settled by an invalidation this process did not submit",
			zap.String("distribution", inv.Target), zap.String("invalidation_id", inv.ID),
			zap.String("origin", string(inv.Origin)), zap.Int("messages", len(ids)))
	}
	w.settle(ids, by)
}

// Completed is the view's OnCompleted.
func (w *Worker) Completed(inv cfview.Invalidation) {
	if inv.Origin != cfview.OriginOwn || w.o.Notifier == nil {
		return
	}
	w.o.Notifier.Completed(inv.Target, inv.ID, inv.Paths(), inv.Created, inv.Completed)
}

// Lost is the consumer's OnLost: a message whose lease SQS revoked.
func (w *Worker) Lost(id string) {
	if w.led.Forget(id) {
		w.signal()
	}
}

// Pending returns the number of messages in the pipeline.
func (w *Worker) Pending() int { return w.led.Held() }
