package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acme/cf-invalidator/internal/cfsim"
)

// workerStopGrace bounds the worker's exit after SIGTERM; its
// shutdown_grace is set to 10 s below.
const workerStopGrace = 30 * time.Second

// result is what the report shows.
type result struct {
	o          options
	started    time.Time
	took       time.Duration
	load       [2]string // /proc/loadavg at the start and the end
	bare, held *drain
	worker     *drain
	cf         cfStats
	latency    *latencyResult
	memory     *memoryResult
}

// cfStats is what the CloudFront simulator saw in the throughput phase.
type cfStats struct {
	createCalls   int // CreateInvalidation requests, every outcome
	invalidations int // created
	pathsBilled   int
	pathsSent     int // paths in all worker-phase messages, duplicates included
	distinctPaths int // distinct (distribution, path) pairs among them
}

// harness is what the phases share.
type harness struct {
	o         options
	root      string // the module root
	dir       string // temporary directory: logs, the worker's config
	workerBin string // the worker under test
	sqsURL    string // fauxqs
	cfURL     string // the CloudFront simulator
	fauxqs    *proc  // for its CPU time
	sim       *cfsim.Server
	ids       []string // distribution ids
	// holdIDs are the memory phase's own distributions: the history the
	// other phases leave (tens of invalidations, tens of thousands of
	// paths, which the worker's view and ledger remember for an hour) is
	// not per held message.
	holdIDs  []string
	dlq      string // the workers' dead-letter queue (must stay empty)
	sqs      *sqs.Client
	cleanups []func() // run in reverse order when bench returns
}

// bench runs the phases o asks for.
func bench(ctx context.Context, o options) (_ result, err error) {
	r := result{o: o, started: time.Now(), load: [2]string{loadAvg(), ""}}
	h := &harness{o: o, ids: distributionIDs("EBENCH", o.distributions), holdIDs: distributionIDs("EBENCHHOLD", o.distributions)}
	if h.root, err = repoRoot(); err != nil {
		return r, err
	}
	if h.dir, err = os.MkdirTemp("", "cf-invalidator-bench-"); err != nil {
		return r, err
	}
	defer func() {
		for i := len(h.cleanups) - 1; i >= 0; i-- {
			h.cleanups[i]()
		}
		if err != nil || o.keep {
			fmt.Fprintf(os.Stderr, "bench: logs kept in %s\n", h.dir)
		} else {
			os.RemoveAll(h.dir)
		}
	}()

	h.workerBin = o.worker
	if h.workerBin == "" {
		progress("building ./cmd/worker")
		if h.workerBin, err = buildWorker(ctx, h.root, h.dir); err != nil {
			return r, err
		}
	}
	if _, err := os.Stat(h.workerBin); err != nil {
		return r, fmt.Errorf("worker binary: %w", err)
	}

	progress("starting fauxqs and the CloudFront simulator")
	fq, endpoint, err := startFauxqs(ctx, h.root, h.dir, h.o.fauxqsInflightFix)
	if err != nil {
		return r, err
	}
	h.fauxqs = fq
	h.cleanups = append(h.cleanups, fq.kill)
	h.sim = cfsim.New(cfsim.Options{Distributions: slices.Concat(h.ids, h.holdIDs), CompleteAfter: 0})
	cf := httptest.NewServer(h.sim)
	h.cleanups = append(h.cleanups, cf.Close)
	h.sqsURL, h.cfURL = endpoint, cf.URL
	h.sqs = newSQS(endpoint, 2*o.sendConcurrency)
	if h.dlq, err = createQueue(ctx, h.sqs, "bench-dlq"); err != nil {
		return r, err
	}

	if o.has(phaseBare) {
		if r.bare, err = h.bareDrain(ctx, "bare loop", "bench-bare", 0); err != nil {
			return r, err
		}
	}
	if o.has(phaseHeld) {
		if r.held, err = h.bareDrain(ctx, "windowed loop", "bench-windowed", o.window); err != nil {
			return r, err
		}
	}
	if o.has(phaseWorker) {
		before := h.sim.Stats()
		if r.worker, err = h.workerDrain(ctx, &r.cf); err != nil {
			return r, err
		}
		after := h.sim.Stats()
		for op, k := range after.Requests["CreateInvalidation"] {
			r.cf.createCalls += k - before.Requests["CreateInvalidation"][op]
		}
		r.cf.invalidations = after.Invalidations - before.Invalidations
		r.cf.pathsBilled = after.PathsBilled - before.PathsBilled
	}
	if o.has(phaseLatency) {
		if r.latency, err = h.latencyPhase(ctx); err != nil {
			return r, err
		}
	}
	if o.has(phaseMemory) {
		if r.memory, err = h.memoryPhase(ctx); err != nil {
			return r, err
		}
	}
	r.took, r.load[1] = time.Since(r.started), loadAvg()
	return r, nil
}

