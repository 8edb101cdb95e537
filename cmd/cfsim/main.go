// Command cfsim serves the CloudFront invalidation simulator
// (internal/cfsim) over HTTP, for end-to-end tests of the worker and for
// trying it out by hand:
//
//	cfsim --addr 127.0.0.1:8090 --distributions E1,E2 --deny E3 \
//	      --tenants dt_a=E1,dt_b=E1 \
//	      --complete-after 15s --throttle-rate 0.5 --audit audit.jsonl
//	AWS_ENDPOINT_URL_CLOUDFRONT=http://127.0.0.1:8090 worker run --config …
//
// It logs JSON (zap) to stderr, writes the audit log (one JSON line per
// accepted invalidation) to --audit, and on SIGTERM or SIGINT stops
// accepting connections, lets requests in flight finish and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/acme/cf-invalidator/internal/cfsim"
)

// shutdownGrace bounds how long requests in flight may take after SIGTERM.
const shutdownGrace = 10 * time.Second

func main() { os.Exit(run()) }

// run returns the exit code: 0 after a signal, 2 for bad flags, 1 when the
// simulator cannot start.
func run() int {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cfsim:", err)
		return 2
	}
	log, err := newLogger()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cfsim: logger:", err)
		return 1
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("cfsim failed", zap.Error(err))
		return 1
	}
	return 0
}

func newLogger() (*zap.Logger, error) {
	zc := zap.NewProductionConfig()
	zc.Sampling = nil // a test tool: every line counts
	zc.EncoderConfig.TimeKey = "time"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return zc.Build()
}

// serve runs the simulator until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, cfg config, log *zap.Logger) error {
	audit, closeAudit, err := openAudit(cfg.audit)
	if err != nil {
		return err
	}
	defer closeAudit()
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	srv := &http.Server{
		Handler:           logRequests(cfsim.New(cfg.options(audit)), log),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("cfsim listening", zap.String("addr", ln.Addr().String()), cfg.fields())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	return shutdown(srv, log)
}

func shutdown(srv *http.Server, log *zap.Logger) error {
	log.Info("cfsim shutting down", zap.Duration("grace", shutdownGrace))
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		// Requests still in flight after the grace period are cut off; the
		// simulator's state dies with it anyway, so this is not a failure.
		log.Warn("requests cut off at shutdown", zap.Error(err))
		_ = srv.Close()
	}
	log.Info("cfsim stopped")
	return nil
}

// openAudit opens the audit destination: nothing for "", stdout for "-",
// else a file opened for appending.
func openAudit(path string) (io.Writer, func(), error) {
	switch path {
	case "":
		return nil, func() {}, nil
	case "-":
		return os.Stdout, func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open audit log: %w", err)
	}
	return f, func() { _ = f.Close() }, nil
}

// logRequests logs one line per request: API requests at info, the /_sim/
// admin surface at debug.
func logRequests(next http.Handler, log *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		level := zapcore.InfoLevel
		if strings.HasPrefix(r.URL.Path, "/_sim/") {
			level = zapcore.DebugLevel
		}
		log.Log(level, "request",
			zap.String("method", r.Method),
			zap.String("path", r.URL.RequestURI()),
			zap.Int("status", sw.status),
			// cfsim sets the header under CloudFront's spelling, not Go's
			// canonical one, so Header().Get would not find it.
			zap.String("request_id", strings.Join(w.Header()["x-amzn-RequestId"], ",")),
			zap.Duration("took", time.Since(start)))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
