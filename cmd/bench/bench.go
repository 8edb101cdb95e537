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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acme/cf-invalidator/internal/cfsim"
)

// workerStopGrace bounds the worker's exit after SIGTERM; its
// shutdown_grace is set to 10 s below.
const workerStopGrace = 30 * time.Second

// result is what the report shows.
type result struct {
	o             options
	bareSend      time.Duration
	bare          time.Duration
	workerSend    time.Duration
	worker        time.Duration
	deletedMetric float64
	cpu           time.Duration
	bareCPU       time.Duration // the harness's own CPU during the bare loop (its consumer)
	maxRSSKiB     int64
	createCalls   int // CreateInvalidation requests, every outcome
	invalidations int // created
	pathsBilled   int
	pathsSent     int // paths in all worker-phase messages, duplicates included
	distinctPaths int // distinct (distribution, path) pairs among them
}

// harness is what both phases share.
type harness struct {
	o        options
	root     string   // the module root
	dir      string   // temporary directory: logs, the worker's config
	sqsURL   string   // fauxqs
	cfURL    string   // the CloudFront simulator
	ids      []string // distribution ids
	sqs      *sqs.Client
	cleanups []func() // run in reverse order when bench returns
}

// bench runs both phases.
func bench(ctx context.Context, o options) (_ result, err error) {
	r := result{o: o}
	h := &harness{o: o, ids: distributionIDs(o.distributions)}
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

	workerBin := o.worker
	if workerBin == "" {
		progress("building ./cmd/worker")
		if workerBin, err = buildWorker(ctx, h.root, h.dir); err != nil {
			return r, err
		}
	}
	if _, err := os.Stat(workerBin); err != nil {
		return r, fmt.Errorf("worker binary: %w", err)
	}

	progress("starting fauxqs and the CloudFront simulator")
	fq, endpoint, err := startFauxqs(ctx, h.root, h.dir)
	if err != nil {
		return r, err
	}
	h.cleanups = append(h.cleanups, fq.kill)
	sim := cfsim.New(cfsim.Options{Distributions: h.ids, CompleteAfter: 0})
	cf := httptest.NewServer(sim)
	h.cleanups = append(h.cleanups, cf.Close)
	h.sqsURL, h.cfURL = endpoint, cf.URL
	h.sqs = newSQS(endpoint, 2*o.sendConcurrency)

	if err := h.barePhase(ctx, &r); err != nil {
		return r, err
	}
	if err := h.workerPhase(ctx, &r, workerBin); err != nil {
		return r, err
	}
	st := sim.Stats()
	for _, k := range st.Requests["CreateInvalidation"] {
		r.createCalls += k
	}
	r.invalidations, r.pathsBilled = st.Invalidations, st.PathsBilled
	return r, nil
}

// fill creates a queue and sends bodies to it, timing the sending.
func (h *harness) fill(ctx context.Context, phase, name string, bodies []string) (queue string, took time.Duration, err error) {
	if queue, err = createQueue(ctx, h.sqs, name); err != nil {
		return "", 0, err
	}
	progress("%s: sending %d messages", phase, h.o.n)
	took, err = timed(func() error { return sendAll(ctx, h.sqs, queue, bodies, h.o.sendConcurrency) })
	if err != nil {
		return "", 0, fmt.Errorf("%s: send: %w", phase, err)
	}
	return queue, took, nil
}

func (h *harness) barePhase(ctx context.Context, r *result) (err error) {
	bodies, _, _ := workload(h.o, h.ids)
	queue, took, err := h.fill(ctx, "bare loop", "bench-bare", bodies)
	if err != nil {
		return err
	}
	r.bareSend = took
	progress("bare loop: %d pollers receiving and deleting", h.o.pollers)
	before := selfCPU()
	r.bare, err = bareLoop(ctx, h.sqs, queue, h.o.n, h.o.pollers)
	r.bareCPU = selfCPU() - before
	return err
}

