package worker

import (
	"time"

	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/cfview"
	"github.com/acme/cf-invalidator/internal/coalesce"
	"github.com/acme/cf-invalidator/internal/consumer"
	"github.com/acme/cf-invalidator/internal/invalidate"
	"github.com/acme/cf-invalidator/internal/ledger"
	"github.com/acme/cf-invalidator/internal/metrics"
	"github.com/acme/cf-invalidator/internal/policy"
)

// logSample bounds how many paths one log line shows.
const logSample = 5

// submit sends r once. Accepted, its messages settle; refused for good,
// they are dead-lettered; refused for now (5xx, throttling, no answer,
// TooManyInvalidationsInProgress), its items wait again and the target
// flushes after a backoff (retryLater). That retry is a new flush, so it
// looks at CloudFront first: a replica's invalidation created meanwhile
// settles what it covers, and only what is still uncovered goes out — a
// blind resend of the same paths would pay for them twice. Unchanged, the
// retry is the same request with the same CallerReference, so an answer
// lost on the wire cannot cause a second invalidation; and the view shows
// an invalidation whose answer was lost, which covers its messages.
// c is what r reserved of the headroom.
func (w *Worker) submit(target string, r coalesce.Request, s *ledger.Submission, collapsed bool, c claim) {
	defer w.subs.Done()
	log := w.log.With(zap.String("distribution", target), zap.Int("paths", len(r.Paths)), zap.Int("messages", len(r.Messages)))
	_, tenant := w.parentOf(target)
	if !w.sem.acquire(w.ctx, c.bulk) {
		w.abandon(target, s, c)
		return
	}
	start := time.Now()
	res, err := w.sub.Submit(w.ctx, invalidate.Request{Distribution: target, Tenant: tenant, Paths: r.Paths, MessageIDs: r.Messages,
		SentBound: s.SentBound()})
	w.m.SubmitLatency.Observe(time.Since(start).Seconds())
	w.sem.release()
	if err == nil {
		w.accepted(target, r, s, collapsed, c, res, log)
		return
	}
	if w.ctx.Err() != nil {
		w.abandon(target, s, c) // shutdown: the messages are released, not failed
		return
	}
	class, code := invalidate.Classify(err)
	switch class {
	case invalidate.Permanent:
		w.refused(target, r, s, c, code, err, log)
	case invalidate.Quota:
		w.m.Requests.WithLabelValues(metrics.OutcomeQuota).Inc()
		w.st.errored("cloudfront:quota", err)
		w.m.HeldPaths.WithLabelValues("quota_refused").Add(float64(len(r.Paths)))
		d, n := w.retryLater(target, s, c, "CloudFront refused with TooManyInvalidationsInProgress: backing off")
		log.Warn("too many invalidations in progress; holding the paths and retrying", zap.Duration("backoff", d), zap.Int("refusals", n))
	default:
		w.m.Requests.WithLabelValues(metrics.OutcomeTransient).Inc()
		w.st.errored("cloudfront:transient", err)
		d, n := w.retryLater(target, s, c, "CloudFront failed ("+code+"): backing off, then a fresh look and a retry")
		log.Warn("CreateInvalidation failed; retrying after a backoff and a fresh look at CloudFront", zap.String("code", code),
			zap.Error(err), zap.Duration("backoff", d), zap.Int("attempt", n))
	}
}

// abandon gives a submission up without an answer (shutdown): its items
// wait again; the messages are released.
func (w *Worker) abandon(target string, s *ledger.Submission, c claim) {
	w.led.End(s, nil)
	w.reserve(c, -1)
}

func (w *Worker) accepted(target string, r coalesce.Request, s *ledger.Submission, collapsed bool, c claim,
	res invalidate.Result, log *zap.Logger) {
	created := res.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	// New to the view, or created since this request began (the view may
	// have listed it first): billed now. A reused CallerReference brings
	// back an invalidation created before, billed then.
	known := !w.view.Submitted(cfview.Invalidation{Target: target, ID: res.ID, Created: created, Status: res.Status,
		Items: r.Paths, Messages: len(r.Messages), Collapsed: collapsed})
	fresh := !known || !created.Before(s.Started().Add(-w.o.Skew))
	w.reserve(c, -1)
	w.m.Requests.WithLabelValues(metrics.OutcomeAccepted).Inc()
	if fresh {
		w.m.PathsSubmitted.Add(float64(len(r.Paths)))
		w.m.BilledPaths.WithLabelValues(target).Add(float64(len(r.Paths)))
	}
	if w.o.Notifier != nil {
		w.o.Notifier.Watch(res.ID, r.Messages)
	}
	settled := w.led.End(s, &ledger.Invalidation{Target: target, ID: res.ID, Created: created, SentBound: s.SentBound(), Items: r.Paths})
	log.Info("invalidation accepted", zap.String("invalidation_id", res.ID), zap.String("status", res.Status),
		zap.String("caller_reference", res.Reference), zap.Bool("new", fresh), zap.Int("settled", len(settled)),
		zap.Strings("sample_paths", r.Paths[:min(logSample, len(r.Paths))]))
	w.mu.Lock()
	delete(w.failures, target)
	if w.waits[target].code == "backoff" {
		delete(w.waits, target)
	}
	w.mu.Unlock()
	w.settle(settled, metrics.SettledOwn)
	w.rearm(target)
}

