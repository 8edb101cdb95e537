// Package cfview is the worker's one view of CloudFront: per target (a
// distribution), the recent invalidations with their creation time, status
// and items, whoever made them — this process, another replica, a person.
// Quota headroom, completion tracking, coverage of held messages and the
// month's spend are all read from it, so CloudFront is polled in one place.
//
// # What it calls, and how often
//
// Every call goes through one token bucket per process (Options.ReadRate,
// 5 a second by default, burst ReadBurst). Per target:
//
//   - a refresh lists the newest invalidations (ListInvalidations, 100 a
//     page, newest first) and pages on only while a page holds an id it has
//     not seen, or it knows of an invalidation in progress older than the
//     page, at most MaxPages (10) pages; each id it has not seen is fetched once (GetInvalidation) for
//     its items and CallerReference, which never change. The worker's own
//     invalidations are never fetched: it knows their items.
//   - refreshes run every ActiveInterval (5 s) while the target is active
//     (the worker holds messages for it, or one of its own invalidations is
//     in progress: completion tracking), else every IdleInterval (1 min);
//     and on demand (Fresh), right before a submission when the view is
//     older than the caller's bound.
//   - at start, the month's history (UTC calendar month) is listed back to
//     the month's first invalidation, at most HistoryPages (100) pages, and
//     every invalidation of the month is fetched once, newest first, for
//     its size: what AWS bills is every path of every invalidation, whoever
//     made it.
//
// So at idle a target costs one ListInvalidations a minute; at load twelve
// a minute plus at most one per flush, plus one GetInvalidation per
// invalidation someone else made; at start, one List per 100 invalidations
// this month and one Get per invalidation this month.
//
// Statuses are compared without case (moto says "COMPLETED").
package cfview

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/acme/cf-invalidator/internal/paths"
)

// CloudFront's largest invalidation batch: 3,000 file paths and 15
// wildcard paths (Developer Guide, "Concurrent invalidation request
// maximum"). An invalidation of unknown size may be this large.
const (
	MaxFiles     = 3000
	MaxWildcards = 15
)

// inlineSizes bounds the new invalidations one refresh fetches itself
// (newest first); the sizer fetches the rest in the background (refresh).
const inlineSizes = 5

// Defaults for Options.
const (
	DefaultActiveInterval      = 5 * time.Second
	DefaultIdleInterval        = time.Minute
	DefaultReadRate            = 5
	DefaultReadBurst           = 10
	DefaultMaxPages            = 10
	DefaultHistoryPages        = 100
	DefaultItemHorizon         = time.Hour
	DefaultAssumeCompleteAfter = 20 * time.Minute
	// pageSize is ListInvalidations' MaxItems: the largest the API model
	// allows, and its default.
	pageSize = 100
)

// Origin says who made an invalidation.
type Origin string

const (
	// OriginOwn: this process.
	OriginOwn Origin = "own"
	// OriginFleet: another process of this worker (its CallerReference has
	// the worker's prefix): a replica, or this one before a restart.
	OriginFleet Origin = "fleet"
	// OriginOther: a person or another tool.
	OriginOther Origin = "other"
	// OriginUnknown: not fetched yet.
	OriginUnknown Origin = "unknown"
)

// Invalidation is one invalidation as the view knows it.
type Invalidation struct {
	Target  string
	ID      string
	Created time.Time // CloudFront's CreateTime
	Status  string    // as CloudFront spells it
	// Completed is when the view first saw it completed (zero before).
	Completed time.Time
	// Sized: Files, Wildcards and Origin are known (fetched, or own).
	Sized            bool
	Files, Wildcards int
	// Items are canonical (paths.Canonical); kept for ItemHorizon after
	// creation, nil after that or before it is sized.
	Items     []string
	Origin    Origin
	Reference string
	// Own invalidations only: the messages the request served and whether it
	// was reduced with wildcards.
	Messages  int
	Collapsed bool

	seen time.Time // last time a refresh listed it
}

