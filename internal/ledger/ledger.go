// Package ledger is the one owner of what every held message still needs:
// its items (paths and cache tags) per target (a distribution) that no
// accepted invalidation covers yet. It is the only way a message is settled:
// Add, Observe and End return the messages whose last item was just covered,
// and only those may be deleted.
//
// # The coverage rule
//
// An item of message m is covered by invalidation v of the same target when
// an item of v covers it (paths.Covers: the same item, a trailing-"*"
// prefix, cache tags without case) and v was created after m was sent:
//
//   - v was submitted by this process for a request serving m (m's id is in
//     the request's CallerReference): m was received before the request was
//     sent, so it was sent before v was created — causality, no clock
//     comparison. A reused CallerReference hands back the invalidation made
//     for exactly these messages and paths, so it is right too;
//   - v was made by this worker (any process) for a request whose served
//     messages were sent up to v.SentBound (their latest SentTimestamp,
//     carried in its CallerReference): v was created after that message was
//     received, so after any message sent before it. m.Sent + Lag(target) <=
//     v.SentBound compares SQS's clock with SQS's clock: no skew margin. (At
//     equal milliseconds m may have been sent up to 1 ms after that message,
//     but v's creation came a receive and a CreateInvalidation round trip
//     after it; m may also be that very message, served by v.) This
//     is what lets replicas (and a process after a restart) use each
//     other's invalidations for messages sent less than Skew before them;
//   - otherwise (a person's, or one made for messages sent after m) by the
//     clocks: v.Created > m.Sent + Skew + Lag(target). Created is
//     CloudFront's clock, Sent is SQS's (SentTimestamp); Skew is the safety
//     margin between them. Lag is a per-target margin for producers that
//     enqueue before their change is live at the origin; with Lag > 0 the
//     causal rule also needs the submission to start after m.Sent + Lag +
//     Skew (on this host's clock), and m's items are not planned earlier.
//
// Items are compared in canonical form (paths.Canonical).
//
// # What is submitted
//
// Plan returns, for one target, the uncovered items not already in flight
// that should go out now: every item a due message wants (due: received at
// least its window ago), and every item only young messages want unless an
// invalidation created within the last window already covers it for other
// messages — then someone has just paid for it, and the young messages wait
// until they are due, when a later invalidation (ours or a replica's) may
// cover them too. A message is never held past its due time by this: at its
// due time its items are planned like any due message's.
//
// # Invariants (ledger_test.go checks them over random interleavings)
//
//   - a message is returned as settled exactly once, and only when every
//     item of every target is covered by the rule above;
//   - a message leaves the ledger only by being settled, Rejected or
//     Forgotten; nothing else drops it;
//   - an item is in flight only between Begin and End of a submission.
//
// The ledger is safe for concurrent use. It has no AWS types and no timers:
// the caller schedules flushes from Next.
package ledger

import (
	"sync"
	"time"

	"github.com/acme/cf-invalidator/internal/paths"
)

