package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/acme/cf-invalidator/internal/inspect"
)

const inspectUsage = `usage: worker inspect --queue-url URL [--peek N | --no-peek] [--json]

Reports on a queue, usually the worker's dead-letter queue: messages
visible, in flight and delayed, the redrive policy and which queues use it as
their dead-letter queue, and, from peeked messages, the age of the oldest
one and the count by rejection reason (invalidator.reason_code).

Peeking receives up to N messages with a short visibility timeout
(--peek-visibility), reads their SentTimestamp and reason, and makes them
visible again at once. It raises their receive counts, so on a queue with a
RedrivePolicy (not a dead-letter queue) it is done only when --peek is given
explicitly. The oldest age is exact only when every message was peeked.

--queue-url defaults to INVALIDATOR_QUEUE_URL. AWS credentials, region and
endpoint (AWS_ENDPOINT_URL_SQS) come from the SDK's default chain.

Exit codes: 0 done, 1 AWS failure, 2 usage error.

flags:
`

// runInspect is `worker inspect`.
func runInspect(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, inspectUsage); fs.PrintDefaults() }
	o := inspect.Options{}
	fs.StringVar(&o.QueueURL, "queue-url", toolEnv(environ, "INVALIDATOR_QUEUE_URL"), "queue URL (required)")
	fs.IntVar(&o.Peek, "peek", inspect.DefaultPeek, "most messages to peek at")
	noPeek := fs.Bool("no-peek", false, "do not peek: attributes only")
	fs.DurationVar(&o.PeekVisibility, "peek-visibility", inspect.DefaultPeekVisibility, "visibility timeout of peeked messages until they are released (whole seconds)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return toolParseExit(err)
	}
	fs.Visit(func(f *flag.Flag) { o.ForcePeek = o.ForcePeek || f.Name == "peek" })
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "worker inspect: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	case o.QueueURL == "":
		fmt.Fprintln(stderr, "worker inspect: --queue-url is required (or INVALIDATOR_QUEUE_URL)")
		return exitUsage
	case o.Peek < 0:
		fmt.Fprintln(stderr, "worker inspect: --peek must not be negative")
		return exitUsage
	case o.PeekVisibility < time.Second || o.PeekVisibility%time.Second != 0:
		fmt.Fprintln(stderr, "worker inspect: --peek-visibility must be whole seconds, at least 1s")
		return exitUsage
	}
	if *noPeek {
		o.Peek = 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	client, code := toolSQSClient(ctx, "inspect", stderr)
	if client == nil {
		return code
	}
	rep, err := inspect.Inspect(ctx, client, o)
	if err != nil {
		fmt.Fprintf(stderr, "worker inspect: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "worker inspect: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
	if err := rep.Write(stdout); err != nil {
		fmt.Fprintf(stderr, "worker inspect: %v\n", err)
		return exitFailure
	}
	return exitOK
}
