package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/status"
	"github.com/acme/cf-invalidator/internal/status/statustest"
)

// TestStatusCommand runs `worker status` (the built binary) against a
// console serving the demo snapshot: the table, --json, an unreachable
// worker (exit 1) and bad flags (exit 2).
func TestStatusCommand(t *testing.T) {
	fake := statustest.New(statustest.Demo())
	mux := http.NewServeMux()
	status.New(status.Options{Provider: fake}).Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	res := e2e.Run(t, e2e.Exec{}, "status", "--addr", addr)
	if res.Code != exitOK {
		t.Fatalf("exit %d:\n%s", res.Code, res.Stderr)
	}
	t.Logf("worker status:\n%s", res.Stdout)
	for _, want := range []string{
		"cf-invalidator v1.6.0 · READY", "ALERTS", "oldest held message has waited 2m 40s",
		statustest.Burst, statustest.Calm, "2,850/3,000", statustest.OthersInvalidation, "someone else",
		"invalidations-bulk", "invalid_path", "SPEND this month: 2,052 paths · $5.26 of $50.00",
	} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	// INVALIDATOR_HTTP_ADDR is the default address; --json is the snapshot.
	res = e2e.Run(t, e2e.Exec{Env: []string{"INVALIDATOR_HTTP_ADDR=" + addr}}, "status", "--json")
	var snap status.Snapshot
	if err := json.Unmarshal([]byte(res.Stdout), &snap); err != nil || res.Code != exitOK {
		t.Fatalf("--json: exit %d, %v:\n%s", res.Code, err, res.Stdout)
	}
	if snap.Schema != status.SchemaVersion || len(snap.Distributions) != 2 || snap.Distributions[0].Quota.Files != 2850 {
		t.Errorf("--json snapshot: schema %d, %d distributions", snap.Schema, len(snap.Distributions))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	res = e2e.Run(t, e2e.Exec{}, "status", "--addr", closed)
	if res.Code != exitFailure || !strings.Contains(res.Stderr, "worker status: cannot reach the worker at http://"+closed) || res.Stdout != "" {
		t.Errorf("unreachable: exit %d, stderr %q, stdout %q; want 1 and a clear error", res.Code, res.Stderr, res.Stdout)
	}

	for _, args := range [][]string{
		{"status", "--addr"},
		{"status", "--nope"},
		{"status", "--addr", "no-port"},
		{"status", "extra"},
		{"status", "--timeout", "0s"},
	} {
		if res := e2e.Run(t, e2e.Exec{}, args...); res.Code != exitUsage || res.Stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 with a message", args, res.Code, res.Stderr)
		}
	}
	if res := e2e.Run(t, e2e.Exec{}, "status", "-h"); res.Code != exitOK || !strings.Contains(res.Stderr, "usage: worker status") {
		t.Errorf("-h: exit %d", res.Code)
	}
}
