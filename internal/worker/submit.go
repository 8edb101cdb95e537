package worker

import (
	"time"

	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/coalesce"
	"github.com/acme/cf-invalidator/internal/consumer"
	"github.com/acme/cf-invalidator/internal/invalidate"
	"github.com/acme/cf-invalidator/internal/metrics"
	"github.com/acme/cf-invalidator/internal/retry"
)

// logSample bounds how many paths one log line shows.
const logSample = 5

// submit sends r until CloudFront accepts it, refuses it for good, or the
// worker shuts down. Transient errors retry the same request, so its
// CallerReference is the same and an answer lost on the wire cannot cause a
// second invalidation.
func (w *Worker) submit(r coalesce.Request) {
	defer w.subs.Done()
	log := w.log.With(zap.String("distribution", r.Distribution))
	r, ok := w.gate(r, log)
	if !ok {
		return
	}
	log = log.With(zap.Int("paths", len(r.Paths)), zap.Int("messages", len(r.Messages)))
	for attempt := 0; ; attempt++ {
		if !w.acquire() {
			return
		}
		start := time.Now()
		res, err := w.sub.Submit(w.ctx, invalidate.Request{Distribution: r.Distribution, Paths: r.Paths, MessageIDs: r.Messages})
		w.m.SubmitLatency.Observe(time.Since(start).Seconds())
		<-w.sem
		if err == nil {
			w.accepted(r, res, log)
			return
		}
		if w.ctx.Err() != nil {
			return // shutdown: the messages are released, not failed
		}
		class, code := invalidate.Classify(err)
		switch class {
		case invalidate.Permanent:
			w.refused(r, code, err, log)
			return
		case invalidate.Quota:
			w.m.Requests.WithLabelValues(metrics.OutcomeQuota).Inc()
			w.quotaRefused(r, log)
			return
		}
		w.m.Requests.WithLabelValues(metrics.OutcomeTransient).Inc()
		d := w.opts.Backoff.Delay(attempt)
		log.Warn("CreateInvalidation failed; retrying the same request", zap.String("code", code),
			zap.Error(err), zap.Duration("backoff", d), zap.Int("attempt", attempt+1))
		if !retry.Sleep(w.ctx, d) {
			return
		}
	}
}

func (w *Worker) acquire() bool {
	select {
	case w.sem <- struct{}{}:
		return true
	case <-w.ctx.Done():
		return false
	}
}

func (w *Worker) accepted(r coalesce.Request, res invalidate.Result, log *zap.Logger) {
	w.m.Requests.WithLabelValues(metrics.OutcomeAccepted).Inc()
	w.m.PathsSubmitted.Add(float64(len(r.Paths)))
	log.Info("invalidation accepted", zap.String("invalidation_id", res.ID), zap.String("status", res.Status),
		zap.String("caller_reference", res.Reference), zap.Strings("sample_paths", r.Paths[:min(logSample, len(r.Paths))]))
	g := w.opts.Gate
	now := time.Now()
	if g.Quota != nil {
		g.Quota.Submitted(r.Distribution, res.ID, r.Paths, now)
	}
	if g.Budget != nil {
		g.Budget.Record(r.Distribution, len(r.Paths))
	}
	w.m.BilledPaths.WithLabelValues(r.Distribution).Add(float64(len(r.Paths)))
	if g.Watcher != nil {
		g.Watcher.Watch(r.Distribution, res.ID, res.Status, r.Messages, len(r.Paths), res.CreatedAt)
	}
	w.mu.Lock()
	delete(w.quotaAttempts, r.Distribution)
	w.mu.Unlock()
	w.release(r)
}

// quotaRefused puts a request refused for quota back into the
// distribution's group, which holds it for a growing backoff and merges
// newer paths in.
func (w *Worker) quotaRefused(r coalesce.Request, log *zap.Logger) {
	w.mu.Lock()
	n := w.quotaAttempts[r.Distribution]
	w.quotaAttempts[r.Distribution] = n + 1
	w.mu.Unlock()
	d := w.opts.Backoff.Delay(n)
	log.Warn("too many invalidations in progress; holding the paths and retrying", zap.Duration("backoff", d),
		zap.Int("refusals", n+1))
	w.hold(r, d, "quota_refused", log)
}

// release removes the obligation a request held on each of its messages.
func (w *Worker) release(r coalesce.Request) {
	w.mu.Lock()
	var done []string
	for _, id := range r.Messages {
		if w.settleLocked(id, 1) {
			done = append(done, id)
		}
	}
	w.mu.Unlock()
	w.deleteAll(done)
}

// resubmit replaces r by parts: each part's messages take an obligation
// before r gives up its own.
func (w *Worker) resubmit(r coalesce.Request, parts []coalesce.Request) {
	for _, p := range parts {
		w.obligate(p.Messages)
	}
	w.release(r)
	for _, p := range parts {
		w.subs.Add(1)
		go w.submit(p)
	}
}

// refused handles a permanent error. An InvalidArgument over several
// messages is split per message first, so one bad message does not take the
// others with it; a BatchTooLarge is halved; otherwise every message of the
// request is dead-lettered.
func (w *Worker) refused(r coalesce.Request, code string, err error, log *zap.Logger) {
	split := (code == "InvalidArgument" && len(r.Messages) > 1) || (code == "BatchTooLarge" && len(r.Paths) > 1)
	if split {
		w.m.Requests.WithLabelValues(metrics.OutcomeSplit).Inc()
	} else {
		w.m.Requests.WithLabelValues(metrics.OutcomePermanent).Inc()
	}
	switch {
	case code == "InvalidArgument" && len(r.Messages) > 1:
		log.Warn("CloudFront refused the request as invalid; retrying each message alone to find the culprit", zap.Error(err))
		w.resubmit(r, r.Split())
		return
	case code == "BatchTooLarge" && len(r.Paths) > 1:
		// The request's size is the worker's choice, not the messages'
		// fault: halve it until CloudFront takes it.
		a, b := r.Halve()
		log.Warn("CloudFront refused the request as too large; retrying it in halves", zap.Error(err))
		w.resubmit(r, []coalesce.Request{a, b})
		return
	}
	log.Error("CloudFront refused the request for good; dead-lettering its messages", zap.String("code", code), zap.Error(err))
	rej := consumer.Rejection{Code: "cloudfront_" + code, Reason: err.Error()}
	for _, id := range r.Messages {
		w.mu.Lock()
		t := w.pending[id]
		delete(w.pending, id)
		w.mu.Unlock()
		if t != nil {
			_ = w.q.DeadLetter(w.ctx, t.msg, rej)
		}
	}
	select {
	case w.changed <- struct{}{}:
	default:
	}
}
