// Package quota keeps account of the invalidation paths in progress per
// CloudFront distribution, so the worker submits only what CloudFront will
// accept and leaves a reserve for people.
//
// CloudFront allows per distribution at most 3,000 file paths and,
// independently, 15 wildcard paths in progress; a request over either is
// refused with TooManyInvalidationsInProgress (CloudFront Developer Guide,
// "Concurrent invalidation request maximum"). A path ending in "*" takes a
// wildcard slot, any other item (cache tags "#…" included) a file slot.
//
// A Tracker knows what is in progress from two sources:
//
//   - its own submissions (Submitted), counted at once, before CloudFront's
//     list shows them, and dropped on Completed;
//   - CloudFront's view: ListInvalidations (newest first) and, for the
//     invalidations InProgress, GetInvalidation for their paths, so that
//     other replicas and manual invalidations count too. The view is trusted
//     for Options.TTL; an invalidation's paths never change, so they are
//     fetched once per id and kept while it is in progress (its status does
//     change, and comes from the list).
//
// An id in both is counted once. Statuses are compared without case: moto
// says "COMPLETED" where CloudFront says "Completed". Anything not completed
// counts as in progress.
//
// # How far back the list is read
//
// ListInvalidations has no status filter, so the scan pages through it
// (100 a page, Options.MaxItems is fixed) and stops after the first page
// that
//
//   - is the last one,
//   - holds no invalidation in progress (older ones, created earlier, are
//     taken to be done as well: CloudFront works through a distribution's
//     invalidations in minutes, roughly in order),
//   - reaches invalidations created more than Options.ScanBack (1 h) ago, or
//   - is the Options.MaxPages'th (10, so at most 1,000 invalidations and 11
//     requests plus one GetInvalidation per new in-progress id).
//
// An invalidation in progress beyond that bound is not counted; CloudFront
// would then refuse a request with TooManyInvalidationsInProgress, which the
// worker handles as for any other quota refusal.
//
// # When CloudFront cannot be asked
//
// If the list or a GetInvalidation fails, Headroom falls back to the
// tracker's own submissions and returns the error too, for the caller to log.
// Own submissions older than Options.AssumeCompleteAfter (20 min) stop
// counting when CloudFront's view does not show them — unavailable, not yet
// listing them, or beyond the bound above — so that a Completed that never
// comes cannot hold a slot forever.
package quota

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/collapse"
	cfpaths "github.com/acme/cf-invalidator/internal/paths"
)

// cloudFrontAPI is the part of the CloudFront client the tracker uses.
type cloudFrontAPI interface {
	ListInvalidations(ctx context.Context, in *cloudfront.ListInvalidationsInput,
		optFns ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsOutput, error)
	GetInvalidation(ctx context.Context, in *cloudfront.GetInvalidationInput,
		optFns ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error)
}

var _ cloudFrontAPI = (*cloudfront.Client)(nil)

// Limits per distribution (CloudFront Developer Guide, "Concurrent
// invalidation request maximum": "up to 3,000 files per distribution in
// progress at one time" and "up to 15 invalidation paths in progress at one
// time" with the * wildcard, independently).
const (
	DefaultMaxFiles     = 3000
	DefaultMaxWildcards = 15
)

// Defaults for the rest of Options.
const (
	DefaultReserveFiles        = 100
	DefaultReserveWildcards    = 2
	DefaultTTL                 = 15 * time.Second
	DefaultAssumeCompleteAfter = 20 * time.Minute
	DefaultScanBack            = time.Hour
	DefaultMaxPages            = 10
)

// pageSize is ListInvalidations' MaxItems: the largest page the API model
// documents (and its default).
const pageSize = 100

