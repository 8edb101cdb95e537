package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/acme/cf-invalidator/internal/status"
)

const statusUsage = `usage: worker status [--addr HOST:PORT] [--json] [--timeout D]

Prints a running worker's overview from its GET /api/status (the console's
data, no token needed): alerts, distributions (held, oldest, next flush,
quota in progress, spend), invalidations in progress, queues, dead letters
by reason, errors and operator actions. --json prints the snapshot as the
worker sent it (schema/status-v1.schema.json).

--addr is the worker's http_addr (default INVALIDATOR_HTTP_ADDR, else
127.0.0.1:9090) or a base URL; run it where the worker listens (ssh, kubectl
exec) or through a port-forward.

Exit codes: 0 done, 1 the worker cannot be reached or answered badly,
2 usage error.

flags:
`

// runStatus is `worker status`.
func runStatus(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, statusUsage); fs.PrintDefaults() }
	def := toolEnv(environ, "INVALIDATOR_HTTP_ADDR")
	if def == "" {
		def = "127.0.0.1:9090"
	}
	addr := fs.String("addr", def, "the worker's http_addr (HOST:PORT) or base URL")
	asJSON := fs.Bool("json", false, "print the raw JSON snapshot")
	timeout := fs.Duration("timeout", status.FetchTimeout, "how long to wait for the worker")
	if err := fs.Parse(args); err != nil {
		return toolParseExit(err)
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "worker status: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	case *timeout <= 0:
		fmt.Fprintln(stderr, "worker status: --timeout must be positive")
		return exitUsage
	}
	if _, err := status.StatusURL(*addr); err != nil {
		fmt.Fprintf(stderr, "worker status: --addr: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	snap, raw, err := status.Fetch(ctx, &http.Client{Timeout: *timeout}, *addr)
	if err != nil {
		fmt.Fprintf(stderr, "worker status: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		_, err = stdout.Write(raw)
	} else {
		err = status.WriteTable(stdout, snap)
	}
	if err != nil {
		fmt.Fprintf(stderr, "worker status: writing: %v\n", err)
		return exitFailure
	}
	return exitOK
}
