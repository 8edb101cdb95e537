// Package cost meters the invalidation paths CloudFront bills and checks
// them against monthly budgets.
//
// CloudFront pricing: the first 1,000 invalidation paths a month are free
// per account; each path after that costs $0.005; a wildcard path counts as
// one path, however many objects it drops. A month is a calendar month in
// UTC.
//
// The figures are an estimate. The meter starts at zero when the process
// starts: the worker does not know what this account was billed earlier in
// the month — by an earlier run, another replica, a person or another tool —
// unless that is handed to it with Seed. A Meter per process also cannot see
// what other replicas record.
//
// The free tier belongs to the account, so a distribution's share of the
// bill is attributed in order of use: the paths seeded first, then those
// recorded, take the free 1,000 until they are gone; every later path is
// billed to the distribution that used it.
package cost

import (
	"slices"
	"sync"
	"time"
)

// Defaults for Options (CloudFront pricing, "Invalidation requests").
const (
	DefaultFreePaths    = 1000
	DefaultPricePerPath = 0.005
	DefaultNearFraction = 0.8
)

// Options configures a Meter; zero values take the defaults.
type Options struct {
	// FreePaths is the free tier per account and calendar month (UTC): 1,000.
	// 0 means that default; a negative value means no free tier.
	FreePaths int
	// PricePerPath is the price of each path beyond it in USD: 0.005.
	PricePerPath float64
	// MonthlyBudgetUSD is the budget for the whole account; 0 means none.
	MonthlyBudgetUSD float64
	// DistributionBudgetUSD holds budgets per distribution id; absent or 0
	// means none.
	DistributionBudgetUSD map[string]float64
	// NearFraction: a budget is "near" from this share of it on: 0.8.
	NearFraction float64
	// Now is the clock (time.Now); it decides the month.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	switch {
	case o.FreePaths == 0:
		o.FreePaths = DefaultFreePaths
	case o.FreePaths < 0: // no free tier (already used up by other tooling)
		o.FreePaths = 0
	}
	if o.PricePerPath <= 0 {
		o.PricePerPath = DefaultPricePerPath
	}
	if o.NearFraction <= 0 || o.NearFraction > 1 {
		o.NearFraction = DefaultNearFraction
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// State is where spending stands against a budget.
type State int

const (
	Under State = iota // below NearFraction of every budget that applies
	Near               // at or above NearFraction of a budget
	Over               // a budget is spent: reached or passed
)

func (s State) String() string {
	switch s {
	case Under:
		return "under"
	case Near:
		return "near"
	case Over:
		return "over"
	}
	return "unknown"
}

// epsilon absorbs float rounding when dollars are compared with a budget
// (a thousandth of a cent).
const epsilon = 1e-5

// Meter counts billed paths per distribution for the current month. It is
// safe for concurrent use.
type Meter struct {
	o Options

	mu    sync.Mutex // guards everything below
	month time.Time  // first instant of the month counted, UTC
	paths map[string]int
	total int
	// free is each distribution's share of the free tier. seeds and early
	// keep, in order, the uses that may hold a share: every Seed, and each
	// Record made while the free tier was not used up (at most FreePaths of
	// them), so a later Seed can move the free tier to the paths used first.
	free  map[string]int
	seeds []use
	early []use
}

type use struct {
	dist  string
	paths int
}

// New returns a Meter for o, with its zero values defaulted.
func New(o Options) *Meter {
	m := &Meter{o: o.withDefaults()}
	m.reset(monthOf(m.o.Now()))
	return m
}

func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func (m *Meter) reset(month time.Time) {
	m.month = month
	m.paths = map[string]int{}
	m.free = map[string]int{}
	m.total = 0
	m.seeds = nil
	m.early = nil
}

// roll starts a new month when the clock has left the one counted; callers
// hold m.mu.
func (m *Meter) roll() {
	if month := monthOf(m.o.Now()); !month.Equal(m.month) {
		m.reset(month)
	}
}

// Record books paths billed for dist now (a wildcard is one path).
func (m *Meter) Record(dist string, paths int) {
	if paths <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll()
	if left := m.o.FreePaths - m.freeUsed(); left > 0 {
		m.free[dist] += min(paths, left)
		m.early = append(m.early, use{dist, paths})
	}
	m.paths[dist] += paths
	m.total += paths
}

// Seed books paths billed for dist earlier this month, before the process
// started (from the billing console, Cost Explorer or a previous run's
// state). Seeded paths count as used before anything recorded, so they take
// the free tier first. Seed is meant for start-up; a later call is added to
// the month as well.
func (m *Meter) Seed(dist string, paths int) {
	if paths <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll()
	m.seeds = append(m.seeds, use{dist, paths})
	m.paths[dist] += paths
	m.total += paths
	m.attribute()
}

// attribute shares the free tier out again, in order of use; callers hold
// m.mu.
func (m *Meter) attribute() {
	clear(m.free)
	left := m.o.FreePaths
	for _, u := range slices.Concat(m.seeds, m.early) {
		if left == 0 {
			break
		}
		n := min(u.paths, left)
		m.free[u.dist] += n
		left -= n
	}
}

func (m *Meter) freeUsed() int { return min(m.total, m.o.FreePaths) }

// Paths returns the paths booked for dist this month.
func (m *Meter) Paths(dist string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll()
	return m.paths[dist]
}

// TotalPaths returns the paths booked for the account this month.
func (m *Meter) TotalPaths() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll()
	return m.total
}

// EstimatedUSD returns dist's share of this month's bill: its paths beyond
// its share of the free tier, at PricePerPath.
func (m *Meter) EstimatedUSD(dist string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll()
	return m.usd(m.paths[dist] - m.free[dist])
}

// TotalUSD returns this month's estimated bill for the account.
func (m *Meter) TotalUSD() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll()
	return m.usd(m.total - m.freeUsed())
}

func (m *Meter) usd(billed int) float64 { return float64(billed) * m.o.PricePerPath }

// State returns the worse of dist's own budget state and the account's.
func (m *Meter) State(dist string) State {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll()
	own := m.state(m.usd(m.paths[dist]-m.free[dist]), m.o.DistributionBudgetUSD[dist])
	all := m.state(m.usd(m.total-m.freeUsed()), m.o.MonthlyBudgetUSD)
	return max(own, all)
}

func (m *Meter) state(spent, budget float64) State {
	switch {
	case budget <= 0:
		return Under
	case spent >= budget-epsilon:
		return Over
	case spent >= m.o.NearFraction*budget-epsilon:
		return Near
	}
	return Under
}

// WouldExceed reports whether billing paths more for dist now would take
// dist's budget or the account's past its amount. Paths still inside the
// free tier cost nothing.
func (m *Meter) WouldExceed(dist string, paths int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll()
	if paths <= 0 {
		return false
	}
	billed := paths - min(paths, m.o.FreePaths-m.freeUsed())
	if billed == 0 {
		return false
	}
	exceeds := func(spent, budget float64) bool {
		return budget > 0 && spent > budget+epsilon
	}
	own := m.usd(m.paths[dist] - m.free[dist] + billed)
	all := m.usd(m.total - m.freeUsed() + billed)
	return exceeds(own, m.o.DistributionBudgetUSD[dist]) || exceeds(all, m.o.MonthlyBudgetUSD)
}

// Month returns the first instant (UTC) of the month being counted.
func (m *Meter) Month() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll()
	return m.month
}
