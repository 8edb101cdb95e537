// Command worker is the CloudFront invalidation worker: it polls an SQS queue
// of path messages, coalesces them per distribution and submits
// invalidations, deleting each message only after CloudFront accepted
// invalidations covering all of its paths.
//
// Usage:
//
//	worker run --config FILE
//	worker check --config FILE   (pre-flight: read-only checks of the AWS setup)
//
// Every config key can also come from INVALIDATOR_<KEY>; AWS settings come
// from the SDK's own chain (credentials, AWS_REGION, AWS_ENDPOINT_URL_SQS,
// AWS_ENDPOINT_URL_CLOUDFRONT).
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure (cannot listen, AWS setup)
	exitUsage   = 2 // bad command line or configuration
)

func main() { os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr)) }

const usage = `usage: worker <command> [flags]

commands:
  run --config FILE   run the worker (every key may come from INVALIDATOR_<KEY>)
  check --config FILE [--json]
                      pre-flight: read-only checks of credentials, queue, DLQ and distributions
  enqueue --queue-url URL --distribution ID [--tag T]... [PATH... | -]
                      queue invalidations (paths from stdin when none are given)
  redrive --from DLQ_URL [--to QUEUE_URL] [--distribution ID] [--reason CODE] [--max N] [--dry-run]
                      move dead-lettered messages back, filtered; prints a summary
  inspect --queue-url URL [--peek N | --no-peek]
                      queue depth, in flight, oldest age, counts by rejection reason
  status [--addr HOST:PORT] [--json]
                      a running worker's overview from its console (/api/status)
  version             print the version
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func run(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runWorker(args[1:], environ, stderr)
	case "check":
		return runCheck(args[1:], environ, stdout, stderr)
	case "enqueue":
		return runEnqueue(args[1:], environ, os.Stdin, stdout, stderr)
	case "redrive":
		return runRedrive(args[1:], environ, stdout, stderr)
	case "inspect":
		return runInspect(args[1:], environ, stdout, stderr)
	case "status":
		return runStatus(args[1:], environ, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "worker: unknown command %q\n%s", args[0], usage)
	return exitUsage
}
