package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acme/cf-invalidator/internal/config"
	"github.com/acme/cf-invalidator/internal/inspect"
)

const inspectUsage = `usage: worker inspect (--queue-url URL... | --config FILE) [--peek N | --no-peek] [--json]

Reports on queues of the worker, usually its dead-letter queues: messages
visible, in flight and delayed, the redrive policy and which queues use it as
their dead-letter queue, and, from peeked messages, the age of the oldest
one and the count by rejection reason (invalidator.reason_code).

--queue-url may be repeated; --config reports on every queue of the
worker's config (and the INVALIDATOR_* variables, as for worker run), each
followed by its dead-letter queue (dead_letter_queue_url, else the target
of the queue's RedrivePolicy), one section per queue. A dead-letter queue
shared by several queues is reported once.

Peeking receives up to N messages with a short visibility timeout
(--peek-visibility), reads their SentTimestamp and reason, and makes them
visible again at once. It raises their receive counts, so on a queue with a
RedrivePolicy (not a dead-letter queue), and on the queues --config says
the worker reads, it is done only when --peek is given explicitly. The
oldest age is exact only when every message was peeked.

--queue-url defaults to INVALIDATOR_QUEUE_URL. AWS credentials, region and
endpoint (AWS_ENDPOINT_URL_SQS) come from the SDK's default chain.

--json prints one report object for one --queue-url, else a list of them,
each with "role" (queue or dead_letter_queue), "lane" for a configured
queue, "dead_letter_queue_of" for a dead-letter queue, and "error" when
it could not be inspected.

Exit codes: 0 done, 1 AWS failure (the other queues are still reported), 2
usage error.

flags:
`

// inspectTarget is one queue to report on.
type inspectTarget struct {
	Role   string   `json:"role"`           // "queue" or "dead_letter_queue"
	Lane   string   `json:"lane,omitempty"` // of a configured queue
	DLQOf  []string `json:"dead_letter_queue_of,omitempty"`
	Error  string   `json:"error,omitempty"`
	url    string
	fromRP bool // a dead-letter queue to find through the RedrivePolicy of DLQOf[0]
	inspect.Report
}

// inspectAPI is the part of the SQS client `worker inspect` uses.
type inspectAPI interface {
	inspect.API
	inspect.URLAPI
}

var _ inspectAPI = (*sqs.Client)(nil)

const (
	roleQueue = "queue"
	roleDLQ   = "dead_letter_queue"
)

