package ledger

import (
	"slices"
	"strings"
	"time"

	"github.com/acme/cf-invalidator/internal/paths"
)

// Batch is what one target should submit now.
type Batch struct {
	Target string
	// Items are uncovered items, none in flight, sorted; Owners[i] are the
	// ids of the messages wanting Items[i] (sorted).
	Items  []string
	Owners [][]string
	// Bulk[i]: only bulk messages want Items[i] (live work goes first).
	Bulk []bool
	// Due counts the due messages among the owners; Deferred the items
	// left out because an invalidation created within the last window
	// already covers them for other messages and only young messages want
	// them now.
	Due, Deferred int
}

// Plan returns what target should submit now (see the package comment).
// With all, every held message counts as due (shutdown flushes everything).
// A batch with no due message is empty: young messages keep waiting.
func (l *Ledger) Plan(target string, all bool) Batch {
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := Batch{Target: target}
	t := l.targets[target]
	if t == nil {
		return b
	}
	nowS := stampOf(now)
	// The due owners are flagged (e.planned) and listed, not put in a map:
	// a window of 10,000 messages would be 10,000 map inserts per plan.
	var due []*entry
	defer func() {
		for _, e := range due {
			e.planned = false
		}
	}()
	// Every item's owners are carved out of one buffer, sized for every
	// wanter: one allocation per plan, not one per item.
	n := 0
	for _, it := range t.items {
		n += len(it.wanters)
	}
	buf := make([]string, 0, n)
	type planned struct {
		key        string
		start, end int // its owners: buf[start:end]
		bulk       bool
	}
	out := make([]planned, 0, len(t.items))
	for key, it := range t.items {
		if it.inflight > 0 {
			continue
		}
		if !it.live() {
			t.forget(it)
			continue
		}
		start := len(buf)
		anyDue, bulk := false, true
		var window stamp
		for _, e := range it.wanters {
			if ca := e.coverableAt(); !all && ca != 0 && nowS < ca {
				continue // a lagging producer's change may not be live yet
			}
			if window == 0 {
				window = e.dueAt - e.received()
			}
			buf = append(buf, e.id)
			bulk = bulk && e.bulk
			if all || nowS >= e.dueAt {
				anyDue = true
				if !e.planned {
					e.planned = true
					due = append(due, e)
				}
			}
		}
		if len(buf) == start {
			continue
		}
		// Created within the last window: the index keeps what it covers,
		// which is never after its creation (and about it for the worker's
		// own, whose bound is the send of a message just before).
		if !anyDue && t.index.latest(key) > stampOf(now.Add(-time.Duration(window))) {
			b.Deferred++
			buf = buf[:start]
			continue
		}
		owners := buf[start:]
		slices.Sort(owners)
		buf = buf[:start+len(slices.Compact(owners))]
		out = append(out, planned{key, start, len(buf), bulk})
	}
	if len(due) == 0 {
		b.Deferred = 0
		return b
	}
	b.Due = len(due)
	slices.SortFunc(out, func(x, y planned) int { return strings.Compare(x.key, y.key) })
	b.Items = make([]string, len(out))
	b.Owners = make([][]string, len(out))
	b.Bulk = make([]bool, len(out))
	for i, p := range out {
		// Full slice expressions: an append to one item's owners must not
		// run into the next one's.
		b.Items[i], b.Owners[i], b.Bulk[i] = p.key, buf[p.start:p.end:p.end], p.bulk
	}
	return b
}

// Submission is a request on its way to CloudFront: its items are in flight
// (not planned again) from Begin to End.
type Submission struct {
	target  string
	started time.Time
	served  map[*entry]bool
	items   []*item
	bound   stamp // the latest known SentTimestamp of the served messages
}

func (s *Submission) serves(e *entry) bool { return s.served[e] }

// Started is when the submission began (Begin).
func (s *Submission) Started() time.Time { return s.started }

// SentBound is the latest SentTimestamp of the messages the submission
// serves (zero when none is known): its invalidation will be created after
// that message was received. It goes into the CallerReference, so that
// other processes can apply the invalidation to messages sent before it
// without the clock-skew margin (Invalidation.SentBound).
func (s *Submission) SentBound() time.Time { return s.bound.time() }

