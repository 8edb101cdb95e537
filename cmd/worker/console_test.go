package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/status"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// The console against the real worker (issue 9).
const (
	consoleA     = "ECONSOLE0000A1"
	consoleB     = "ECONSOLE0000B2"
	consoleToken = "console-e2e-token-7f3a9c"
)

// TestConsoleRealWorker runs the worker (queue_url shorthand with
// dead_letter_queue_url, admin_token) against fauxqs and the simulator,
// whose invalidations stay in progress for ten minutes. One message for
// distribution A is invalidated, one poison message is dead-lettered. A
// headless Chromium loads GET / and finds both distributions, A's
// invalidation in progress under the id the simulator gave it, quota bars
// against CloudFront's 3,000 file paths and 15 wildcards, and the poison's
// dead-letter reason. Pausing A through the page is refused without the
// token (invalidator_paused{distribution=A} stays 0); with the token it is
// carried out (1), a message for A then waits (no invalidation), and
// resuming (0) lets it go. `worker status --addr` prints both
// distributions.
func TestConsoleRealWorker(t *testing.T) {
	fq := testenv.Fauxqs(t)
	sq := e2e.SQSClient(fq.Endpoint)
	queue, dlq := e2e.CreateQueues(t, sq, "console", 5, 30*time.Second)
	sim := e2e.StartSim(t, cfsim.Options{Distributions: []string{consoleA, consoleB}, CompleteAfter: 10 * time.Minute})
	// Queued before the start: the worker is ready once a receive returned,
	// and a long poll of an empty queue takes 20 s.
	first := e2e.Plain(consoleA, "/index.html", "/blog/a.html", "/blog/b.html")
	wants := e2e.SendMessages(t, sq, queue, []e2e.Msg{first})
	const poison = "this is not JSON"
	wants[e2e.SendBody(t, sq, queue, poison)] = e2e.Want{DeadLettered: true}
	proxy := e2e.NewSQSProxy(t, fq.Endpoint, e2e.ProxyOptions{})
	w := e2e.StartWorker(t, e2e.Config{QueueURL: queue, DLQURL: dlq, AdminToken: consoleToken,
		Window: "1s", Visibility: "30s", Grace: "5s", ViewMaxAge: "1s", ViewRefresh: "1s",
		Distributions: []e2e.Dist{{ID: consoleA, Aliases: []string{"www"}}, {ID: consoleB, Aliases: []string{"shop"}}}},
		proxy.URL, sim.URL)
	dl := e2e.ReceiveAll(t, sq, dlq, 1, 20*time.Second)
	if len(dl) != 1 || dl[0].Body != poison || dl[0].ReasonCode != message.CodeMalformed {
		t.Fatalf("DLQ holds %+v, want the poison with reason %s", dl, message.CodeMalformed)
	}
	e2e.CheckDeletesJustified(t, proxy.WaitDeleted(wants, 20*time.Second), wants, sim.Accepted(), dl...)
	inv := sim.Accepted()[0]

	tab := e2e.Browser(t)
	tab.Navigate(w.Base + "/")
	tab.WaitAttr("#live-state", "data-state", "ok") // the script ran
	a, b := `[data-distribution="`+consoleA+`"]`, `[data-distribution="`+consoleB+`"]`
	// The view may not have read the invalidation back yet when the page
	// first renders: the live refresh brings it.
	tab.WaitVisible(a + ` [data-invalidation="` + inv.ID + `"][data-state="in_progress"]`)
	if n := tab.Count("[data-distribution]"); n != 2 {
		t.Errorf("%d distribution cards, want 2", n)
	}
	for sel, want := range map[string]string{a + " h3": consoleA, b + " h3": consoleB, a + " [data-alias]": "www", b + " [data-alias]": "shop"} {
		if got := tab.Text(sel); got != want {
			t.Errorf("%s shows %q, want %q", sel, got, want)
		}
	}
	row := a + ` [data-invalidation="` + inv.ID + `"][data-state="in_progress"]`
	if got := tab.Attr(row, "data-origin"); got != "own" {
		t.Errorf("invalidation %s shown as origin %q, want own", inv.ID, got)
	}
	if got := tab.Text(row); !strings.Contains(got, inv.ID) || !strings.Contains(got, "3") {
		t.Errorf("in-progress row %q, want the id %s and its 3 items", got, inv.ID)
	}
	for sel, want := range map[string][2]string{
		a + " [data-quota-files]":     {"3000", "3"},
		a + " [data-quota-wildcards]": {"15", "0"},
		b + " [data-quota-files]":     {"3000", "0"},
	} {
		if mx, used := tab.Attr(sel, "data-max"), tab.Attr(sel, "data-used"); mx != want[0] || used != want[1] {
			t.Errorf("%s: data-max %q data-used %q, want %s and %s", sel, mx, used, want[0], want[1])
		}
	}
	if got := tab.Text(a + " [data-quota-files] .bar-label"); !strings.Contains(got, "3 / 3,000") {
		t.Errorf("A's files bar reads %q, want 3 / 3,000", got)
	}
	reason := `[data-dead-letter-reason="` + message.CodeMalformed + `"]`
	if got := tab.Attr(reason, "data-count"); got != "1" {
		t.Errorf("dead-letter reason %s count %q, want 1", message.CodeMalformed, got)
	}
	if got := tab.Text(reason); !strings.Contains(got, poison) {
		t.Errorf("dead-letter reason shows %q, want the poison's body", got)
	}

	paused := `invalidator_paused{distribution="` + consoleA + `"}`
	pausedIs := func(want float64) {
		t.Helper()
		e2e.Poll(t, 10*time.Second, 100*time.Millisecond, paused, func() (bool, string) {
			m := w.Metrics(t)
			v, ok := m[paused]
			return ok && v == want, fmt.Sprintf("%v (series present: %v)", v, ok)
		})
	}
	pausedIs(0)

	// Without the token: refused.
	tab.Type("#reason-"+consoleA, "origin deploy")
	tab.Click("#pause-" + consoleA)
	tab.WaitAttr("#action-result", "data-outcome", "unauthorized")
	if got := w.Metric(t, paused); got != 0 {
		t.Errorf("after a refused pause %s = %v, want 0", paused, got)
	}
	if tab.Attr(a, "data-paused") != "false" {
		t.Errorf("the card shows A paused after a refused pause")
	}

	// With the token: paused; a message for A waits.
	tab.Type("#token", consoleToken)
	tab.Click("#pause-" + consoleA)
	tab.WaitAttr("#action-result", "data-outcome", "ok")
	pausedIs(1)
	tab.WaitAttr(a, "data-paused", "true")
	if got := tab.Text(a + " [data-pause-reason]"); got != "origin deploy" {
		t.Errorf("pause reason shown %q", got)
	}
	if got := w.Metric(t, `invalidator_paused{distribution="`+consoleB+`"}`); got != 0 {
		t.Errorf("pausing A paused B too (%v)", got)
	}
	held := e2e.Plain(consoleA, "/while-paused.html")
	for id, want := range e2e.SendMessages(t, sq, queue, []e2e.Msg{held}) {
		wants[id] = want
	}
	tab.WaitVisible(a + ` [data-wait-code="paused"]`)
	// Its window passed and the flush held it for the pause.
	w.WaitMetric(t, `invalidator_paths_held_total{reason="paused"}`, 1, 10*time.Second)
	if n := len(sim.Accepted()); n != 1 {
		t.Errorf("%d invalidations while A was paused, want still 1", n)
	}

	// Resume through the page: the held message goes out.
	tab.Click("#resume-" + consoleA)
	tab.WaitAttr("#action-result", "data-outcome", "ok")
	pausedIs(0)
	tab.WaitAttr(a, "data-paused", "false")
	rec := proxy.WaitDeleted(wants, 20*time.Second)
	e2e.CheckDeletesJustified(t, rec, wants, sim.Accepted(), dl...)
	if got := tab.Attr(`[data-action-log] tbody tr`, "data-action"); got != "resume" {
		t.Errorf("newest action logged %q, want resume", got)
	}
	var errs []string
	for _, e := range tab.JSErrors() {
		if !strings.Contains(e, "status of 401 (Unauthorized)") { // the refused pause
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		t.Errorf("console errors in the page: %q", errs)
	}

	// `worker status` against the same worker.
	res := e2e.Run(t, e2e.Exec{}, "status", "--addr", strings.TrimPrefix(w.Base, "http://"))
	if res.Code != exitOK {
		t.Fatalf("worker status: exit %d:\n%s", res.Code, res.Stderr)
	}
	t.Logf("worker status:\n%s", res.Stdout)
	for _, want := range []string{consoleA, consoleB, inv.ID, message.CodeMalformed} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("worker status output lacks %q", want)
		}
	}
	if strings.Contains(res.Stdout+res.Stderr, consoleToken) {
		t.Errorf("worker status shows the admin token")
	}
	if !slices.ContainsFunc(w.Status(t).Distributions, func(d status.Distribution) bool { return d.ID == consoleB }) {
		t.Errorf("/api/status lacks %s", consoleB)
	}
	w.Stop(t, 10*time.Second)
}
