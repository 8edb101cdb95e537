package status

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/schema"
)

// DefaultRefresh is how often the page reloads its live region.
const DefaultRefresh = 5 * time.Second

// Options configure a Console.
type Options struct {
	Provider Provider
	// Controller carries out actions. Actions are mounted only when it is
	// set and Token is not empty; otherwise their routes do not exist (404),
	// as the /admin endpoints without admin_token.
	Controller Controller
	Token      string // admin_token: "Authorization: Bearer <Token>"
	Log        *zap.Logger
	Refresh    time.Duration // the page's poll interval (DefaultRefresh)
	Thresholds Thresholds
	// Now stamps a snapshot that has no At (time.Now).
	Now func() time.Time
}

// Console serves the status page, its JSON and its actions.
type Console struct {
	o   Options
	log *zap.Logger
}

// New returns a console over o.Provider.
func New(o Options) *Console {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Console{o: o, log: o.Log}
}

// ActionsEnabled reports whether the action routes are mounted.
func (c *Console) ActionsEnabled() bool { return c.o.Token != "" && c.o.Controller != nil }

// Routes, all relative to the server's root.
const (
	RoutePage     = "GET /{$}"
	RouteFragment = "GET /console/fragment"
	RouteStatic   = "GET /static/"
	RouteStatus   = "GET /api/status"
	RouteSchema   = "GET /api/status/schema"
	RoutePause    = "POST /api/pause"
	RouteResume   = "POST /api/resume"
	RouteFlush    = "POST /api/flush"
)

// Mount registers the console's routes on mux. The read-only ones need no
// token (like /metrics); the actions need the admin token and exist only
// when one is configured.
func (c *Console) Mount(mux *http.ServeMux) {
	mux.HandleFunc(RoutePage, c.page)
	mux.HandleFunc(RouteFragment, c.fragment)
	static, _ := fs.Sub(web, "web")
	mux.Handle(RouteStatic, headers(http.StripPrefix("/static/", http.FileServerFS(staticOnly{static}))))
	mux.HandleFunc(RouteStatus, c.status)
	mux.HandleFunc(RouteSchema, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/schema+json")
		setHeaders(w)
		_, _ = w.Write(schema.StatusV1)
	})
	if c.ActionsEnabled() {
		mux.HandleFunc(RoutePause, c.action("pause"))
		mux.HandleFunc(RouteResume, c.action("resume"))
		mux.HandleFunc(RouteFlush, c.action("flush"))
	}
}

// Snapshot is the provider's snapshot as the console serves it: stamped
// with the schema version and a time, cleaned (Clean, with the admin token
// as a secret) and with its alerts computed.
func (c *Console) Snapshot(ctx context.Context) Snapshot {
	s := c.o.Provider.Snapshot(ctx)
	if s.Schema == 0 {
		s.Schema = SchemaVersion
	}
	if s.At.IsZero() {
		s.At = c.o.Now()
	}
	s.Alerts = Alerts(s, c.o.Thresholds)
	return Clean(s, c.o.Token)
}

func (c *Console) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, c.Snapshot(r.Context()))
}

func (c *Console) page(w http.ResponseWriter, r *http.Request) {
	c.html(w, r, renderPage)
}

func (c *Console) fragment(w http.ResponseWriter, r *http.Request) {
	c.html(w, r, renderLive)
}

func (c *Console) html(w http.ResponseWriter, r *http.Request, render func(io.Writer, pageData) error) {
	d := newPageData(c.Snapshot(r.Context()), c.ActionsEnabled(), c.o.Refresh)
	var b bytes.Buffer
	if err := render(&b, d); err != nil {
		// A template error is a bug; the page must not go out half written.
		c.log.Error("console page render failed", zap.Error(err))
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	setHeaders(w)
	_, _ = w.Write(b.Bytes())
}

// contentSecurityPolicy allows only the page's own script, style and
// requests: no inline script or handler can run even if markup got in.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

func setHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setHeaders(w)
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// staticOnly serves the page's assets and hides the template.
type staticOnly struct{ fs.FS }

func (s staticOnly) Open(name string) (fs.File, error) {
	if name != "console.css" && name != "console.js" && name != "favicon.svg" {
		return nil, fs.ErrNotExist
	}
	return s.FS.Open(name)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encode failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	setHeaders(w)
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
