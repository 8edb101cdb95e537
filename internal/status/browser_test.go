package status_test

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/status"
	"github.com/acme/cf-invalidator/internal/status/statustest"
)

// These tests drive the page in a real headless Chromium (internal/e2e).

func consoleServer(t *testing.T, fake *statustest.Fake, o status.Options) string {
	t.Helper()
	o.Provider = fake
	if o.Controller == nil {
		o.Controller = fake
	}
	srv := httptest.NewServer(mux(o))
	t.Cleanup(srv.Close)
	return srv.URL
}

// noJSErrors fails on any console error or exception but the expected
// ones (the browser logs each refused request as a failed resource).
func noJSErrors(t *testing.T, tab *e2e.Tab, expected ...string) {
	t.Helper()
	var errs []string
	for _, e := range tab.JSErrors() {
		if !slices.ContainsFunc(expected, func(x string) bool { return strings.Contains(e, x) }) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		t.Errorf("console errors in the page: %q", errs)
	}
}

// TestConsoleBrowser renders the page, checks what it shows, and pauses a
// distribution through it: refused without the token, carried out with it,
// the page updating itself.
func TestConsoleBrowser(t *testing.T) {
	fake := statustest.New(statustest.Demo())
	base := consoleServer(t, fake, status.Options{Token: token})
	tab := e2e.Browser(t)
	tab.Navigate(base + "/")
	tab.WaitAttr("#live-state", "data-state", "ok") // the script ran
	b := `[data-distribution="` + statustest.Burst + `"]`

	// What it shows.
	if n := tab.Count("[data-distribution]"); n != 2 {
		t.Errorf("%d distribution cards, want 2", n)
	}
	if got := tab.Text(`[data-distribution="` + statustest.Calm + `"] h3`); got != statustest.Calm {
		t.Errorf("second card is %q", got)
	}
	if got := tab.Text(`[data-invalidation="` + statustest.OthersInvalidation + `"][data-state="in_progress"]`); !strings.Contains(got, "someone else") {
		t.Errorf("others' invalidation row: %q", got)
	}
	if got := tab.Attr(b+` [data-invalidation="`+statustest.OwnInvalidation+`"]`, "data-origin"); got != "own" {
		t.Errorf("own invalidation origin %q", got)
	}
	for sel, want := range map[string]string{
		b + " [data-quota-files]":     "3000",
		b + " [data-quota-wildcards]": "15",
	} {
		if got := tab.Attr(sel, "data-max"); got != want {
			t.Errorf("%s data-max = %q, want %s", sel, got, want)
		}
	}
	if got := tab.Text(b + " [data-quota-files] .bar-label"); !strings.Contains(got, "2,850 / 3,000") {
		t.Errorf("files bar label %q", got)
	}
	// The bar is drawn to scale: others' 2,000 then ours 850 of 3,000.
	if w := e2e.Eval[float64](tab, `(() => { const r = document.querySelector('`+b+` [data-quota-files] rect.others').getBoundingClientRect(), t = document.querySelector('`+b+` [data-quota-files] rect.track').getBoundingClientRect(); return r.width / t.width; })()`); w < 0.66 || w > 0.67 {
		t.Errorf("others' share of the files bar drawn at %.3f, want 2000/3000", w)
	}
	if got := tab.Attr(`[data-dead-letter-reason="invalid_path"]`, "data-count"); got != "4" {
		t.Errorf("invalid_path count %q", got)
	}
	if got := tab.Text("#alerts"); !strings.Contains(got, "oldest held message has waited 2m 40s") {
		t.Errorf("alerts: %q", got)
	}

	// Without the token: refused, and the page says so.
	tab.Type("#reason-"+statustest.Burst, "origin deploy")
	tab.Click("#pause-" + statustest.Burst)
	tab.WaitAttr("#action-result", "data-outcome", "unauthorized")
	if got := tab.Text("#action-result"); !strings.Contains(got, "Refused: the admin token is missing or wrong") {
		t.Errorf("refusal says %q", got)
	}
	if calls := fake.Calls(); len(calls) != 0 {
		t.Fatalf("refused action reached the controller: %+v", calls)
	}
	// A wrong token is refused the same way.
	tab.Type("#token", "not-the-token")
	tab.Click("#pause-" + statustest.Burst)
	tab.WaitText("#action-result", "missing or wrong.")
	if calls := fake.Calls(); len(calls) != 0 {
		t.Fatalf("wrong token reached the controller: %+v", calls)
	}

	// With the token, typed into the page.
	tab.Type("#token", token)
	if got := tab.Value("#reason-" + statustest.Burst); got != "origin deploy" {
		t.Errorf("the reason typed before was lost: %q", got)
	}
	tab.Click("#pause-" + statustest.Burst)
	tab.WaitAttr("#action-result", "data-outcome", "ok")
	calls := fake.Calls()
	if len(calls) != 1 || calls[0].Action != "pause" || calls[0].Target != statustest.Burst || calls[0].Reason != "origin deploy" ||
		!strings.Contains(calls[0].By, "HeadlessChrome") {
		t.Fatalf("controller calls %+v; want one pause of %s for \"origin deploy\" by the browser", calls, statustest.Burst)
	}
	// The page updated itself: the card is paused with the reason, the
	// actions log has the pause.
	tab.WaitAttr(b, "data-paused", "true")
	if got := tab.Text(b + " [data-pause-reason]"); got != "origin deploy" {
		t.Errorf("pause reason shown %q", got)
	}
	if got := tab.Attr("[data-action-log] tbody tr", "data-action"); got != "pause" {
		t.Errorf("newest action logged %q", got)
	}
	if got := tab.Value("#token"); got != token {
		t.Errorf("token field lost its value across the refresh")
	}

	// Resume and flush through the page too.
	tab.Click("#resume-" + statustest.Burst)
	tab.WaitAttr(b, "data-paused", "false")
	tab.Click("#flush-" + statustest.Calm)
	tab.WaitAttr(`[data-distribution="`+statustest.Calm+`"] [data-batch]`, "data-batch-items", "0")
	var actions []string
	for _, c := range fake.Calls() {
		actions = append(actions, c.Action+" "+c.Target)
	}
	if want := []string{"pause " + statustest.Burst, "resume " + statustest.Burst, "flush " + statustest.Calm}; !slices.Equal(actions, want) {
		t.Errorf("controller calls %q, want %q", actions, want)
	}

	// The token was kept in memory only: no cookie, not in the URL, not
	// in sessionStorage (keep-for-this-tab is off).
	if got := e2e.Eval[string](tab, `document.cookie + "|" + location.href + "|" + (sessionStorage.getItem("cf-invalidator.console.token") || "")`); strings.Contains(got, token) {
		t.Errorf("token stored where it must not be: %q", got)
	}
	tab.Click("#token-remember")
	if got := e2e.Eval[string](tab, `sessionStorage.getItem("cf-invalidator.console.token") || ""`); got != token {
		t.Errorf("keep for this tab: sessionStorage has %q", got)
	}
	tab.Click("#token-forget")
	if got := e2e.Eval[string](tab, `(sessionStorage.getItem("cf-invalidator.console.token") || "") + document.getElementById("token").value`); got != "" {
		t.Errorf("after Forget: %q", got)
	}
	noJSErrors(t, tab, "status of 401 (Unauthorized)")
}

