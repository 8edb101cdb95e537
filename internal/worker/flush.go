package worker

import (
	"maps"
	"slices"
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
	w.freshPool(target)
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

// claim is what one request holds while it is on its way: its share of
// the pool's headroom, and whether it counts as bulk work.
type claim struct {
	policy.Room
	target string
	paths  int // billed if CloudFront accepts it
	pool   string
	bulk   bool
}

// submitBatch turns a plan into requests — live items first, then items
// only bulk messages want — and sends what the policy lets through.
func (w *Worker) submitBatch(target string, b ledger.Batch) {
	now := time.Now()
	type lanePlan struct {
		bulk bool
		reqs []coalesce.Request
	}
	var live, bulk ledger.Batch
	for i, it := range b.Items {
		into := &live
		if b.Bulk != nil && b.Bulk[i] {
			into = &bulk
		}
		into.Items = append(into.Items, it)
		into.Owners = append(into.Owners, b.Owners[i])
	}
	plans := []lanePlan{
		{false, coalesce.Plan(target, live.Items, live.Owners, 0, 0)},
		{true, coalesce.Plan(target, bulk.Items, bulk.Owners, 0, 0)},
	}
	pool := w.pool(target)
	room := w.room(pool)
	// From the estimate to the last claim below, no other flush judges a
	// budget: what this one sends is under way before the next one looks.
	w.budgetMu.Lock()
	defer w.budgetMu.Unlock()
	est, ok := w.estimate(w.underwayPaths()).Targets[target]
	if !ok { // the view cannot read this target: no figure to judge a budget on
		est = cost.TargetEstimate{State: cost.Unknown, Remaining: 0}
		if w.o.Cost.MonthlyBudgetUSD <= 0 && w.o.Cost.DistributionBudgetUSD[target] <= 0 {
			est = cost.TargetEstimate{Remaining: -1}
		}
	}
	_, paused, _ := w.pauses.Paused(target)
	held := ""
	log := w.log.With(zap.String("distribution", target))
	for _, lp := range plans {
		laneName := LaneLive
		if lp.bulk {
			laneName = LaneBulk
		}
		lane := w.o.Lanes[laneName]
		window := lane.Window
		if window <= 0 {
			window = w.o.Window
		}
		for _, r := range lp.reqs {
			oldest := w.led.Oldest(r.Messages)
			waited := now.Sub(oldest)
			w.m.BatchAge.Observe(waited.Seconds())
			asBulk := lp.bulk && waited < bulkAging*window // aged bulk work is treated as live: never starved
			rr := room
			if asBulk {
				rr.Files, rr.Wildcards = max(0, rr.Files-liveShareFiles), max(0, rr.Wildcards-liveShareWildcards)
			}
			d := w.gate.Decide(target, policy.Input{Request: r, Room: rr, Budget: est, Paused: paused, Waited: waited,
				CollapseAbove: lane.CollapseAbove})
			if d.Held != "" {
				held = d.Held
				w.m.HeldPaths.WithLabelValues(d.Held).Add(float64(d.HeldPaths))
				log.Debug("holding paths", zap.String("why", d.Held), zap.String("lane", laneName),
					zap.Int("held_paths", d.HeldPaths), zap.Duration("recheck", w.o.Recheck))
			}
			if d.FloorHit {
				w.m.MaxHoldFloor.WithLabelValues(target).Inc()
				log.Warn("messages waited past max_hold, but a broader wildcard would cross collapse_min_depth: submitting what fits and holding the rest",
					zap.Int("held_paths", d.HeldPaths), zap.Duration("waited", waited))
			}
			if len(d.Submit.Paths) == 0 {
				continue
			}
			if d.Collapsed {
				w.m.Collapses.WithLabelValues(target).Inc()
				log.Info("collapsed to fit CloudFront's in-progress headroom", zap.String("lane", laneName),
					zap.Int("from_paths", len(r.Paths)), zap.Int("to_paths", len(d.Submit.Paths)),
					zap.Int("room_files", rr.Files), zap.Int("room_wildcards", rr.Wildcards),
					zap.Bool("forced_by_max_hold", d.Forced), zap.String("budget", est.State.String()))
			}
			c := claim{Room: policy.Room{Files: d.Submit.Files(), Wildcards: d.Submit.Wildcards()},
				target: target, paths: len(d.Submit.Paths), pool: pool, bulk: asBulk}
			room.Files, room.Wildcards = room.Files-c.Files, room.Wildcards-c.Wildcards
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
			w.reserve(c, 1)
			s := w.led.Begin(target, d.Submit.Paths, d.Submit.Messages)
			go w.submit(target, d.Submit, s, d.Collapsed, c)
		}
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

// pool is the distribution whose in-progress limits target counts
// against: a tenant's distribution, else target itself.
func (w *Worker) pool(target string) string {
	if p, ok := w.parentOf(target); ok {
		return p
	}
	return target
}

// parentOf returns a tenant's distribution.
func (w *Worker) parentOf(target string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.o.Tenants[target]
	return p, ok
}

// members are the targets whose in-progress paths count against pool's
// limits: the distribution and each of its tenants.
func (w *Worker) members(pool string) []string {
	members := []string{pool}
	w.mu.Lock()
	defer w.mu.Unlock()
	for t, p := range w.o.Tenants {
		if p == pool {
			members = append(members, t)
		}
	}
	return members
}

// freshPool refreshes, like the flush does target's, the views of
// target's pool mates (its distribution and sibling tenants, or a
// distribution's tenants) that count paths in progress: room sums them,
// and a mate with no work of its own is refreshed only on the idle
// cadence (view_idle_refresh, a minute), so an invalidation of it that
// CloudFront completed long ago would go on holding the pool's room and
// the target's work with it. Mates with nothing in progress are left to
// their cadence: they free no room, and refreshing every tenant of a
// large distribution on every flush would spend the read rate.
func (w *Worker) freshPool(target string) {
	for _, m := range w.members(w.pool(target)) {
		if m == target {
			continue
		}
		if files, wild := w.view.InProgress(m); files+wild == 0 {
			continue
		}
		if err := w.view.Fresh(w.ctx, m, w.o.ViewMaxAge); err != nil && w.ctx.Err() == nil {
			w.st.errored("cloudfront:view", err)
			w.log.Warn("cloudfront view of a distribution or tenant sharing the in-progress limits unavailable; counting what it last showed",
				zap.String("distribution", target), zap.String("shares_with", m), zap.Error(err))
		}
	}
}

// room is what pool may still take: CloudFront's limits less what is in
// progress for the distribution and each of its tenants, less what this
// process has on its way, less the reserve.
func (w *Worker) room(pool string) policy.Room {
	members := w.members(pool)
	w.mu.Lock()
	pend := w.pending[pool]
	w.mu.Unlock()
	files, wild := 0, 0
	for _, t := range members {
		f, wd := w.view.InProgress(t)
		files, wild = files+f, wild+wd
	}
	return w.o.Limits.Room(files, wild, pend.Files, pend.Wildcards)
}

// reserve adds (sign 1) or removes (sign -1) a request's paths to what is
// on its way to CloudFront for its pool, so concurrent requests do not take
// the same headroom, and to what is under way for its target, so they do
// not spend the same budget. An accepted request is removed only after the
// view records it (accepted): counted twice for a moment, never not at all.
func (w *Worker) reserve(c claim, sign int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if u := w.underway[c.target] + sign*c.paths; u > 0 {
		w.underway[c.target] = u
	} else {
		delete(w.underway, c.target)
	}
	p := w.pending[c.pool]
	p.Files += sign * c.Files
	p.Wildcards += sign * c.Wildcards
	if p.Files <= 0 && p.Wildcards <= 0 {
		delete(w.pending, c.pool)
		return
	}
	w.pending[c.pool] = p
}

// underwayPaths copies, per target, the paths of requests on their way to
// CloudFront.
func (w *Worker) underwayPaths() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.underway)
}

// estimate assesses the month over every distribution the view knows, with
// extra paths per target counted as billed: a budget judgement passes the
// requests under way (billed once CloudFront accepts them); the status page
// and the metrics pass nil and show the view's figure alone.
func (w *Worker) estimate(extra map[string]int) cost.Estimate {
	// The allow-listed targets and any other the worker met
	// (allow_all_distributions); a tenant's distribution the view reads only
	// for the shared limits is not the worker's spend.
	targets := slices.Clone(w.o.Targets)
	for _, t := range w.led.Targets() {
		if !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
	}
	usages := make([]cost.Usage, 0, len(targets))
	for _, t := range targets {
		s := w.view.Spend(t)
		up, ok := s.Upper()
		u := extra[t]
		usages = append(usages, cost.Usage{Target: t, Paths: s.Paths + u, Upper: up + u, Bounded: ok})
	}
	return w.o.Cost.Assess(usages)
}
