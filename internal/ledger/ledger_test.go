package ledger

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/acme/cf-invalidator/internal/paths"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) advance(d time.Duration) { c.now = c.now.Add(d) }

func newTestLedger(c *clock) *Ledger {
	return New(Options{Window: 10 * time.Second, Skew: time.Second, Now: c.Now})
}

func msg(id string, sent time.Time, items ...string) Message {
	return Message{ID: id, Sent: sent, Targets: []Target{{ID: "E1", Items: items}}}
}

func TestOwnAcceptanceSettlesServedMessagesCausally(t *testing.T) {
	c := &clock{t0}
	l := newTestLedger(c)
	// Sent just now: by the clocks no invalidation created within the skew
	// margin could cover it, but the request that serves it can.
	l.Add(msg("a", c.now, "/a", "/shared"))
	l.Add(msg("b", c.now, "/b", "/shared"))
	c.advance(10 * time.Second)
	b := l.Plan("E1", false)
	if !slices.Equal(b.Items, []string{"/a", "/b", "/shared"}) || b.Due != 2 {
		t.Fatalf("plan = %+v", b)
	}
	s := l.Begin("E1", b.Items, []string{"a", "b"})
	if again := l.Plan("E1", false); len(again.Items) != 0 {
		t.Fatalf("items in flight planned again: %+v", again)
	}
	// CloudFront's clock may lag ours: creation "before" the send still
	// covers the served messages.
	got := l.End(s, &Invalidation{Target: "E1", ID: "I1", Created: t0.Add(-time.Second), Items: b.Items})
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("settled %q, want a and b", got)
	}
	if l.Held() != 0 {
		t.Fatalf("held %d after settling everything", l.Held())
	}
}

func TestForeignInvalidationNeedsSkewMargin(t *testing.T) {
	c := &clock{t0.Add(3 * time.Second)}
	l := newTestLedger(c)
	l.Add(msg("old", t0, "/x"))
	l.Add(msg("new", t0.Add(2*time.Second), "/x"))
	// Created 1.5 s after "old" was sent (past the 1 s margin), 0.5 s before
	// "new" was sent.
	got := l.Observe(Invalidation{Target: "E1", ID: "I1", Created: t0.Add(1500 * time.Millisecond), Items: []string{"/x"}})
	if !slices.Equal(got, []string{"old"}) {
		t.Fatalf("settled %q, want only old", got)
	}
	// Within the margin after the send is not enough either.
	got = l.Observe(Invalidation{Target: "E1", ID: "I2", Created: t0.Add(2900 * time.Millisecond), Items: []string{"/x"}})
	if len(got) != 0 {
		t.Fatalf("settled %q by an invalidation 0.9 s after the send (margin 1 s)", got)
	}
	got = l.Observe(Invalidation{Target: "E1", ID: "I3", Created: t0.Add(3100 * time.Millisecond), Items: []string{"/*"}})
	if !slices.Equal(got, []string{"new"}) {
		t.Fatalf("a wildcard past the margin settled %q, want new", got)
	}
}

// TestWorkerBoundNeedsNoMargin: a replica's invalidation carries the latest
// SentTimestamp of the messages it served (SentBound). A message sent
// before it or at it (the very message, redelivered) is covered even when
// the creation is within the skew margin of its send; one sent after it is
// not (nor, then, by the margin).
func TestWorkerBoundNeedsNoMargin(t *testing.T) {
	c := &clock{t0.Add(3 * time.Second)}
	l := newTestLedger(c)
	l.Add(msg("early", t0, "/x"))
	l.Add(msg("same", t0.Add(200*time.Millisecond), "/x"))
	l.Add(msg("after", t0.Add(201*time.Millisecond), "/x"))
	// Created 0.5 s after "early" was sent, for messages sent up to 0.2 s
	// after it: "early" and "same" (sent at the bound) are covered, "after"
	// is not.
	v := Invalidation{Target: "E1", ID: "I1", Created: t0.Add(500 * time.Millisecond),
		SentBound: t0.Add(200 * time.Millisecond), Items: []string{"/x"}}
	got := l.Observe(v)
	slices.Sort(got)
	if !slices.Equal(got, []string{"early", "same"}) {
		t.Fatalf("settled %q, want early and same", got)
	}
	// Remembered with its bound: a redelivery sent before it arrives covered.
	if _, settled := l.Add(msg("redelivered", t0.Add(100*time.Millisecond), "/x")); !settled {
		t.Fatalf("a message sent before the bound arrived uncovered")
	}
	if _, settled := l.Add(msg("later", t0.Add(300*time.Millisecond), "/x")); settled {
		t.Fatalf("a message sent after the bound and within the margin of the creation arrived covered")
	}
	// An own submission's bound is the latest send it serves.
	c.advance(20 * time.Second)
	b := l.Plan("E1", false)
	s := l.Begin("E1", b.Items, b.Owners[0])
	if want := t0.Add(300 * time.Millisecond); !s.SentBound().Equal(want) {
		t.Fatalf("SentBound %v, want %v (the latest send served)", s.SentBound(), want)
	}
	// A message with no SentTimestamp gives no bound (its receipt is this
	// host's clock).
	l.Add(Message{ID: "unknown", Targets: []Target{{ID: "E1", Items: []string{"/u"}}}})
	if s := l.Begin("E1", []string{"/u"}, []string{"unknown"}); !s.SentBound().IsZero() {
		t.Fatalf("SentBound %v from a message without SentTimestamp", s.SentBound())
	}
}