// fill creates a queue and sends bodies to it, timing the sending.
func (h *harness) fill(ctx context.Context, phase, name string, bodies []string) (queue string, took time.Duration, err error) {
	if queue, err = createQueue(ctx, h.sqs, name); err != nil {
		return "", 0, err
	}
	progress("%s: sending %d messages", phase, len(bodies))
	took, err = timed(func() error { return sendAll(ctx, h.sqs, queue, bodies, h.o.sendConcurrency) })
	if err != nil {
		return "", 0, fmt.Errorf("%s: send: %w", phase, err)
	}
	return queue, took, nil
}

// startWorker starts the worker with the harness's settings plus env
// (later entries win) and waits until its HTTP server answers.
func (h *harness) startWorker(ctx context.Context, name, queue, sqsURL string, env ...string) (*proc, int, error) {
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	base, cfgPath, err := h.workerEnv(queue, sqsURL, port)
	if err != nil {
		return nil, 0, err
	}
	w, err := start(name, filepath.Join(h.dir, name+".log"), append(base, env...), h.workerBin, "run", "--config", cfgPath)
	if err != nil {
		return nil, 0, err
	}
	h.cleanups = append(h.cleanups, w.kill)
	if err := waitHTTP(ctx, w, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), false, 30*time.Second); err != nil {
		return nil, 0, err
	}
	return w, port, nil
}

// stopWorker sends SIGTERM, waits for a clean exit, and checks that
// nothing went to the dead-letter queue.
func (h *harness) stopWorker(ctx context.Context, w *proc) error {
	if err := w.stop(ctx, workerStopGrace); err != nil {
		return fmt.Errorf("%s: %w; last log lines:\n%s", w.name, err, w.tail(20))
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("%s: exited with status %d after SIGTERM, want 0; last log lines:\n%s", w.name, code, w.tail(20))
	}
	if v, f, err := queueDepth(ctx, h.sqs, h.dlq); err != nil || v+f > 0 {
		return fmt.Errorf("%s: dead-letter queue: %d messages (%v), want 0: the workload has no poison; see %s",
			w.name, v+f, err, w.logPath)
	}
	return nil
}

// workerEnv writes a minimal config file and returns the environment that
// configures the rest: AWS endpoints and INVALIDATOR_* overrides. Only keys
// every worker version honours are set (queue_url, window, pollers,
// max_held, visibility_timeout, distributions, http_addr, debug_pprof, …).
func (h *harness) workerEnv(queue, sqsURL string, port int) (env []string, cfgPath string, err error) {
	cfgPath = filepath.Join(h.dir, "worker.yaml")
	if err := os.WriteFile(cfgPath, []byte("# written by cmd/bench; the rest comes from INVALIDATOR_* variables\n"+
		"shutdown_grace: 10s\nlog_level: info\n"), 0o644); err != nil {
		return nil, "", err
	}
	return []string{
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_REGION=" + region, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL_SQS=" + sqsURL, "AWS_ENDPOINT_URL_CLOUDFRONT=" + h.cfURL,
		"INVALIDATOR_QUEUE_URL=" + queue,
		"INVALIDATOR_DEAD_LETTER_QUEUE_URL=" + h.dlq,
		"INVALIDATOR_DISTRIBUTIONS=" + distributionsJSON(h.ids),
		"INVALIDATOR_ALLOW_ALL_DISTRIBUTIONS=false",
		"INVALIDATOR_WINDOW=" + h.o.window.String(),
		"INVALIDATOR_POLLERS=" + strconv.Itoa(h.o.pollers),
		// Room for any window's worth at any rate: the held count is the
		// worker's business, not a cap the bench imposes.
		"INVALIDATOR_MAX_HELD=" + strconv.Itoa(maxHeld),
		fmt.Sprintf("INVALIDATOR_HTTP_ADDR=127.0.0.1:%d", port),
		"INVALIDATOR_DEBUG_PPROF=false",
	}, cfgPath, nil
}