// Paths is what CloudFront bills for it: every item, a wildcard as one.
func (inv Invalidation) Paths() int { return inv.Files + inv.Wildcards }

// Done reports whether CloudFront reported it completed.
func (inv Invalidation) Done() bool { return isCompleted(inv.Status) }

func isCompleted(status string) bool { return strings.EqualFold(status, "Completed") }

// Options configures a View.
type Options struct {
	// Sources are the targets and how to read each.
	Sources map[string]Source
	// NewSource makes the Source of a target Ensure meets that is not in
	// Sources (allow_all_distributions); nil refuses such targets.
	NewSource func(target string) Source
	// Refresh cadence; see the package comment.
	ActiveInterval, IdleInterval time.Duration
	// ReadRate and ReadBurst bound List and Get calls, all targets together.
	ReadRate  float64
	ReadBurst int
	// MaxPages bounds a refresh, HistoryPages the month's history scan.
	MaxPages, HistoryPages int
	// ItemHorizon: how long after creation an invalidation's items are kept
	// (for covering held messages); counts are kept for the month.
	ItemHorizon time.Duration
	// AssumeCompleteAfter: an invalidation in progress that is this old and
	// was not listed by the latest refresh stops counting as in progress, so
	// a status the scan bound hides cannot hold quota forever.
	AssumeCompleteAfter time.Duration
	// FleetReference tells references made by this worker (another replica's).
	FleetReference func(ref string) bool
	// OnInvalidation receives every invalidation made by others once it is
	// sized, while its items are kept; OnCompleted every invalidation the
	// first time it is seen completed. Both run outside the view's lock, on
	// the goroutine that learnt it, in order.
	OnInvalidation func(Invalidation)
	OnCompleted    func(Invalidation)
	// OnRead observes every API call: op is "ListInvalidations" or
	// "GetInvalidation" (as the Source's API names it), err its error.
	OnRead func(target, op string, err error)
	Now    func() time.Time
	Logger *zap.Logger
}

