package cfsim

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"time"
)

// The admin surface, for tests and operators; it bypasses Latency and
// ErrorRate and is not counted in Stats:
//
//	GET  /_sim/audit     JSON array of AuditEntry, oldest first
//	GET  /_sim/stats     JSON Stats
//	POST /_sim/complete  completes every in-progress invalidation now: {"completed": n}
//	GET  /_sim/healthz   200 "ok"

// AuditEntry is one accepted (newly created, so billed) invalidation.
// Distribution is the distribution whose caches it clears: for a tenant's
// invalidation, the tenant's parent. Tenant is the distribution tenant it
// was created for, empty (and left out of the JSON) for a distribution's
// own. The pricing page bills paths per account with no word on tenants, so
// a tenant's paths are billed like any others.
type AuditEntry struct {
	Time            time.Time `json:"time"`
	Distribution    string    `json:"distribution"`
	Tenant          string    `json:"tenant,omitempty"`
	ID              string    `json:"id"`
	CallerReference string    `json:"caller_reference"`
	Paths           []string  `json:"paths"`
}

// Stats are the simulator's counters.
type Stats struct {
	// Requests counts API answers by operation (CreateInvalidation,
	// GetInvalidation, ListInvalidations,
	// CreateInvalidationForDistributionTenant,
	// GetInvalidationForDistributionTenant,
	// ListInvalidationsForDistributionTenant, Unknown) and outcome: Created,
	// Reused (same CallerReference and paths), OK, or the error code.
	Requests map[string]map[string]int `json:"requests"`
	// Invalidations is how many invalidations were created.
	Invalidations int `json:"invalidations"`
	// PathsBilled is how many paths they held: what CloudFront bills ($0.005
	// a path after the first 1,000 a month); a wildcard is one path, a
	// reused CallerReference bills nothing.
	PathsBilled int `json:"paths_billed"`
	// InProgress is how many invalidations are InProgress now.
	InProgress int `json:"in_progress"`
	// AuditErrors counts failed writes to Options.AuditLog.
	AuditErrors int `json:"audit_errors"`
}

type counters struct {
	requests      map[string]map[string]int
	invalidations int
	pathsBilled   int
	auditErrors   int
}

func newCounters() counters {
	return counters{requests: make(map[string]map[string]int)}
}

func (s *Server) count(op, outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byOutcome := s.stats.requests[op]
	if byOutcome == nil {
		byOutcome = make(map[string]int)
		s.stats.requests[op] = byOutcome
	}
	byOutcome[outcome]++
}

// record books a newly created invalidation; callers hold s.mu.
func (s *Server) record(res *resource, inv *invalidation) {
	e := AuditEntry{
		Time:            inv.created.UTC(),
		Distribution:    res.distributionID(),
		ID:              inv.id,
		CallerReference: inv.ref,
		Paths:           slices.Clone(inv.paths),
	}
	if res.kind == kindTenant {
		e.Tenant = res.id
	}
	s.audit = append(s.audit, e)
	s.stats.invalidations++
	s.stats.pathsBilled += len(inv.paths)
	if s.opts.AuditLog == nil {
		return
	}
	line, _ := json.Marshal(e) // plain strings and a time: cannot fail
	if _, err := s.opts.AuditLog.Write(append(line, '\n')); err != nil {
		s.stats.auditErrors++
	}
}

// Audit returns the invalidations accepted so far, oldest first.
func (s *Server) Audit() []AuditEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AuditEntry, len(s.audit))
	for i, e := range s.audit {
		e.Paths = slices.Clone(e.Paths)
		out[i] = e
	}
	return out
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Requests:      make(map[string]map[string]int, len(s.stats.requests)),
		Invalidations: s.stats.invalidations,
		PathsBilled:   s.stats.pathsBilled,
		AuditErrors:   s.stats.auditErrors,
	}
	for op, byOutcome := range s.stats.requests {
		st.Requests[op] = maps.Clone(byOutcome)
	}
	now := s.opts.Now()
	for _, d := range s.dists { // one pool per distribution, its tenants included
		d.pool.inProgress(now)
		st.InProgress += len(d.pool.active)
	}
	return st
}

// CompleteAll marks every in-progress invalidation Completed now and returns
// how many there were.
func (s *Server) CompleteAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, n := s.opts.Now(), 0
	for _, d := range s.dists {
		n += d.pool.complete(now)
	}
	return n
}

func (s *Server) adminAudit(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.Audit())
}

func (s *Server) adminStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.Stats())
}

func (s *Server) adminComplete(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]int{"completed": s.CompleteAll()})
}

func (s *Server) adminHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // a write error means the client went away
}