// Options configures a Ledger.
type Options struct {
	// Window is how long a message waits, from its receipt, before its items
	// are due (a Message's own Window overrides it).
	Window time.Duration
	// Skew is the clock-skew margin for invalidations not known to be
	// created after a message was received (see the package comment).
	Skew time.Duration
	// Lag is the per-target producer margin (0 = none).
	Lag func(target string) time.Duration
	// Horizon bounds how long an observed invalidation is remembered for
	// covering messages that arrive later (a redelivery, a backlog): 1 h.
	Horizon time.Duration
	// MaxRemembered bounds the items remembered per target for that; the
	// oldest invalidations are forgotten first: 200,000.
	MaxRemembered int
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Defaults for Options.
const (
	DefaultHorizon       = time.Hour
	DefaultMaxRemembered = 200_000
)

// Message is a received message as the ledger sees it.
type Message struct {
	ID       string
	Sent     time.Time // SQS SentTimestamp; zero = unknown (Received is used, later than any true send)
	Received time.Time // when this process received it; zero = now
	// Window overrides Options.Window for this message (its lane's window).
	Window time.Duration
	// Bulk: the message came from a bulk lane (a replay, a backfill);
	// Plan says which items only bulk messages want.
	Bulk bool
	// Targets hold the message's canonical items per target: one Target per
	// target id, each item once (the decoder deduplicates).
	Targets []Target
}

// Target is the items of a message for one target.
type Target struct {
	ID    string
	Items []string
}

// Invalidation is an accepted invalidation, as far as coverage goes.
type Invalidation struct {
	Target  string
	ID      string
	Created time.Time // CloudFront's CreateTime
	// SentBound, when not zero: v was created after a message sent at this
	// SentTimestamp was received (see the package comment); zero for
	// invalidations not made by this worker.
	SentBound time.Time
	Items     []string // canonical
}

// covers is the send (SQS's clock, lag included) that v is known to come
// after: a message m is covered by v when m.Sent + Lag < covers — by the
// clocks Created - Skew; by the bound anything up to SentBound itself.
func (v Invalidation) covers(skew time.Duration) stamp {
	c := stampOf(v.Created.Add(-skew))
	if !v.SentBound.IsZero() {
		c = max(c, stampOf(v.SentBound)+1) // up to the bound itself
	}
	return c
}

// Ledger holds every message between receipt and settlement.
type Ledger struct {
	o Options

	mu      sync.Mutex
	msgs    map[string]*entry
	targets map[string]*target
}

// entry is one held message, kept small: a worker may hold 100,000, and
// this is 80 bytes (times are Unix nanoseconds; the covered bits inline for
// up to 64 items; what few messages need behind ext).
type entry struct {
	id    string
	sent  stamp   // skew and lag not included
	dueAt stamp   // when its items are due
	items []*item // every uncovered item at arrival, over every target
	bits  uint64  // bit i: items[i] is covered, for i < 64
	ext   *entryExt
	// wait is dueAt - receipt in milliseconds (at most 49 days; windows and
	// lags are bounded by SQS's 12-hour hold): the receipt without 8 more
	// bytes.
	wait uint32
	gone bool // settled, rejected or forgotten
	bulk bool
	// sentKnown: sent is the SentTimestamp (else the receipt, on this
	// host's clock, which may not bound another process's invalidation).
	sentKnown bool
	// planned: Plan has counted it as due (cleared before Plan returns; the
	// last spare byte of the 80).
	planned bool
}

// entryExt is what only some messages need.
type entryExt struct {
	more []uint64 // the covered bits of items[64:]
	// pos is each item's index in items (indexOf), for more than 64 items.
	pos map[*item]int32
	// coverableAt: with a lag, a submission must start after this for the
	// causal rule to apply (0 = any time).
	coverableAt stamp
}

// received is when this process received the message (to the millisecond).
func (e *entry) received() stamp { return e.dueAt - stamp(e.wait)*stamp(time.Millisecond) }

// coverableAt: see entryExt.
func (e *entry) coverableAt() stamp {
	if e.ext == nil {
		return 0
	}
	return e.ext.coverableAt
}

// stamp is a time as Unix nanoseconds (wall clock, as SentTimestamp and
// CreateTime are).
type stamp int64

func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return 0
	}
	return stamp(t.UnixNano())
}

func (s stamp) time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(s))
}

func (e *entry) word(i int) *uint64 {
	if i < 64 {
		return &e.bits
	}
	return &e.ext.more[(i-64)/64]
}

func (e *entry) isCovered(i int) bool { return *e.word(i)&(1<<(i%64)) != 0 }

// cover marks items[i] covered and reports whether e is now settled.
func (e *entry) cover(i int) bool {
	if e.isCovered(i) {
		return false
	}
	*e.word(i) |= 1 << (i % 64)
	return e.allCovered()
}

// allCovered reports whether every item's bit is set (no counter: a word
// compare for up to 64 items; a shift by 64 is 0 in Go, so the mask of 64
// is all ones).
func (e *entry) allCovered() bool {
	n := len(e.items)
	if n <= 64 {
		return e.bits == uint64(1)<<n-1
	}
	if e.bits != ^uint64(0) {
		return false
	}
	for w, word := range e.ext.more {
		if word != uint64(1)<<min(64, n-64-64*w)-1 {
			return false
		}
	}
	return true
}