// Begin marks the items the request's paths cover as in flight and notes
// the messages it serves (the ids its CallerReference is made from) and the
// time, for the causal rule. Call it right before the request is sent.
func (l *Ledger) Begin(target string, reqPaths, served []string) *Submission {
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.target(target)
	s := &Submission{target: target, started: now, served: make(map[*entry]bool, len(served))}
	for _, id := range served {
		if e := l.msgs[id]; e != nil {
			s.served[e] = true
			if e.sentKnown {
				s.bound = max(s.bound, e.sent)
			}
		}
	}
	var wild []string
	in := map[*item]bool{}
	for _, p := range reqPaths {
		if pre, ok := wildcardPrefix(p); ok {
			wild = append(wild, pre)
			continue
		}
		if it := t.items[p]; it != nil && !in[it] {
			in[it] = true
			s.items = append(s.items, it)
		}
	}
	if len(wild) > 0 {
		for key, it := range t.items {
			if paths.IsTag(key) || in[it] {
				continue
			}
			for _, pre := range wild {
				if strings.HasPrefix(key, pre) {
					in[it] = true
					s.items = append(s.items, it)
					break
				}
			}
		}
	}
	for _, it := range s.items {
		it.inflight++
	}
	return s
}

// End closes a submission: its items are no longer in flight. accepted is
// the invalidation CloudFront accepted for it (nil when it was refused or
// abandoned); End applies it — causally for the messages the request
// served, by the clocks for the rest — and returns the ids it settled.
func (l *Ledger) End(s *Submission, accepted *Invalidation) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.target(s.target)
	for _, it := range s.items {
		it.inflight--
	}
	var settled []string
	if accepted != nil {
		settled = l.observe(*accepted, s)
	}
	for _, it := range s.items {
		if it.inflight == 0 && !it.live() {
			t.forget(it)
		}
	}
	return settled
}

// Hold keeps target from planning before until (a quota backoff, a pause
// recheck); a later until wins, an earlier one is ignored.
func (l *Ledger) Hold(target string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.target(target)
	if until.After(t.notBefore) {
		t.notBefore = until
	}
}

// Next returns when target should be planned next: the earliest due time
// of a message with an item that is uncovered and not in flight, but not
// before a Hold. ok is false when there is nothing to plan.
func (l *Ledger) Next(target string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.targets[target]
	if t == nil {
		return time.Time{}, false
	}
	var at stamp
	ok := false
	k := 0
	for _, e := range t.queue {
		if e.gone {
			continue
		}
		waiting, schedulable := false, false
		for i, it := range e.items {
			if it.t != t || e.isCovered(i) {
				continue
			}
			waiting = true
			if it.inflight == 0 {
				schedulable = true
				break
			}
		}
		if !waiting {
			continue // nothing left here; it stays held for another target
		}
		t.queue[k] = e
		k++
		if schedulable && (!ok || e.dueAt < at) {
			at, ok = e.dueAt, true
		}
	}
	clear(t.queue[k:])
	t.queue = t.queue[:k]
	if !ok {
		return time.Time{}, false
	}
	due := at.time()
	if t.notBefore.After(due) {
		due = t.notBefore
	}
	return due, true
}

// DueAt returns when a held message's items are due (zero if not held).
func (l *Ledger) DueAt(id string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.msgs[id]; e != nil {
		return e.dueAt.time()
	}
	return time.Time{}
}

// Stats is one target's state, for status pages and metrics.
type Stats struct {
	Held      int       // messages held with items here
	Items     int       // distinct uncovered items
	InFlight  int       // of them, in a submission under way
	Oldest    time.Time // receipt of the longest-held message (zero if none)
	NotBefore time.Time // a Hold in force (zero if none or past)
}

// Stats returns target's state.
func (l *Ledger) Stats(target string) Stats {
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.targets[target]
	if t == nil {
		return Stats{}
	}
	s := Stats{Held: t.held}
	for _, it := range t.items {
		s.Items++
		if it.inflight > 0 {
			s.InFlight++
		}
	}
	var oldest stamp
	for _, e := range t.queue {
		if r := e.received(); !e.gone && (oldest == 0 || r < oldest) {
			oldest = r
		}
	}
	s.Oldest = oldest.time()
	if t.notBefore.After(now) {
		s.NotBefore = t.notBefore
	}
	return s
}

// Targets returns the ids of every target the ledger has seen.
func (l *Ledger) Targets() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.targets))
	for id := range l.targets {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Oldest returns the receipt time of the longest-held of ids (zero if none
// is held): max_hold counts from it.
func (l *Ledger) Oldest(ids []string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first stamp
	for _, id := range ids {
		if e := l.msgs[id]; e != nil && (first == 0 || e.received() < first) {
			first = e.received()
		}
	}
	return first.time()
}
