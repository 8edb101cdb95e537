package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/cfview"
	"github.com/acme/cf-invalidator/internal/cost"
	"github.com/acme/cf-invalidator/internal/ledger"
	"github.com/acme/cf-invalidator/internal/policy"
	"github.com/acme/cf-invalidator/internal/status"
)

// statusState is what the status page shows that only this process knows:
// what it dead-lettered, its recent errors, the operators' actions.
type statusState struct {
	started time.Time
	ready   atomic.Bool

	mu      sync.Mutex
	dead    map[string]*status.ReasonCount
	deadAll int64
	errs    map[string]*status.ErrorClass
	actions []status.Action
}

// Bounds of what the status state keeps.
const (
	keepExamples = 3
	keepActions  = 50
)

func newStatusState() *statusState {
	return &statusState{dead: map[string]*status.ReasonCount{}, errs: map[string]*status.ErrorClass{}}
}

func (s *statusState) deadLettered(code, reason, id, body string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rc := s.dead[code]
	if rc == nil {
		rc = &status.ReasonCount{Code: code}
		s.dead[code] = rc
	}
	rc.Count++
	s.deadAll++
	ex := status.Example{MessageID: id, At: at, Reason: truncate(reason, 300), Body: truncate(body, status.SampleLen)}
	rc.Examples = append([]status.Example{ex}, rc.Examples[:min(len(rc.Examples), keepExamples-1)]...)
}

func (s *statusState) errored(class string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.errs[class]
	if e == nil {
		e = &status.ErrorClass{Class: class}
		s.errs[class] = e
	}
	e.Count++
	e.Last = time.Now()
	e.Sample = truncate(err.Error(), 300)
}

