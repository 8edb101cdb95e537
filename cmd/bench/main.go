// Command bench is the load harness behind `make bench`. In one run, against
// one fauxqs (tools/emulators, installed by `make emulators`, started on a
// free loopback port) and the CloudFront simulator (internal/cfsim,
// in-process, invalidations complete at once), it measures:
//
//  1. Sustained throughput. Each consumer drains -n messages from a
//     standing backlog: the first -depth are sent before it starts (not
//     measured), and the harness keeps about -depth visible until all n are
//     sent (fauxqs's receive cost grows with the visible count, so a
//     backlog sent all at once would make the emulator everyone's limit).
//     The consumers, one after the other: the bare loop (-pollers
//     goroutines doing ReceiveMessage 10 / DeleteMessageBatch, nothing
//     else); the windowed loop, the same but deleting what it received at
//     the end of each -window (as many messages in flight as the worker: a
//     diagnostic of what fauxqs's in-flight cost leaves of the ceiling); and
//     bin/worker. The harness samples the queue depth every -sample for all
//     three alike; the rate is taken between the samples at which -rate-from
//     and -rate-to of the n were deleted, which leaves out start-up, the
//     first window and the last.
//  2. CPU per 1,000 messages: each consumer runs in a process of its own —
//     the bare loops are this program re-executed as `bench bare-loop` —
//     and its user+system time comes from its rusage; fauxqs's and the
//     harness's (feeder, sampler) CPU are shown alongside, as all share the
//     cores.
//  3. Latency: an open-loop producer sends -latency-rate messages/s for
//     -latency-duration to a worker that talks to fauxqs through a
//     recording SQS proxy in the harness (proxy.go); per message, from its
//     SentTimestamp to the answer of the DeleteMessageBatch that deleted
//     it: p50, p99, max. The worker's own
//     invalidator_message_age_at_delete_seconds histogram is shown as a
//     cross-check.
//  4. Memory: a worker with a -hold-window window holds -hold messages in
//     open batches; bytes per held message = (VmRSS holding − VmRSS before)
//     / -hold, each read after a forced GC (debug_pprof's heap?gc=1), with
//     the live heap per message beside it (memory.go says why both).
//
// It prints one table per phase, how to reproduce the run, and the key
// lines last, "worker/bare ratio: R" the very last. -phases selects phases.
// Everything runs under one -timeout; every process started is killed on
// exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Phases, in the order they run.
const (
	phaseBare    = "bare"
	phaseHeld    = "windowed"
	phaseWorker  = "worker"
	phaseLatency = "latency"
	phaseMemory  = "memory"
)

var allPhases = []string{phaseBare, phaseHeld, phaseWorker, phaseLatency, phaseMemory}

// options are the command-line flags.
type options struct {
	n               int
	pollers         int
	window          time.Duration
	distributions   int
	pathsPerMessage int
	postsPerDist    int
	dupEvery        int
	sendConcurrency int
	rateFrom        float64
	rateTo          float64
	sampleEvery     time.Duration
	depth           int
	phases          []string

	latencyRate     int
	latencyDuration time.Duration

	hold       int
	holdWindow time.Duration
	holdPosts  int

	worker            string
	timeout           time.Duration
	keep              bool
	cpuProfile        string
	cpuProfileSeconds int
	bareCPUProfile    string
	heapProfile       string
	allocProfile      string
	// fauxqsInflightFix: run fauxqs with tools/emulators/fauxqs-inflight-fix.mjs
	// preloaded (its receive walks the in-flight messages only when one may
	// be due), to show how much of a gap is the emulator's.
	fauxqsInflightFix bool

	set map[string]string // flags given on the command line, for "reproduce"
}

func (o options) has(phase string) bool { return slices.Contains(o.phases, phase) }

func main() {
	if len(os.Args) > 1 && os.Args[1] == bareChildCommand {
		os.Exit(runBareChild(os.Args[2:], os.Stderr))
	}
	os.Exit(run())
}

// run returns the exit code: 0 after a full report, 1 on failure, 2 for bad flags.
func run() int {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeoutCause(ctx, o.timeout,
		fmt.Errorf("global timeout of %s reached (raise -timeout, or lower -n, -hold, -latency-duration)", o.timeout))
	defer cancel()

	r, err := bench(ctx, o)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		fmt.Fprintln(os.Stderr, "bench: FAILED:", err)
		return 1
	}
	r.print(os.Stdout)
	return 0
}

