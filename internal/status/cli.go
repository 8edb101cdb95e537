package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

// maxStatusBody bounds what Fetch reads: a snapshot of a large allow-list
// is tens of kilobytes.
const maxStatusBody = 16 << 20

// StatusURL is the /api/status URL of a worker at addr: "HOST:PORT"
// (a worker's http_addr; ":9090" means this host), or a base URL
// ("http://host:9090", "https://host/prefix").
func StatusURL(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", errors.New("an address is required (HOST:PORT)")
	}
	if !strings.Contains(addr, "://") {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return "", fmt.Errorf("address %q: want HOST:PORT or a URL: %w", addr, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		addr = "http://" + net.JoinHostPort(host, port)
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("address %q: want HOST:PORT or an http(s) URL", addr)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/status"
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// Fetch gets a worker's snapshot from its /api/status: the snapshot and the
// body as received. It fails when the worker cannot be reached, does not
// answer 200 with JSON, or speaks a schema version other than this one.
func Fetch(ctx context.Context, client *http.Client, addr string) (Snapshot, []byte, error) {
	var s Snapshot
	u, err := StatusURL(addr)
	if err != nil {
		return s, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return s, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return s, nil, fmt.Errorf("cannot reach the worker at %s: %w (is it running, and is this its http_addr?)", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusBody))
	if err != nil {
		return s, nil, fmt.Errorf("GET %s: reading the answer: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return s, nil, fmt.Errorf("GET %s: HTTP %d: %s (is this a worker's http_addr, and does it serve the console?)",
			u, resp.StatusCode, Printable(Truncate(strings.TrimSpace(string(body)), SampleLen)))
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return s, nil, fmt.Errorf("GET %s: the answer is not a status snapshot: %w", u, err)
	}
	if s.Schema != SchemaVersion {
		return s, nil, fmt.Errorf("GET %s: status schema version %d, this command reads version %d: use a matching worker binary", u, s.Schema, SchemaVersion)
	}
	return s, body, nil
}

// WriteTable writes the overview of s as terminal tables: alerts,
// distributions, what waits, invalidations in progress, queues, dead
// letters, errors, spend and actions. Text from the snapshot is made
// printable (no control sequence reaches the terminal).
func WriteTable(w io.Writer, s Snapshot) error {
	now := s.At
	p := func(v string, n int) string { return Printable(Truncate(v, n)) }
	state := "READY"
	switch {
	case s.Draining:
		state = "DRAINING"
	case !s.Ready:
		state = "NOT READY"
	}
	head := []string{"cf-invalidator " + p(s.Version, 40), state}
	if !s.Started.IsZero() {
		head = append(head, "up "+Age(now.Sub(s.Started)))
	}
	if s.Window != nil {
		head = append(head, "window "+AgeOf(s.Window))
	}
	head = append(head, "as of "+now.UTC().Format("2006-01-02 15:04:05")+" UTC")
	fmt.Fprintln(w, strings.Join(head, " · "))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	section := func(title string) {
		tw.Flush()
		fmt.Fprintf(w, "\n%s\n", title)
	}
	row := func(cols ...string) { fmt.Fprintln(tw, "  "+strings.Join(cols, "\t")) }

	section("ALERTS")
	if len(s.Alerts) == 0 {
		row("none")
	}
	for _, a := range s.Alerts {
		row(strings.ToUpper(a.Level), p(short(orDash(a.Target)), 40), p(a.Text, 160))
	}

	section("DISTRIBUTIONS")
	row("ID", "ALIASES", "STATE", "HELD", "ITEMS", "OLDEST", "NEXT FLUSH", "FILES", "WILDCARDS", "IN PROGRESS", "SPEND")
	for _, d := range s.Distributions {
		id := d.ID
		if d.Kind == "tenant" {
			id += " (tenant of " + d.Parent + ")"
		}
		next := "—"
		if !d.Batch.NextFlush.IsZero() {
			next = In(d.Batch.NextFlush, now)
		}
		own := 0
		for _, i := range d.InProgress {
			if i.Origin == "own" {
				own++
			}
		}
		spend := USD(d.Spend.USD)
		if d.Spend.BudgetUSD > 0 {
			spend += " / " + USD(d.Spend.BudgetUSD)
		}
		q := d.Quota
		row(p(id, 60), p(orDash(strings.Join(d.Aliases, ",")), 30), stateText(distState(d)),
			Num(d.Batch.Held), Num(d.Batch.Items), AgeOf(d.Batch.Oldest), next,
			Num(q.Files)+"/"+Num(or(q.MaxFiles, CloudFrontMaxFiles)),
			Num(q.Wildcards)+"/"+Num(or(q.MaxWildcards, CloudFrontMaxWildcards)),
			fmt.Sprintf("%d (%d ours)", len(d.InProgress), own), spend)
	}
	tw.Flush()
	for _, d := range s.Distributions {
		if d.Paused != nil {
			fmt.Fprintf(w, "  %s paused %s by %s: %s\n", p(d.ID, 60), Ago(d.Paused.At, now), p(d.Paused.By, MaxBy), p(orDash(d.Paused.Reason), MaxReason))
		}
		for _, wt := range d.Waiting {
			until := ""
			if !wt.Until.IsZero() {
				until = " (until " + Clock(wt.Until, now) + ")"
			}
			fmt.Fprintf(w, "  %s waits: %s: %s%s\n", p(d.ID, 60), p(wt.Code, 40), p(wt.Text, MaxText), until)
		}
		if d.View.Error != "" {
			fmt.Fprintf(w, "  %s view failing: %s\n", p(d.ID, 60), p(d.View.Error, SampleLen))
		}
	}

	section("IN PROGRESS")
	row("DISTRIBUTION", "INVALIDATION", "BY", "AGE", "ITEMS")
	n := 0
	for _, d := range s.Distributions {
		for _, i := range d.InProgress {
			n++
			row(p(d.ID, 60), p(i.ID, 40), originText(i.Origin), Age(now.Sub(i.Created)), Num(i.Items))
		}
	}
	if n == 0 {
		row("none")
	}

	section("QUEUES")
	row("QUEUE", "LANE", "POLLERS", "VISIBLE", "IN FLIGHT", "HELD", "OLDEST HELD", "DLQ")
	for _, q := range s.Queues {
		dlq := "none"
		if q.DLQ != nil {
			dlq = optnum(q.DLQ.Visible)
		}
		name := p(queueName(q.URL), 60)
		if q.AttrError != "" {
			name += " (attributes: " + p(q.AttrError, 60) + ")"
		}
		row(name, p(q.Lane, 10), Num(q.Pollers), optnum(q.Visible), optnum(q.InFlight), Num(q.Held), AgeOf(q.OldestAge), dlq)
	}

	section(fmt.Sprintf("DEAD-LETTERED since start: %s", Num(s.DeadLettered.Total)))
	for _, r := range s.DeadLettered.ByReason {
		latest := ""
		if len(r.Examples) > 0 {
			e := r.Examples[0]
			latest = "latest " + Clock(e.At, now) + ": " + p(orDash(e.Reason), 100)
		}
		row(p(r.Code, 40), Num(r.Count), latest)
	}

	section("ERRORS")
	if len(s.Errors) == 0 {
		row("none")
	}
	for _, e := range s.Errors {
		row(p(e.Class, 50), Num(e.Count), "last "+Ago(e.Last, now), p(e.Sample, 100))
	}
	tw.Flush()

	a := s.Account
	spend := fmt.Sprintf("%s paths · %s", Num(a.Paths), USD(a.USD))
	if a.BudgetUSD > 0 {
		spend += " of " + USD(a.BudgetUSD)
	}
	exact := "estimate"
	if a.Exact {
		exact = "exact"
	}
	fmt.Fprintf(w, "\nSPEND this month: %s · %s · %s (%s)\n", spend, a.State, exact, p(orDash(a.Source), 120))

	section("ACTIONS")
	if len(s.Actions) == 0 {
		row("none")
	}
	for i, x := range s.Actions {
		if i == 10 {
			row(fmt.Sprintf("… %d more", len(s.Actions)-10))
			break
		}
		target := x.Target
		if target == "" {
			target = "all"
		}
		what := x.Action
		if x.Reason != "" {
			what += " (" + p(x.Reason, 60) + ")"
		}
		row(Clock(x.At, now), what, p(target, 60), p(x.By, 80), p(x.Result, 60))
	}
	return tw.Flush()
}

// FetchTimeout bounds `worker status`'s request by default.
const FetchTimeout = 10 * time.Second