// TestConsoleBrowserLive: the page picks up a new snapshot by itself and
// keeps what the operator is typing.
func TestConsoleBrowserLive(t *testing.T) {
	fake := statustest.New(statustest.Demo())
	base := consoleServer(t, fake, status.Options{Token: token, Refresh: 200 * time.Millisecond})
	tab := e2e.Browser(t)
	tab.Navigate(base + "/")
	tab.WaitAttr("#live-state", "data-state", "ok")
	tab.Type("#reason-all", "half typed")
	fake.Update(func(s *status.Snapshot) {
		s.Distributions[1].InProgress = append(s.Distributions[1].InProgress, status.Invalidation{
			ID: "INEWEXAMPLE", Status: "InProgress", Created: s.At, Items: 3, Origin: "other",
		})
		s.Distributions[1].View.Error = "AccessDenied: cloudfront:ListInvalidations"
	})
	tab.WaitVisible(`[data-invalidation="INEWEXAMPLE"]`)
	tab.WaitVisible(`[data-alert-code="view_error"][data-target="` + statustest.Calm + `"]`)
	if got := tab.Value("#reason-all"); got != "half typed" {
		t.Errorf("typed reason after refresh: %q", got)
	}
	// The server stops answering: the page says it is not updating.
	fake.Update(func(s *status.Snapshot) { s.Version = "v2" })
	tab.WaitText("#version", "v2")
	noJSErrors(t, tab)
}

// TestConsoleBrowserEscapes renders a snapshot whose texts are markup and
// script: nothing runs and no element is injected; the text shows as text.
func TestConsoleBrowserEscapes(t *testing.T) {
	fake := statustest.New(statustest.Hostile(token))
	base := consoleServer(t, fake, status.Options{Token: token, Refresh: 200 * time.Millisecond})
	tab := e2e.Browser(t)
	tab.Navigate(base + "/")
	tab.WaitAttr("#live-state", "data-state", "ok")
	check := func(when string) {
		t.Helper()
		if got := e2e.Eval[string](tab, `typeof window.__xss`); got != "undefined" {
			t.Errorf("%s: a payload ran (window.__xss is %s)", when, got)
		}
		if n := tab.Count(`.xss-marker, #xss-marker, img, iframe, #live script, svg:not(.bar)`); n != 0 {
			t.Errorf("%s: %d injected elements", when, n)
		}
		text := tab.Text("#live")
		for _, p := range statustest.Payloads[:4] {
			if !strings.Contains(text, p) {
				t.Errorf("%s: the page does not show %q as text", when, p)
			}
		}
		if strings.Contains(text, token) || strings.Contains(e2e.Eval[string](tab, "document.documentElement.outerHTML"), token) {
			t.Errorf("%s: the admin token is in the page", when)
		}
	}
	check("first render")
	// The live refresh goes through the same escaping.
	fake.Update(func(s *status.Snapshot) { s.Version = "refreshed" })
	tab.WaitText("#version", "refreshed")
	check("after a live refresh")
	// The hostile id's card still works as a form target (no markup in it).
	if got := tab.Attr(`form.act[data-target="`+strings.ReplaceAll(statustest.HostileID, `"`, `\"`)+`"]`, "data-target"); got != statustest.HostileID {
		t.Errorf("hostile id as a form target: %q", got)
	}
	noJSErrors(t, tab)
}

// TestConsoleBrowserNoActions: without admin_token the page offers no
// action and says why.
func TestConsoleBrowserNoActions(t *testing.T) {
	fake := statustest.New(statustest.Demo())
	base := consoleServer(t, fake, status.Options{})
	tab := e2e.Browser(t)
	tab.Navigate(base + "/")
	tab.WaitAttr("#live-state", "data-state", "ok")
	if got := tab.Text("#actions-disabled"); !strings.Contains(got, "no admin_token configured") {
		t.Errorf("disabled note %q", got)
	}
	if n := tab.Count("[data-act], #token"); n != 0 {
		t.Errorf("%d action controls without a token", n)
	}
	noJSErrors(t, tab)
}
