package status_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/acme/cf-invalidator/internal/status"
	"github.com/acme/cf-invalidator/internal/status/statustest"
)

const token = "s3cret-console-token"

func mux(o status.Options) *http.ServeMux {
	m := http.NewServeMux()
	status.New(o).Mount(m)
	return m
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

type post struct {
	auth, contentType, body, userAgent string
}

func (p post) do(t *testing.T, url string) (int, http.Header, status.ActionResponse) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(p.body))
	if p.auth != "" {
		req.Header.Set("Authorization", p.auth)
	}
	ct := p.contentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", p.userAgent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r status.ActionResponse
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("POST %s: answer %q: %v", url, b, err)
		}
	}
	return resp.StatusCode, resp.Header, r
}

// TestConsolePageWithoutJS fetches the page as a client without JavaScript
// would and finds everything the console promises, server-rendered.
func TestConsolePageWithoutJS(t *testing.T) {
	fake := statustest.New(statustest.Tenant(statustest.Demo()))
	srv := httptest.NewServer(mux(status.Options{Provider: fake, Controller: fake, Token: token}))
	defer srv.Close()

	code, h, body := get(t, srv.URL+"/")
	if code != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / = %d %s", code, h.Get("Content-Type"))
	}
	for k, want := range map[string]string{
		"Content-Security-Policy": "script-src 'self'",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
		"X-Frame-Options":         "DENY",
	} {
		if !strings.Contains(h.Get(k), want) {
			t.Errorf("header %s = %q, want it to contain %q", k, h.Get(k), want)
		}
	}
	b, w := statustest.Burst, statustest.Calm
	for _, want := range []string{
		// Both distributions and the tenant, with aliases.
		`data-distribution="` + b + `"`, `data-distribution="` + w + `"`,
		`data-distribution="dt_acme_eu" data-kind="tenant" data-parent="E3MULTIEXAMPLE"`, `tenant of <span class="mono">E3MULTIEXAMPLE</span>`,
		`<span class="alias" data-alias>www</span>`, `<span class="alias" data-alias>blog</span>`,
		// The open batch and why it waits.
		`data-batch data-batch-held="37" data-batch-items="1240"`, `data-seconds="160" class="hot">2m 40s`, `data-next-flush>in 25s`,
		`data-wait-code="quota"`, `1,240 items wait for room`, `data-wait-code="window"`,
		// Quota bars against CloudFront's 3,000 files and 15 wildcards, own vs others.
		`data-quota-files data-used="2850" data-own="850" data-others="2000" data-max="3000" data-reserve="100" data-headroom="50"`,
		`data-quota-wildcards data-used="4" data-own="1" data-others="3" data-max="15" data-reserve="2" data-headroom="9"`,
		`<b>2,850</b> / 3,000`, `viewBox="0 0 3000 10"`, `viewBox="0 0 15 10"`,
		// In-progress invalidations with who made them, recent ones with latency.
		`data-invalidation="` + statustest.OthersInvalidation + `" data-state="in_progress" data-origin="other"`,
		`data-invalidation="` + statustest.OwnInvalidation + `" data-state="in_progress" data-origin="own"`,
		`someone else`, `this worker`, `data-invalidation="I7VB2NQXEXAMPLE" data-state="recent"`, `>19s<`, `collapsed`,
		// Spend with its source.
		`data-spend data-spend-state="under" data-usd="4.2" data-budget-usd="25" data-exact="true"`, `<b>$4.20</b> of $25.00`,
		`ledger: every invalidation of the month`, `data-stat="spend" data-value="5.26"`,
		// Worker: queues, dead letters, errors, actions, alerts, readiness.
		`data-queue="` + statustest.BulkURL + `" data-lane="bulk" data-visible="2400"`, `invalidations-bulk`,
		`data-dead-letter-reason="invalid_path" data-count="4"`, `data-dead-letter-reason="distribution_not_allowed" data-count="2"`,
		`data-error-class="cloudfront:quota" data-count="7"`, `origin deploy in progress`,
		`data-alert-code="long_wait" data-level="warn" data-target="` + b + `"`, `data-alert-code="dlq_depth"`,
		`id="ready" class="pill ok" data-ready="true"`, `<b id="version">v1.6.0</b>`, `<b id="uptime">3h 12m</b>`,
		// Actions are rendered, disabled until the script enables them.
		`id="pause-` + b + `" type="button" class="btn warn" data-act="pause" disabled`, `id="flush-` + w + `"`, `id="pause-all"`,
		`id="token" type="password"`, `<noscript>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, token) {
		t.Error("the admin token is in the page")
	}

	code, _, frag := get(t, srv.URL+"/console/fragment")
	if code != 200 || !strings.Contains(frag, `id="statusbar"`) || strings.Contains(frag, "<html") || !strings.Contains(frag, `data-distribution="`+b+`"`) {
		t.Errorf("fragment %d: want the live region only, got %.200q", code, frag)
	}
	for path, want := range map[string]int{
		"/static/console.js": 200, "/static/console.css": 200, "/static/console.html": 404, "/static/": 404, "/nothing": 404,
		"/api/status/schema": 200,
	} {
		if code, _, _ := get(t, srv.URL+path); code != want {
			t.Errorf("GET %s = %d, want %d", path, code, want)
		}
	}
	if _, h, js := get(t, srv.URL+"/static/console.js"); !strings.Contains(h.Get("Content-Type"), "javascript") || !strings.Contains(js, "Authorization") {
		t.Errorf("console.js served as %q", h.Get("Content-Type"))
	}
}

// TestConsoleEscapesEverything serves a snapshot whose every text carries
// markup and script: the page has it as text only, and no secret.
func TestConsoleEscapesEverything(t *testing.T) {
	fake := statustest.New(statustest.Hostile(token))
	srv := httptest.NewServer(mux(status.Options{Provider: fake, Controller: fake, Token: token}))
	defer srv.Close()
	_, _, page := get(t, srv.URL+"/")
	_, _, frag := get(t, srv.URL+"/console/fragment")
	_, _, api := get(t, srv.URL+"/api/status")
	for name, body := range map[string]string{"page": page, "fragment": frag} {
		for _, raw := range []string{"<script>window", "<img", "<svg onload", "<iframe", `<b class="xss-marker"`, "onerror=\""} {
			if strings.Contains(body, raw) {
				i := strings.Index(body, raw)
				t.Errorf("%s: raw markup %q at %q", name, raw, body[max(0, i-80):min(len(body), i+80)])
			}
		}
		for _, escaped := range []string{
			`&lt;script&gt;window.__xss=1&lt;/script&gt;`,
			`&#34;&gt;&lt;img src=x onerror=&#34;window.__xss=2&#34; class=&#34;xss-marker&#34;&gt;`,
			`&lt;/textarea&gt;&lt;/title&gt;&lt;iframe`,
		} {
			if !strings.Contains(body, escaped) {
				t.Errorf("%s lacks the escaped text %s", name, escaped)
			}
		}
		if strings.Contains(body, token) {
			t.Errorf("%s shows the admin token", name)
		}
	}
	if n := strings.Count(page, "<script"); n != 1 {
		t.Errorf("page has %d <script elements, want only its own", n)
	}
	if strings.Contains(api, token) || strings.Contains(api, "<script") || !strings.Contains(api, status.Redacted) {
		t.Errorf("api/status: token or raw markup present, or nothing redacted")
	}
}