func TestTagsWithoutCaseNeverByWildcard(t *testing.T) {
	c := &clock{t0}
	l := newTestLedger(c)
	l.Add(msg("m", t0, "#brand:acme", "/p"))
	got := l.Observe(Invalidation{Target: "E1", ID: "I1", Created: t0.Add(time.Minute),
		Items: []string{paths.Canonical("#Brand:Acme"), "/*"}})
	if !slices.Equal(got, []string{"m"}) {
		t.Fatalf("settled %q", got)
	}
	l.Add(msg("n", t0, "#brand:acme"))
	if got := l.Observe(Invalidation{Target: "E1", ID: "I2", Created: t0.Add(2 * time.Minute), Items: []string{"/*", "#brand*"}}); len(got) != 0 {
		t.Fatalf("a wildcard settled a tag: %q", got)
	}
}

func TestArrivalAfterInvalidationIsCoveredAtOnce(t *testing.T) {
	c := &clock{t0.Add(time.Hour)}
	l := newTestLedger(c)
	l.Observe(Invalidation{Target: "E1", ID: "I1", Created: t0.Add(30 * time.Minute), Items: []string{"/a", "/img/*"}})
	// A backlog message sent before the invalidation: nothing to do.
	if !settles(l, msg("backlog", t0, "/a", "/img/x.png")) {
		t.Fatalf("a message sent before an invalidation covering it was held")
	}
	// Sent after it: held.
	if settles(l, msg("later", t0.Add(40*time.Minute), "/a")) {
		t.Fatalf("a message sent after the invalidation was settled")
	}
	// Partly covered: only the rest is planned.
	l.Add(msg("part", t0, "/a", "/b"))
	c.advance(time.Minute)
	b := l.Plan("E1", false)
	if !slices.Equal(b.Items, []string{"/a", "/b"}) {
		t.Fatalf("plan %q: /a for later, /b for part", b.Items)
	}
	if !slices.Equal(b.Owners[0], []string{"later"}) || !slices.Equal(b.Owners[1], []string{"part"}) {
		t.Fatalf("owners %q", b.Owners)
	}
}

func TestRecentlyInvalidatedItemsWaitForDueMessages(t *testing.T) {
	c := &clock{t0}
	l := newTestLedger(c)
	l.Add(msg("due", t0, "/post-1"))
	c.advance(8 * time.Second)
	// A replica invalidated /home 2 s before "young" was sent.
	l.Observe(Invalidation{Target: "E1", ID: "R1", Created: c.now, Items: []string{"/home"}})
	c.advance(500 * time.Millisecond)
	l.Add(msg("young", c.now, "/home", "/post-2"))
	c.advance(1500 * time.Millisecond) // "due" is due, "young" is not
	b := l.Plan("E1", false)
	if !slices.Equal(b.Items, []string{"/post-1", "/post-2"}) || b.Deferred != 1 {
		t.Fatalf("plan %+v: /home is deferred (just invalidated, only young wants it)", b)
	}
	s := l.Begin("E1", b.Items, []string{"due", "young"})
	if got := l.End(s, &Invalidation{Target: "E1", ID: "I1", Created: c.now, Items: b.Items}); !slices.Equal(got, []string{"due"}) {
		t.Fatalf("settled %q", got)
	}
	at, ok := l.Next("E1")
	if !ok || !at.Equal(t0.Add(8500*time.Millisecond).Add(10*time.Second)) {
		t.Fatalf("next = %v %v, want young's due time", at, ok)
	}
	c.now = at
	if b := l.Plan("E1", false); !slices.Equal(b.Items, []string{"/home"}) {
		t.Fatalf("at its due time young's deferred item goes out: %+v", b)
	}
}

