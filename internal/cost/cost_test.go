package cost

import (
	"math"
	"sync"
	"testing"
	"time"
)

// clock is a settable fake clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// step is one thing done to the meter: book paths, or move the clock.
type step struct {
	record, seed string // distribution to book for
	paths        int
	at           time.Time // if set, the clock moves here first
}

func rec(dist string, n int) step  { return step{record: dist, paths: n} }
func seed(dist string, n int) step { return step{seed: dist, paths: n} }
func at(t time.Time) step          { return step{at: t} }

type distWant struct {
	paths int
	usd   float64
	state State
}

var (
	jan = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	// lastSecond is the last second of January, UTC.
	lastSecond = time.Date(2026, 1, 31, 23, 59, 59, 0, time.UTC)
)

func TestMeter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		o          Options
		steps      []step
		want       map[string]distWant
		totalPaths int
		totalUSD   float64
	}{
		{
			name:       "inside the free tier",
			steps:      []step{rec("A", 400), rec("B", 500)},
			want:       map[string]distWant{"A": {400, 0, Under}, "B": {500, 0, Under}, "C": {0, 0, Under}},
			totalPaths: 900,
		},
		{
			name:       "one request straddles the free tier",
			steps:      []step{rec("A", 1200)},
			want:       map[string]distWant{"A": {1200, 1.00, Under}},
			totalPaths: 1200, totalUSD: 1.00,
		},
		{
			name:  "free tier goes to the paths used first",
			steps: []step{rec("A", 800), rec("B", 300), rec("A", 100)},
			want: map[string]distWant{
				"A": {900, 0.50, Under}, // 800 free, 100 billed
				"B": {300, 0.50, Under}, // 200 free, 100 billed
			},
			totalPaths: 1200, totalUSD: 1.00,
		},
		{
			name:  "seeded paths take the free tier before recorded ones",
			steps: []step{rec("A", 600), seed("B", 700), rec("A", 50)},
			want: map[string]distWant{
				"A": {650, 1.75, Under}, // 300 free, 350 billed
				"B": {700, 0, Under},
			},
			totalPaths: 1350, totalUSD: 1.75,
		},
		{
			name:  "seed beyond the free tier",
			steps: []step{seed("A", 1500), rec("B", 10)},
			want: map[string]distWant{
				"A": {1500, 2.50, Under},
				"B": {10, 0.05, Under},
			},
			totalPaths: 1510, totalUSD: 2.55,
		},
		{
			name:       "month rollover at the UTC boundary",
			steps:      []step{at(lastSecond), rec("A", 1500), at(lastSecond.Add(time.Second)), rec("A", 1000)},
			want:       map[string]distWant{"A": {1000, 0, Under}},
			totalPaths: 1000,
		},
		{
			name: "the month is UTC whatever the clock's zone",
			// 01:00 on 1 February in UTC+2 is still January in UTC.
			steps: []step{rec("A", 1500),
				at(time.Date(2026, 2, 1, 1, 0, 0, 0, time.FixedZone("EET", 2*3600))), rec("A", 10)},
			want:       map[string]distWant{"A": {1510, 2.55, Under}},
			totalPaths: 1510, totalUSD: 2.55,
		},
		{
			name:       "rollover clears seeds too",
			steps:      []step{at(lastSecond), seed("A", 5000), at(lastSecond.Add(time.Hour))},
			want:       map[string]distWant{"A": {0, 0, Under}},
			totalPaths: 0,
		},
		{
			name:  "distribution budget: near, then over",
			o:     Options{DistributionBudgetUSD: map[string]float64{"A": 1.00}, MonthlyBudgetUSD: 100},
			steps: []step{rec("A", 1000), rec("A", 160)},
			want: map[string]distWant{
				"A": {1160, 0.80, Near},
				"B": {0, 0, Under}, // no budget of its own, overall far away
			},
			totalPaths: 1160, totalUSD: 0.80,
		},
		{
			name:       "distribution budget reached is over",
			o:          Options{DistributionBudgetUSD: map[string]float64{"A": 1.00}},
			steps:      []step{rec("A", 1200)},
			want:       map[string]distWant{"A": {1200, 1.00, Over}, "B": {0, 0, Under}},
			totalPaths: 1200, totalUSD: 1.00,
		},
		{
			name:  "overall budget applies to every distribution",
			o:     Options{MonthlyBudgetUSD: 2.00, DistributionBudgetUSD: map[string]float64{"B": 10}},
			steps: []step{rec("A", 1000), rec("B", 320)},
			want: map[string]distWant{
				"A": {1000, 0, Near}, // its own share is free, the account is at 80%
				"B": {320, 1.60, Near},
			},
			totalPaths: 1320, totalUSD: 1.60,
		},
		{
			name:       "below the near fraction",
			o:          Options{MonthlyBudgetUSD: 2.00, NearFraction: 0.9},
			steps:      []step{rec("A", 1350)},
			want:       map[string]distWant{"A": {1350, 1.75, Under}},
			totalPaths: 1350, totalUSD: 1.75,
		},
		{
			name:       "custom free tier and price",
			o:          Options{FreePaths: 10, PricePerPath: 0.01},
			steps:      []step{rec("A", 5), rec("B", 25)},
			want:       map[string]distWant{"A": {5, 0, Under}, "B": {25, 0.20, Under}},
			totalPaths: 30, totalUSD: 0.20,
		},
		{
			name:       "non-positive counts are ignored",
			steps:      []step{rec("A", 0), rec("A", -5), seed("A", -1)},
			want:       map[string]distWant{"A": {0, 0, Under}},
			totalPaths: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{now: jan}
			tc.o.Now = clk.Now
			m := New(tc.o)
			for _, s := range tc.steps {
				switch {
				case !s.at.IsZero():
					clk.Set(s.at)
				case s.record != "":
					m.Record(s.record, s.paths)
				case s.seed != "":
					m.Seed(s.seed, s.paths)
				}
			}
			for dist, w := range tc.want {
				if got := m.Paths(dist); got != w.paths {
					t.Errorf("Paths(%s) = %d, want %d", dist, got, w.paths)
				}
				if got := m.EstimatedUSD(dist); !near(got, w.usd) {
					t.Errorf("EstimatedUSD(%s) = %v, want %v", dist, got, w.usd)
				}
				if got := m.State(dist); got != w.state {
					t.Errorf("State(%s) = %v, want %v", dist, got, w.state)
				}
			}
			if got := m.TotalPaths(); got != tc.totalPaths {
				t.Errorf("TotalPaths = %d, want %d", got, tc.totalPaths)
			}
			if got := m.TotalUSD(); !near(got, tc.totalUSD) {
				t.Errorf("TotalUSD = %v, want %v", got, tc.totalUSD)
			}
			var sum float64
			for dist := range m.paths {
				sum += m.EstimatedUSD(dist)
			}
			if !near(sum, m.TotalUSD()) {
				t.Errorf("distribution shares add up to %v, total is %v", sum, m.TotalUSD())
			}
		})
	}
}