func (o *Options) defaults() {
	dur := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	dur(&o.ActiveInterval, DefaultActiveInterval)
	dur(&o.IdleInterval, DefaultIdleInterval)
	dur(&o.ItemHorizon, DefaultItemHorizon)
	dur(&o.AssumeCompleteAfter, DefaultAssumeCompleteAfter)
	if o.ReadRate <= 0 {
		o.ReadRate = DefaultReadRate
	}
	if o.ReadBurst <= 0 {
		o.ReadBurst = DefaultReadBurst
	}
	if o.MaxPages <= 0 {
		o.MaxPages = DefaultMaxPages
	}
	if o.HistoryPages <= 0 {
		o.HistoryPages = DefaultHistoryPages
	}
	if o.FleetReference == nil {
		o.FleetReference = func(string) bool { return false }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// View is the shared view; safe for concurrent use.
type View struct {
	o   Options
	lim *rate.Limiter
	log *zap.Logger

	mu      sync.Mutex
	targets map[string]*target
	runCtx  context.Context // set by Run: targets Ensure adds start their loops in it
	runWG   *sync.WaitGroup
}

type target struct {
	id     string
	src    Source
	byID   map[string]*Invalidation
	recs   []*Invalidation // newest first
	listed time.Time       // start of the last successful refresh; zero before one
	err    error           // the last refresh's error, nil after a success
	active bool
	flight *flight // the refresh under way
	// history: the month's scan has reached the month's start (or the list's
	// end); truncated: it stopped at HistoryPages first.
	historyDone, truncated bool
	month                  time.Time // the month the history is for
	sizer                  chan struct{}
	// wake tells the target's loop that the active cadence may apply now
	// (it became active, or has an own invalidation in progress), so an
	// idle wait armed before does not hold completion tracking for a minute.
	wake chan struct{}
}

type flight struct {
	done chan struct{}
	err  error
}

// New returns a View; Run starts its background refreshes.
func New(o Options) *View {
	o.defaults()
	v := &View{o: o, lim: rate.NewLimiter(rate.Limit(o.ReadRate), o.ReadBurst), log: o.Logger, targets: map[string]*target{}}
	for id, src := range o.Sources {
		v.targets[id] = newTarget(id, src)
	}
	return v
}

func newTarget(id string, src Source) *target {
	return &target{id: id, src: src, byID: map[string]*Invalidation{}, sizer: make(chan struct{}, 1), wake: make(chan struct{}, 1)}
}

// wakeLocked nudges t's loop to re-read its cadence; callers hold v.mu.
func (t *target) wakeLocked() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Ensure adds target if the view does not know it (a distribution the
// allow-list does not name, under allow_all_distributions) and reports
// whether the view has it.
func (v *View) Ensure(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.targets[id]; ok {
		return true
	}
	if v.o.NewSource == nil {
		return false
	}
	t := newTarget(id, v.o.NewSource(id))
	v.targets[id] = t
	if v.runCtx != nil {
		ctx := v.runCtx
		v.runWG.Go(func() { v.loop(ctx, t) })
		v.runWG.Go(func() { v.sizeLoop(ctx, t) })
	}
	return true
}

// Targets returns the target ids, sorted.
func (v *View) Targets() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]string, 0, len(v.targets))
	for id := range v.targets {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Run refreshes every target until ctx ends: first the newest
// invalidations, then the month's history, then on the cadence of the
// package comment.
func (v *View) Run(ctx context.Context) {
	wg := &sync.WaitGroup{}
	v.mu.Lock()
	v.runCtx, v.runWG = ctx, wg
	for _, t := range v.targets {
		wg.Go(func() { v.loop(ctx, t) })
		wg.Go(func() { v.sizeLoop(ctx, t) })
	}
	v.mu.Unlock()
	<-ctx.Done()
	wg.Wait()
}

func (v *View) loop(ctx context.Context, t *target) {
	log := v.log.With(zap.String("target", t.id))
	if err := v.refreshShared(ctx, t); err != nil && ctx.Err() == nil {
		log.Warn("cloudfront view: first refresh failed; retrying on the usual cadence", zap.Error(err))
	}
	v.history(ctx, t, log)
	armed := time.Now() // the wait for the next refresh began
	due := armed.Add(v.interval(t))
	timer := time.NewTimer(time.Until(due))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
			// Active now: the next refresh is due an active interval after
			// the wait began, if that is sooner than the idle wait's end.
			if at := armed.Add(v.interval(t)); at.Before(due) {
				due = at
				timer.Reset(max(0, time.Until(due)))
			}
			continue
		case <-timer.C:
		}
		if err := v.refreshShared(ctx, t); err != nil && ctx.Err() == nil {
			log.Warn("cloudfront view: refresh failed", zap.Error(err))
		}
		if month := monthOf(v.o.Now()); v.monthChanged(t, month) {
			v.history(ctx, t, log)
		}
		armed = time.Now()
		due = armed.Add(v.interval(t))
		timer.Reset(time.Until(due))
	}
}

// interval is the next refresh's delay for t.
func (v *View) interval(t *target) time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	if t.active || v.ownInProgressLocked(t) {
		return v.o.ActiveInterval
	}
	return v.o.IdleInterval
}

func (v *View) ownInProgressLocked(t *target) bool {
	for _, r := range t.recs {
		if r.Origin == OriginOwn && !r.Done() && v.o.Now().Sub(r.Created) < v.o.AssumeCompleteAfter {
			return true
		}
	}
	return false
}

// SetActive says whether the worker holds messages for target (refresh on
// the active cadence).
func (v *View) SetActive(target string, active bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if t := v.targets[target]; t != nil {
		if active && !t.active {
			t.wakeLocked()
		}
		t.active = active
	}
}

// Fresh returns once the view of target is at most maxAge old, refreshing
// it if needed (concurrent callers share one refresh). It returns the
// refresh's error; the view then stays as it was.
func (v *View) Fresh(ctx context.Context, target string, maxAge time.Duration) error {
	v.mu.Lock()
	t := v.targets[target]
	if t == nil {
		v.mu.Unlock()
		return fmt.Errorf("cloudfront view: unknown target %s", target)
	}
	fresh := !t.listed.IsZero() && v.o.Now().Sub(t.listed) <= maxAge
	v.mu.Unlock()
	if fresh {
		return nil
	}
	return v.refreshShared(ctx, t)
}

