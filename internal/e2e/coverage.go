package e2e

import (
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
