package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/acme/cf-invalidator/internal/testenv"
)

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{
		"--addr", "127.0.0.1:0", "--distributions", "E1, E2,", "--tenants", "dt_a=E1, dt_b = E1,dt_c=E2", "--deny", "E3", "--complete-after", "2s",
		"--max-file-paths", "10", "--max-wildcards", "2", "--throttle-rate", "0.5", "--throttle-burst", "3",
		"--error-rate", "0.1", "--latency", "5ms", "--audit", "-", "--conflict-invalid-argument",
	}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := config{addr: "127.0.0.1:0", distributions: []string{"E1", "E2"}, tenants: map[string]string{"dt_a": "E1", "dt_b": "E1", "dt_c": "E2"},
		deny: []string{"E3"}, completeAfter: 2 * time.Second,
		maxFilePaths: 10, maxWildcards: 2, throttleRate: 0.5, throttleBurst: 3, errorRate: 0.1, latency: 5 * time.Millisecond,
		audit: "-", conflictIA: true}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("parsed %+v\nwant   %+v", c, want)
	}

	d, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil || d.tenants != nil || d.addr != "127.0.0.1:8090" || d.completeAfter != 15*time.Second || d.maxFilePaths != 3000 || d.maxWildcards != 15 {
		t.Fatalf("defaults %+v, %v", d, err)
	}
}

func TestParseFlagsRejects(t *testing.T) {
	for _, args := range [][]string{
		{"--error-rate", "1.5"},
		{"--error-rate", "-0.1"},
		{"--complete-after", "-1s"},
		{"--latency", "-1ms"},
		{"--max-file-paths", "0"},
		{"--max-wildcards", "-1"},
		{"--throttle-rate", "-1"},
		{"--throttle-burst", "-1"},
		{"--no-such-flag"},
		{"stray"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%v) accepted", args)
		}
	}
}

// TestParseFlagsRejectsTenants: each bad --tenants entry gets an error that
// names it.
func TestParseFlagsRejectsTenants(t *testing.T) {
	for tenants, want := range map[string]string{
		"dt_a":                                  `"dt_a" is not TENANT=DISTRIBUTION`,
		"=E1":                                   `"=E1" is not TENANT=DISTRIBUTION`,
		"dt_a=":                                 `"dt_a=" is not TENANT=DISTRIBUTION`,
		"dt_a=E1=E2":                            `"dt_a=E1=E2" is not TENANT=DISTRIBUTION`,
		"dt_a=E1,dt_a=E1":                       `tenant "dt_a" given twice`,
		"dt_a=E9":                               `parent distribution "E9" is not in Distributions`,
		"dt/a=E1":                               `must be one URI path segment`,
		"E1=E1":                                 `also a distribution id`,
		"dt_" + strings.Repeat("x", 62) + "=E1": "want 1 to 64 characters",
	} {
		_, err := parseFlags([]string{"--distributions", "E1", "--tenants", tenants}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "--tenants") || !strings.Contains(err.Error(), want) {
			t.Errorf("--tenants %s: %v, want an error saying %q", tenants, err, want)
		}
	}
}

