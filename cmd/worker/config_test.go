package main

import (
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/e2e"
)

// TestConfigErrorsExit2: a bad configuration stops the binary before it
// touches AWS, with exit code 2 and one stderr line that names the key as
// the user wrote it (file key or environment variable).
func TestConfigErrorsExit2(t *testing.T) {
	const good = "queue_url: http://127.0.0.1:1/000000000000/q\nwindow: 1s\ndistributions:\n  - id: EGOOD000000001\n"
	for _, tc := range []struct {
		name string
		file string
		env  []string
		key  string // what the line must name
	}{
		{"missing queue_url", "window: 1s\ndistributions:\n  - id: EGOOD000000001\n", nil, "queue_url"},
		{"bad duration from env", good, []string{"INVALIDATOR_WINDOW=10x"}, "INVALIDATOR_WINDOW"},
		{"bad duration in file", strings.Replace(good, "window: 1s", "window: 10x", 1), nil, "window"},
		{"bare number duration", strings.Replace(good, "window: 1s", "window: 10", 1), nil, "window"},
		{"unknown key in file", good + "windw: 2s\n", nil, "windw"},
		{"unknown INVALIDATOR_ variable", good, []string{"INVALIDATOR_WINDW=2s"}, "INVALIDATOR_WINDW"},
		{"empty allow-list", "queue_url: http://127.0.0.1:1/000000000000/q\ndistributions: []\n", nil, "distributions"},
		{"queue_url and queues both", good + "queues:\n  - url: http://127.0.0.1:1/000000000000/other\n", nil, "queues"},
		{"unknown lane", strings.Replace(good, "queue_url: http://127.0.0.1:1/000000000000/q", "queues:\n  - url: http://127.0.0.1:1/000000000000/q\n    lane: fast", 1), nil, "queues[0].lane"},
		{"tenant without its distribution", good + "tenants:\n  - id: dt_2wjDZi3hD1ivOXf6rpZJO1AB\n", nil, "tenants[0].distribution"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := e2e.WriteConfig(t, tc.file)
			// Within 10 s: a config error must stop the worker at once.
			res := e2e.Run(t, e2e.Exec{SQS: "http://127.0.0.1:1", CloudFront: "http://127.0.0.1:1", Env: tc.env, Timeout: 10 * time.Second},
				"run", "--config", path)
			code, stdout, stderr := res.Code, res.Stdout, res.Stderr
			if code != 2 {
				t.Fatalf("exit code %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if len(lines) != 1 || lines[0] == "" {
				t.Fatalf("stderr has %d lines, want exactly one:\n%s", len(lines), stderr)
			}
			t.Logf("stderr: %s", lines[0])
			if !strings.Contains(lines[0], tc.key) {
				t.Errorf("stderr %q does not name %q", lines[0], tc.key)
			}
			if stdout != "" {
				t.Errorf("stdout not empty: %q", stdout)
			}
		})
	}
}