func parseFlags(args []string) (options, error) {
	var o options
	var phases string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.n, "n", 200000, "throughput: messages each consumer drains")
	fs.IntVar(&o.depth, "depth", 20000, "throughput: the standing backlog kept visible while the n are sent")
	fs.IntVar(&o.pollers, "pollers", 4, "concurrent ReceiveMessage loops, in the bare loop and in the worker (INVALIDATOR_POLLERS)")
	fs.DurationVar(&o.window, "window", time.Second, "the worker's coalescing window (INVALIDATOR_WINDOW) in the throughput and latency phases, and the held loop's delay")
	fs.IntVar(&o.distributions, "distributions", 2, "distributions the messages are spread over")
	fs.IntVar(&o.pathsPerMessage, "paths", 3, "paths per message")
	fs.IntVar(&o.postsPerDist, "posts", 2000, "distinct posts per distribution the paths are drawn from")
	fs.IntVar(&o.dupEvery, "dup-every", 10, "every k-th message repeats the one before it (0 = no duplicates)")
	fs.IntVar(&o.sendConcurrency, "send-concurrency", 32, "concurrent SendMessageBatch calls while filling a queue")
	fs.Float64Var(&o.rateFrom, "rate-from", 0.2, "throughput: the rate is measured from this fraction of the backlog deleted…")
	fs.Float64Var(&o.rateTo, "rate-to", 0.8, "…to this one")
	fs.DurationVar(&o.sampleEvery, "sample", 100*time.Millisecond, "throughput: how often the queue's depth is sampled")
	fs.StringVar(&phases, "phases", strings.Join(allPhases, ","), "phases to run, comma-separated: "+strings.Join(allPhases, ","))
	fs.IntVar(&o.latencyRate, "latency-rate", 1000, "latency: messages/s the open-loop producer sends")
	fs.DurationVar(&o.latencyDuration, "latency-duration", 30*time.Second, "latency: how long it sends")
	fs.IntVar(&o.hold, "hold", 100000, "memory: messages the worker holds")
	fs.DurationVar(&o.holdWindow, "hold-window", 10*time.Minute, "memory: the worker's window (long enough that nothing flushes)")
	fs.IntVar(&o.holdPosts, "hold-posts", 1000, "memory: distinct posts per distribution (2 paths each + 100 listing pages must stay under CloudFront's 3,000 paths a request, or the batch flushes when full)")
	fs.StringVar(&o.worker, "worker", "", "worker binary (default: go build ./cmd/worker into a temporary directory)")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "bound for the whole run")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs) even after a successful run")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the worker's throughput drain (debug_pprof) to this file")
	fs.IntVar(&o.cpuProfileSeconds, "cpuprofile-seconds", 10, "length of that profile, from the worker's start")
	fs.StringVar(&o.bareCPUProfile, "bare-cpuprofile", "", "write a CPU profile of the bare loop's drain to this file")
	fs.BoolVar(&o.fauxqsInflightFix, "fauxqs-inflight-fix", false, "run fauxqs with tools/emulators/fauxqs-inflight-fix.mjs preloaded: its receive walks its in-flight messages only when one may be due, not on every call (for showing how much of the worker's gap is the emulator's; stock fauxqs by default)")
	fs.StringVar(&o.allocProfile, "allocprofile", "", "write the worker's allocation profile (debug_pprof's allocs, since its start) at the end of its throughput drain to this file")
	fs.StringVar(&o.heapProfile, "heapprofile", "", "write the worker's heap profile while it holds -hold messages (memory phase) to this file")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	o.set = map[string]string{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = f.Value.String() })
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	for _, p := range strings.Split(phases, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
		case !slices.Contains(allPhases, p):
			errs = append(errs, fmt.Errorf("-phases: unknown phase %q (want some of %s)", p, strings.Join(allPhases, ",")))
		case !slices.Contains(o.phases, p):
			o.phases = append(o.phases, p)
		}
	}
	check(len(o.phases) > 0, "-phases: none given")
	check(o.n >= 100, "-n %d: want at least 100", o.n)
	check(o.depth >= 100, "-depth %d: want at least 100 (more than -n means all n up front)", o.depth)
	check(o.pollers >= 1 && o.pollers <= 64, "-pollers %d: want 1..64 (the worker's bounds)", o.pollers)
	check(o.window > 0 && o.window <= 15*time.Minute, "-window %s: want more than 0, at most 15m", o.window)
	check(o.distributions >= 1 && o.distributions <= 100, "-distributions %d: want 1..100", o.distributions)
	check(o.pathsPerMessage >= 1 && o.pathsPerMessage <= 100, "-paths %d: want 1..100", o.pathsPerMessage)
	check(o.postsPerDist >= 1, "-posts %d: want at least 1", o.postsPerDist)
	check(o.dupEvery >= 0, "-dup-every %d: must not be negative", o.dupEvery)
	check(o.sendConcurrency >= 1, "-send-concurrency %d: want at least 1", o.sendConcurrency)
	check(o.rateFrom >= 0 && o.rateFrom < o.rateTo && o.rateTo <= 1, "-rate-from %g -rate-to %g: want 0 <= from < to <= 1", o.rateFrom, o.rateTo)
	check(o.sampleEvery >= 10*time.Millisecond, "-sample %s: want at least 10ms", o.sampleEvery)
	check(o.latencyRate >= batchSize && o.latencyRate <= 20000, "-latency-rate %d: want %d..20000", o.latencyRate, batchSize)
	check(o.latencyDuration >= time.Second, "-latency-duration %s: want at least 1s", o.latencyDuration)
	// The worker's max_held and SQS's in-flight limit per standard queue
	// (about 120,000) bound what one worker can hold.
	check(o.hold >= 1000 && o.hold <= maxHeld, "-hold %d: want 1000..%d (SQS in-flight limit, the worker's max_held)", o.hold, maxHeld)
	check(o.holdWindow >= time.Minute && o.holdWindow <= 15*time.Minute, "-hold-window %s: want 1m..15m", o.holdWindow)
	check(o.holdPosts >= 1 && 2*o.holdPosts+100 < 3000, "-hold-posts %d: want 1..1449 (a full batch of 3,000 paths flushes at once)", o.holdPosts)
	check(o.cpuProfileSeconds >= 1, "-cpuprofile-seconds %d: want at least 1", o.cpuProfileSeconds)
	check(o.timeout > 0, "-timeout %s: must be positive", o.timeout)
	return o, errors.Join(errs...)
}

// reproduce is the command line that repeats this run's measurements:
// the flags given, less those that do not change what is measured.
func (o options) reproduce() string {
	var b strings.Builder
	b.WriteString("go run ./cmd/bench -worker bin/worker")
	names := make([]string, 0, len(o.set))
	for k := range o.set {
		switch k {
		case "worker", "keep", "timeout", "cpuprofile", "cpuprofile-seconds", "bare-cpuprofile", "heapprofile", "allocprofile":
			continue
		}
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(&b, " -%s=%s", k, o.set[k])
	}
	return b.String()
}
