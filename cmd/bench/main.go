// Command bench is the load harness behind `make bench`. It measures how
// fast the worker drains an SQS queue compared with the fastest loop that
// could: receive and delete, nothing else.
//
//	go run ./cmd/bench -n 20000 -pollers 4 -window 1s -distributions 2
//
// It starts fauxqs (tools/emulators, installed by `make emulators`) on a free
// loopback port and the CloudFront simulator (internal/cfsim) in-process,
// then runs two phases on separate queues:
//
//  1. bare loop: N messages are sent (SendMessageBatch, 10 a call,
//     concurrently); then -pollers goroutines ReceiveMessage (10, wait 1 s)
//     and DeleteMessageBatch until N are deleted.
//  2. worker: N messages are sent again (spread over the distributions, a few
//     paths each, duplicates included); then bin/worker runs against fauxqs
//     and the simulator until the queue is empty (ApproximateNumberOfMessages
//     and …NotVisible both 0, polled every 100 ms), which
//     invalidator_messages_deleted_total on /metrics must confirm. The worker
//     is then stopped with SIGTERM and its CPU time and peak RSS are read
//     from its rusage.
//
// Sending is not part of either measurement; the worker's is from its start,
// so it includes start-up and the coalescing window. The last line of the
// report is "worker/bare ratio: R", the worker's rate over the bare loop's.
// Everything runs under one timeout (-timeout); every process started is
// killed on exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

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
	worker          string
	timeout         time.Duration
	keep            bool
	cpuProfile      string
}

func main() { os.Exit(run()) }

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
		fmt.Errorf("global timeout of %s reached (raise -timeout, or lower -n)", o.timeout))
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
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.n, "n", 20000, "messages per phase")
	fs.IntVar(&o.pollers, "pollers", 4, "concurrent ReceiveMessage loops, in the bare loop and in the worker (INVALIDATOR_POLLERS)")
	fs.DurationVar(&o.window, "window", time.Second, "the worker's coalescing window (INVALIDATOR_WINDOW)")
	fs.IntVar(&o.distributions, "distributions", 2, "distributions the messages are spread over")
	fs.IntVar(&o.pathsPerMessage, "paths", 3, "paths per message")
	fs.IntVar(&o.postsPerDist, "posts", 2000, "distinct posts per distribution the paths are drawn from")
	fs.IntVar(&o.dupEvery, "dup-every", 10, "every k-th message repeats the one before it (0 = no duplicates)")
	fs.IntVar(&o.sendConcurrency, "send-concurrency", 32, "concurrent SendMessageBatch calls while filling a queue")
	fs.StringVar(&o.worker, "worker", "", "worker binary (default: go build ./cmd/worker into a temporary directory)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound for the whole run")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs) even after a successful run")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the worker's first seconds (debug_pprof) to this file")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.n >= 10, "-n %d: want at least 10", o.n)
	// The worker's max_held is set to n and is bounded by SQS's ~120,000
	// in-flight messages per standard queue.
	check(o.n <= maxHeld, "-n %d: at most %d (SQS in-flight limit, the worker's max_held)", o.n, maxHeld)
	check(o.pollers >= 1 && o.pollers <= 64, "-pollers %d: want 1..64 (the worker's bounds)", o.pollers)
	check(o.window > 0 && o.window <= 15*time.Minute, "-window %s: want more than 0, at most 15m", o.window)
	check(o.distributions >= 1 && o.distributions <= 100, "-distributions %d: want 1..100", o.distributions)
	check(o.pathsPerMessage >= 1 && o.pathsPerMessage <= 100, "-paths %d: want 1..100", o.pathsPerMessage)
	check(o.postsPerDist >= 1, "-posts %d: want at least 1", o.postsPerDist)
	check(o.dupEvery >= 0, "-dup-every %d: must not be negative", o.dupEvery)
	check(o.sendConcurrency >= 1, "-send-concurrency %d: want at least 1", o.sendConcurrency)
	check(o.timeout > 0, "-timeout %s: must be positive", o.timeout)
	return o, errors.Join(errs...)
}