func TestPlanWithoutDueMessageIsEmpty(t *testing.T) {
	c := &clock{t0}
	l := newTestLedger(c)
	l.Add(msg("m", t0, "/a"))
	c.advance(5 * time.Second)
	if b := l.Plan("E1", false); len(b.Items) != 0 {
		t.Fatalf("young message planned: %+v", b)
	}
	if b := l.Plan("E1", true); !slices.Equal(b.Items, []string{"/a"}) {
		t.Fatalf("Plan(all) = %+v", b)
	}
}

func TestLagHoldsPlanningAndCausalCoverage(t *testing.T) {
	c := &clock{t0}
	l := New(Options{Window: time.Second, Skew: time.Second, Now: c.Now,
		Lag: func(string) time.Duration { return 30 * time.Second }})
	l.Add(msg("m", t0, "/a"))
	if at := l.DueAt("m"); !at.Equal(t0.Add(31 * time.Second)) {
		t.Fatalf("due at %v, want sent + lag + skew", at)
	}
	c.advance(2 * time.Second)
	if b := l.Plan("E1", false); len(b.Items) != 0 {
		t.Fatalf("planned before the lag passed: %+v", b)
	}
	// A submission begun before sent+lag+skew does not cover it causally.
	s := l.Begin("E1", []string{"/a"}, []string{"m"})
	if got := l.End(s, &Invalidation{Target: "E1", ID: "I1", Created: c.now, Items: []string{"/a"}}); len(got) != 0 {
		t.Fatalf("settled %q within the producer's lag", got)
	}
	c.now = t0.Add(31 * time.Second)
	b := l.Plan("E1", false)
	s = l.Begin("E1", b.Items, []string{"m"})
	if got := l.End(s, &Invalidation{Target: "E1", ID: "I2", Created: c.now, Items: b.Items}); !slices.Equal(got, []string{"m"}) {
		t.Fatalf("settled %q after the lag", got)
	}
}

func TestRefusedSubmissionPlansAgainAndHoldDelays(t *testing.T) {
	c := &clock{t0}
	l := newTestLedger(c)
	l.Add(msg("m", t0, "/a"))
	c.advance(10 * time.Second)
	b := l.Plan("E1", false)
	s := l.Begin("E1", b.Items, []string{"m"})
	if _, ok := l.Next("E1"); ok {
		t.Fatalf("Next while the only item is in flight")
	}
	if got := l.End(s, nil); len(got) != 0 {
		t.Fatalf("a refusal settled %q", got)
	}
	l.Hold("E1", c.now.Add(5*time.Second))
	at, ok := l.Next("E1")
	if !ok || !at.Equal(c.now.Add(5*time.Second)) {
		t.Fatalf("next = %v %v, want the hold's end", at, ok)
	}
	if b := l.Plan("E1", false); !slices.Equal(b.Items, []string{"/a"}) {
		t.Fatalf("refused items not planned again: %+v", b)
	}
}

func TestMultiTargetMessageWaitsForEveryTarget(t *testing.T) {
	c := &clock{t0}
	l := newTestLedger(c)
	l.Add(Message{ID: "m", Sent: t0, Targets: []Target{{ID: "E1", Items: []string{"/a"}}, {ID: "E2", Items: []string{"/a"}}}})
	if got := l.Observe(Invalidation{Target: "E1", ID: "I1", Created: t0.Add(time.Minute), Items: []string{"/a"}}); len(got) != 0 {
		t.Fatalf("settled %q with E2 uncovered", got)
	}
	if got := l.Observe(Invalidation{Target: "E2", ID: "I2", Created: t0.Add(time.Minute), Items: []string{"/a"}}); !slices.Equal(got, []string{"m"}) {
		t.Fatalf("settled %q", got)
	}
}