// Options configures a Tracker; zero values take the defaults.
type Options struct {
	// MaxFiles and MaxWildcards are CloudFront's in-progress limits per
	// distribution: 3,000 and 15.
	MaxFiles, MaxWildcards int
	// ReserveFiles and ReserveWildcards are kept free for people (manual
	// invalidations during an incident): 100 and 2 by default; a negative
	// value reserves nothing.
	ReserveFiles, ReserveWildcards int
	// TTL is how long a view of CloudFront is trusted: 15 s.
	TTL time.Duration
	// AssumeCompleteAfter: an own submission CloudFront's view does not show
	// stops counting this long after it was made: 20 min.
	AssumeCompleteAfter time.Duration
	// ScanBack and MaxPages bound how far the list is read; see the package
	// comment: 1 h and 10 pages of 100.
	ScanBack time.Duration
	MaxPages int
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger receives a debug line per refresh and a warning when the scan
	// bound cuts a list of in-progress invalidations short (zap.NewNop()).
	Logger *zap.Logger
}

func (o Options) withDefaults() Options {
	pos := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pos(&o.MaxFiles, DefaultMaxFiles)
	pos(&o.MaxWildcards, DefaultMaxWildcards)
	pos(&o.MaxPages, DefaultMaxPages)
	reserve := func(v *int, def int) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = 0
		}
	}
	reserve(&o.ReserveFiles, DefaultReserveFiles)
	reserve(&o.ReserveWildcards, DefaultReserveWildcards)
	dur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	dur(&o.TTL, DefaultTTL)
	dur(&o.AssumeCompleteAfter, DefaultAssumeCompleteAfter)
	dur(&o.ScanBack, DefaultScanBack)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

// Headroom is what a distribution may still take now; the same type as
// collapse.Headroom, so it can be handed to collapse.Fit as it is.
type Headroom = collapse.Headroom

// counts are paths by the slot they take.
type counts struct{ files, wildcards int }

func (c *counts) add(o counts) {
	c.files += o.files
	c.wildcards += o.wildcards
}

func countPaths(paths []string) counts {
	var c counts
	for _, p := range paths {
		if cfpaths.IsWildcard(p) {
			c.wildcards++
		} else {
			c.files++
		}
	}
	return c
}

// Tracker accounts for the paths in progress per distribution. It is safe
// for concurrent use.
type Tracker struct {
	api cloudFrontAPI
	o   Options
	log *zap.Logger

	mu    sync.Mutex // guards dists and everything in them
	dists map[string]*distribution
}

// distribution is one distribution's accounting.
type distribution struct {
	own   map[string]submission // own submissions not known to be complete
	sizes map[string]counts     // paths of invalidations in progress, by id
	done  map[string]time.Time  // ids Completed was told about, and when: a scan that began earlier may still list them
	view  *view                 // CloudFront's last view; nil before one succeeds and after an error
	scan  *refresh              // the refresh under way, if any
}

type submission struct {
	counts
	at time.Time
}

// view is what one scan of CloudFront showed.
type view struct {
	at         time.Time
	inProgress map[string]counts // id → paths
	completed  map[string]bool   // ids the scan saw completed
}

// refresh lets concurrent callers share one scan.
type refresh struct {
	done chan struct{}
	err  error
}

// New returns a Tracker asking api, with o's zero values defaulted.
func New(api cloudFrontAPI, o Options) *Tracker {
	o = o.withDefaults()
	return &Tracker{api: api, o: o, log: o.Logger, dists: map[string]*distribution{}}
}

// dist returns id's accounting, creating it; callers hold t.mu.
func (t *Tracker) dist(id string) *distribution {
	d, ok := t.dists[id]
	if !ok {
		d = &distribution{own: map[string]submission{}, sizes: map[string]counts{}, done: map[string]time.Time{}}
		t.dists[id] = d
	}
	return d
}

