package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/status"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// Worker is a running `worker run`.
type Worker struct {
	*testenv.Process
	Base    string    // http://127.0.0.1:PORT of /healthz, /readyz, /metrics
	Started time.Time // when the process was started
}

// StartWorker writes cfg, runs `worker run --config FILE` with the AWS
// environment for the given endpoints, INVALIDATOR_HTTP_ADDR on a free
// port and cfg.Env, and waits until /readyz answers 200 (it has received
// from SQS).
func StartWorker(t testing.TB, cfg Config, sqsEndpoint, cfEndpoint string) *Worker {
	t.Helper()
	return StartWorkers(t, 1, cfg, sqsEndpoint, cfEndpoint)[0]
}

// StartWorkers starts n replicas on one config file at once (each with its
// own /metrics port) and then waits until each is ready, so that they begin
// receiving at about the same time.
func StartWorkers(t testing.TB, n int, cfg Config, sqsEndpoint, cfEndpoint string) []*Worker {
	t.Helper()
	path := WriteConfig(t, cfg.YAML())
	ports := map[int]bool{}
	var ws []*Worker
	for i := range n {
		port := testenv.FreePort(t)
		for ports[port] {
			port = testenv.FreePort(t)
		}
		ports[port] = true
		env := append(ChildEnv(sqsEndpoint, cfEndpoint), fmt.Sprintf("INVALIDATOR_HTTP_ADDR=127.0.0.1:%d", port))
		env = append(env, cfg.Env...)
		name := "worker"
		if n > 1 {
			name = fmt.Sprintf("worker-%d", i+1)
		}
		w := &Worker{Base: fmt.Sprintf("http://127.0.0.1:%d", port), Started: time.Now()}
		w.Process = StartBinary(t, name, env, "run", "--config", path)
		ws = append(ws, w)
	}
	for _, w := range ws {
		w.WaitReady(t, 30*time.Second)
	}
	return ws
}

// StartBinary runs the worker binary with args in the background, with a
// clean environment plus env (see [testenv.StartClean]); a data race it
// reports fails the test at cleanup.
func StartBinary(t testing.TB, name string, env []string, args ...string) *testenv.Process {
	t.Helper()
	p := testenv.StartClean(t, name, env, append([]string{WorkerBin()}, args...)...)
	t.Cleanup(func() {
		if strings.Contains(p.Output(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race (see its output)", name)
		}
	})
	return p
}

// WaitReady waits until /readyz answers 200; the test fails if the worker
// exits first.
func (w *Worker) WaitReady(t testing.TB, within time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	Poll(t, within, 50*time.Millisecond, w.Name+" /readyz", func() (bool, string) {
		select {
		case <-w.Done():
			t.Fatalf("%s exited before it was ready (code %d):\n%s", w.Name, w.Cmd.ProcessState.ExitCode(), w.Output())
		default:
		}
		resp, err := client.Get(w.Base + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// Metrics scrapes /metrics into series → value, the series written as in
// the exposition format: `name` or `name{label="v",...}`.
func (w *Worker) Metrics(t testing.TB) map[string]float64 {
	t.Helper()
	m, err := w.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Scrape is Metrics without a test, for background goroutines.
func (w *Worker) Scrape() (map[string]float64, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(w.Base + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	return out, nil
}

// Metric is one series' value (0 when absent).
func (w *Worker) Metric(t testing.TB, series string) float64 {
	t.Helper()
	return w.Metrics(t)[series]
}

// WaitMetric waits until series reaches at least want.
func (w *Worker) WaitMetric(t testing.TB, series string, want float64, within time.Duration) {
	t.Helper()
	Poll(t, within, 100*time.Millisecond, series+" >= "+strconv.FormatFloat(want, 'f', -1, 64), func() (bool, string) {
		v := w.Metric(t, series)
		return v >= want, strconv.FormatFloat(v, 'f', -1, 64)
	})
}

// Stop sends SIGTERM and requires exit code 0 within d.
func (w *Worker) Stop(t testing.TB, d time.Duration) {
	t.Helper()
	if err := w.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v", w.Name, err)
	}
	if code := w.Wait(d); code != 0 {
		t.Fatalf("%s: exit code %d after SIGTERM (want 0 within %s)", w.Name, code, d)
	}
}

// MetricSum adds up every series of the metric name, whatever its labels.
func MetricSum(m map[string]float64, name string) float64 {
	sum := 0.0
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			sum += v
		}
	}
	return sum
}

// Series is a series name with one label: name{label="value"}.
func Series(name, label, value string) string {
	return fmt.Sprintf("%s{%s=%q}", name, label, value)
}

// Exec is how [Run] runs the worker binary to completion.
type Exec struct {
	SQS, CloudFront string        // endpoints ("" for none)
	Env             []string      // added after the AWS environment
	Stdin           string        // what the command reads
	Timeout         time.Duration // 0: two minutes; running longer fails the test
}

// Result is what one run of the worker binary did.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs the worker binary with args and waits for it: a clean
// environment plus the AWS environment of the endpoints and e.Env.
func Run(t testing.TB, e Exec, args ...string) Result {
	t.Helper()
	timeout := e.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, WorkerBin(), args...)
	cmd.Env = append(append(testenv.CleanEnv(), ChildEnv(e.SQS, e.CloudFront)...), e.Env...)
	cmd.Stdin = strings.NewReader(e.Stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("worker %s did not exit within %s\nstderr: %s", strings.Join(args, " "), timeout, stderr.String())
	}
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("worker %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	if strings.Contains(stderr.String(), "WARNING: DATA RACE") {
		t.Errorf("worker %s reported a data race:\n%s", strings.Join(args, " "), stderr.String())
	}
	return Result{stdout.String(), stderr.String(), code}
}

// HasRow reports whether out (a command's table) has a row: name, then
// exactly the given cells.
func HasRow(out, name string, cells ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == len(cells)+1 && f[0] == name && strings.Join(f[1:], " ") == strings.Join(cells, " ") {
			return true
		}
	}
	return false
}

// Status fetches the worker's GET /api/status (the console's snapshot).
func (w *Worker) Status(t testing.TB) status.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, _, err := status.Fetch(ctx, &http.Client{Timeout: 5 * time.Second}, w.Base)
	if err != nil {
		t.Fatalf("%s: GET /api/status: %v", w.Name, err)
	}
	return s
}

// QueueStatus is the snapshot's entry of queueURL; the test fails when the
// worker does not list it.
func QueueStatus(t testing.TB, s status.Snapshot, queueURL string) status.Queue {
	t.Helper()
	for _, q := range s.Queues {
		if q.URL == queueURL {
			return q
		}
	}
	t.Fatalf("the worker's status lists no queue %s", queueURL)
	return status.Queue{}
}