func (s *statusState) act(a status.Action) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.actions = append([]status.Action{a}, s.actions[:min(len(s.actions), keepActions-1)]...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// QueueInfo supplies the queues' part of the status page (the consumers
// know them).
type QueueInfo func(ctx context.Context) []status.Queue

// StatusOptions adds what the worker does not own to its snapshots.
type StatusOptions struct {
	Queues  QueueInfo
	Aliases map[string][]string // target → aliases
}

// SetStatusOptions sets what Snapshot adds from outside the pipeline.
func (w *Worker) SetStatusOptions(o StatusOptions) { w.statusOpts = o }

// Snapshot implements status.Provider.
func (w *Worker) Snapshot(ctx context.Context) status.Snapshot {
	now := time.Now()
	snap := status.Snapshot{Schema: status.SchemaVersion, At: now, Version: w.o.Version, Started: w.st.started,
		Ready: w.st.ready.Load(), Draining: w.draining.Load(), Window: status.D(w.o.Window)}
	if q := w.statusOpts.Queues; q != nil {
		snap.Queues = q(ctx)
	}
	est := w.estimate(nil)
	targets := w.view.Targets()
	for _, t := range w.led.Targets() {
		if !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
	}
	slices.Sort(targets)
	for _, t := range targets {
		snap.Distributions = append(snap.Distributions, w.distributionStatus(t, now, est))
	}
	snap.Account = status.Spend{Paths: est.Paths, Exact: est.Exact, USD: est.USD, FreePaths: w.freePaths(),
		BudgetUSD: w.o.Cost.MonthlyBudgetUSD, Source: spendSource(est.Exact), State: accountState(est).String()}
	if len(snap.Distributions) > 0 {
		snap.Account.Month = snap.Distributions[0].Spend.Month
	}
	w.st.mu.Lock()
	snap.DeadLettered.Total = w.st.deadAll
	for _, rc := range w.st.dead {
		c := *rc
		c.Examples = slices.Clone(rc.Examples)
		snap.DeadLettered.ByReason = append(snap.DeadLettered.ByReason, c)
	}
	for _, e := range w.st.errs {
		snap.Errors = append(snap.Errors, *e)
	}
	snap.Actions = slices.Clone(w.st.actions)
	w.st.mu.Unlock()
	slices.SortFunc(snap.DeadLettered.ByReason, func(a, b status.ReasonCount) int { return int(b.Count - a.Count) })
	slices.SortFunc(snap.Errors, func(a, b status.ErrorClass) int { return b.Last.Compare(a.Last) })
	return snap
}

func (w *Worker) freePaths() int {
	switch f := w.o.Cost.FreePaths; {
	case f == 0:
		return cost.DefaultFreePaths
	case f < 0:
		return 0
	default:
		return f
	}
}

func spendSource(exact bool) string {
	if exact {
		return "CloudFront's history: every invalidation of this month, whoever made it"
	}
	return "CloudFront's history, still being read: the known invalidations of this month, each unknown one counted as the largest possible"
}

func accountState(e cost.Estimate) cost.State {
	s := cost.Under
	for _, t := range e.Targets {
		s = max(s, t.State)
	}
	return s
}

func (w *Worker) distributionStatus(t string, now time.Time, est cost.Estimate) status.Distribution {
	d := status.Distribution{ID: t, Aliases: w.statusOpts.Aliases[t], Kind: "distribution"}
	if p, ok := w.parentOf(t); ok {
		d.Kind, d.Parent = "tenant", p
	}
	if mh := w.gate.Policy(t).MaxHold; mh > 0 {
		d.MaxHold = status.D(mh)
	}
	if d.Aliases == nil {
		d.Aliases = []string{}
	}
	if info, paused, all := w.pauses.Paused(t); paused {
		d.Paused = &status.Pause{Reason: info.Reason, By: info.By, At: info.At, All: all}
	}
	ls := w.led.Stats(t)
	d.Batch = status.Batch{Held: ls.Held, Items: ls.Items, InFlight: ls.InFlight}
	if !ls.Oldest.IsZero() {
		d.Batch.Oldest = status.D(now.Sub(ls.Oldest))
	}
	if at, ok := w.sched.Armed(t); ok {
		d.Batch.NextFlush = at
	}
	d.Waiting = w.waiting(t, d, ls, now)
	files, wild := w.view.InProgress(t)
	d.Quota = status.Quota{Files: files, Wildcards: wild, MaxFiles: policy.MaxFiles, MaxWildcards: policy.MaxWildcards,
		ReserveFiles: w.o.Limits.ReserveFiles, ReserveWildcards: w.o.Limits.ReserveWildcards}
	if w.o.Limits.Files > 0 {
		d.Quota.MaxFiles = w.o.Limits.Files
	}
	if w.o.Limits.Wildcards > 0 {
		d.Quota.MaxWildcards = w.o.Limits.Wildcards
	}
	if age, err, ok := w.view.Age(t); ok {
		d.View.Age = status.D(age)
		if err != nil {
			d.View.Error = err.Error()
		}
	} else if err != nil {
		d.View.Error = err.Error()
	}
	sp := w.view.Spend(t)
	te := est.Targets[t]
	d.Spend = status.Spend{Month: sp.Month, Paths: sp.Paths, Exact: sp.Known(), AsOf: sp.AsOf, FreePaths: w.freePaths(),
		USD: te.USD, BudgetUSD: w.o.Cost.DistributionBudgetUSD[t], State: te.State.String(), Source: spendSource(sp.Known())}
	if up, ok := sp.Upper(); ok && up != sp.Paths {
		d.Spend.Upper = &up
	}
	if te.Remaining >= 0 {
		r := te.Remaining
		d.Spend.Remaining = &r
	}
	d.InProgress, d.Recent = []status.Invalidation{}, []status.Invalidation{}
	for _, inv := range w.view.Recent(t, 50, status.SampleItems) {
		si := invalidationStatus(inv)
		if !inv.Done() {
			d.InProgress = append(d.InProgress, si)
			if inv.Origin == cfview.OriginOwn {
				d.Quota.OwnFiles += inv.Files
				d.Quota.OwnWildcards += inv.Wildcards
			}
		}
		if len(d.Recent) < 20 {
			d.Recent = append(d.Recent, si)
		}
	}
	return d
}

func invalidationStatus(inv cfview.Invalidation) status.Invalidation {
	s := status.Invalidation{ID: inv.ID, Status: inv.Status, Created: inv.Created, Completed: inv.Completed,
		Items: inv.Paths(), Origin: string(inv.Origin), Messages: inv.Messages, Collapsed: inv.Collapsed}
	for _, it := range inv.Items {
		s.Sample = append(s.Sample, truncate(it, status.SampleLen))
	}
	if !inv.Completed.IsZero() && inv.Completed.After(inv.Created) {
		s.Latency = status.D(inv.Completed.Sub(inv.Created))
	}
	return s
}

// waiting says in words why t's work waits.
func (w *Worker) waiting(t string, d status.Distribution, ls ledger.Stats, now time.Time) []status.Wait {
	var out []status.Wait
	if d.Paused != nil {
		who := "this distribution"
		if d.Paused.All {
			who = "all distributions"
		}
		out = append(out, status.Wait{Code: policy.HeldPaused, Text: fmt.Sprintf("paused (%s) by %s: %s", who, d.Paused.By, d.Paused.Reason)})
	}
	w.mu.Lock()
	wt, held := w.waits[t]
	w.mu.Unlock()
	if held && wt.until.After(now) && wt.code != policy.HeldPaused {
		text := policy.Reason(wt.code)
		if wt.text != "" {
			text = wt.text
		}
		out = append(out, status.Wait{Code: wt.code, Text: text, Until: wt.until})
	}
	if ls.Items > ls.InFlight && len(out) == 0 && !d.Batch.NextFlush.IsZero() {
		out = append(out, status.Wait{Code: "window", Text: "collecting the window before the next flush", Until: d.Batch.NextFlush})
	}
	if ls.InFlight > 0 {
		out = append(out, status.Wait{Code: "in_flight", Text: fmt.Sprintf("%d items on their way to CloudFront", ls.InFlight)})
	}
	if out == nil {
		out = []status.Wait{}
	}
	return out
}

// exportInterval: gauges from the view and the ledger are refreshed this
// often (and the view told which targets have work).
const exportInterval = 2 * time.Second

func (w *Worker) exportLoop(ctx context.Context) {
	t := time.NewTicker(exportInterval)
	defer t.Stop()
	for {
		w.export()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) export() {
	est := w.estimate(nil)
	for _, t := range w.view.Targets() {
		files, wild := w.view.InProgress(t)
		w.m.InProgress.WithLabelValues(t, "file").Set(float64(files))
		w.m.InProgress.WithLabelValues(t, "wildcard").Set(float64(wild))
		sp := w.view.Spend(t)
		w.m.MonthPaths.WithLabelValues(t).Set(float64(sp.Paths))
		w.m.MonthUnsized.WithLabelValues(t).Set(float64(sp.Unsized))
		w.m.SpendExact.WithLabelValues(t).Set(b2f(sp.Known()))
		te := est.Targets[t]
		w.m.EstimatedCost.WithLabelValues(t).Set(te.USD)
		w.m.BudgetState.WithLabelValues(t).Set(float64(te.State))
		if age, _, ok := w.view.Age(t); ok {
			w.m.ViewAge.WithLabelValues(t).Set(age.Seconds())
		}
		_, paused, _ := w.pauses.Paused(t)
		w.m.Paused.WithLabelValues(t).Set(b2f(paused))
		held := w.led.Stats(t).Held > 0
		w.mu.Lock()
		was := w.active[t]
		w.active[t] = held
		w.mu.Unlock()
		if was != held {
			w.view.SetActive(t, held)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ErrUnknownTarget: an action named a distribution the worker does not know.
var ErrUnknownTarget = errors.New("unknown distribution")

func (w *Worker) known(target string) bool {
	return target == "" || slices.Contains(w.view.Targets(), target) || slices.Contains(w.led.Targets(), target)
}

// Pause implements status.Controller: hold every submission for target
// ("" = all) until Resume; messages stay held and keep arriving up to
// max_held.
func (w *Worker) Pause(target, reason, by string) error {
	if !w.known(target) {
		return fmt.Errorf("pause %q: %w", target, ErrUnknownTarget)
	}
	w.pauses.Pause(target, reason, by, time.Now())
	w.log.Warn("submissions paused", zap.String("distribution", orAll(target)), zap.String("reason", reason), zap.String("by", by))
	w.st.act(status.Action{At: time.Now(), Action: "pause", Target: target, By: by, Reason: reason, Result: "paused"})
	w.export()
	return nil
}

// Resume implements status.Controller.
func (w *Worker) Resume(target, by string) error {
	if !w.known(target) {
		return fmt.Errorf("resume %q: %w", target, ErrUnknownTarget)
	}
	result := "resumed"
	if !w.pauses.Resume(target) {
		result = "was not paused"
	}
	w.log.Warn("submissions resumed", zap.String("distribution", orAll(target)), zap.String("by", by), zap.String("result", result))
	w.st.act(status.Action{At: time.Now(), Action: "resume", Target: target, By: by, Result: result})
	w.export()
	for _, t := range w.led.Targets() {
		if target == "" || t == target {
			w.sched.Arm(t, time.Now())
		}
	}
	return nil
}

// Flush implements status.Controller: flush target's held messages now, as
// if they were all due.
func (w *Worker) Flush(target, by string) error {
	if target == "" || !w.known(target) {
		return fmt.Errorf("flush %q: %w", target, ErrUnknownTarget)
	}
	before := w.led.Stats(target)
	mu, _ := w.flushMu.LoadOrStore(target, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	b := w.led.Plan(target, true)
	if len(b.Items) > 0 {
		w.submitBatch(target, b)
	}
	mu.(*sync.Mutex).Unlock()
	w.rearm(target)
	result := fmt.Sprintf("%d items of %d held messages planned", len(b.Items), before.Held)
	w.log.Warn("flush requested", zap.String("distribution", target), zap.String("by", by), zap.String("result", result))
	w.st.act(status.Action{At: time.Now(), Action: "flush", Target: target, By: by, Result: result})
	return nil
}

func orAll(target string) string {
	if target == "" {
		return "(all)"
	}
	return target
}