// refreshShared runs one refresh of t, or waits for the one under way.
func (v *View) refreshShared(ctx context.Context, t *target) error {
	v.mu.Lock()
	if f := t.flight; f != nil {
		v.mu.Unlock()
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	t.flight = f
	v.mu.Unlock()
	f.err = v.refresh(ctx, t)
	v.mu.Lock()
	t.flight = nil
	v.mu.Unlock()
	close(f.done)
	return f.err
}

// event is a callback to run outside the lock.
type event struct {
	completed bool
	inv       Invalidation
}

func (v *View) emit(evs []event) {
	for _, e := range evs {
		switch {
		case e.completed && v.o.OnCompleted != nil:
			v.o.OnCompleted(e.inv)
		case !e.completed && v.o.OnInvalidation != nil:
			v.o.OnInvalidation(e.inv)
		}
	}
}

// refresh lists t's newest invalidations and fetches the ones not seen.
func (v *View) refresh(ctx context.Context, t *target) error {
	start := v.o.Now()
	var fresh []string
	var evs []event
	defer func() { v.emit(evs) }()
	marker := ""
	for page := 1; ; page++ {
		items, next, err := v.list(ctx, t, marker)
		if err != nil {
			v.mu.Lock()
			t.err = err
			v.mu.Unlock()
			return err
		}
		v.mu.Lock()
		more := false
		for _, s := range items {
			if _, isNew := v.noteLocked(t, s, start, &evs); isNew {
				fresh = append(fresh, s.ID)
				more = true
			}
		}
		// Read on while older pages may hold what this one does not show:
		// invalidations not seen yet, or ones known to be in progress whose
		// status must be read again.
		if !more && len(items) > 0 {
			more = v.inProgressBeforeLocked(t, items[len(items)-1].Created, start)
		}
		v.mu.Unlock()
		if next == "" || !more || page >= v.o.MaxPages {
			break
		}
		marker = next
	}
	// The newest few are sized here, before the caller (a flush) goes on:
	// they are a replica's latest work. Past that (a new process meeting a
	// busy distribution's history) the sizer takes over, or the flush would
	// wait a second per five of them (measured: p99 5.9 s at a 1 s window
	// for a process started after 40 invalidations).
	if len(fresh) > inlineSizes {
		fresh = fresh[:inlineSizes]
		v.kickSizer(t)
	}
	for _, id := range fresh {
		if err := v.size(ctx, t, id, &evs, false); err != nil {
			if ctx.Err() != nil {
				return err
			}
			v.log.Warn("cloudfront view: cannot fetch an invalidation; its size stays unknown until the next try",
				zap.String("target", t.id), zap.String("invalidation_id", id), zap.Error(err))
			v.kickSizer(t)
		}
	}
	v.mu.Lock()
	t.listed, t.err = start, nil
	v.pruneLocked(t)
	v.mu.Unlock()
	return nil
}

func (v *View) list(ctx context.Context, t *target, marker string) ([]Summary, string, error) {
	if err := v.lim.Wait(ctx); err != nil {
		return nil, "", err
	}
	items, next, err := t.src.List(ctx, marker, pageSize)
	if v.o.OnRead != nil {
		v.o.OnRead(t.id, "ListInvalidations", err)
	}
	return items, next, err
}

// inProgressBeforeLocked reports whether t knows an invalidation created
// before oldest (or at it and not listed by this refresh) that is not
// completed; callers hold v.mu.
func (v *View) inProgressBeforeLocked(t *target, oldest, refresh time.Time) bool {
	for _, r := range t.recs {
		if !r.Done() && (r.Created.Before(oldest) || (r.Created.Equal(oldest) && r.seen.Before(refresh))) {
			return true
		}
	}
	return false
}

// noteLocked records a listed summary; callers hold v.mu.
func (v *View) noteLocked(t *target, s Summary, now time.Time, evs *[]event) (*Invalidation, bool) {
	r := t.byID[s.ID]
	if r == nil {
		r = &Invalidation{Target: t.id, ID: s.ID, Created: s.Created, Status: s.Status, Origin: OriginUnknown, seen: now}
		if r.Done() {
			r.Completed = now
		}
		v.insertLocked(t, r)
		return r, true
	}
	r.seen = now
	if !r.Done() && isCompleted(s.Status) {
		r.Completed = now
		*evs = append(*evs, event{completed: true, inv: *r})
	}
	r.Status = s.Status
	return r, false
}

func (v *View) insertLocked(t *target, r *Invalidation) {
	t.byID[r.ID] = r
	i, _ := slices.BinarySearchFunc(t.recs, r, func(a, b *Invalidation) int { return b.Created.Compare(a.Created) })
	t.recs = slices.Insert(t.recs, i, r)
}

// spare waits until at least half the read burst is unused. The sizer
// works through a month of history (a restarted process may have hundreds
// of invalidations to size) at the read rate; taking every token as it
// comes would queue a flush's refresh behind it, and the flush — which
// waits for that refresh to see replicas' work — by seconds (measured:
// latency p99 6.3 s at a 1 s window while a new process sized 40 earlier
// invalidations). With half the burst kept, a flush's List goes out at once.
func (v *View) spare(ctx context.Context) error {
	keep := float64(v.o.ReadBurst) / 2
	for v.lim.Tokens() < keep {
		// The time for the bucket to refill to keep, at least a millisecond.
		d := time.Duration((keep - v.lim.Tokens()) / float64(v.lim.Limit()) * float64(time.Second))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max(d, time.Millisecond)):
		}
	}
	return nil
}

