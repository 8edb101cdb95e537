package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// Sim is a CloudFront simulator served over HTTP for one test.
type Sim struct {
	*cfsim.Server
	URL string // the CloudFront endpoint
	// Counter counts the API requests that reached it.
	Counter *CountingHandler
}

// StartSim serves a simulator with the options on a loopback port until the
// test ends.
func StartSim(t testing.TB, o cfsim.Options) *Sim {
	t.Helper()
	s := &Sim{Server: cfsim.New(o)}
	s.Counter = &CountingHandler{Next: s.Server}
	hs := httptest.NewServer(s.Counter)
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// Accepted is the simulator's audit as invalidations, oldest first.
func (s *Sim) Accepted() []Invalidation { return FromAudit(s.Audit()) }

// CountingHandler counts CloudFront API requests (not the /_sim/ admin
// surface) that reached the handler and those still being answered.
//
// It reads the request body before passing the request on: net/http
// notices a client that hung up (and cancels r.Context()) only once the
// body has been read, and cfsim reads it after sleeping its Latency, so
// without this a cancelled request would keep httptest.Server.Close
// waiting for the whole Latency.
type CountingHandler struct {
	Next              http.Handler
	started, inFlight atomic.Int64
}

// Started is how many API requests arrived; InFlight how many are being
// answered now.
func (h *CountingHandler) Started() int64  { return h.started.Load() }
func (h *CountingHandler) InFlight() int64 { return h.inFlight.Load() }

func (h *CountingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !strings.HasPrefix(r.URL.Path, "/_sim/") {
		h.started.Add(1)
		h.inFlight.Add(1)
		defer h.inFlight.Add(-1)
	}
	h.Next.ServeHTTP(w, r)
}

// FromAudit is the simulator's accepted invalidations as [Invalidation]s,
// oldest first: the accepted invalidations for [CheckDeletesJustified]
// against the simulator.
func FromAudit(entries []cfsim.AuditEntry) []Invalidation {
	out := make([]Invalidation, len(entries))
	for i, e := range entries {
		out[i] = Invalidation{Dist: e.Distribution, Tenant: e.Tenant, ID: e.ID, Created: e.Time, Items: slices.Clone(e.Paths)}
	}
	slices.SortStableFunc(out, func(a, b Invalidation) int { return a.Created.Compare(b.Created) })
	return out
}

// ParseAudit reads the simulator's JSON-lines audit log (Options.AuditLog),
// checks it against the in-memory audit and returns it oldest first. The
// test fails if nothing was accepted.
func ParseAudit(t testing.TB, audit *testenv.SyncBuffer, sim *cfsim.Server) []Invalidation {
	t.Helper()
	var entries []cfsim.AuditEntry
	sc := bufio.NewScanner(strings.NewReader(audit.String()))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e cfsim.AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit log line %q: %v", sc.Text(), err)
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("audit log: %v", err)
	}
	if mem := sim.Audit(); len(mem) != len(entries) {
		t.Errorf("audit log has %d entries, sim.Audit() %d", len(entries), len(mem))
	}
	if len(entries) == 0 {
		t.Fatalf("the simulator accepted no invalidation")
	}
	return FromAudit(entries)
}

// CheckInProgressLimits replays accepted invalidations (oldest first) of a
// simulator that completes each after completeAfter: when each was
// accepted, the invalidations of its distribution accepted in the
// completeAfter before it (and it) held at most CloudFront's 3,000 file
// paths and 15 wildcards in progress. A tenant's invalidations count with
// their distribution's (Dist), as the simulator pools them.
func CheckInProgressLimits(t testing.TB, invs []Invalidation, completeAfter time.Duration) {
	t.Helper()
	maxFiles, maxWild := 0, 0
	for _, e := range invs {
		files, wild := 0, 0
		for _, o := range invs {
			if o.Dist != e.Dist || o.Created.After(e.Created) || !e.Created.Before(o.Created.Add(completeAfter)) {
				continue
			}
			for _, p := range o.Items {
				if strings.HasSuffix(p, "*") {
					wild++
				} else {
					files++
				}
			}
		}
		maxFiles, maxWild = max(maxFiles, files), max(maxWild, wild)
		if files > cfsim.DefaultMaxFilePaths || wild > cfsim.DefaultMaxWildcards {
			t.Errorf("when %s was accepted at %s, %d file paths and %d wildcards were in progress (limits %d / %d)",
				e.ID, e.Created.Format(time.StampMilli), files, wild, cfsim.DefaultMaxFilePaths, cfsim.DefaultMaxWildcards)
		}
	}
	t.Logf("%d invalidations accepted; at most %d file paths and %d wildcards in progress at once", len(invs), maxFiles, maxWild)
}
