package status_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/acme/cf-invalidator/internal/status"
	"github.com/acme/cf-invalidator/internal/status/statustest"
)

func TestStatusURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:9090":            "http://127.0.0.1:9090/api/status",
		":9090":                     "http://127.0.0.1:9090/api/status",
		"0.0.0.0:9090":              "http://127.0.0.1:9090/api/status",
		"[::1]:9090":                "http://[::1]:9090/api/status",
		"worker.internal:80":        "http://worker.internal:80/api/status",
		"http://worker:9090/":       "http://worker:9090/api/status",
		"https://ops.example/work1": "https://ops.example/work1/api/status",
	} {
		got, err := status.StatusURL(in)
		if err != nil || got != want {
			t.Errorf("StatusURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "localhost", "ftp://h:1", "http://", "9090"} {
		if got, err := status.StatusURL(bad); err == nil {
			t.Errorf("StatusURL(%q) = %q, want an error", bad, got)
		}
	}
}

// TestStatusTable writes the terminal overview of the demo snapshot.
func TestStatusTable(t *testing.T) {
	s := statustest.Tenant(statustest.Demo())
	s.Alerts = status.Alerts(s, status.Thresholds{})
	var b strings.Builder
	if err := status.WriteTable(&b, s); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"cf-invalidator v1.6.0 · READY · up 3h 12m · window 10s · as of 2026-05-14 10:42:17 UTC",
		"WARN  " + statustest.Burst, "oldest held message has waited 2m 40s",
		"E2QWRUHEXAMPLE                         www,shop  held back   37    1,240  2m 40s  in 25s      2,850/3,000  4/15       2 (1 ours)   $4.20 / $25.00",
		"dt_acme_eu (tenant of E3MULTIEXAMPLE)",
		statustest.Burst + " waits: quota: 1,240 items wait for room",
		statustest.OthersInvalidation + "  someone else  1m 05s  2,000",
		"invalidations-bulk  bulk  1        2,400",
		"DEAD-LETTERED since start: 6", "invalid_path              4  latest 10:39:17",
		"cloudfront:quota                  7  last 25s ago",
		"SPEND this month: 2,052 paths · $5.26 of $50.00 · under · exact",
		"pause (origin deploy in progress)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q\n%s", want, out)
		}
	}
}

// TestStatusTableNoControlSequences: text from the snapshot cannot drive
// the terminal.
func TestStatusTableNoControlSequences(t *testing.T) {
	s := statustest.Hostile("tok")
	var b strings.Builder
	if err := status.WriteTable(&b, status.Clean(s, "tok")); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsAny(out, "\x1b\r\u202e") {
		t.Fatalf("a control character reached the terminal:\n%q", out)
	}
	if !strings.Contains(out, `\x1b[31mred\x1b[0m\x0d\x0aforged: line`) {
		t.Errorf("the escaped text is not shown:\n%s", out)
	}
}

func TestStatusFetch(t *testing.T) {
	fake := statustest.New(statustest.Demo())
	srv := httptest.NewServer(mux(status.Options{Provider: fake}))
	defer srv.Close()
	ctx := context.Background()
	s, raw, err := status.Fetch(ctx, srv.Client(), strings.TrimPrefix(srv.URL, "http://"))
	if err != nil || len(s.Distributions) != 2 || !strings.Contains(string(raw), `"schema": 1`) || len(s.Alerts) == 0 {
		t.Fatalf("Fetch: %v; %d distributions, %d alerts", err, len(s.Distributions), len(s.Alerts))
	}

	answer := func(code int, body string) string {
		h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(h.Close)
		return h.URL
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for name, c := range map[string]struct{ addr, want string }{
		"unreachable":   {closed, "cannot reach the worker at http://" + closed + "/api/status"},
		"not a worker":  {answer(404, "404 page not found"), "HTTP 404: 404 page not found"},
		"not json":      {answer(200, "<html>"), "not a status snapshot"},
		"other version": {answer(200, `{"schema":2}`), "status schema version 2, this command reads version 1"},
	} {
		if _, _, err := status.Fetch(ctx, http.DefaultClient, c.addr); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error with %q", name, err, c.want)
		}
	}
}
