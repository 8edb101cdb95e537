package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Covers reports whether the accepted invalidation item inv invalidates the
// item a message asked for, as CloudFront matches them (DESIGN.md,
// "Delete after a covering invalidation was accepted"): a path is covered
// by the same path or by a trailing-"*" wildcard whose prefix it starts
// with ("/img/*" covers "/img/a.png" and "/img/*"; "/*" covers every path);
// a cache tag (an item starting with "#") only by the same tag, ASCII case
// ignored — never by a wildcard, and a tag never covers a path.
func Covers(inv, item string) bool {
	itemTag, invTag := strings.HasPrefix(item, "#"), strings.HasPrefix(inv, "#")
	switch {
	case itemTag || invTag:
		return itemTag && invTag && asciiEqualFold(inv, item)
	case inv == item:
		return true
	default:
		pre, ok := strings.CutSuffix(inv, "*")
		return ok && strings.HasPrefix(item, pre)
	}
}

// asciiEqualFold is strings.EqualFold for ASCII letters only: CloudFront
// compares tags without case, and Unicode folding ("K" and the Kelvin sign)
// is more than that promises.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Covered reports whether one of submitted covers item ([Covers]).
func Covered(item string, submitted []string) bool {
	return slices.ContainsFunc(submitted, func(s string) bool { return Covers(s, item) })
}

// Uncovered returns the items of want not covered by submitted.
func Uncovered(want, submitted []string) []string {
	var out []string
	for _, p := range want {
		if !Covered(p, submitted) {
			out = append(out, p)
		}
	}
	return out
}

// CheckCoverage fails the test unless, per target (a distribution, a
// tenant apart from its distribution), the union of the accepted
// invalidations covers every item of every message.
func CheckCoverage(t testing.TB, ms []Msg, invs []Invalidation) {
	t.Helper()
	byDist := ByDist(invs)
	for d, want := range WantByDist(ms) {
		if miss := Uncovered(want, Union(byDist[d])); len(miss) > 0 {
			t.Errorf("distribution %s: %d of %d paths never accepted, first %q", d, len(miss), len(want), miss[:min(10, len(miss))])
		}
	}
}

// Timeline says, per message, when accepted invalidations first covered
// all of its items; the zero time means never.
type Timeline []time.Time

// CoveredAt returns, per message, the earliest time at which accepted
// invalidations (in order of acceptance) together cover all of its items.
// It looks at acceptance only, not at when the message was sent: that is
// [CheckDeletesJustified]'s business.
func CoveredAt(ms []Msg, invs []Invalidation) Timeline {
	sorted := slices.Clone(invs)
	slices.SortStableFunc(sorted, func(x, y Invalidation) int { return x.Created.Compare(y.Created) })
	out := make(Timeline, len(ms))
	for i, m := range ms {
		var union []string
		for _, e := range sorted {
			if e.Target() != m.Target() {
				continue
			}
			union = append(union, e.Items...)
			if len(Uncovered(m.Items, union)) == 0 {
				out[i] = e.Created
				break
			}
		}
	}
	return out
}

// CountBy returns how many messages were fully covered at or before t.
func (c Timeline) CountBy(t time.Time) int {
	n := 0
	for _, at := range c {
		if !at.IsZero() && !at.After(t) {
			n++
		}
	}
	return n
}

// Billing is what [Rebilled] found: Billed items in all (every item of every
// accepted invalidation: what AWS bills), and of those Rebilled, paid for
// again.
type Billing struct {
	Billed, Rebilled int
	// Examples of re-billed items, "item (invalidation ID)", at most 10.
	Examples []string
}

// Rebilled counts the billed items that paid again for coverage messages
// already had (issue 7's measure): item x of accepted invalidation I is
// re-billed when every message that wanted it — of I's target, sent before
// I was created, with an item x covers — had each of those items covered
// already by an earlier accepted invalidation created after the message was
// sent. An item no message sent before I wanted counts as re-billed too.
// sent is each message's SentTimestamp (the proxy's Record.Sent); wants are
// the messages and their items.
func Rebilled(wants Wants, sent map[string]time.Time, invs []Invalidation) Billing {
	// Per target: each wanted item (tags lower-cased) → when the messages
	// that want it were surely sent.
	wanted := map[string]map[string][]time.Time{}
	for id, w := range wants {
		s, ok := sent[id]
		if !ok {
			continue
		}
		m := wanted[w.target()]
		if m == nil {
			m = map[string][]time.Time{}
			wanted[w.target()] = m
		}
		for _, it := range w.Items {
			k := it
			if strings.HasPrefix(it, "#") {
				k = asciiLower(it)
			}
			m[k] = append(m[k], notBefore(s))
		}
	}
	sorted := slices.Clone(invs)
	slices.SortStableFunc(sorted, func(x, y Invalidation) int { return x.Created.Compare(y.Created) })
	idx := make([]*indexedInv, len(sorted))
	for i := range sorted {
		idx[i] = index(&sorted[i])
	}
	// coveredBefore: an invalidation of target created in [since, before)
	// covers item.
	coveredBefore := func(target, item string, since, before time.Time) *Invalidation {
		for _, x := range idx {
			if !x.inv.Created.Before(before) {
				break
			}
			if x.inv.Target() == target && !x.inv.Created.Before(since) && x.covers(item) {
				return x.inv
			}
		}
		return nil
	}
	var b Billing
	for _, inv := range sorted {
		target := inv.Target()
		for _, x := range inv.Items {
			b.Billed++
			var items []string // the wanted items x covers
			switch {
			case strings.HasPrefix(x, "#"):
				items = []string{asciiLower(x)}
			case strings.HasSuffix(x, "*"):
				for it := range wanted[target] {
					if Covers(x, it) {
						items = append(items, it)
					}
				}
			default:
				items = []string{x}
			}
			needed := false
			var latest time.Time // the latest send of a message wanting it, covered before
			var by *Invalidation // what covered that message
			for _, it := range items {
				for _, s := range wanted[target][it] {
					if !s.Before(inv.Created) {
						continue
					}
					j := coveredBefore(target, it, s, inv.Created)
					if j == nil {
						needed = true
						break
					}
					if s.After(latest) {
						latest, by = s, j
					}
				}
				if needed {
					break
				}
			}
			if !needed {
				b.Rebilled++
				if len(b.Examples) < 10 {
					ex := fmt.Sprintf("%s (%s created %s", x, inv.ID, inv.Created.Format(stamp))
					if by != nil {
						ex += fmt.Sprintf(", last wanted by a message sent %s, covered by %s created %s",
							latest.Format(stamp), by.ID, by.Created.Format(stamp))
					}
					b.Examples = append(b.Examples, ex+")")
				}
			}
		}
	}
	return b
}