// Headroom returns what distribution dist may still take: the limits minus
// the reserve minus what is in progress, never negative. It asks CloudFront
// when its view is older than the TTL (one scan at a time per
// distribution; concurrent callers wait for it). On a CloudFront error it
// returns the headroom left by the tracker's own submissions alone together
// with the error.
func (t *Tracker) Headroom(ctx context.Context, dist string) (Headroom, error) {
	for {
		t.mu.Lock()
		d := t.dist(dist)
		now := t.o.Now()
		if d.view != nil && now.Sub(d.view.at) < t.o.TTL {
			h := t.headroom(d, now)
			t.mu.Unlock()
			return h, nil
		}
		if r := d.scan; r != nil {
			t.mu.Unlock()
			select {
			case <-r.done:
			case <-ctx.Done():
				return t.fallback(dist, fmt.Errorf("quota: waiting for the in-progress invalidations of %s: %w", dist, ctx.Err()))
			}
			if r.err != nil {
				return t.fallback(dist, r.err)
			}
			continue // the view is fresh now (unless the clock moved on)
		}
		r := &refresh{done: make(chan struct{})}
		d.scan = r
		t.mu.Unlock()

		v, err := t.fetch(ctx, dist)

		t.mu.Lock()
		d.scan = nil
		r.err = err
		close(r.done)
		if err != nil {
			d.view = nil
			h := t.headroom(d, t.o.Now())
			t.mu.Unlock()
			return h, err
		}
		d.install(v, t.o.Now().Add(-t.o.ScanBack))
		h := t.headroom(d, t.o.Now())
		t.mu.Unlock()
		return h, nil
	}
}

func (t *Tracker) fallback(dist string, err error) (Headroom, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.dist(dist)
	if d.view != nil && t.o.Now().Sub(d.view.at) < t.o.TTL {
		return t.headroom(d, t.o.Now()), nil // another caller's later scan succeeded
	}
	return t.headroom(d, t.o.Now()), err
}

// headroom computes the room left; callers hold t.mu.
func (t *Tracker) headroom(d *distribution, now time.Time) Headroom {
	c := t.inProgress(d, now)
	return Headroom{
		Files:     max(0, t.o.MaxFiles-t.o.ReserveFiles-c.files),
		Wildcards: max(0, t.o.MaxWildcards-t.o.ReserveWildcards-c.wildcards),
	}
}

// inProgress sums CloudFront's view (if any) and the own submissions it
// does not show, dropping own submissions known or assumed complete;
// callers hold t.mu.
func (t *Tracker) inProgress(d *distribution, now time.Time) counts {
	var c counts
	if d.view != nil {
		for _, n := range d.view.inProgress {
			c.add(n)
		}
	}
	for id, s := range d.own {
		if d.view != nil {
			if _, counted := d.view.inProgress[id]; counted {
				continue
			}
			if d.view.completed[id] {
				delete(d.own, id)
				continue
			}
		}
		if now.Sub(s.at) >= t.o.AssumeCompleteAfter {
			delete(d.own, id)
			delete(d.sizes, id)
			continue
		}
		c.add(s.counts)
	}
	return c
}

// install makes v the view. Ids Completed was told about while the scan ran
// are taken out of it; those the view shows complete, or that are older than
// horizon, are forgotten, as are the paths of invalidations neither in
// progress nor own. Callers hold t.mu.
func (d *distribution) install(v *view, horizon time.Time) {
	d.view = v
	for id, at := range d.done {
		if _, listed := v.inProgress[id]; listed {
			delete(v.inProgress, id)
			v.completed[id] = true
		} else if v.completed[id] || at.Before(horizon) {
			delete(d.done, id)
		}
	}
	for id := range d.sizes {
		_, inView := d.view.inProgress[id]
		_, mine := d.own[id]
		if !inView && (!mine || d.view.completed[id]) {
			delete(d.sizes, id)
		}
	}
}

// Submitted counts an invalidation the worker created, at once, before
// CloudFront's list shows it. at is when it was created (zero: now); it
// starts the AssumeCompleteAfter clock.
func (t *Tracker) Submitted(dist, id string, paths []string, at time.Time) {
	c := countPaths(paths)
	t.mu.Lock()
	defer t.mu.Unlock()
	if at.IsZero() {
		at = t.o.Now()
	}
	d := t.dist(dist)
	d.own[id] = submission{counts: c, at: at}
	d.sizes[id] = c
}

// Completed drops an invalidation from the accounting, own or not (the
// worker learnt from GetInvalidation that it is done); the room is free at
// once, without waiting for the next scan.
func (t *Tracker) Completed(dist, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, ok := t.dists[dist]
	if !ok {
		return
	}
	delete(d.own, id)
	delete(d.sizes, id)
	d.done[id] = t.o.Now()
	if d.view != nil {
		delete(d.view.inProgress, id)
		d.view.completed[id] = true
	}
}