// buildBinary compiles cmd/cfsim once per test into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cfsim")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinaryServesAndStopsOnSIGTERM runs the real binary: the SDK talks to
// it, the audit file gets a line, the log is JSON, and SIGTERM exits 0.
func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	port := testenv.FreePort(t)
	p := testenv.Start(t, "cfsim", nil, bin, "--addr", fmt.Sprintf("127.0.0.1:%d", port),
		"--distributions", "E1", "--tenants", "dt_a=E1", "--deny", "E3", "--complete-after", "0", "--audit", audit)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	testenv.WaitHTTP(t, p, endpoint+"/_sim/healthz", 10*time.Second)

	c := cloudfront.NewFromConfig(testenv.AWSConfig(), func(o *cloudfront.Options) { o.BaseEndpoint = aws.String(endpoint) })
	out, err := c.CreateInvalidation(context.Background(), &cloudfront.CreateInvalidationInput{
		DistributionId: aws.String("E1"),
		InvalidationBatch: &types.InvalidationBatch{CallerReference: aws.String("bin"),
			Paths: &types.Paths{Quantity: aws.Int32(1), Items: []string{"/index.html"}}},
	})
	if err != nil || aws.ToString(out.Invalidation.Status) != "Completed" {
		t.Fatalf("create: %v %v", out, err)
	}
	_, err = c.ListInvalidations(context.Background(), &cloudfront.ListInvalidationsInput{DistributionId: aws.String("E3")})
	if _, ok := errors.AsType[*types.AccessDenied](err); !ok {
		t.Fatalf("denied distribution: %v", err)
	}
	tout, err := c.CreateInvalidationForDistributionTenant(context.Background(), &cloudfront.CreateInvalidationForDistributionTenantInput{
		Id: aws.String("dt_a"),
		InvalidationBatch: &types.InvalidationBatch{CallerReference: aws.String("bin-t"),
			Paths: &types.Paths{Quantity: aws.Int32(1), Items: []string{"/t.html"}}},
	})
	if err != nil || aws.ToString(tout.Invalidation.Status) != "Completed" {
		t.Fatalf("tenant create: %v %v", tout, err)
	}
	_, err = c.ListInvalidationsForDistributionTenant(context.Background(), &cloudfront.ListInvalidationsForDistributionTenantInput{Id: aws.String("dt_b")})
	if _, ok := errors.AsType[*types.EntityNotFound](err); !ok {
		t.Fatalf("unknown tenant: %v", err)
	}

	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	checkAuditFile(t, audit, []auditLine{
		{Distribution: "E1", ID: aws.ToString(out.Invalidation.Id), CallerReference: "bin", Paths: []string{"/index.html"}},
		{Distribution: "E1", Tenant: "dt_a", ID: aws.ToString(tout.Invalidation.Id), CallerReference: "bin-t", Paths: []string{"/t.html"}},
	})
	checkJSONLog(t, p.Output())
}

// auditLine is one line of the audit file, without its time.
type auditLine struct {
	Distribution    string   `json:"distribution"`
	Tenant          string   `json:"tenant"`
	ID              string   `json:"id"`
	CallerReference string   `json:"caller_reference"`
	Paths           []string `json:"paths"`
}

func checkAuditFile(t *testing.T, path string, want []auditLine) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("audit file has %d lines, want %d:\n%s", len(lines), len(want), raw)
	}
	for i, line := range lines {
		var e struct {
			auditLine
			Time time.Time `json:"time"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil || !reflect.DeepEqual(e.auditLine, want[i]) || e.Time.IsZero() {
			t.Fatalf("audit line %d %q (%v), want %+v", i, line, err, want[i])
		}
	}
}

// checkJSONLog: every line is a JSON object; the start, the request and
// the stop are there.
func checkJSONLog(t *testing.T, out string) {
	t.Helper()
	msgs := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		msgs[fmt.Sprint(m["msg"])] = true
		if m["msg"] == "request" && strings.HasPrefix(fmt.Sprint(m["path"]), "/2020-05-31/") && m["request_id"] == "" {
			t.Errorf("API request logged without its request id: %s", sc.Text())
		}
	}
	for _, want := range []string{"cfsim listening", "request", "cfsim stopped"} {
		if !msgs[want] {
			t.Errorf("no %q in log:\n%s", want, out)
		}
	}
}

// TestBinaryRejectsBadFlags: exit code 2 and a message naming the flag.
func TestBinaryRejectsBadFlags(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "--error-rate", "2").CombinedOutput()
	ee, ok := errors.AsType[*exec.ExitError](err)
	if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "--error-rate") {
		t.Fatalf("exit %v, output %q", err, out)
	}
}