// workerPhase starts the worker, measures until the queue is empty and the
// worker's own counter says n deleted, then stops it with SIGTERM.
func (h *harness) workerPhase(ctx context.Context, r *result, bin string) error {
	dlq, err := createQueue(ctx, h.sqs, "bench-worker-dlq")
	if err != nil {
		return err
	}
	var bodies []string
	bodies, r.pathsSent, r.distinctPaths = workload(h.o, h.ids)
	queue, took, err := h.fill(ctx, "worker", "bench-worker", bodies)
	if err != nil {
		return err
	}
	r.workerSend = took
	port, err := freePort()
	if err != nil {
		return err
	}
	env, cfgPath, err := h.workerEnv(queue, dlq, port)
	if err != nil {
		return err
	}
	progress("worker: running %s (pollers %d, window %s)", bin, h.o.pollers, h.o.window)
	begin := time.Now()
	w, err := start("worker", filepath.Join(h.dir, "worker.log"), env, bin, "run", "--config", cfgPath)
	if err != nil {
		return err
	}
	h.cleanups = append(h.cleanups, w.kill)
	profiled := make(chan error, 1)
	if h.o.cpuProfile != "" {
		go func() { profiled <- h.profile(ctx, port) }()
	} else {
		profiled <- nil
	}
	if r.worker, err = waitDrained(ctx, w, h.sqs, queue, begin); err != nil {
		return fmt.Errorf("worker: %w; last log lines:\n%s", err, w.tail(20))
	}
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	if r.deletedMetric, err = waitDeletedMetric(ctx, metrics, float64(h.o.n)); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if err := <-profiled; err != nil {
		return fmt.Errorf("worker: cpu profile: %w", err)
	}
	if err := w.stop(ctx, workerStopGrace); err != nil {
		return fmt.Errorf("worker: %w; last log lines:\n%s", err, w.tail(20))
	}
	if ru, ok := w.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		r.maxRSSKiB = ru.Maxrss // KiB on Linux
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("worker: exited with status %d after SIGTERM, want 0; last log lines:\n%s", code, w.tail(20))
	}
	if v, f, err := queueDepth(ctx, h.sqs, dlq); err != nil || v+f > 0 {
		return fmt.Errorf("worker: dead-letter queue: %d messages (%v), want 0: the workload has no poison; see %s",
			v+f, err, w.logPath)
	}
	return nil
}

// workerEnv writes a minimal config file and returns the environment that
// configures the rest: AWS endpoints and INVALIDATOR_* overrides.
func (h *harness) workerEnv(queue, dlq string, port int) (env []string, cfgPath string, err error) {
	cfgPath = filepath.Join(h.dir, "worker.yaml")
	if err := os.WriteFile(cfgPath, []byte("# written by cmd/bench; the rest comes from INVALIDATOR_* variables\n"+
		"shutdown_grace: 10s\nlog_level: info\n"), 0o644); err != nil {
		return nil, "", err
	}
	return []string{
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_REGION=" + region, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL_SQS=" + h.sqsURL, "AWS_ENDPOINT_URL_CLOUDFRONT=" + h.cfURL,
		"INVALIDATOR_QUEUE_URL=" + queue,
		"INVALIDATOR_DEAD_LETTER_QUEUE_URL=" + dlq,
		"INVALIDATOR_DISTRIBUTIONS=" + distributionsJSON(h.ids),
		"INVALIDATOR_ALLOW_ALL_DISTRIBUTIONS=false",
		"INVALIDATOR_WINDOW=" + h.o.window.String(),
		"INVALIDATOR_POLLERS=" + strconv.Itoa(h.o.pollers),
		"INVALIDATOR_MAX_HELD=" + strconv.Itoa(min(max(h.o.n, 10), maxHeld)),
		fmt.Sprintf("INVALIDATOR_HTTP_ADDR=127.0.0.1:%d", port),
		"INVALIDATOR_DEBUG_PPROF=" + strconv.FormatBool(h.o.cpuProfile != ""),
	}, cfgPath, nil
}

