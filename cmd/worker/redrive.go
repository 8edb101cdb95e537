package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acme/cf-invalidator/internal/config"
	"github.com/acme/cf-invalidator/internal/redrive"
)

const redriveUsage = `usage: worker redrive --from DLQ_URL [--to QUEUE_URL | --lane LANE --config FILE] [--distribution ID]... [--reason CODE]... [--max N] [--dry-run]

Moves dead-lettered messages back to be invalidated: by default each to the
queue named by its invalidator.source_queue attribute, else to --to. With
--lane bulk every message goes to the bulk queue of the worker's config
(--config, and the INVALIDATOR_* variables as for worker run), so a large
replay is coalesced and collapsed as bulk work and leaves CloudFront's
quota to live work; --to a bulk queue does the same without a config. Each
message is sent first and deleted from the dead-letter queue only after the
send succeeded, so an interrupted run loses nothing (at worst a message is
in both queues and its paths are invalidated once more). Messages filtered
out or not moved stay in the dead-letter queue: they are held invisible
during the run and made visible again at the end (or, if the process dies,
when --visibility lapses). Stops when the queue yields nothing new, at --max,
or on SIGINT/SIGTERM, then prints a summary by reason code.

--dry-run receives and counts what would move, sends and deletes nothing,
and makes every message visible again (it does raise their receive counts).

AWS credentials, region and endpoint (AWS_ENDPOINT_URL_SQS) come from the
SDK's default chain.

Exit codes: 0 done (also when nothing matched), 1 some message failed or an
AWS call failed, 2 usage error.

flags:
`

// runRedrive is `worker redrive`.
func runRedrive(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker redrive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, redriveUsage); fs.PrintDefaults() }
	var o redrive.Options
	var dists, reasons toolStringList
	fs.StringVar(&o.From, "from", "", "dead-letter queue URL (required)")
	fs.StringVar(&o.To, "to", "", "target queue URL (default: each message's invalidator.source_queue)")
	lane := fs.String("lane", "", "send every message to the configured queue of this lane (live or bulk; needs --config)")
	cfgPath := fs.String("config", "", "the worker's YAML config, for --lane")
	fs.Var(&dists, "distribution", "only messages whose body names this distribution or tenant id or alias, as written (repeatable)")
	fs.Var(&reasons, "reason", "only messages with this invalidator.reason_code, e.g. distribution_not_allowed; "+redrive.NoReason+" for none (repeatable)")
	fs.IntVar(&o.Max, "max", 0, "stop after this many matching messages (0: no limit)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "count what would move; change nothing")
	fs.DurationVar(&o.Visibility, "visibility", redrive.DefaultVisibility, "visibility timeout of received messages (whole seconds)")
	fs.Float64Var(&o.Rate, "rate", 0, "most messages moved per second (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return toolParseExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "worker redrive: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if o.From == "" {
		fmt.Fprintln(stderr, "worker redrive: --from is required")
		return exitUsage
	}
	if o.Visibility < time.Second {
		fmt.Fprintln(stderr, "worker redrive: --visibility must be at least 1s")
		return exitUsage
	}
	o.Distributions, o.Reasons = dists, reasons
	if *lane != "" {
		to, ok := laneQueue(*lane, *cfgPath, o.To, environ, stderr)
		if !ok {
			return exitUsage
		}
		o.To = to
		fmt.Fprintf(stdout, "to the %s lane: %s\n", *lane, to)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	client, code := toolSQSClient(ctx, "redrive", stderr)
	if client == nil {
		return code
	}
	res, err := redrive.Run(ctx, client, o)
	if res.ByReason == nil && err != nil { // refused before receiving anything
		fmt.Fprintf(stderr, "worker redrive: %v\n", err)
		return exitUsage
	}
	_ = res.WriteTable(stdout)
	if err != nil {
		fmt.Fprintf(stderr, "worker redrive: %v\n", err)
		return exitFailure
	}
	if res.Total().Failed > 0 {
		return exitFailure
	}
	return exitOK
}

// laneQueue returns the one queue of lane in the config at cfgPath, for
// --lane; to is --to, which --lane replaces. Problems are reported on
// stderr.
func laneQueue(lane, cfgPath, to string, environ []string, stderr io.Writer) (string, bool) {
	switch {
	case to != "":
		fmt.Fprintln(stderr, "worker redrive: give --to or --lane, not both")
		return "", false
	case !slices.Contains(config.LaneNames, lane):
		fmt.Fprintf(stderr, "worker redrive: --lane must be %s, got %q\n", strings.Join(config.LaneNames, " or "), lane)
		return "", false
	case cfgPath == "":
		fmt.Fprintln(stderr, "worker redrive: --lane needs --config, the worker's config, to know the lane's queue (or give --to)")
		return "", false
	}
	cfg, ok := toolConfig("redrive", cfgPath, environ, stderr)
	if !ok {
		return "", false
	}
	qs := cfg.QueuesOfLane(lane)
	switch len(qs) {
	case 0:
		fmt.Fprintf(stderr, "worker redrive: %s lists no %s queue (queues[].lane: %s)\n", cfgPath, lane, lane)
		return "", false
	case 1:
		return qs[0].URL, true
	}
	urls := make([]string, len(qs))
	for i, q := range qs {
		urls[i] = q.URL
	}
	fmt.Fprintf(stderr, "worker redrive: %s lists %d %s queues (%s): give --to one of them\n", cfgPath, len(qs), lane, strings.Join(urls, ", "))
	return "", false
}

// toolConfig loads the worker's config as `worker run` does (file, then
// INVALIDATOR_* variables); problems are reported on stderr.
func toolConfig(cmd, path string, environ []string, stderr io.Writer) (config.Config, bool) {
	cfg, err := config.Load(path, environ)
	if err != nil {
		fmt.Fprintf(stderr, "worker %s: %v\n", cmd, err)
		return config.Config{}, false
	}
	return cfg, true
}

// toolSQSClient builds an SQS client from the SDK's default chain (which
// honours AWS_ENDPOINT_URL_SQS). On failure it reports and returns nil and
// the exit code.
func toolSQSClient(ctx context.Context, cmd string, stderr io.Writer) (*sqs.Client, int) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "worker %s: aws config: %v\n", cmd, err)
		return nil, exitFailure
	}
	if awsCfg.Region == "" {
		fmt.Fprintf(stderr, "worker %s: aws config: no region (set AWS_REGION)\n", cmd)
		return nil, exitFailure
	}
	return sqs.NewFromConfig(awsCfg), exitOK
}