// InProgress returns the file and wildcard paths in progress as last known
// (CloudFront's last view, even if older than the TTL, plus own
// submissions), without asking CloudFront: for metrics.
func (t *Tracker) InProgress(dist string) (files, wildcards int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, ok := t.dists[dist]
	if !ok {
		return 0, 0
	}
	c := t.inProgress(d, t.o.Now())
	return c.files, c.wildcards
}

// summary is one list entry.
type summary struct {
	id      string
	done    bool
	created time.Time
}

// fetch scans CloudFront's list and sizes the invalidations in progress.
func (t *Tracker) fetch(ctx context.Context, dist string) (*view, error) {
	now := t.o.Now()
	items, err := t.list(ctx, dist, now)
	if err != nil {
		return nil, err
	}
	v := &view{at: now, inProgress: map[string]counts{}, completed: map[string]bool{}}
	gets := 0
	for _, s := range items {
		if s.done {
			v.completed[s.id] = true
			continue
		}
		c, fetched, err := t.size(ctx, dist, s.id)
		if err != nil {
			return nil, err
		}
		if fetched {
			gets++
		}
		v.inProgress[s.id] = c
	}
	t.log.Debug("in-progress invalidations listed",
		zap.String("distribution", dist), zap.Int("listed", len(items)),
		zap.Int("in_progress", len(v.inProgress)), zap.Int("fetched", gets))
	return v, nil
}

// list pages through ListInvalidations, newest first, within the bound
// documented in the package comment.
func (t *Tracker) list(ctx context.Context, dist string, now time.Time) ([]summary, error) {
	horizon := now.Add(-t.o.ScanBack)
	var items []summary
	var marker *string
	for page := 1; ; page++ {
		out, err := t.api.ListInvalidations(ctx, &cloudfront.ListInvalidationsInput{
			DistributionId: aws.String(dist),
			Marker:         marker,
			MaxItems:       aws.Int32(pageSize),
		})
		if err != nil {
			return nil, fmt.Errorf("quota: ListInvalidations %s: %w", dist, err)
		}
		l := out.InvalidationList
		if l == nil {
			return items, nil
		}
		anyInProgress, pastHorizon := false, false
		for _, s := range l.Items {
			sum := summary{
				id:      aws.ToString(s.Id),
				done:    strings.EqualFold(aws.ToString(s.Status), "Completed"),
				created: aws.ToTime(s.CreateTime),
			}
			if sum.id == "" {
				continue
			}
			items = append(items, sum)
			anyInProgress = anyInProgress || !sum.done
			pastHorizon = pastHorizon || sum.created.Before(horizon)
		}
		more := aws.ToBool(l.IsTruncated) && aws.ToString(l.NextMarker) != ""
		if !more || !anyInProgress || pastHorizon {
			return items, nil
		}
		if page >= t.o.MaxPages {
			t.log.Warn("in-progress invalidations beyond the scan bound are not counted",
				zap.String("distribution", dist), zap.Int("pages", page))
			return items, nil
		}
		marker = l.NextMarker
	}
}

// size returns an in-progress invalidation's paths by slot, from the cache
// or GetInvalidation; fetched says it asked CloudFront.
func (t *Tracker) size(ctx context.Context, dist, id string) (c counts, fetched bool, err error) {
	t.mu.Lock()
	c, ok := t.dist(dist).sizes[id]
	t.mu.Unlock()
	if ok {
		return c, false, nil
	}
	out, err := t.api.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{
		DistributionId: aws.String(dist),
		Id:             aws.String(id),
	})
	if err != nil {
		return counts{}, false, fmt.Errorf("quota: GetInvalidation %s %s: %w", dist, id, err)
	}
	inv := out.Invalidation
	if inv == nil || inv.InvalidationBatch == nil || inv.InvalidationBatch.Paths == nil {
		return counts{}, false, fmt.Errorf("quota: GetInvalidation %s %s: %w", dist, id, errNoPaths)
	}
	c = countPaths(inv.InvalidationBatch.Paths.Items)
	t.mu.Lock()
	t.dist(dist).sizes[id] = c
	t.mu.Unlock()
	return c, true, nil
}

var errNoPaths = errors.New("answer holds no paths")