// fetchProfile fetches a profile from the worker's debug_pprof (url) and
// writes it to path.
func fetchProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// waitDeletedMetric reads invalidator_messages_deleted_total until it
// reaches want (the queue may look empty a moment before the worker has
// counted its last delete), for at most 10 s.
func waitDeletedMetric(ctx context.Context, url string, want float64) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got float64
	var err error
	for {
		got, err = scrape(ctx, url, "invalidator_messages_deleted_total")
		if err == nil && got >= want {
			return got, nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return got, fmt.Errorf("read %s: %w", url, err)
			}
			return got, fmt.Errorf("invalidator_messages_deleted_total is %v, want %v", got, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// scrape returns the value of an unlabelled metric from a Prometheus text page.
func scrape(ctx context.Context, url, name string) (float64, error) {
	page, err := fetchPage(ctx, url)
	if err != nil {
		return 0, err
	}
	return metricValue(page, name)
}

// fetchPage GETs url and returns its body (at most 16 MiB).
func fetchPage(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: HTTP %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return string(b), err
}

// metricValue returns the value of an unlabelled metric on a page.
func metricValue(page, name string) (float64, error) {
	sc := bufio.NewScanner(strings.NewReader(page))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.Fields(v)[0], 64)
		}
	}
	return 0, fmt.Errorf("no %s on the page", name)
}

// distributionIDs returns k ids shaped like CloudFront's.
func distributionIDs(prefix string, k int) []string {
	ids := make([]string, k)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%03d", prefix, i+1)
	}
	return ids
}

func distributionsJSON(ids []string) string {
	type dist struct {
		ID string `json:"id"`
	}
	ds := make([]dist, len(ids))
	for i, id := range ids {
		ds[i] = dist{id}
	}
	b, _ := json.Marshal(ds) // strings only: cannot fail
	return string(b)
}

// workload returns n v1 bodies as a CMS would send them: message i is for
// distribution i mod k and names a post drawn from o.postsPerDist, its
// index.html and listing pages; every o.dupEvery-th message repeats the one
// before. It also returns how many paths the bodies hold and how many
// distinct (distribution, path) pairs. The seed is fixed so runs compare.
func workload(o options, ids []string, n int) (bodies []string, paths, distinct int) {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := make(map[string]bool)
	type v1 struct {
		DistributionID string   `json:"distribution_id"`
		Paths          []string `json:"paths"`
	}
	bodies = make([]string, n)
	for i := range bodies {
		if o.dupEvery > 0 && i > 0 && i%o.dupEvery == 0 {
			bodies[i] = bodies[i-1]
			paths += o.pathsPerMessage
			continue
		}
		dist := ids[i%len(ids)]
		post := rng.IntN(o.postsPerDist)
		ps := []string{fmt.Sprintf("/posts/%d/", post), fmt.Sprintf("/posts/%d/index.html", post)}
		for len(ps) < o.pathsPerMessage {
			ps = append(ps, fmt.Sprintf("/page/%d/", rng.IntN(100)))
		}
		ps = ps[:o.pathsPerMessage]
		for _, p := range ps {
			seen[dist+p] = true
		}
		paths += len(ps)
		b, _ := json.Marshal(v1{dist, ps})
		bodies[i] = string(b)
	}
	return bodies, paths, len(seen)
}

func timed(f func() error) (time.Duration, error) {
	begin := time.Now()
	err := f()
	return time.Since(begin), err
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// loadAvg is /proc/loadavg's first three fields ("" when unreadable): the
// report shows it so that a noisy machine is seen as one.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
