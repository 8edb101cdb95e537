package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/coalesce"
	"github.com/acme/cf-invalidator/internal/collapse"
	"github.com/acme/cf-invalidator/internal/cost"
)

var noBudget = cost.TargetEstimate{Remaining: -1}

func request(n int, dirs ...string) coalesce.Request {
	var items []string
	var owners [][]string
	for i := range n {
		items = append(items, fmt.Sprintf("%s%d.html", dirs[i%len(dirs)], i))
		owners = append(owners, []string{fmt.Sprintf("m%d", i)})
	}
	return coalesce.Plan("E1", items, owners, 1<<20, 1<<20)[0]
}

func full() Room { return Room{Files: 2900, Wildcards: 13} }

func TestFitsGoesAsIs(t *testing.T) {
	g := New(Options{})
	r := request(10, "/a/")
	d := g.Decide("E1", Input{Request: r, Room: full(), Budget: noBudget})
	if !slices.Equal(d.Submit.Paths, r.Paths) || d.Held != "" || d.Collapsed {
		t.Fatalf("decision %+v", d)
	}
}

func TestPausedHoldsAll(t *testing.T) {
	d := New(Options{}).Decide("E1", Input{Request: request(3, "/a/"), Room: full(), Budget: noBudget, Paused: true})
	if len(d.Submit.Paths) != 0 || d.Held != HeldPaused || d.HeldPaths != 3 {
		t.Fatalf("decision %+v", d)
	}
}

func TestCollapseAutoAndFloor(t *testing.T) {
	g := New(Options{Targets: map[string]Target{"E1": {Collapse: collapse.Policy{MinDepth: 1}}}})
	r := request(100, "/a/", "/b/")
	d := g.Decide("E1", Input{Request: r, Room: Room{Files: 10, Wildcards: 2}, Budget: noBudget})
	if !d.Collapsed || !slices.Equal(d.Submit.Paths, []string{"/a/*", "/b/*"}) {
		t.Fatalf("decision %+v", d.Submit.Paths)
	}
	if !slices.Equal(d.Submit.Messages, r.Messages) {
		t.Fatalf("the reduction serves %d messages, want all %d", len(d.Submit.Messages), len(r.Messages))
	}
	// One wildcard slot: /* would fit, but the floor forbids it.
	d = g.Decide("E1", Input{Request: r, Room: Room{Files: 10, Wildcards: 1}, Budget: noBudget})
	if slices.Contains(d.Submit.Paths, "/*") || d.Held != HeldQuota || len(d.Submit.Paths) == 0 {
		t.Fatalf("decision %+v", d)
	}
}

func TestMaxHoldForcesButNeverCrossesFloor(t *testing.T) {
	never := Target{Collapse: collapse.Policy{Never: true, MinDepth: 1}, MaxHold: time.Hour}
	g := New(Options{Targets: map[string]Target{"E1": never}})
	r := request(100, "/a/", "/b/")
	room := Room{Files: 10, Wildcards: 2}
	// Not waited long: never means no wildcards; what fits goes.
	d := g.Decide("E1", Input{Request: r, Room: room, Budget: noBudget, Waited: time.Minute})
	if d.Collapsed || d.Submit.Wildcards() != 0 || d.Held != HeldQuota || d.HeldPaths != 90 {
		t.Fatalf("fresh: %+v", d)
	}
	// Past max_hold: forced despite never.
	d = g.Decide("E1", Input{Request: r, Room: room, Budget: noBudget, Waited: 2 * time.Hour})
	if !d.Forced || !slices.Equal(d.Submit.Paths, []string{"/a/*", "/b/*"}) || d.Held != "" {
		t.Fatalf("stale: %+v", d)
	}
	// Past max_hold with one wildcard: only /* would fit; the floor holds.
	d = g.Decide("E1", Input{Request: r, Room: Room{Files: 10, Wildcards: 1}, Budget: noBudget, Waited: 2 * time.Hour})
	if !d.FloorHit || d.Held != HeldFloor || slices.Contains(d.Submit.Paths, "/*") {
		t.Fatalf("stale at the floor: %+v", d)
	}
	for _, p := range d.Submit.Paths {
		if strings.HasSuffix(p, "*") && strings.Count(p, "/") < 2 {
			t.Fatalf("wildcard %s crosses the floor", p)
		}
	}
}

func TestBudgetLimitsSpending(t *testing.T) {
	g := New(Options{PauseWhenOverBudget: true})
	r := request(50, "/a/")
	// 20 paths left under collapse never: 20 go, 30 wait.
	gn := New(Options{PauseWhenOverBudget: true, Default: Target{Collapse: collapse.Policy{Never: true}}})
	d := gn.Decide("E1", Input{Request: r, Room: full(), Budget: cost.TargetEstimate{State: cost.Under, Remaining: 20}})
	if len(d.Submit.Paths) != 20 || d.Held != HeldOverBudget || d.HeldPaths != 30 {
		t.Fatalf("20 paths left: submitted %d, held %q %d", len(d.Submit.Paths), d.Held, d.HeldPaths)
	}
	// Near the budget with collapse auto: one wildcard covers them all.
	d = g.Decide("E1", Input{Request: r, Room: full(), Budget: cost.TargetEstimate{State: cost.Near, Remaining: 20}})
	if !slices.Equal(d.Submit.Paths, []string{"/a/*"}) || d.Held != "" {
		t.Fatalf("near the budget: %+v", d)
	}
	d = g.Decide("E1", Input{Request: r, Room: full(), Budget: cost.TargetEstimate{State: cost.Over, Remaining: 0}})
	if len(d.Submit.Paths) != 0 || d.Held != HeldOverBudget {
		t.Fatalf("over budget: %+v", d)
	}
	d = g.Decide("E1", Input{Request: r, Room: full(), Budget: cost.TargetEstimate{State: cost.Unknown, Remaining: 0}})
	if len(d.Submit.Paths) != 0 || d.Held != HeldBudgetUnknown {
		t.Fatalf("unknown month: %+v", d)
	}
	// Without pause_when_over_budget a budget only collapses harder.
	d = New(Options{}).Decide("E1", Input{Request: r, Room: full(), Budget: cost.TargetEstimate{State: cost.Over, Remaining: 0}})
	if d.Submit.Files() > nearBudgetFiles || !d.Collapsed {
		t.Fatalf("over budget, not pausing: %+v", d.Submit.Paths)
	}
}

func TestReasonsAreWords(t *testing.T) {
	for _, c := range []string{HeldPaused, HeldOverBudget, HeldBudgetUnknown, HeldQuota, HeldFloor} {
		if Reason(c) == c || Reason(c) == "" {
			t.Errorf("no words for %s", c)
		}
	}
}
