package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/acme/cf-invalidator/pkg/invalidator"
)

const enqueueUsage = `usage: worker enqueue --queue-url URL (--distribution ID | --tenant ID) [--tag T]... [PATH... | -]

Queues CloudFront invalidations for the worker: paths (starting with "/", or
full http(s) URLs) and cache tags of one distribution, or of one
distribution tenant of a multi-tenant distribution (--tenant, sent as
"distribution_tenant_id"), packed into as few SQS messages as fit (at most
--max-items items and --max-bytes bytes each).
Paths come from the arguments; with no paths and no tags, or with "-", they
are read from stdin, one per line (blank lines skipped). Prints the SQS
message ids, one per line.

--queue-url defaults to INVALIDATOR_QUEUE_URL. AWS credentials, region and
endpoint (AWS_ENDPOINT_URL_SQS) come from the SDK's default chain.

Exit codes: 0 sent, 1 AWS or send failure (ids of what was sent are still
printed), 2 usage error or invalid input (nothing sent).

flags:
`

// toolStringList is a repeatable string flag.
type toolStringList []string

func (s *toolStringList) String() string     { return strings.Join(*s, ",") }
func (s *toolStringList) Set(v string) error { *s = append(*s, v); return nil }

// runEnqueue is `worker enqueue`.
func runEnqueue(args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker enqueue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, enqueueUsage); fs.PrintDefaults() }
	queueURL := fs.String("queue-url", toolEnv(environ, "INVALIDATOR_QUEUE_URL"), "SQS queue URL of the worker")
	dist := fs.String("distribution", "", "distribution id or alias (this or --tenant)")
	tenant := fs.String("tenant", "", "distribution tenant id or alias (this or --distribution)")
	var tags toolStringList
	fs.Var(&tags, "tag", "cache tag to invalidate (repeatable)")
	maxItems := fs.Int("max-items", invalidator.DefaultMaxItemsPerMessage, "most paths+tags per message (the worker's max_paths_per_message)")
	maxBytes := fs.Int("max-bytes", invalidator.DefaultMaxMessageBytes, "largest message body in bytes (lower it for a queue with a smaller MaximumMessageSize)")
	if err := fs.Parse(args); err != nil {
		return toolParseExit(err)
	}
	switch {
	case *queueURL == "":
		fmt.Fprintln(stderr, "worker enqueue: --queue-url is required (or INVALIDATOR_QUEUE_URL)")
		return exitUsage
	case *dist == "" && *tenant == "":
		fmt.Fprintln(stderr, "worker enqueue: --distribution or --tenant is required")
		return exitUsage
	case *dist != "" && *tenant != "":
		fmt.Fprintln(stderr, "worker enqueue: give --distribution or --tenant, not both (a message names one of them)")
		return exitUsage
	case *maxItems < 1:
		fmt.Fprintln(stderr, "worker enqueue: --max-items must be at least 1")
		return exitUsage
	case *maxBytes < 8<<10 || *maxBytes > invalidator.SQSMaxMessageBytes:
		fmt.Fprintf(stderr, "worker enqueue: --max-bytes must be 8192..%d\n", invalidator.SQSMaxMessageBytes)
		return exitUsage
	}
	paths, err := enqueuePaths(fs.Args(), len(tags) > 0, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "worker enqueue: reading stdin: %v\n", err)
		return exitFailure
	}
	opts := []invalidator.Option{invalidator.WithMaxItemsPerMessage(*maxItems), invalidator.WithMaxMessageBytes(*maxBytes)}
	req := invalidator.Request{Distribution: *dist, Tenant: *tenant, Paths: paths, Tags: tags}
	// Refuse bad input before touching AWS: nothing is sent then.
	if _, err := invalidator.New(nil, *queueURL, opts...).Bodies(req); err != nil {
		fmt.Fprintf(stderr, "worker enqueue: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	client, code := toolSQSClient(ctx, "enqueue", stderr)
	if client == nil {
		return code
	}
	ids, err := invalidator.New(client, *queueURL, opts...).Send(ctx, req)
	for _, id := range ids {
		fmt.Fprintln(stdout, id)
	}
	if err != nil {
		fmt.Fprintf(stderr, "worker enqueue: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// enqueuePaths returns the paths of the arguments, with "-" standing for
// stdin, and stdin alone when no path and no tag is given.
func enqueuePaths(args []string, haveTags bool, stdin io.Reader) ([]string, error) {
	if len(args) == 0 && !haveTags {
		return toolReadLines(stdin)
	}
	var out []string
	readStdin := false
	for _, a := range args {
		if a == "-" {
			readStdin = true
			continue
		}
		out = append(out, a)
	}
	if readStdin {
		lines, err := toolReadLines(stdin)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return out, nil
}

// toolReadLines returns the non-blank lines of r, trimmed.
func toolReadLines(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20) // a path is at most 4,000 characters; URLs may be longer
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	return out, sc.Err()
}

// toolEnv returns the value of key in environ, or "".
func toolEnv(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// toolParseExit is the exit code after a flag parse error: 0 for -h.
func toolParseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}
