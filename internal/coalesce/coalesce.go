// Package coalesce collects invalidation paths per CloudFront distribution
// over a time window and turns each window's paths into as few requests as
// CloudFront's limits allow.
//
// One group exists per distribution with pending paths, in the manner of
// Alertmanager's aggregation groups: the first path opens the group and arms
// one timer for `window` later; that timer's flush removes exactly what it
// flushes, so anything added while a flush is under way opens the next
// group. A group that reaches a full request flushes at once. Paths are
// deduplicated and paths covered by a wildcard of the same group are
// dropped (see Reduce). The package is pure logic plus timers from the time
// package, so tests drive it with testing/synctest; it knows nothing of SQS
// or CloudFront types.
package coalesce

import (
	"sync"
	"time"
)

// Batch is what one group flush produces.
type Batch struct {
	Distribution string
	// Opened is when the group's first path arrived; Flushed when it left.
	Opened, Flushed time.Time
	Requests        []Request
	// Tokens maps every message in the batch to the number of Add/Requeue
	// calls for it that this batch consumed. A caller that counts a message's
	// outstanding work adds one per Add call (before calling Add) and, at
	// flush, adds the requests that cover it and subtracts these tokens.
	Tokens map[string]int
	// Paths is the number of distinct paths added (before reduction).
	Paths int
}

// Options configures a Coalescer.
type Options struct {
	// Window is how long a group collects paths after its first one.
	Window time.Duration
	// MaxFiles and MaxWildcards bound one request; zero means CloudFront's
	// limits (MaxFilePathsPerRequest, MaxWildcardsPerRequest).
	MaxFiles, MaxWildcards int
	// Flush receives each batch, on a timer goroutine or the caller of
	// Add/FlushAll. It must not call back into the Coalescer synchronously.
	Flush func(Batch)
}

// Coalescer holds one open group per distribution.
type Coalescer struct {
	opts   Options
	mu     sync.Mutex
	groups map[string]*group
	closed bool
}

type group struct {
	dist      string
	opened    time.Time
	notBefore time.Time // a quota backoff: no flush before this
	timer     *time.Timer
	owners    map[string][]int // path → indexes into msgs
	msgs      []string
	msgIndex  map[string]int
	tokens    []int
	files     int
	wildcards int
}

// New returns a Coalescer. Flush must be set.
func New(o Options) *Coalescer {
	if o.MaxFiles <= 0 {
		o.MaxFiles = MaxFilePathsPerRequest
	}
	if o.MaxWildcards <= 0 {
		o.MaxWildcards = MaxWildcardsPerRequest
	}
	return &Coalescer{opts: o, groups: map[string]*group{}}
}

// Add puts a message's paths for one distribution into its open group,
// opening one (and arming its window) if there is none.
func (c *Coalescer) Add(dist, msgID string, paths []string) {
	c.add(dist, time.Time{}, func(g *group) { g.addPaths(msgID, paths) })
}

// Requeue merges a request that CloudFront refused for quota back into the
// distribution's open group, together with whatever newer paths it collects,
// and keeps that group from flushing before notBefore. Each message of the
// request gets one token, as if Add had been called for it once.
func (c *Coalescer) Requeue(r Request, notBefore time.Time) {
	c.add(r.Distribution, notBefore, func(g *group) {
		counted := map[string]bool{}
		for i, p := range r.Paths {
			for _, m := range r.owners[i] {
				g.addOwner(p, m, !counted[m])
				counted[m] = true
			}
		}
	})
}

func (c *Coalescer) add(dist string, notBefore time.Time, fill func(*group)) {
	c.mu.Lock()
	now := time.Now()
	g := c.groups[dist]
	if g == nil {
		g = &group{dist: dist, opened: now, owners: map[string][]int{}, msgIndex: map[string]int{}}
		c.groups[dist] = g
		g.timer = time.AfterFunc(c.opts.Window, func() { c.fire(g) })
	}
	fill(g)
	if notBefore.After(g.notBefore) {
		g.notBefore = notBefore
		g.rearm(now, c.opts.Window, c)
	}
	full := (g.files >= c.opts.MaxFiles || g.wildcards >= c.opts.MaxWildcards) &&
		!now.Before(g.notBefore) && !c.closed
	var b Batch
	if full {
		b = c.take(g, now)
	}
	c.mu.Unlock()
	if full {
		c.opts.Flush(b)
	}
}

// rearm points the group's timer at the later of its window end and its
// backoff.
func (g *group) rearm(now time.Time, window time.Duration, c *Coalescer) {
	due := g.opened.Add(window)
	if g.notBefore.After(due) {
		due = g.notBefore
	}
	g.timer.Stop()
	g.timer = time.AfterFunc(due.Sub(now), func() { c.fire(g) })
}

func (g *group) addPaths(msgID string, paths []string) {
	for i, p := range paths {
		g.addOwner(p, msgID, i == 0)
	}
	if len(paths) == 0 { // still account the token so the caller's count balances
		g.index(msgID, true)
	}
}

func (g *group) index(msgID string, token bool) int {
	i, ok := g.msgIndex[msgID]
	if !ok {
		i = len(g.msgs)
		g.msgs = append(g.msgs, msgID)
		g.tokens = append(g.tokens, 0)
		g.msgIndex[msgID] = i
	}
	if token {
		g.tokens[i]++
	}
	return i
}

func (g *group) addOwner(path, msgID string, token bool) {
	i := g.index(msgID, token)
	o, seen := g.owners[path]
	if !seen {
		if isWildcard(path) {
			g.wildcards++
		} else {
			g.files++
		}
	}
	for _, m := range o {
		if m == i {
			return
		}
	}
	g.owners[path] = append(o, i)
}

// fire is the group timer: flush g if it is still the open group.
func (c *Coalescer) fire(g *group) {
	c.mu.Lock()
	if c.groups[g.dist] != g || c.closed {
		c.mu.Unlock()
		return
	}
	b := c.take(g, time.Now())
	c.mu.Unlock()
	c.opts.Flush(b)
}

// take removes g and plans its batch. Called with c.mu held.
func (c *Coalescer) take(g *group, now time.Time) Batch {
	g.timer.Stop()
	delete(c.groups, g.dist)
	b := Batch{
		Distribution: g.dist,
		Opened:       g.opened,
		Flushed:      now,
		Paths:        len(g.owners),
		Tokens:       make(map[string]int, len(g.msgs)),
		Requests:     plan(g.dist, g.owners, g.msgs, c.opts.MaxFiles, c.opts.MaxWildcards),
	}
	for i, m := range g.msgs {
		b.Tokens[m] = g.tokens[i]
	}
	return b
}

// FlushAll flushes every open group now, backoffs notwithstanding (used at
// shutdown), and returns how many batches it flushed.
func (c *Coalescer) FlushAll() int {
	c.mu.Lock()
	var batches []Batch
	now := time.Now()
	for _, g := range c.groups {
		batches = append(batches, c.take(g, now))
	}
	c.mu.Unlock()
	for _, b := range batches {
		c.opts.Flush(b)
	}
	return len(batches)
}

// Close stops all timers; later flushes do nothing and later Adds are kept
// but never flushed. Use FlushAll first to keep what is pending.
func (c *Coalescer) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, g := range c.groups {
		g.timer.Stop()
	}
}

// Pending returns the number of open groups and distinct paths in them.
func (c *Coalescer) Pending() (groups, paths int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.groups {
		paths += len(g.owners)
	}
	return len(c.groups), paths
}