func TestWouldExceed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     Options
		steps []step
		dist  string
		paths int
		want  bool
	}{
		{"no budget", Options{}, []step{rec("A", 5000)}, "A", 1_000_000, false},
		{"free paths cost nothing", Options{DistributionBudgetUSD: map[string]float64{"A": 0.001}}, nil, "A", 1000, false},
		{"first billed path", Options{DistributionBudgetUSD: map[string]float64{"A": 0.001}}, nil, "A", 1001, true},
		{"up to the budget exactly", Options{DistributionBudgetUSD: map[string]float64{"A": 1.00}}, []step{rec("A", 1100)}, "A", 100, false},
		{"one path past it", Options{DistributionBudgetUSD: map[string]float64{"A": 1.00}}, []step{rec("A", 1100)}, "A", 101, true},
		{"other distribution's budget does not apply", Options{DistributionBudgetUSD: map[string]float64{"A": 1.00}}, []step{rec("A", 1200)}, "B", 500, false},
		{"overall budget applies to all", Options{MonthlyBudgetUSD: 1.00}, []step{rec("A", 1150)}, "B", 51, true},
		{"overall budget not yet", Options{MonthlyBudgetUSD: 1.00}, []step{rec("A", 1150)}, "B", 50, false},
		{"straddling the free tier", Options{MonthlyBudgetUSD: 0.50}, []step{rec("A", 900)}, "A", 200, false},
		{"straddling the free tier, past", Options{MonthlyBudgetUSD: 0.50}, []step{rec("A", 900)}, "A", 201, true},
		{"already over, nothing more", Options{MonthlyBudgetUSD: 0.50}, []step{rec("A", 2000)}, "A", 0, false},
		{"new month starts fresh", Options{MonthlyBudgetUSD: 0.50},
			[]step{at(lastSecond), rec("A", 2000), at(lastSecond.Add(time.Second))}, "A", 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{now: jan}
			tc.o.Now = clk.Now
			m := New(tc.o)
			for _, s := range tc.steps {
				if !s.at.IsZero() {
					clk.Set(s.at)
					continue
				}
				m.Record(s.record, s.paths)
			}
			if got := m.WouldExceed(tc.dist, tc.paths); got != tc.want {
				t.Fatalf("WouldExceed(%s, %d) = %v, want %v (spent %v of the account, %v of %s)",
					tc.dist, tc.paths, got, tc.want, m.TotalUSD(), m.EstimatedUSD(tc.dist), tc.dist)
			}
		})
	}
}

func TestDefaultsAndMonth(t *testing.T) {
	m := New(Options{Now: func() time.Time { return jan }})
	if m.o.FreePaths != 1000 || m.o.PricePerPath != 0.005 || m.o.NearFraction != 0.8 {
		t.Fatalf("defaults = %+v", m.o)
	}
	if got, want := m.Month(), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("Month = %v, want %v", got, want)
	}
	for s, want := range map[State]string{Under: "under", Near: "near", Over: "over"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
}

func TestConcurrentRecords(t *testing.T) {
	m := New(Options{Now: func() time.Time { return jan }})
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			dist := []string{"A", "B"}[i%2]
			for range 100 {
				m.Record(dist, 1)
				m.State(dist)
				m.WouldExceed(dist, 10)
			}
		})
	}
	wg.Wait()
	if m.TotalPaths() != 5000 || !near(m.TotalUSD(), 20) || !near(m.EstimatedUSD("A")+m.EstimatedUSD("B"), 20) {
		t.Fatalf("total %d paths, $%v; A $%v, B $%v", m.TotalPaths(), m.TotalUSD(), m.EstimatedUSD("A"), m.EstimatedUSD("B"))
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