func TestRejectAndForget(t *testing.T) {
	c := &clock{t0}
	l := newTestLedger(c)
	l.Add(msg("a", t0, "/a"))
	l.Add(msg("b", t0, "/b"))
	if held := l.Reject([]string{"a", "zz"}); !slices.Equal(held, []string{"a"}) {
		t.Fatalf("rejected %v, want the one held", held)
	}
	if !l.Forget("b") || l.Forget("b") {
		t.Fatalf("Forget: held once, then not")
	}
	c.advance(time.Minute)
	if b := l.Plan("E1", true); len(b.Items) != 0 {
		t.Fatalf("items of rejected/forgotten messages planned: %+v", b)
	}
	if got := l.Observe(Invalidation{Target: "E1", ID: "I", Created: c.now, Items: []string{"/a", "/b"}}); len(got) != 0 {
		t.Fatalf("rejected/forgotten messages settled: %q", got)
	}
}

func TestRedeliveryOfHeldIsIgnored(t *testing.T) {
	c := &clock{t0}
	l := newTestLedger(c)
	l.Add(msg("m", t0, "/a"))
	if settles(l, msg("m", t0, "/a")) || l.Held() != 1 {
		t.Fatalf("a redelivered held message changed the ledger")
	}
}

func TestIndexForgetsBeyondHorizonAndCap(t *testing.T) {
	c := &clock{t0}
	l := New(Options{Window: time.Second, Skew: time.Second, Now: c.Now, Horizon: time.Hour, MaxRemembered: 3})
	l.Observe(Invalidation{Target: "E1", ID: "I1", Created: t0, Items: []string{"/a", "/b"}})
	l.Observe(Invalidation{Target: "E1", ID: "I2", Created: t0.Add(time.Second), Items: []string{"/c", "/d/*"}})
	// Over the cap of 3 items: I1 is forgotten.
	if settles(l, msg("a", t0.Add(-time.Hour), "/a")) {
		t.Fatalf("an invalidation over the cap still covers")
	}
	if !settles(l, msg("d", t0.Add(-time.Hour), "/d/x")) {
		t.Fatalf("the newest invalidation does not cover")
	}
	c.advance(2 * time.Hour)
	l.Observe(Invalidation{Target: "E1", ID: "I3", Created: c.now, Items: []string{"/e"}})
	if settles(l, msg("d2", t0.Add(-time.Hour), "/d/y")) {
		t.Fatalf("an invalidation beyond the horizon still covers")
	}
}

// --- Property test: random interleavings -------------------------------

// model is the test's own record, independent of the ledger's structures.
type model struct {
	sent     map[string]time.Time
	items    map[string][]string // message → its items (one target, E1)
	settled  map[string]bool
	rejected map[string]bool
	forgot   map[string]bool
	invs     []modelInv
}

type modelInv struct {
	created time.Time
	bound   time.Time // SentBound (zero: none)
	items   []string
	served  map[string]bool // own submissions: the messages they served
	started time.Time
}

// justified reports whether item of message m is covered by an invalidation
// in the model (the rule of the package comment, with lag 0).
func (md *model) justified(m, item string, skew, lag time.Duration) bool {
	for _, v := range md.invs {
		if !slices.ContainsFunc(v.items, func(by string) bool { return paths.Covers(by, item) }) {
			continue
		}
		if (v.served[m] && (lag == 0 || !v.started.Before(md.sent[m].Add(lag+skew)))) || v.created.After(md.sent[m].Add(skew+lag)) ||
			(!v.bound.IsZero() && !md.sent[m].Add(lag).After(v.bound)) {
			return true
		}
	}
	return false
}

var universe = []string{"/", "/a", "/b", "/img/1.png", "/img/2.png", "/img/sub/3.png", "#tag-1", "#tag-2", "/blog/", "/blog/post"}
var wildUniverse = []string{"/img/*", "/*", "/blog/*", "/b*"}

func TestPropertyRandomInterleavings(t *testing.T) {
	for seed := range 300 {
		// Every third run with a producer lag (the causal rule then needs
		// the submission to start after sent + lag + skew).
		lag := time.Duration(seed%3/2) * 4 * time.Second
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runInterleaving(t, uint64(seed), lag) })
	}
}

