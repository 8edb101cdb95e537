package cost

import (
	"math"
	"testing"
)

func exact(target string, paths int) Usage {
	return Usage{Target: target, Paths: paths, Upper: paths, Bounded: true}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestFreeTierThenPricePerPath(t *testing.T) {
	e := Options{}.Assess([]Usage{exact("E1", 900), exact("E2", 300)})
	if e.Paths != 1200 || !near(e.USD, 200*0.005) || !e.Exact {
		t.Fatalf("estimate %+v, want 1,200 paths and $1.00 (200 beyond the free 1,000)", e)
	}
	// Pro rata: E1 used 3/4 of the paths, so 3/4 of the bill.
	if got := e.Targets["E1"].USD; !near(got, 0.75) {
		t.Fatalf("E1's share %v, want 0.75", got)
	}
	if e.Targets["E1"].Remaining != -1 || e.Targets["E1"].State != Under {
		t.Fatalf("no budget: %+v", e.Targets["E1"])
	}
}

func TestNoFreeTier(t *testing.T) {
	e := Options{FreePaths: -1}.Assess([]Usage{exact("E1", 10)})
	if !near(e.USD, 0.05) {
		t.Fatalf("USD %v, want 0.05", e.USD)
	}
}

func TestAccountBudgetRemainingAndStates(t *testing.T) {
	o := Options{FreePaths: -1, MonthlyBudgetUSD: 1} // 200 paths
	for _, tt := range []struct {
		paths     int
		state     State
		remaining int
	}{
		{0, Under, 200},
		{150, Under, 50},
		{160, Near, 40},
		{199, Near, 1},
		{200, Over, 0},
		{260, Over, 0},
	} {
		got := o.Assess([]Usage{exact("E1", tt.paths)}).Targets["E1"]
		if got.State != tt.state || got.Remaining != tt.remaining {
			t.Errorf("%d paths: state %v remaining %d, want %v %d", tt.paths, got.State, got.Remaining, tt.state, tt.remaining)
		}
	}
	// With the free tier the budget pays for 200 more than the free 1,000.
	if got := (Options{MonthlyBudgetUSD: 1}).Assess([]Usage{exact("E1", 1100)}).Targets["E1"]; got.Remaining != 100 {
		t.Errorf("free tier: remaining %d, want 100", got.Remaining)
	}
}

func TestUnknownMonthAllowsNothingUnderABudget(t *testing.T) {
	o := Options{FreePaths: -1, MonthlyBudgetUSD: 1}
	got := o.Assess([]Usage{{Target: "E1", Paths: 10}}).Targets["E1"]
	if got.State != Unknown || got.Remaining != 0 {
		t.Fatalf("unbounded: %+v, want Unknown and 0 remaining", got)
	}
	// Bounded but not exact: judged on the top of the range.
	got = o.Assess([]Usage{{Target: "E1", Paths: 10, Upper: 150, Bounded: true}}).Targets["E1"]
	if got.State != Under || got.Remaining != 50 || got.Exact {
		t.Fatalf("range 10..150: %+v, want 50 remaining", got)
	}
	// Without a budget an unknown month blocks nothing.
	if got := (Options{}).Assess([]Usage{{Target: "E1"}}).Targets["E1"]; got.Remaining != -1 || got.State != Under {
		t.Fatalf("no budget: %+v", got)
	}
}

func TestDistributionBudget(t *testing.T) {
	o := Options{FreePaths: -1, DistributionBudgetUSD: map[string]float64{"E1": 0.5}} // 100 paths
	e := o.Assess([]Usage{exact("E1", 80), exact("E2", 80)})
	if got := e.Targets["E1"]; got.State != Near || got.Remaining != 20 {
		t.Fatalf("E1 %+v, want near with 20 left", got)
	}
	if got := e.Targets["E2"]; got.State != Under || got.Remaining != -1 {
		t.Fatalf("E2 %+v, want no budget", got)
	}
	// The worse of the two budgets wins.
	o.MonthlyBudgetUSD = 0.85 // 170 paths: 10 left for the account
	if got := o.Assess([]Usage{exact("E1", 80), exact("E2", 80)}).Targets["E1"]; got.Remaining != 10 {
		t.Fatalf("E1 remaining %d, want the account's 10", got.Remaining)
	}
}