// size fetches one invalidation's items. background (the sizer) waits for
// spare read capacity first (see spare).
func (v *View) size(ctx context.Context, t *target, id string, evs *[]event, background bool) error {
	v.mu.Lock()
	r := t.byID[id]
	now := v.o.Now()
	// Sized already, or needed neither for this month's spend nor for
	// coverage.
	skip := r == nil || r.Sized || (r.Created.Before(monthOf(now)) && now.Sub(r.Created) >= v.o.ItemHorizon)
	v.mu.Unlock()
	if skip {
		return nil
	}
	if background {
		if err := v.spare(ctx); err != nil {
			return err
		}
	}
	if err := v.lim.Wait(ctx); err != nil {
		return err
	}
	d, err := t.src.Get(ctx, id)
	if v.o.OnRead != nil {
		v.o.OnRead(t.id, "GetInvalidation", err)
	}
	if err != nil {
		return err
	}
	now = v.o.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if r.Sized { // Submitted meanwhile
		return nil
	}
	items := make([]string, len(d.Items))
	for i, it := range d.Items {
		items[i] = paths.Canonical(it)
	}
	r.Files, r.Wildcards = countItems(items)
	r.Sized, r.Reference = true, d.Reference
	r.Origin = OriginOther
	if v.o.FleetReference(d.Reference) {
		r.Origin = OriginFleet
	}
	if now.Sub(r.Created) < v.o.ItemHorizon {
		r.Items = items
		*evs = append(*evs, event{inv: *r})
	}
	if r.Done() && r.Completed.IsZero() {
		r.Completed = now
	}
	return nil
}

func countItems(items []string) (files, wildcards int) {
	for _, it := range items {
		if paths.IsWildcard(it) && !paths.IsTag(it) {
			wildcards++
		} else {
			files++ // cache tags count as files (DESIGN: which allowance is undocumented)
		}
	}
	return files, wildcards
}

