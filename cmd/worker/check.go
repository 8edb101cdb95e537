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

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acme/cf-invalidator/internal/config"
	"github.com/acme/cf-invalidator/internal/preflight"
)

const checkUsage = `usage: worker check --config FILE [--json] [--timeout D]

Pre-flight before a deployment: loads the configuration exactly as
"worker run" does (INVALIDATOR_* variables apply), resolves credentials and
region through the SDK chain, and checks read-only that the queue, its
dead-letter setup, each allow-listed distribution and the completion
targets are there and readable. It never creates an invalidation and never
receives, deletes or sends a message; what only such a call could prove is
listed as not checked. Run it with the worker's own credentials (its role),
or it proves someone else's permissions.

One line per check: ✓ passed, ✗ failed (with what to change), – not
checked. --json prints one JSON object per check instead.

Exit codes: 0 every check passed (not-checked lines do not fail),
1 a check failed, 2 bad command line or configuration.

flags:
`

// markOf is how a status is printed.
var markOf = map[preflight.Status]string{preflight.Pass: "✓", preflight.Fail: "✗", preflight.Skip: "–"}

// runCheck is `worker check`.
func runCheck(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, checkUsage); fs.PrintDefaults() }
	cfgPath := fs.String("config", "", "YAML config file (keys may also come from INVALIDATOR_<KEY>)")
	asJSON := fs.Bool("json", false, "print one JSON object per check")
	timeout := fs.Duration("timeout", time.Minute, "give up on AWS after this long")
	if err := fs.Parse(args); err != nil {
		return toolParseExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "worker check: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "worker check: --timeout must be positive")
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath, environ)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "worker: %s\n", line)
		}
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	plan := preflight.PlanFor(cfg)
	var results []preflight.Result
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		results = []preflight.Result{preflight.CheckAWSConfig(err)}
	} else {
		// The SDK's default retryer, as the worker's SQS client has: a
		// throttled or dropped read is tried again before it counts.
		results = preflight.Run(ctx, preflight.Clients{
			Credentials: awsCfg.Credentials, Region: awsCfg.Region,
			SQS: sqs.NewFromConfig(awsCfg), CloudFront: cloudfront.NewFromConfig(awsCfg), SNS: sns.NewFromConfig(awsCfg),
		}, plan)
	}
	if err := printResults(stdout, results, *asJSON); err != nil {
		fmt.Fprintf(stderr, "worker check: %v\n", err)
		return exitFailure
	}
	if preflight.Failed(results) {
		return exitFailure
	}
	return exitOK
}

// printResults writes one line per result (and its remedy), then a
// summary; or, with asJSON, one JSON object per result and nothing else.
func printResults(w io.Writer, rs []preflight.Result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range rs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(markOf[r.Status] + " " + r.Name)
		if r.Target != "" {
			b.WriteString(" " + r.Target)
		}
		b.WriteString(": " + r.Detail + "\n")
		switch {
		case r.Remedy == "":
		case r.Status == preflight.Fail:
			b.WriteString("    fix: " + r.Remedy + "\n")
		default:
			b.WriteString("    note: " + r.Remedy + "\n")
		}
	}
	n := preflight.Counts(rs)
	fmt.Fprintf(&b, "worker check: %d ok, %d failed, %d not checked\n", n[preflight.Pass], n[preflight.Fail], n[preflight.Skip])
	_, err := io.WriteString(w, b.String())
	return err
}
