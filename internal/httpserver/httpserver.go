// Package httpserver serves the worker's operational endpoints: /healthz
// (the process is alive), /readyz (it has received from SQS at least once and
// is not shutting down), /metrics (Prometheus), the operator console
// (EnableConsole: GET / and GET /api/status without a token, its actions
// behind it) and, only when a token is configured, the admin endpoints:
// POST /admin/pause, POST /admin/resume and GET /admin/status, each
// requiring "Authorization: Bearer <token>".
package httpserver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/status"
)

// Server is the operational HTTP server.
type Server struct {
	srv   *http.Server
	mux   *http.ServeMux
	ln    net.Listener
	ready atomic.Bool
	log   *zap.Logger
}

// Listen binds addr (so a port clash fails at startup, not later) and
// prepares the handlers.
func Listen(addr string, gatherer prometheus.Gatherer, log *zap.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	s := &Server{ln: ln, log: log, mux: mux}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// EnablePprof mounts Go's profiler under /debug/pprof/.
func (s *Server) EnablePprof() {
	s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	s.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// SetReady flips /readyz.
func (s *Server) SetReady(v bool) { s.ready.Store(v) }

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Serve runs until Shutdown.
func (s *Server) Serve() {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("http server stopped", zap.Error(err))
	}
}

// Shutdown stops the server, letting a last /metrics scrape finish.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// EnableConsole mounts the operator console (internal/status): the page at
// GET /, its data at GET /api/status (and the JSON Schema at
// /api/status/schema), readable without a token like /metrics; and, when
// o.Token (admin_token) and o.Controller are set, POST /api/pause,
// /api/resume and /api/flush behind "Authorization: Bearer <token>"
// (without a token they do not exist: 404). It coexists with EnableAdmin's
// /admin endpoints. o.Log defaults to the server's logger.
func (s *Server) EnableConsole(o status.Options) {
	if o.Log == nil {
		o.Log = s.log.Named("console")
	}
	status.New(o).Mount(s.mux)
}

// Controller is what the admin endpoints drive.
type Controller interface {
	Pause(reason string)
	Resume()
	Status() any
}

// EnableAdmin mounts the admin endpoints behind token. An empty token leaves
// them unmounted (404), so they cannot be reached by accident.
func (s *Server) EnableAdmin(token string, c Controller) {
	if token == "" {
		return
	}
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", "Bearer")
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	status := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c.Status())
	}
	s.mux.HandleFunc("GET /admin/status", auth(status))
	s.mux.HandleFunc("POST /admin/pause", auth(func(w http.ResponseWriter, r *http.Request) {
		reason := r.URL.Query().Get("reason")
		s.log.Warn("submissions paused by the admin endpoint", zap.String("reason", reason), zap.String("remote", r.RemoteAddr))
		c.Pause(reason)
		status(w, r)
	}))
	s.mux.HandleFunc("POST /admin/resume", auth(func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("submissions resumed by the admin endpoint", zap.String("remote", r.RemoteAddr))
		c.Resume()
		status(w, r)
	}))
}