// indexOf returns its index in e.items: a scan of a few pointers (most
// messages have a handful of items), or past 64 items the position map.
func (e *entry) indexOf(it *item) int {
	if e.ext != nil && e.ext.pos != nil {
		return int(e.ext.pos[it])
	}
	for i, x := range e.items {
		if x == it {
			return i
		}
	}
	panic("ledger: a wanter without the item") // every wanter holds it: an invariant
}

// wants reports whether e still waits for it (held, not covered).
func (e *entry) wants(it *item) bool { return !e.gone && !e.isCovered(e.indexOf(it)) }

type item struct {
	t   *target
	key string
	// wanters are the messages wanting it, in arrival order; covered and
	// gone ones are dropped lazily. 8 bytes each: the item's index in the
	// entry is found again (indexOf), not stored.
	wanters  []*entry
	inflight int // submissions under way that carry it (or a wildcard over it)
}

// live drops wanters that no longer want the item and reports whether any
// are left.
func (it *item) live() bool {
	k := 0
	for _, e := range it.wanters {
		if e.wants(it) {
			it.wanters[k] = e
			k++
		}
	}
	clear(it.wanters[k:])
	it.wanters = it.wanters[:k]
	return k > 0
}

type target struct {
	id    string
	items map[string]*item
	queue []*entry // entries with items here, in arrival order; pruned lazily
	held  int      // entries with items here not yet gone
	index index    // invalidations observed, for messages that arrive later
	// notBefore holds every plan back (a quota backoff, a pause recheck).
	notBefore time.Time
}

// forget removes it from the items, unless the key names a newer item
// already (an entry keeps pointers to items it no longer wants, which may
// have been dropped and made again since).
func (t *target) forget(it *item) {
	if t.items[it.key] == it {
		delete(t.items, it.key)
	}
}

