package main

// The bare loop runs in a child process of its own (`bench bare-loop …`,
// started by the harness with its own executable) so that its CPU time is
// its own rusage, like the worker's: the harness's queue sampler, senders
// and the CloudFront simulator are not counted against it.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

// bareChildCommand is the hidden first argument that selects the child mode.
const bareChildCommand = "bare-loop"

// bareChildArgs are the arguments the harness gives the child.
func bareChildArgs(endpoint, queue string, n, pollers int, window time.Duration, cpuProfile string) []string {
	return []string{bareChildCommand,
		"-endpoint", endpoint, "-queue", queue,
		"-n", fmt.Sprint(n), "-pollers", fmt.Sprint(pollers), "-window", window.String(),
		"-cpuprofile", cpuProfile,
	}
}

// runBareChild is the child: drain n messages and exit 0, or print why
// not and exit 1 (2 for bad arguments).
func runBareChild(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench "+bareChildCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "", "SQS endpoint")
	queue := fs.String("queue", "", "queue URL")
	n := fs.Int("n", 0, "messages to delete")
	pollers := fs.Int("pollers", 4, "receive loops")
	window := fs.Duration("window", 0, "delete each batch at the end of the window it was received in (0: at once)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the drain here")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *endpoint == "" || *queue == "" || *n <= 0 || *pollers <= 0 || *window < 0 {
		fmt.Fprintln(stderr, "bench bare-loop: need -endpoint, -queue, -n > 0, -pollers > 0, -window >= 0")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "bench bare-loop: cpu profile:", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	c := newSQS(*endpoint, 2*(*pollers))
	took, err := bareLoop(ctx, c, *queue, *n, *pollers, *window)
	if err != nil {
		fmt.Fprintln(stderr, "bench bare-loop:", err)
		return 1
	}
	fmt.Fprintf(stderr, "bench bare-loop: %d deleted in %s\n", *n, took)
	return 0
}