// TestConsoleActions drives the action API: the token is required and
// compared, the body is strict, and each action reaches the Controller with
// who sent it, is logged, and shows in the snapshot.
func TestConsoleActions(t *testing.T) {
	fake := statustest.New(statustest.Demo())
	core, logs := observer.New(zap.DebugLevel)
	srv := httptest.NewServer(mux(status.Options{Provider: fake, Controller: fake, Token: token, Log: zap.New(core)}))
	defer srv.Close()
	bearer := "Bearer " + token
	pause := `{"target":"` + statustest.Burst + `","reason":"origin deploy"}`
	ua := "console-test/1"

	for name, c := range map[string]struct {
		url  string
		p    post
		code int
		err  string
	}{
		"no token":          {"/api/pause", post{body: pause}, 401, "unauthorized"},
		"wrong token":       {"/api/pause", post{auth: "Bearer nope", body: pause}, 401, "unauthorized"},
		"token prefix":      {"/api/pause", post{auth: bearer[:len(bearer)-1], body: pause}, 401, "unauthorized"},
		"basic scheme":      {"/api/pause", post{auth: "Basic " + token, body: pause}, 401, "unauthorized"},
		"token in url":      {"/api/pause?token=" + token, post{body: pause}, 401, "unauthorized"},
		"form body":         {"/api/pause", post{auth: bearer, contentType: "application/x-www-form-urlencoded", body: "target=x"}, 415, "JSON"},
		"not json":          {"/api/pause", post{auth: bearer, body: "pause!"}, 400, "must be"},
		"unknown member":    {"/api/pause", post{auth: bearer, body: `{"target":"","reason":"x","force":true}`}, 400, "unknown field"},
		"two objects":       {"/api/pause", post{auth: bearer, body: pause + pause}, 400, "one JSON object"},
		"too big":           {"/api/pause", post{auth: bearer, body: `{"target":"","reason":"` + strings.Repeat("x", 5000) + `"}`}, 413, "over"},
		"unknown target":    {"/api/pause", post{auth: bearer, body: `{"target":"ENOPE","reason":"x"}`}, 400, `unknown distribution "ENOPE"`},
		"no reason":         {"/api/pause", post{auth: bearer, body: `{"target":""}`}, 400, "reason is required"},
		"reason too long":   {"/api/pause", post{auth: bearer, body: `{"target":"","reason":"` + strings.Repeat("x", 201) + `"}`}, 400, "over 200"},
		"reason with lines": {"/api/pause", post{auth: bearer, body: `{"target":"","reason":"a\nb"}`}, 400, "one line"},
	} {
		t.Run(name, func(t *testing.T) {
			code, h, r := c.p.do(t, srv.URL+c.url)
			if code != c.code || r.OK || !strings.Contains(r.Error, c.err) {
				t.Errorf("%d %+v; want %d with an error containing %q", code, r, c.code, c.err)
			}
			if code == 401 && h.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if calls := fake.Calls(); len(calls) != 0 {
		t.Fatalf("refused requests reached the controller: %+v", calls)
	}

	// Carried out: pause by alias (lower-case scheme is fine), resume all, flush.
	for _, c := range []struct {
		url, body, auth string
		want            statustest.Call
		result          string
	}{
		{"/api/pause", `{"target":"www","reason":"origin deploy"}`, "bearer " + token, statustest.Call{Action: "pause", Target: statustest.Burst, Reason: "origin deploy"}, "paused " + statustest.Burst + ": origin deploy"},
		{"/api/resume", `{"target":""}`, bearer, statustest.Call{Action: "resume"}, "resumed every distribution"},
		{"/api/flush", `{"target":"` + statustest.Calm + `"}`, bearer, statustest.Call{Action: "flush", Target: statustest.Calm}, "flushed the open batch of " + statustest.Calm},
	} {
		code, _, r := post{auth: c.auth, body: c.body, userAgent: ua}.do(t, srv.URL+c.url)
		if code != 200 || !r.OK || r.Result != c.result {
			t.Fatalf("POST %s %s = %d %+v; want 200 %q", c.url, c.body, code, r, c.result)
		}
		calls := fake.Calls()
		got := calls[len(calls)-1]
		if got.Action != c.want.Action || got.Target != c.want.Target || got.Reason != c.want.Reason ||
			!strings.HasPrefix(got.By, "127.0.0.1:") || !strings.HasSuffix(got.By, " · "+ua) {
			t.Errorf("controller got %+v, want %+v by 127.0.0.1:… · %s", got, c.want, ua)
		}
	}
	var snap status.Snapshot
	_, _, body := get(t, srv.URL+"/api/status")
	if err := json.Unmarshal([]byte(body), &snap); err != nil {
		t.Fatal(err)
	}
	if a := snap.Actions; len(a) < 3 || a[0].Action != "flush" || a[1].Action != "resume" || a[2].Action != "pause" || a[2].Reason != "origin deploy" {
		t.Errorf("snapshot actions %+v; want flush, resume, pause first", a)
	}
	if snap.Distributions[1].Batch.Items != 0 || len(snap.Distributions[1].InProgress) != 2 {
		t.Errorf("flush did not show: %+v", snap.Distributions[1].Batch)
	}

	// The controller refusing: 409 with its reason.
	fake.Err = errors.New("draining: the worker is shutting down")
	code, _, r := post{auth: bearer, body: pause}.do(t, srv.URL+"/api/pause")
	if code != 409 || !strings.Contains(r.Error, "shutting down") {
		t.Errorf("controller error: %d %+v; want 409 with its text", code, r)
	}
	if code, _, _ := get(t, srv.URL+"/api/pause"); code != 405 {
		t.Errorf("GET /api/pause = %d, want 405", code)
	}

	// Logged: who and what, never the token.
	done := logs.FilterMessage("console action carried out").All()
	if len(done) != 3 {
		t.Fatalf("%d 'carried out' log lines, want 3", len(done))
	}
	f := done[0].ContextMap()
	if f["action"] != "pause" || f["target"] != statustest.Burst || f["reason"] != "origin deploy" || f["user_agent"] != ua ||
		!strings.HasPrefix(fmt.Sprint(f["remote"]), "127.0.0.1:") {
		t.Errorf("log fields %v", f)
	}
	if n := logs.FilterMessage("console action refused: missing or wrong admin token").Len(); n != 5 {
		t.Errorf("%d refused-token log lines, want 5", n)
	}
	for _, e := range logs.All() {
		if strings.Contains(fmt.Sprint(e.ContextMap()), token) || strings.Contains(e.Message, token) {
			t.Errorf("log line carries the token: %s %v", e.Message, e.ContextMap())
		}
	}
}

// TestConsoleActionsDisabled: without admin_token the actions do not exist
// (404, like /admin) and the page says so; reading needs no token.
func TestConsoleActionsDisabled(t *testing.T) {
	fake := statustest.New(statustest.Demo())
	for name, o := range map[string]status.Options{
		"no token":      {Provider: fake, Controller: fake},
		"no controller": {Provider: fake, Token: token},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(mux(o))
			defer srv.Close()
			for _, a := range []string{"pause", "resume", "flush"} {
				if code, _, _ := (post{auth: "Bearer " + token, body: `{"target":""}`}).do(t, srv.URL+"/api/"+a); code != 404 {
					t.Errorf("POST /api/%s = %d, want 404", a, code)
				}
			}
			code, _, body := get(t, srv.URL+"/")
			if code != 200 || !strings.Contains(body, "Actions disabled: no admin_token configured") || strings.Contains(body, `id="pause-`) || strings.Contains(body, `id="token"`) {
				t.Errorf("page without actions: %d, disabled note %v", code, strings.Contains(body, "Actions disabled"))
			}
			if code, _, _ := get(t, srv.URL+"/api/status"); code != 200 {
				t.Errorf("GET /api/status = %d", code)
			}
		})
	}
}
