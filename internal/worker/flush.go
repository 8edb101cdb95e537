package worker

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/coalesce"
	"github.com/acme/cf-invalidator/internal/cost"
	"github.com/acme/cf-invalidator/internal/ledger"
	"github.com/acme/cf-invalidator/internal/policy"
)

// flush is the scheduler's callback for a due target: look at CloudFront
// (others' invalidations may settle what is held), plan what is still
// uncovered, let the policy decide, submit, and re-arm for the next due
// message.
func (w *Worker) flush(target string) {
	mu, _ := w.flushMu.LoadOrStore(target, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if err := w.view.Fresh(w.ctx, target, w.o.ViewMaxAge); err != nil && w.ctx.Err() == nil {
		w.st.errored("cloudfront:view", err)
		w.log.Warn("cloudfront view unavailable; submitting on what this process knows (a replica's invalidations may be paid for again)",
			zap.String("distribution", target), zap.Error(err))
	}
	b := w.led.Plan(target, w.draining.Load())
	if b.Deferred > 0 {
		w.m.Deferred.Add(float64(b.Deferred))
	}
	if len(b.Items) > 0 {
		w.submitBatch(target, b)
	}
	w.rearm(target)
}

// rearm arms target's next flush from the ledger.
func (w *Worker) rearm(target string) {
	if at, ok := w.led.Next(target); ok {
		w.sched.Arm(target, at)
	}
}

// submitBatch turns a plan into requests and sends what the policy lets
// through.
func (w *Worker) submitBatch(target string, b ledger.Batch) {
	now := time.Now()
	reqs := coalesce.Plan(target, b.Items, b.Owners, 0, 0)
	files, wild := w.view.InProgress(target)
	w.mu.Lock()
	p := w.pending[target]
	w.mu.Unlock()
	room := w.o.Limits.Room(files, wild, p.Files, p.Wildcards)
	est, ok := w.estimate().Targets[target]
	if !ok { // the view cannot read this target: no figure to judge a budget on
		est = cost.TargetEstimate{State: cost.Unknown, Remaining: 0}
		if w.o.Cost.MonthlyBudgetUSD <= 0 && w.o.Cost.DistributionBudgetUSD[target] <= 0 {
			est = cost.TargetEstimate{Remaining: -1}
		}
	}
	_, paused, _ := w.pauses.Paused(target)
	held := ""
	for _, r := range reqs {
		oldest := w.led.Oldest(r.Messages)
		w.m.BatchAge.Observe(now.Sub(oldest).Seconds())
		d := w.gate.Decide(target, policy.Input{Request: r, Room: room, Budget: est, Paused: paused, Waited: now.Sub(oldest)})
		log := w.log.With(zap.String("distribution", target))
		if d.Held != "" {
			held = d.Held
			w.m.HeldPaths.WithLabelValues(d.Held).Add(float64(d.HeldPaths))
			log.Debug("holding paths", zap.String("why", d.Held), zap.Int("held_paths", d.HeldPaths), zap.Duration("recheck", w.o.Recheck))
		}
		if d.FloorHit {
			w.m.MaxHoldFloor.WithLabelValues(target).Inc()
			log.Warn("messages waited past max_hold, but a broader wildcard would cross collapse_min_depth: submitting what fits and holding the rest",
				zap.Int("held_paths", d.HeldPaths), zap.Duration("waited", now.Sub(oldest)))
		}
		if len(d.Submit.Paths) == 0 {
			continue
		}
		if d.Collapsed {
			w.m.Collapses.WithLabelValues(target).Inc()
			log.Info("collapsed to fit CloudFront's in-progress headroom", zap.Int("from_paths", len(r.Paths)),
				zap.Int("to_paths", len(d.Submit.Paths)), zap.Int("room_files", room.Files), zap.Int("room_wildcards", room.Wildcards),
				zap.Bool("forced_by_max_hold", d.Forced), zap.String("budget", est.State.String()))
		}
		n := policy.Room{Files: d.Submit.Files(), Wildcards: d.Submit.Wildcards()}
		room.Files, room.Wildcards = room.Files-n.Files, room.Wildcards-n.Wildcards
		if est.Remaining >= 0 {
			est.Remaining = max(0, est.Remaining-len(d.Submit.Paths))
		}
		w.mu.Lock()
		if w.stopped { // shutdown's grace is over: what is left is released
			w.mu.Unlock()
			break
		}
		w.subs.Add(1)
		w.mu.Unlock()
		w.reserve(target, n, 1)
		s := w.led.Begin(target, d.Submit.Paths, d.Submit.Messages)
		go w.submit(target, d.Submit, s, d.Collapsed, n)
	}
	w.mu.Lock()
	if held != "" {
		w.waits[target] = wait{code: held, until: now.Add(w.o.Recheck)}
	} else if wt := w.waits[target]; wt.code != "backoff" || !wt.until.After(now) {
		delete(w.waits, target)
	}
	w.mu.Unlock()
	if held != "" {
		w.led.Hold(target, now.Add(w.o.Recheck))
	}
}

// reserve adds (sign 1) or removes (sign -1) a request's paths to what is
// on its way to CloudFront for target, so concurrent requests do not take
// the same headroom.
func (w *Worker) reserve(target string, n policy.Room, sign int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pending[target]
	p.Files += sign * n.Files
	p.Wildcards += sign * n.Wildcards
	if p.Files <= 0 && p.Wildcards <= 0 {
		delete(w.pending, target)
		return
	}
	w.pending[target] = p
}

// estimate assesses the month over every distribution the view knows.
func (w *Worker) estimate() cost.Estimate {
	targets := w.view.Targets()
	usages := make([]cost.Usage, 0, len(targets))
	for _, t := range targets {
		s := w.view.Spend(t)
		up, ok := s.Upper()
		usages = append(usages, cost.Usage{Target: t, Paths: s.Paths, Upper: up, Bounded: ok})
	}
	return w.o.Cost.Assess(usages)
}