// retryLater: CloudFront did not take the request for now. Its items wait
// again, the target is held for a backoff that grows with each failure in
// a row (reset by an acceptance), and the flush after it merges newer
// items into the retry. It returns the backoff and the failures in a row.
func (w *Worker) retryLater(target string, s *ledger.Submission, c claim, why string) (time.Duration, int) {
	w.mu.Lock()
	k := w.failures[target]
	w.failures[target] = k + 1
	d := w.o.Backoff.Delay(k)
	until := time.Now().Add(d)
	w.waits[target] = wait{code: "backoff", until: until, text: why}
	w.mu.Unlock()
	w.led.Hold(target, until) // before the items stop being in flight: no flush in between
	w.led.End(s, nil)
	w.reserve(c, -1)
	w.rearm(target)
	return d, k + 1
}

// refused handles a permanent error. An InvalidArgument over several
// messages is split per message first, so one bad message does not take the
// others with it; a BatchTooLarge is halved; otherwise every message of the
// request is dead-lettered.
func (w *Worker) refused(target string, r coalesce.Request, s *ledger.Submission, c claim, code string, err error, log *zap.Logger) {
	switch {
	case code == "InvalidArgument" && len(r.Messages) > 1:
		w.m.Requests.WithLabelValues(metrics.OutcomeSplit).Inc()
		log.Warn("CloudFront refused the request as invalid; retrying each message alone to find the culprit", zap.Error(err))
		w.resubmit(target, r.Split(), s, c)
		return
	case code == "BatchTooLarge" && len(r.Paths) > 1:
		// The request's size is the worker's choice, not the messages'
		// fault: halve it until CloudFront takes it.
		w.m.Requests.WithLabelValues(metrics.OutcomeSplit).Inc()
		a, b := r.Halve()
		log.Warn("CloudFront refused the request as too large; retrying it in halves", zap.Error(err))
		w.resubmit(target, []coalesce.Request{a, b}, s, c)
		return
	}
	w.m.Requests.WithLabelValues(metrics.OutcomePermanent).Inc()
	w.st.errored("cloudfront:permanent", err)
	log.Error("CloudFront refused the request for good; dead-lettering its messages", zap.String("code", code), zap.Error(err))
	// Out of the ledger before the items stop being in flight, so no flush
	// plans them again in between.
	ids := w.led.Reject(r.Messages)
	w.led.End(s, nil)
	w.reserve(c, -1)
	rej := consumer.Rejection{Code: "cloudfront_" + code, Reason: err.Error()}
	now := time.Now()
	for _, id := range ids {
		m, ok := w.q.Message(id)
		if !ok {
			continue // not held any more (its lease was lost): it comes back
		}
		w.st.deadLettered(rej.Code, rej.Reason, m.ID, m.Body, now)
		_ = w.q.DeadLetter(w.ctx, m, rej)
	}
	w.signal()
	w.rearm(target)
}

// resubmit replaces a refused request by parts: the parts' items are in
// flight before the refused one lets go of them, so no flush plans them in
// between.
func (w *Worker) resubmit(target string, parts []coalesce.Request, s *ledger.Submission, c claim) {
	for _, p := range parts {
		pc := claim{Room: policy.Room{Files: p.Files(), Wildcards: p.Wildcards()}, target: target, paths: len(p.Paths), pool: c.pool, bulk: c.bulk}
		w.reserve(pc, 1)
		ps := w.led.Begin(target, p.Paths, p.Messages)
		w.subs.Add(1)
		go w.submit(target, p, ps, false, pc)
	}
	w.led.End(s, nil)
	w.reserve(c, -1)
}