func runInterleaving(t *testing.T, seed uint64, lag time.Duration) {
	r := rand.New(rand.NewPCG(seed, seed*7+1))
	c := &clock{t0}
	const skew = time.Second
	l := New(Options{Window: 5 * time.Second, Skew: skew, Now: c.Now, Lag: func(string) time.Duration { return lag }})
	md := &model{sent: map[string]time.Time{}, items: map[string][]string{}, settled: map[string]bool{},
		rejected: map[string]bool{}, forgot: map[string]bool{}}
	type open struct {
		s       *Submission
		items   []string
		served  []string
		started time.Time
	}
	var subs []open
	next := 0
	settle := func(ids []string, how string) {
		for _, id := range ids {
			if md.settled[id] || md.rejected[id] || md.forgot[id] {
				t.Fatalf("%s settled %s, which had already left", how, id)
			}
			for _, it := range md.items[id] {
				if !md.justified(id, it, skew, lag) {
					t.Fatalf("%s settled %s with item %q not covered (sent %v; invalidations %+v)", how, id, it, md.sent[id], md.invs)
				}
			}
			md.settled[id] = true
		}
	}
	randomItems := func(n int) []string {
		var out []string
		for range n {
			p := universe[r.IntN(len(universe))]
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
		return out
	}
	for step := 0; step < 200; step++ {
		c.advance(time.Duration(r.IntN(3000)) * time.Millisecond)
		switch op := r.IntN(10); {
		case op < 4: // a message arrives, sent up to 20 s ago
			id := fmt.Sprintf("m%d", next)
			next++
			sent := c.now.Add(-time.Duration(r.IntN(20000)) * time.Millisecond)
			items := randomItems(1 + r.IntN(4))
			md.sent[id], md.items[id] = sent, items
			if settles(l, msg(id, sent, items...)) {
				settle([]string{id}, "Add")
			}
		case op < 6: // plan, maybe reduce to wildcards, begin
			b := l.Plan("E1", r.IntN(4) == 0)
			if len(b.Items) == 0 {
				continue
			}
			for _, o := range subs {
				for _, it := range b.Items {
					if slices.Contains(o.items, it) {
						t.Fatalf("step %d: item %q planned while in flight in %q (served %q); plan %+v", step, it, o.items, o.served, b)
					}
				}
			}
			reqPaths := slices.Clone(b.Items)
			if r.IntN(3) == 0 {
				reqPaths = append(reqPaths, wildUniverse[r.IntN(len(wildUniverse))])
			}
			served := map[string]bool{}
			var ids []string
			for _, os := range b.Owners {
				for _, id := range os {
					if !served[id] {
						served[id] = true
						ids = append(ids, id)
					}
				}
			}
			subs = append(subs, open{l.Begin("E1", reqPaths, ids), reqPaths, ids, c.now})
		case op < 8 && len(subs) > 0: // a submission ends
			i := r.IntN(len(subs))
			o := subs[i]
			subs = slices.Delete(subs, i, i+1)
			if r.IntN(4) == 0 {
				if got := l.End(o.s, nil); len(got) != 0 {
					t.Fatalf("a refused submission settled %q", got)
				}
				continue
			}
			// CloudFront's clock is up to the skew off ours.
			v := Invalidation{Target: "E1", ID: fmt.Sprintf("own%d", step),
				Created: c.now.Add(time.Duration(r.IntN(2000)-1000) * time.Millisecond), Items: o.items}
			served := map[string]bool{}
			var bound time.Time
			for _, id := range o.served {
				served[id] = true
				if md.sent[id].After(bound) {
					bound = md.sent[id]
				}
			}
			if !o.s.SentBound().Equal(bound) {
				t.Fatalf("step %d: SentBound %v, want the latest send of the served messages %v", step, o.s.SentBound(), bound)
			}
			v.SentBound = bound
			md.invs = append(md.invs, modelInv{created: v.Created, bound: bound, items: o.items, served: served, started: o.started})
			settle(l.End(o.s, &v), "End")
		case op == 8: // someone else's invalidation
			v := Invalidation{Target: "E1", ID: fmt.Sprintf("foreign%d", step),
				Created: c.now.Add(-time.Duration(r.IntN(10000)) * time.Millisecond), Items: randomItems(1 + r.IntN(3))}
			if r.IntN(3) == 0 {
				v.Items = append(v.Items, wildUniverse[r.IntN(len(wildUniverse))])
			}
			if next > 0 && r.IntN(2) == 0 { // a replica's: made for a message sent at some time
				v.SentBound = md.sent[fmt.Sprintf("m%d", r.IntN(next))]
			}
			md.invs = append(md.invs, modelInv{created: v.Created, bound: v.SentBound, items: v.Items})
			settle(l.Observe(v), "Observe")
		default: // reject or forget a held message
			var held []string
			for id := range md.items {
				if !md.settled[id] && !md.rejected[id] && !md.forgot[id] {
					held = append(held, id)
				}
			}
			if len(held) == 0 {
				continue
			}
			slices.Sort(held)
			id := held[r.IntN(len(held))]
			if r.IntN(2) == 0 {
				if refs := l.Reject([]string{id}); len(refs) != 1 {
					t.Fatalf("Reject(%s) of a held message returned %v", id, refs)
				}
				md.rejected[id] = true
			} else {
				if !l.Forget(id) {
					t.Fatalf("Forget(%s) of a held message said not held", id)
				}
				md.forgot[id] = true
			}
		}
		// Nothing lost, nothing leaked: the ledger holds exactly the messages
		// that have not left, and each of them can still be planned or is in
		// flight.
		held := 0
		for id := range md.items {
			left := md.settled[id] || md.rejected[id] || md.forgot[id]
			if l.Has(id) == left {
				t.Fatalf("step %d: message %s held=%v but left=%v", step, id, l.Has(id), left)
			}
			if !left {
				held++
			}
		}
		if l.Held() != held {
			t.Fatalf("step %d: ledger holds %d, model %d", step, l.Held(), held)
		}
		if _, ok := l.Next("E1"); held > 0 && !ok && len(subs) == 0 {
			t.Fatalf("step %d: %d messages held, nothing in flight, yet nothing to plan", step, held)
		}
	}
	// Liveness: end every submission, then cover everything; every message
	// still held settles.
	for _, o := range subs {
		md.invs = append(md.invs, modelInv{created: c.now, items: o.items, served: map[string]bool{}})
		settle(l.End(o.s, &Invalidation{Target: "E1", ID: "end", Created: c.now, Items: o.items}), "End")
	}
	c.advance(time.Minute)
	all := append(slices.Clone(universe), "/*")
	md.invs = append(md.invs, modelInv{created: c.now, items: all})
	settle(l.Observe(Invalidation{Target: "E1", ID: "final", Created: c.now, Items: all}), "final Observe")
	if l.Held() != 0 {
		t.Fatalf("%d messages left after everything was covered", l.Held())
	}
}

// settles adds m and reports whether it was settled on arrival.
func settles(l *Ledger, m Message) bool {
	_, settled := l.Add(m)
	return settled
}

// TestManyItemsSettleOnlyWhenAllCovered: a message settles only once the
// last of its items is covered, in any order, whatever its size around the
// 64 covered bits kept inline — and with some items covered on arrival (by
// an invalidation remembered from before), so it holds fewer than it names.
func TestManyItemsSettleOnlyWhenAllCovered(t *testing.T) {
	for _, n := range []int{1, 2, 63, 64, 65, 127, 128, 129, 150} {
		for _, early := range []int{0, 3} {
			t.Run(fmt.Sprintf("%d items, %d covered before", n, early), func(t *testing.T) {
				c := &clock{t0}
				l := newTestLedger(c)
				var items []string
				for i := range n + early {
					items = append(items, fmt.Sprintf("/many/%03d", i))
				}
				if early > 0 {
					l.Observe(Invalidation{Target: "E1", ID: "IEARLY", Created: t0.Add(time.Hour), Items: items[n:]})
				}
				c.advance(time.Hour + time.Minute)
				l.Add(msg("big", t0, items...))
				order := rand.New(rand.NewPCG(uint64(n), uint64(early))).Perm(n)
				for k, i := range order {
					got := l.Observe(Invalidation{Target: "E1", ID: fmt.Sprintf("I%d", i), Created: c.now, Items: []string{items[i]}})
					if last := k == n-1; last != (len(got) == 1) {
						t.Fatalf("after covering %d of %d items settled %q", k+1, n, got)
					}
				}
				if l.Held() != 0 {
					t.Fatalf("held %d after every item was covered", l.Held())
				}
			})
		}
	}
}

// TestEntryStaysSmall: a held message's entry is 80 bytes, a size class of
// Go's allocator (96 is the next): the memory bench's per-message figure
// counts on it.
func TestEntryStaysSmall(t *testing.T) {
	if got := unsafe.Sizeof(entry{}); got > 80 {
		t.Fatalf("entry is %d bytes, want at most 80", got)
	}
}
