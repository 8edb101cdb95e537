// Package cfsim simulates the CloudFront invalidation API — REST-XML, API
// version 2020-05-31: CreateInvalidation, GetInvalidation and
// ListInvalidations — on the exact wire format the AWS SDK for Go v2 and the
// aws cli send and expect, so the worker can be tested against a peer that
// enforces what moto does not: the per-distribution in-progress limits, slow
// completion, throttling, server faults and latency. Every invalidation it
// accepts (every path CloudFront would bill) is recorded in an audit log.
//
// A Server is an http.Handler. Point a client at it with BaseEndpoint (SDK)
// or --endpoint-url (cli); the Authorization header is accepted and ignored.
// Besides the API it serves a small admin surface under /_sim/ (see admin.go).
//
// Where the documentation and observed CloudFront disagree, the simulator
// follows the API model by default and says so in a comment; the facts it
// rests on are cited next to the constants below and in batch.go.
package cfsim

import (
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// APIVersion is the CloudFront API version the simulator speaks.
const APIVersion = "2020-05-31"

// Namespace is the XML namespace of every CloudFront 2020-05-31 document.
const Namespace = "http://cloudfront.amazonaws.com/doc/2020-05-31/"

// Limits from the CloudFront Developer Guide, "Concurrent invalidation request
// maximum": "you can have invalidation requests for up to 3,000 files per
// distribution in progress at one time" and, with the * wildcard, "up to 15
// invalidation paths in progress at one time ... independent of the maximum
// on invalidating files individually".
const (
	DefaultMaxFilePaths = 3000
	DefaultMaxWildcards = 15
)

// DefaultMaxItems is ListInvalidations' page size when MaxItems is not given
// (the console likewise shows the last 100 invalidations).
const DefaultMaxItems = 100

// Invalidation statuses. CloudFront spells the final one "Completed" (API
// model: "When the invalidation batch is finished, the status is
// Completed"); moto says "COMPLETED", so clients must compare without case.
const (
	StatusInProgress = "InProgress"
	StatusCompleted  = "Completed"
)

// Options configures a Server. The zero value serves no distributions.
type Options struct {
	Distributions []string      // ids that exist
	Denied        []string      // ids that answer 403 AccessDenied
	CompleteAfter time.Duration // InProgress → Completed after this (0 = immediately)
	MaxFilePaths  int           // in-progress file-path limit per distribution, default 3000
	MaxWildcards  int           // in-progress wildcard-path limit per distribution, default 15
	ThrottleRate  float64       // CreateInvalidation requests/s above which Throttling is returned (0 = off), token bucket
	ThrottleBurst int           // bucket size; 0 means max(1, ceil(ThrottleRate))
	ErrorRate     float64       // share of API requests answered 503 ServiceUnavailable (0..1)
	Latency       time.Duration // added to every API request
	// AuditLog receives one JSON line per accepted (newly created)
	// invalidation: {"time","distribution","id","caller_reference","paths":[…]}.
	AuditLog io.Writer
	Now      func() time.Time // injectable clock; default time.Now
	Rand     *rand.Rand       // injectable for ErrorRate; default seeded from the clock
	// ConflictAsInvalidArgument answers a reused CallerReference with other
	// paths the way CloudFront has been observed to (400 InvalidArgument)
	// instead of as documented (InvalidationBatchAlreadyExists); see
	// conflictError.
	ConflictAsInvalidArgument bool
}

// Server is the simulator; it implements http.Handler and is safe for
// concurrent use.
type Server struct {
	opts   Options
	mux    *http.ServeMux
	denied map[string]bool

	mu     sync.Mutex // guards everything below
	dists  map[string]*distribution
	bucket *tokenBucket // nil when throttling is off
	rng    *rand.Rand
	audit  []AuditEntry
	stats  counters
}

// New returns a Server for o, filling in defaults.
func New(o Options) *Server {
	o = withDefaults(o)
	s := &Server{
		opts:   o,
		denied: make(map[string]bool),
		dists:  make(map[string]*distribution),
		rng:    o.Rand,
		stats:  newCounters(),
	}
	for _, id := range o.Denied {
		s.denied[id] = true
	}
	for _, id := range o.Distributions {
		s.dists[id] = newDistribution(id)
	}
	if o.ThrottleRate > 0 {
		s.bucket = newTokenBucket(o.ThrottleRate, o.ThrottleBurst, o.Now())
	}
	s.mux = s.routes()
	return s
}

func withDefaults(o Options) Options {
	if o.MaxFilePaths <= 0 {
		o.MaxFilePaths = DefaultMaxFilePaths
	}
	if o.MaxWildcards <= 0 {
		o.MaxWildcards = DefaultMaxWildcards
	}
	o.ErrorRate = min(max(o.ErrorRate, 0), 1)
	o.CompleteAfter = max(o.CompleteAfter, 0)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		seed := uint64(time.Now().UnixNano())
		o.Rand = rand.New(rand.NewPCG(seed, seed>>7|1))
	}
	return o
}

// ServeHTTP serves the CloudFront API and the /_sim/ admin surface.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() *http.ServeMux {
	const dist = "/" + APIVersion + "/distribution/{dist}/invalidation"
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+dist, s.api(opCreate, s.create))
	mux.HandleFunc("GET "+dist, s.api(opList, s.list))
	mux.HandleFunc("GET "+dist+"/{id}", s.api(opGet, s.get))
	mux.HandleFunc("GET /_sim/audit", s.adminAudit)
	mux.HandleFunc("GET /_sim/stats", s.adminStats)
	mux.HandleFunc("POST /_sim/complete", s.adminComplete)
	mux.HandleFunc("GET /_sim/healthz", s.adminHealthz)
	mux.HandleFunc("/", s.api(opUnknown, unsupported))
	return mux
}