// runInspect is `worker inspect`.
func runInspect(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, inspectUsage); fs.PrintDefaults() }
	o := inspect.Options{}
	var urls toolStringList
	fs.Var(&urls, "queue-url", "queue URL (repeatable; default INVALIDATOR_QUEUE_URL)")
	cfgPath := fs.String("config", "", "the worker's YAML config: inspect each of its queues and their dead-letter queues")
	fs.IntVar(&o.Peek, "peek", inspect.DefaultPeek, "most messages to peek at, per queue")
	noPeek := fs.Bool("no-peek", false, "do not peek: attributes only")
	fs.DurationVar(&o.PeekVisibility, "peek-visibility", inspect.DefaultPeekVisibility, "visibility timeout of peeked messages until they are released (whole seconds)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return toolParseExit(err)
	}
	fs.Visit(func(f *flag.Flag) { o.ForcePeek = o.ForcePeek || f.Name == "peek" })
	if len(urls) == 0 && *cfgPath == "" {
		if u := toolEnv(environ, "INVALIDATOR_QUEUE_URL"); u != "" {
			urls = append(urls, u)
		}
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "worker inspect: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	case len(urls) > 0 && *cfgPath != "":
		fmt.Fprintln(stderr, "worker inspect: give --queue-url or --config, not both")
		return exitUsage
	case len(urls) == 0 && *cfgPath == "":
		fmt.Fprintln(stderr, "worker inspect: --queue-url or --config is required (or INVALIDATOR_QUEUE_URL)")
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
	var targets []*inspectTarget
	for _, u := range urls {
		targets = append(targets, &inspectTarget{Role: roleQueue, url: u})
	}
	if *cfgPath != "" {
		cfg, ok := toolConfig("inspect", *cfgPath, environ, stderr)
		if !ok {
			return exitUsage
		}
		targets = configTargets(cfg)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	client, code := toolSQSClient(ctx, "inspect", stderr)
	if client == nil {
		return code
	}
	reports, failed := inspectAll(ctx, client, o, targets, stderr)
	if err := writeInspect(stdout, reports, *asJSON && len(urls) == 1, *asJSON); err != nil {
		fmt.Fprintf(stderr, "worker inspect: %v\n", err)
		return exitFailure
	}
	if failed {
		return exitFailure
	}
	return exitOK
}

// configTargets lists each configured queue followed by its dead-letter
// queue: the configured one, else the one its RedrivePolicy names (found
// once the queue has been inspected).
func configTargets(cfg config.Config) []*inspectTarget {
	var out []*inspectTarget
	for _, q := range cfg.EffectiveQueues() {
		out = append(out, &inspectTarget{Role: roleQueue, Lane: q.Lane, url: q.URL})
		out = append(out, &inspectTarget{Role: roleDLQ, DLQOf: []string{q.URL}, url: q.DeadLetterQueueURL, fromRP: q.DeadLetterQueueURL == ""})
	}
	return out
}

// inspectAll inspects targets in order, finding dead-letter queues through
// RedrivePolicies and reporting a queue shared by several once. An AWS
// failure is reported on stderr and in the target's Error; failed says
// whether there was any.
func inspectAll(ctx context.Context, client inspectAPI, o inspect.Options, targets []*inspectTarget, stderr io.Writer) (out []*inspectTarget, failed bool) {
	byURL := map[string]*inspectTarget{}
	reports := map[string]inspect.Report{} // queue URL → its report, for fromRP
	fail := func(t *inspectTarget, err error) {
		fmt.Fprintf(stderr, "worker inspect: %v\n", err)
		t.Error, failed = err.Error(), true
	}
	for _, t := range targets {
		if t.fromRP {
			src, ok := reports[t.DLQOf[0]]
			if !ok {
				continue // the queue itself could not be inspected
			}
			u, err := inspect.DeadLetterURL(ctx, client, src)
			if err != nil {
				fail(t, err)
				t.QueueURL = "(dead-letter queue of " + t.DLQOf[0] + ")"
				out = append(out, t)
				continue
			}
			t.url = u
		}
		if t.url == "" {
			continue // no dead-letter queue at all: the queue's report says so
		}
		if seen, ok := byURL[t.url]; ok {
			seen.DLQOf = append(seen.DLQOf, t.DLQOf...)
			if seen.Role == roleQueue && t.Role == roleDLQ {
				// A queue the worker reads is also a dead-letter queue: the
				// config refuses that, a RedrivePolicy may still say it.
				fmt.Fprintf(stderr, "worker inspect: %s is read by the worker and is the dead-letter queue of %s\n", t.url, strings.Join(t.DLQOf, ", "))
			}
			continue
		}
		byURL[t.url] = t
		to := o
		to.QueueURL = t.url
		// A queue of the config is one the worker reads: a peek would hide
		// its messages from the worker for a moment, so only on request.
		readByWorker := t.Role == roleQueue && t.Lane != ""
		if readByWorker && !o.ForcePeek {
			to.Peek = 0
		}
		rep, err := inspect.Inspect(ctx, client, to)
		if readByWorker && !o.ForcePeek && o.Peek > 0 && rep.PeekSkipped == "" {
			rep.PeekSkipped = "the worker reads this queue: peeking would hide its messages from the worker for a moment; ask for it explicitly to peek anyway"
		}
		t.Report = rep
		if err != nil {
			fail(t, err)
			t.QueueURL = t.url
		} else {
			reports[t.url] = rep
		}
		out = append(out, t)
	}
	return out, failed
}

// writeInspect prints the reports: as text, a section per queue when there
// are several; as JSON, one object (single) or a list.
func writeInspect(w io.Writer, targets []*inspectTarget, single, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if single && len(targets) == 1 && targets[0].Error == "" {
			return enc.Encode(targets[0].Report)
		}
		return enc.Encode(targets)
	}
	for i, t := range targets {
		if len(targets) > 1 {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "=== %s ===\n", t.title())
		}
		if t.Error != "" {
			fmt.Fprintf(w, "queue:  %s\nerror:  %s\n", t.QueueURL, t.Error)
			continue
		}
		if err := t.Report.Write(w); err != nil {
			return err
		}
	}
	return nil
}

func (t *inspectTarget) title() string {
	switch {
	case t.Role == roleDLQ:
		return "dead-letter queue of " + strings.Join(t.DLQOf, ", ")
	case t.Lane != "":
		return t.Lane + " queue"
	}
	return "queue"
}