// profile fetches a CPU profile of the worker's busiest seconds (from its
// start until the queue is about drained) through debug_pprof.
func (h *harness) profile(ctx context.Context, port int) error {
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/debug/pprof/profile?seconds=3", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(h.o.cpuProfile)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// waitDrained polls the queue every 100 ms until nothing is visible or in
// flight, and returns the time since begin.
func waitDrained(ctx context.Context, w *proc, c *sqs.Client, queue string, begin time.Time) (time.Duration, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastReport := begin
	for {
		if w.exited() {
			return 0, fmt.Errorf("exited early (%s)", w.cmd.ProcessState)
		}
		visible, inFlight, err := queueDepth(ctx, c, queue)
		if err != nil {
			return 0, err
		}
		if visible == 0 && inFlight == 0 {
			return time.Since(begin), nil
		}
		if time.Since(lastReport) >= 5*time.Second {
			lastReport = time.Now()
			progress("worker: %s, %d visible, %d in flight", time.Since(begin).Round(time.Second), visible, inFlight)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("queue not drained (%d visible, %d in flight): %w", visible, inFlight, ctx.Err())
		case <-tick.C:
		}
	}
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.Fields(v)[0], 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s on the page", name)
}

// distributionIDs returns k ids shaped like CloudFront's.
func distributionIDs(k int) []string {
	ids := make([]string, k)
	for i := range ids {
		ids[i] = fmt.Sprintf("EBENCH%03d", i+1)
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

// workload returns o.n v1 bodies as a CMS would send them: message i is for
// distribution i mod k and names a post drawn from o.postsPerDist, its
// index.html and listing pages; every o.dupEvery-th message repeats the one
// before. It also returns how many paths the bodies hold and how many
// distinct (distribution, path) pairs. The seed is fixed so runs compare.
func workload(o options, ids []string) (bodies []string, paths, distinct int) {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := make(map[string]bool)
	type v1 struct {
		DistributionID string   `json:"distribution_id"`
		Paths          []string `json:"paths"`
	}
	bodies = make([]string, o.n)
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

func (r result) print(w io.Writer) {
	o := r.o
	bareRate, workerRate := rate(o.n, r.bare), rate(o.n, r.worker)
	row := func(name, bare, worker string) { fmt.Fprintf(w, "%-30s %14s %14s\n", name, bare, worker) }
	fmt.Fprintf(w, "\nfauxqs + cfsim, %d pollers, window %s, %d distribution(s), %d path(s) a message\n\n",
		o.pollers, o.window, o.distributions, o.pathsPerMessage)
	row("", "bare loop", "worker")
	row("messages", strconv.Itoa(o.n), strconv.Itoa(o.n))
	row("elapsed", secs(r.bare), secs(r.worker))
	row("msgs/s", fmt.Sprintf("%.0f", bareRate), fmt.Sprintf("%.0f", workerRate))
	row("(sending, not measured)", secs(r.bareSend), secs(r.workerSend))
	per1k := func(d time.Duration) string {
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)*1000/float64(o.n))
	}
	row("consumer CPU (user+sys)", secs(r.bareCPU), secs(r.cpu))
	row("CPU per 1k messages", per1k(r.bareCPU), per1k(r.cpu))
	row("peak RSS", "", fmt.Sprintf("%.1f MiB", float64(r.maxRSSKiB)/1024))
	row("deleted (worker's metric)", "", fmt.Sprintf("%.0f", r.deletedMetric))
	row("paths in messages", "", strconv.Itoa(r.pathsSent))
	row("distinct paths", "", strconv.Itoa(r.distinctPaths))
	row("CreateInvalidation requests", "", strconv.Itoa(r.createCalls))
	row("invalidations created", "", strconv.Itoa(r.invalidations))
	row("paths billed", "", strconv.Itoa(r.pathsBilled))
	fmt.Fprintf(w, "\nworker/bare ratio: %.2f\n", workerRate/bareRate)
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