// New returns an empty Ledger.
func New(o Options) *Ledger {
	if o.Horizon <= 0 {
		o.Horizon = DefaultHorizon
	}
	if o.MaxRemembered <= 0 {
		o.MaxRemembered = DefaultMaxRemembered
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Lag == nil {
		o.Lag = func(string) time.Duration { return 0 }
	}
	return &Ledger{o: o, msgs: map[string]*entry{}, targets: map[string]*target{}}
}

func (l *Ledger) target(id string) *target {
	t := l.targets[id]
	if t == nil {
		t = &target{id: id, items: map[string]*item{}, index: newIndex()}
		l.targets[id] = t
	}
	return t
}

// Add takes a message in and returns when its items are due. Items an
// invalidation observed earlier already covers (created after the message
// was sent) are covered at once; settled reports that nothing was left, and
// the message is then not held. Adding an id already held does nothing (a
// redelivery) and reports false with its due time. A message without items
// is settled at once.
func (l *Ledger) Add(m Message) (due time.Time, settled bool) {
	now := l.o.Now()
	if m.Received.IsZero() {
		m.Received = now
	}
	sentKnown := !m.Sent.IsZero() && !m.Sent.After(m.Received)
	if !sentKnown {
		m.Sent = m.Received
	}
	window := m.Window
	if window <= 0 {
		window = l.o.Window
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.msgs[m.ID]; ok {
		return e.dueAt.time(), false
	}
	e := &entry{id: m.ID, sent: stampOf(m.Sent), sentKnown: sentKnown, dueAt: stampOf(m.Received.Add(window)), bulk: m.Bulk}
	n := 0
	for _, t := range m.Targets {
		n += len(t.Items)
	}
	e.items = make([]*item, 0, n)
	var coverableAt stamp
	for _, tg := range m.Targets {
		t := l.target(tg.ID)
		lag := l.o.Lag(tg.ID)
		if lag > 0 {
			at := stampOf(m.Sent.Add(lag + l.o.Skew))
			coverableAt = max(coverableAt, at)
			e.dueAt = max(e.dueAt, at)
		}
		sentLag := stampOf(m.Sent.Add(lag))
		added := false
		for _, key := range tg.Items {
			if t.index.coveredAfter(key, sentLag) {
				continue // already invalidated since it was sent: nothing to hold it for
			}
			it := t.items[key]
			if it == nil {
				it = &item{t: t, key: key}
				t.items[key] = it
			}
			it.wanters = append(it.wanters, e)
			e.items = append(e.items, it)
			added = true
		}
		if added {
			t.queue = append(t.queue, e)
			t.held++
		}
	}
	if len(e.items) == 0 {
		return time.Time{}, true
	}
	e.wait = uint32((e.dueAt - stampOf(m.Received)) / stamp(time.Millisecond))
	if k := len(e.items); k > 64 || coverableAt != 0 {
		e.ext = &entryExt{coverableAt: coverableAt}
		if k > 64 {
			e.ext.more = make([]uint64, (k-64+63)/64)
			e.ext.pos = make(map[*item]int32, k)
			for i, it := range e.items {
				e.ext.pos[it] = int32(i)
			}
		}
	}
	l.msgs[m.ID] = e
	return e.dueAt.time(), false
}

// Observe applies an accepted invalidation to every held message and
// remembers it for messages that arrive later. It returns the ids of the
// messages it settled. Use it for invalidations this process did not submit
// (its own are applied by End).
func (l *Ledger) Observe(v Invalidation) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.observe(v, nil)
}

// observe covers with v; served (may be nil) are the entries the causal
// rule applies to, with the submission's start. Callers hold l.mu.
func (l *Ledger) observe(v Invalidation, s *Submission) []string {
	t := l.target(v.Target)
	covers := v.covers(l.o.Skew)
	t.index.add(v, covers, l.o.Now().Add(-l.o.Horizon), l.o.MaxRemembered)
	var settled []string
	lag := stamp(l.o.Lag(v.Target))
	coverFor := func(e *entry) bool {
		if s != nil && s.serves(e) && (e.coverableAt() == 0 || stampOf(s.started) >= e.coverableAt()) {
			return true
		}
		return e.sent+lag < covers
	}
	apply := func(it *item) {
		k := 0
		for _, e := range it.wanters {
			if e.gone {
				continue
			}
			i := e.indexOf(it)
			if e.isCovered(i) {
				continue
			}
			if coverFor(e) {
				if e.cover(i) {
					settled = append(settled, l.settle(e))
				}
				continue
			}
			it.wanters[k] = e
			k++
		}
		clear(it.wanters[k:])
		it.wanters = it.wanters[:k]
		if k == 0 && it.inflight == 0 {
			t.forget(it)
		}
	}
	var wild []string
	for _, key := range v.Items {
		if paths.IsWildcard(key) && !paths.IsTag(key) {
			wild = append(wild, key[:len(key)-1])
			continue
		}
		if it := t.items[key]; it != nil {
			apply(it)
		}
	}
	if len(wild) > 0 {
		for key, it := range t.items {
			for _, pre := range wild {
				if !paths.IsTag(key) && len(key) >= len(pre) && key[:len(pre)] == pre {
					apply(it)
					break
				}
			}
		}
	}
	return settled
}

// settle removes a fully covered entry and returns its id; callers hold
// l.mu.
func (l *Ledger) settle(e *entry) string {
	l.drop(e)
	return e.id
}

// drop takes e out of the ledger; its wants are dropped lazily.
func (l *Ledger) drop(e *entry) {
	if e.gone {
		return
	}
	e.gone = true
	delete(l.msgs, e.id)
	seen := map[*target]bool{}
	for _, it := range e.items {
		if !seen[it.t] {
			seen[it.t] = true
			it.t.held--
		}
	}
}

// Reject takes messages out without settling them (they are dead-lettered
// by the caller) and returns the ids of those that were held.
func (l *Ledger) Reject(ids []string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var held []string
	for _, id := range ids {
		if e := l.msgs[id]; e != nil {
			held = append(held, id)
			l.drop(e)
			l.prune(e)
		}
	}
	return held
}

// Forget takes a message out without settling it: released at shutdown, or
// its lease was lost and it will be redelivered. It reports whether it was
// held.
func (l *Ledger) Forget(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.msgs[id]
	if e == nil {
		return false
	}
	l.drop(e)
	l.prune(e)
	return true
}

// prune removes the items only e wanted, so they are not planned; callers
// hold l.mu.
func (l *Ledger) prune(e *entry) {
	for _, it := range e.items {
		if it.inflight == 0 && !it.live() {
			it.t.forget(it)
		}
	}
}

// Held returns the number of messages held.
func (l *Ledger) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.msgs)
}

// Has reports whether id is held.
func (l *Ledger) Has(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.msgs[id]
	return ok
}
