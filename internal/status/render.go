package status

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CloudFront's in-progress limits per distribution, used when a snapshot
// does not say: "invalidation requests for up to 3,000 files per
// distribution in progress at one time" and, independently, "up to 15
// invalidation paths in progress" with the * wildcard (CloudFront Developer
// Guide, "Concurrent invalidation request maximum", InvalidationLimits.html).
const (
	CloudFrontMaxFiles     = 3000
	CloudFrontMaxWildcards = 15
)

//go:embed web
var web embed.FS

var page = template.Must(template.New("console.html").Funcs(template.FuncMap{
	"num":       num,
	"usd":       USD,
	"age":       AgeOf,
	"seconds":   seconds,
	"clock":     Clock,
	"ago":       Ago,
	"in":        In,
	"since":     func(t, now time.Time) string { return Age(now.Sub(t)) },
	"intp":      intp,
	"optnum":    optnum,
	"deref":     func(p *int) int { return *p },
	"sub":       func(a, b int) int { return a - b },
	"join":      func(s []string) string { return strings.Join(s, ", ") },
	"origin":    originText,
	"queueName": queueName,
	"short":     short,
}).ParseFS(web, "web/console.html"))

// pageData is what the templates render.
type pageData struct {
	S         Snapshot
	Actions   bool  // actions are mounted (an admin token is configured)
	RefreshMS int64 // the page's poll interval
	Uptime    string
	T         totals
	Dists     []distView
}

type totals struct {
	Held, Items, InFlightItems          int
	InProgress, OwnInProgress           int
	OthersInProgress, Visible, InFlight int
	Oldest                              *Duration
	LongWait                            bool // a distribution waited long
}

type distView struct {
	D         Distribution
	State     string // paused, blocked, collecting, idle
	Now       time.Time
	Actions   bool
	LongWait  bool
	Files     barView
	Wildcards barView
	Spend     spendView
}

// barView is one quota bar, in units of paths (the SVG's viewBox is 0..Max).
type barView struct {
	Kind, Label                 string
	Max, Used, Own, Others      int
	Reserve, ReserveX, Headroom int
	OthersW, OwnW               int
	Level                       string // ok, tight, full
}

type spendView struct {
	S        Spend
	Now      time.Time
	Permille int // USD of BudgetUSD, 0..1000
}

func newPageData(s Snapshot, actions bool, refresh time.Duration) pageData {
	p := pageData{S: s, Actions: actions, RefreshMS: refresh.Milliseconds()}
	if !s.Started.IsZero() {
		p.Uptime = Age(s.At.Sub(s.Started))
	} else {
		p.Uptime = "—"
	}
	longWait := map[string]bool{}
	for _, a := range s.Alerts {
		if a.Code == "long_wait" || a.Code == "near_max_hold" {
			longWait[a.Target] = true
			p.T.LongWait = true
		}
	}
	for _, d := range s.Distributions {
		p.T.Held += d.Batch.Held
		p.T.Items += d.Batch.Items
		p.T.InFlightItems += d.Batch.InFlight
		if d.Batch.Oldest != nil && (p.T.Oldest == nil || *d.Batch.Oldest > *p.T.Oldest) {
			p.T.Oldest = d.Batch.Oldest
		}
		for _, i := range d.InProgress {
			p.T.InProgress++
			if i.Origin == "own" {
				p.T.OwnInProgress++
			} else {
				p.T.OthersInProgress++
			}
		}
		q := d.Quota
		p.Dists = append(p.Dists, distView{
			D: d, Now: s.At, Actions: actions, State: distState(d),
			LongWait:  longWait[d.ID],
			Files:     newBar("files", "Files", q.Files, q.OwnFiles, or(q.MaxFiles, CloudFrontMaxFiles), q.ReserveFiles),
			Wildcards: newBar("wildcards", "Wildcards", q.Wildcards, q.OwnWildcards, or(q.MaxWildcards, CloudFrontMaxWildcards), q.ReserveWildcards),
			Spend:     newSpend(d.Spend, s.At),
		})
	}
	for _, q := range s.Queues {
		if q.Visible != nil {
			p.T.Visible += *q.Visible
		}
		if q.InFlight != nil {
			p.T.InFlight += *q.InFlight
		}
	}
	return p
}

func newBar(kind, label string, used, own, limit, reserve int) barView {
	b := barView{Kind: kind, Label: label, Max: limit, Used: used, Reserve: min(max(reserve, 0), limit)}
	b.Own = min(max(own, 0), used)
	b.Others = max(used-b.Own, 0)
	// Drawn clamped to the track: a view can briefly count more than the
	// limit (another tool's request seen before ours completed).
	b.OthersW = min(b.Others, limit)
	b.OwnW = min(b.Own, limit-b.OthersW)
	b.ReserveX = limit - b.Reserve
	b.Headroom = max(limit-b.Reserve-used, 0)
	switch usable := limit - b.Reserve; {
	case used >= usable:
		b.Level = "full"
	case used*10 >= usable*8:
		b.Level = "tight"
	default:
		b.Level = "ok"
	}
	return b
}

func newSpend(s Spend, now time.Time) spendView {
	v := spendView{S: s, Now: now}
	if s.BudgetUSD > 0 {
		v.Permille = min(int(s.USD/s.BudgetUSD*1000+0.5), 1000)
	}
	return v
}

func or(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// renderPage writes the whole page; renderLive only the live region.
func renderPage(w io.Writer, d pageData) error { return page.ExecuteTemplate(w, "page", d) }
func renderLive(w io.Writer, d pageData) error { return page.ExecuteTemplate(w, "live", d) }

func num(v any) string {
	switch n := v.(type) {
	case int:
		return Num(n)
	case int64:
		return Num(n)
	case *int:
		return optnum(n)
	}
	return fmt.Sprint(v)
}

func intp(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}

func optnum(p *int) string {
	if p == nil {
		return "—"
	}
	return Num(*p)
}

func seconds(d *Duration) string {
	if d == nil {
		return ""
	}
	return strconv.FormatFloat(time.Duration(*d).Seconds(), 'f', -1, 64)
}

// queueName is the last path element of a queue URL, its name.
func queueName(u string) string {
	if p, err := url.Parse(u); err == nil && p.Path != "" && p.Path != "/" {
		return path.Base(p.Path)
	}
	return u
}

// distState sums a distribution up for its card's pill.
func distState(d Distribution) string {
	switch {
	case d.Paused != nil:
		return "paused"
	case slices.ContainsFunc(d.Waiting, func(w Wait) bool { return w.Code != "window" }):
		return "blocked"
	case d.Batch.Held > 0 || d.Batch.Items > 0:
		return "collecting"
	}
	return "idle"
}

// stateText is a distState in words.
func stateText(state string) string {
	if state == "blocked" {
		return "held back"
	}
	return state
}

// short is a queue URL's name, or s itself.
func short(s string) string {
	if strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") {
		return queueName(s)
	}
	return s
}
