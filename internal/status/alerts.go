package status

import (
	"fmt"
	"slices"
	"time"
)

// Thresholds say when the console raises an alert. The zero value of a
// field means its default.
type Thresholds struct {
	// LongWait: a distribution's oldest held message has waited more than
	// this many windows (default 3; a warning), or CritWait windows (default
	// 30; critical). Without a known window, DefaultWindow is assumed.
	LongWait float64
	CritWait float64
	// PausedLong: a pause older than this is a warning (default 15m).
	PausedLong time.Duration
	// RecentError: an error class seen within this is a warning (default 5m).
	RecentError time.Duration
}

// DefaultWindow stands in for an unknown window: the worker's default
// (config window: 10s).
const DefaultWindow = 10 * time.Second

func (t Thresholds) withDefaults() Thresholds {
	if t.LongWait <= 0 {
		t.LongWait = 3
	}
	if t.CritWait <= 0 {
		t.CritWait = 30
	}
	if t.PausedLong <= 0 {
		t.PausedLong = 15 * time.Minute
	}
	if t.RecentError <= 0 {
		t.RecentError = 5 * time.Minute
	}
	return t
}

// Alert levels, worst first.
const (
	Crit = "crit"
	Warn = "warn"
	Info = "info"
)

var levelRank = map[string]int{Crit: 0, Warn: 1, Info: 2}

// Alerts computes the alerts of s, worst first, then in the order of the
// snapshot (distributions, queues, errors).
func Alerts(s Snapshot, th Thresholds) []Alert {
	th = th.withDefaults()
	window := DefaultWindow
	if s.Window != nil && *s.Window > 0 {
		window = time.Duration(*s.Window)
	}
	var out []Alert
	add := func(level, code, target, format string, args ...any) {
		out = append(out, Alert{Level: level, Code: code, Target: target, Text: fmt.Sprintf(format, args...)})
	}
	if s.Draining {
		add(Info, "draining", "", "shutting down: open batches are flushed, then what is still held is released")
	} else if !s.Ready {
		add(Warn, "not_ready", "", "not ready: no successful ReceiveMessage yet")
	}
	for _, d := range s.Distributions {
		if o := d.Batch.Oldest; o != nil {
			age := time.Duration(*o)
			windows := float64(age) / float64(window)
			why := "nothing says why"
			if len(d.Waiting) > 0 {
				why = d.Waiting[0].Text
			}
			switch {
			case d.MaxHold != nil && *d.MaxHold > 0 && age >= time.Duration(*d.MaxHold)*3/4:
				add(Crit, "near_max_hold", d.ID, "oldest held message has waited %s, near max_hold %s: %s", Age(age), AgeOf(d.MaxHold), why)
			case windows > th.CritWait:
				add(Crit, "long_wait", d.ID, "oldest held message has waited %s (%.0f windows of %s): %s", Age(age), windows, Age(window), why)
			case windows > th.LongWait:
				add(Warn, "long_wait", d.ID, "oldest held message has waited %s (%.0f windows of %s): %s", Age(age), windows, Age(window), why)
			}
		}
		if d.View.Error != "" {
			add(Crit, "view_error", d.ID, "CloudFront view failing (last success %s ago): %s", AgeOf(d.View.Age), d.View.Error)
		}
		if p := d.Paused; p != nil && !p.At.IsZero() && s.At.Sub(p.At) > th.PausedLong {
			add(Warn, "paused_long", d.ID, "paused for %s by %s: %s", Age(s.At.Sub(p.At)), orDash(p.By), orDash(p.Reason))
		}
		switch d.Spend.State {
		case "over":
			add(Crit, "over_budget", d.ID, "estimated %s this month, over the budget of %s", USD(d.Spend.USD), USD(d.Spend.BudgetUSD))
		case "near":
			add(Warn, "near_budget", d.ID, "estimated %s this month, near the budget of %s", USD(d.Spend.USD), USD(d.Spend.BudgetUSD))
		}
	}
	switch s.Account.State {
	case "over":
		add(Crit, "over_budget", "", "account: estimated %s this month, over the budget of %s", USD(s.Account.USD), USD(s.Account.BudgetUSD))
	case "near":
		add(Warn, "near_budget", "", "account: estimated %s this month, near the budget of %s", USD(s.Account.USD), USD(s.Account.BudgetUSD))
	case "unknown":
		if s.Account.BudgetUSD > 0 {
			add(Warn, "budget_unknown", "", "account: this month's spend is not known yet (%s)", orDash(s.Account.Source))
		}
	}
	dlqs := map[string]bool{} // queues may share one dead-letter queue
	for _, q := range s.Queues {
		if q.AttrError != "" {
			add(Warn, "queue_attributes", q.URL, "queue attributes unavailable: %s", q.AttrError)
		}
		if d := q.DLQ; d != nil && d.Visible != nil && *d.Visible > 0 && !dlqs[d.URL] {
			dlqs[d.URL] = true
			add(Warn, "dlq_depth", d.URL, "dead-letter queue holds %s messages (worker inspect --queue-url DLQ; worker redrive)", Num(*d.Visible))
		}
	}
	for _, e := range s.Errors {
		if !e.Last.IsZero() && s.At.Sub(e.Last) <= th.RecentError {
			add(Warn, "errors", e.Class, "%s errors of class %s, last %s ago: %s", Num(e.Count), e.Class, Age(s.At.Sub(e.Last)), e.Sample)
		}
	}
	slices.SortStableFunc(out, func(a, b Alert) int { return levelRank[a.Level] - levelRank[b.Level] })
	return out
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