// Submitted records an invalidation this process created, at once: its
// items are known (never fetched), and it counts for quota and spend before
// CloudFront's list shows it. An invalidation already completed (moto
// answers COMPLETED at once) is reported to OnCompleted now. It reports
// whether the id was new to the view: a reused CallerReference brings back
// an invalidation it may already know, which is not billed again.
func (v *View) Submitted(inv Invalidation) bool {
	now := v.o.Now()
	if inv.Created.IsZero() {
		inv.Created = now
	}
	inv.Files, inv.Wildcards = countItems(inv.Items)
	inv.Sized, inv.Origin, inv.seen = true, OriginOwn, now
	v.mu.Lock()
	t := v.targets[inv.Target]
	if t == nil {
		v.mu.Unlock()
		return false
	}
	var evs []event
	r0, known := t.byID[inv.ID]
	if r := r0; known {
		// Listed before this call (or a reused CallerReference's earlier one).
		inv.seen, inv.Completed = r.seen, r.Completed
		if isCompleted(r.Status) {
			inv.Status = r.Status
		}
		*r = inv
	} else {
		r := &inv
		v.insertLocked(t, r)
	}
	if r := t.byID[inv.ID]; r.Done() && r.Completed.IsZero() {
		r.Completed = now
		evs = append(evs, event{completed: true, inv: *r})
	} else if !r.Done() {
		t.wakeLocked() // an own invalidation in progress: track its completion on the active cadence
	}
	v.mu.Unlock()
	v.emit(evs)
	return !known
}

// pruneLocked forgets what no reader needs: items past the horizon, and
// completed invalidations from before both the month and the horizon.
// Callers hold v.mu.
func (v *View) pruneLocked(t *target) {
	now := v.o.Now()
	month := monthOf(now)
	keep := t.recs[:0]
	for _, r := range t.recs {
		if now.Sub(r.Created) >= v.o.ItemHorizon {
			r.Items = nil
		}
		old := r.Created.Before(month) && now.Sub(r.Created) >= v.o.ItemHorizon
		if old && (r.Done() || now.Sub(r.Created) >= v.o.AssumeCompleteAfter) {
			delete(t.byID, r.ID)
			continue
		}
		keep = append(keep, r)
	}
	clear(t.recs[len(keep):])
	t.recs = keep
}

// InProgress returns the file and wildcard paths in progress for target:
// every invalidation not completed, whoever made it, an unsized one counted
// as the largest CloudFront accepts. One older than AssumeCompleteAfter that
// the latest refresh did not list no longer counts.
func (v *View) InProgress(target string) (files, wildcards int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t := v.targets[target]
	if t == nil {
		return 0, 0
	}
	now := v.o.Now()
	for _, r := range t.recs {
		if r.Done() {
			continue
		}
		if now.Sub(r.Created) >= v.o.AssumeCompleteAfter && r.seen.Before(t.listed) {
			continue
		}
		if !r.Sized {
			files, wildcards = files+MaxFiles, wildcards+MaxWildcards
			continue
		}
		files, wildcards = files+r.Files, wildcards+r.Wildcards
	}
	return files, wildcards
}

// Age returns how old target's view is (since its last successful
// refresh began) and the last refresh's error; ok is false before the
// first success.
func (v *View) Age(target string) (age time.Duration, err error, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t := v.targets[target]
	if t == nil || t.listed.IsZero() {
		if t != nil {
			err = t.err
		}
		return 0, err, false
	}
	return v.o.Now().Sub(t.listed), t.err, true
}

// Recent returns up to n of target's invalidations, newest first (items
// trimmed to sample each).
func (v *View) Recent(target string, n, sample int) []Invalidation {
	v.mu.Lock()
	defer v.mu.Unlock()
	t := v.targets[target]
	if t == nil {
		return nil
	}
	out := make([]Invalidation, 0, min(n, len(t.recs)))
	for _, r := range t.recs[:min(n, len(t.recs))] {
		c := *r
		c.Items = slices.Clone(r.Items[:min(sample, len(r.Items))])
		out = append(out, c)
	}
	return out
}

// Recorded returns every invalidation of target the view holds, items
// included, newest first: for tests and the e2e checks.
func (v *View) Recorded(target string) []Invalidation {
	return v.Recent(target, 1<<30, 1<<30)
}
