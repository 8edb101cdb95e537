// Package cost turns the month's billed invalidation paths into an
// estimate in USD and a verdict per monthly budget.
//
// CloudFront pricing: the first 1,000 invalidation paths a month are free
// per account; each path after that costs $0.005; a wildcard path counts as
// one path, however many objects it drops; a cache tag is one path too. A
// month is a calendar month in UTC.
//
// The paths come from CloudFront's own history (internal/cfview): every
// invalidation of the allow-listed distributions created this month,
// whoever made it, because that is what AWS bills. So the figure survives
// restarts and is the same on every replica. Two limits: the free tier
// belongs to the account, and the worker sees only its own distributions —
// invalidations of other distributions use the free tier too (lower
// free_paths_per_month to what is left for the worker). The estimate of
// one distribution is its share of the account's bill, pro rata.
//
// While a distribution's history is not fully known (at start, before every
// invalidation of the month was fetched), the paths are a range: the known
// ones, up to each unknown invalidation counted as the largest CloudFront
// accepts. Budgets are judged on the top of the range, so nothing is spent
// that could cross one; before the history is listed at all there is no
// top, and a budget allows no spending (State Unknown).
package cost

import (
	"math"
	"slices"
)

// Defaults for Options (CloudFront pricing, "Invalidation requests").
const (
	DefaultFreePaths    = 1000
	DefaultPricePerPath = 0.005
	DefaultNearFraction = 0.8
)

// Options configures the estimate; zero values take the defaults.
type Options struct {
	// FreePaths is the free tier per account and calendar month (UTC): 1,000.
	// 0 means that default; a negative value means no free tier.
	FreePaths int
	// PricePerPath is the price of each path beyond it in USD: 0.005.
	PricePerPath float64
	// MonthlyBudgetUSD is the budget for the account's paths the worker
	// sees; 0 means none.
	MonthlyBudgetUSD float64
	// DistributionBudgetUSD holds budgets per distribution; absent or 0
	// means none.
	DistributionBudgetUSD map[string]float64
	// NearFraction: a budget is "near" from this share of it on: 0.8.
	NearFraction float64
}

func (o Options) withDefaults() Options {
	switch {
	case o.FreePaths == 0:
		o.FreePaths = DefaultFreePaths
	case o.FreePaths < 0:
		o.FreePaths = 0
	}
	if o.PricePerPath <= 0 {
		o.PricePerPath = DefaultPricePerPath
	}
	if o.NearFraction <= 0 || o.NearFraction > 1 {
		o.NearFraction = DefaultNearFraction
	}
	return o
}

// State is where spending stands against the budgets that apply.
type State int

const (
	Under   State = iota // below NearFraction of every budget that applies
	Near                 // at or above NearFraction of a budget
	Over                 // a budget is spent: reached or passed
	Unknown              // a budget applies and the month's paths are not known yet
)

func (s State) String() string {
	switch s {
	case Under:
		return "under"
	case Near:
		return "near"
	case Over:
		return "over"
	case Unknown:
		return "unknown"
	}
	return "invalid"
}

// Usage is one distribution's month so far.
type Usage struct {
	Target string
	// Paths billed by the invalidations whose size is known.
	Paths int
	// Upper is the most it can be (Paths plus each unknown invalidation at
	// its largest); Bounded is false when there is no such bound yet.
	Upper   int
	Bounded bool
}

// Estimate is the verdict for the account and each distribution.
type Estimate struct {
	// Paths and USD are the known figures (the bottom of the range).
	Paths int
	USD   float64
	// Exact: every distribution's month is known to the path.
	Exact   bool
	Targets map[string]TargetEstimate
}

// TargetEstimate is one distribution's part.
type TargetEstimate struct {
	Paths int
	USD   float64 // its pro-rata share of the account's bill
	Exact bool
	// State is the worse of its own budget's and the account's.
	State State
	// Remaining is how many more paths may be billed for it without
	// crossing a budget, judged on the top of the range; -1 when no budget
	// applies.
	Remaining int
}

// epsilon absorbs float rounding when dollars are compared with a budget
// (a thousandth of a cent).
const epsilon = 1e-5

// Assess estimates the month from usages (one per distribution).
func (o Options) Assess(usages []Usage) Estimate {
	o = o.withDefaults()
	e := Estimate{Exact: true, Targets: make(map[string]TargetEstimate, len(usages))}
	upper, bounded := 0, true
	for _, u := range usages {
		e.Paths += u.Paths
		upper += u.Upper
		bounded = bounded && u.Bounded
		e.Exact = e.Exact && u.Bounded && u.Upper == u.Paths
	}
	billed := max(0, e.Paths-o.FreePaths)
	e.USD = o.usd(billed)
	accountRemaining := -1
	accountState := Under
	if b := o.MonthlyBudgetUSD; b > 0 {
		if !bounded {
			accountState, accountRemaining = Unknown, 0
		} else {
			allowed := o.paths(b) + o.FreePaths // paths the budget pays for, plus the free ones
			accountRemaining = max(0, allowed-upper)
			accountState = o.state(o.usd(max(0, upper-o.FreePaths)), b)
		}
	}
	for _, u := range usages {
		te := TargetEstimate{Paths: u.Paths, Exact: u.Bounded && u.Upper == u.Paths, State: accountState, Remaining: accountRemaining}
		if e.Paths > 0 {
			te.USD = e.USD * float64(u.Paths) / float64(e.Paths)
		}
		if b := o.DistributionBudgetUSD[u.Target]; b > 0 {
			own, rem := Unknown, 0
			if u.Bounded {
				// The top of its range, every further path at full price:
				// whether the free tier is left is the account's business.
				spent := 0.0
				if upper > 0 {
					spent = o.usd(max(0, upper-o.FreePaths)) * float64(u.Upper) / float64(upper)
				}
				own = o.state(spent, b)
				rem = max(0, o.paths(b-spent))
			}
			te.State = max(te.State, own)
			if te.Remaining < 0 || rem < te.Remaining {
				te.Remaining = rem
			}
		}
		e.Targets[u.Target] = te
	}
	return e
}

func (o Options) usd(paths int) float64 { return float64(paths) * o.PricePerPath }

// paths is how many paths usd buys (rounded down).
func (o Options) paths(usd float64) int {
	if usd <= 0 {
		return 0
	}
	return int(math.Floor(usd/o.PricePerPath + epsilon))
}

func (o Options) state(spent, budget float64) State {
	switch {
	case budget <= 0:
		return Under
	case spent >= budget-epsilon:
		return Over
	case spent >= o.NearFraction*budget-epsilon:
		return Near
	}
	return Under
}

// Budgets returns the distributions with a budget of their own, sorted.
func (o Options) Budgets() []string {
	var out []string
	for id, b := range o.DistributionBudgetUSD {
		if b > 0 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
