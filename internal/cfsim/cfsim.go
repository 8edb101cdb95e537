// Package cfsim simulates the CloudFront invalidation API — REST-XML, API
// version 2020-05-31: CreateInvalidation, GetInvalidation and
// ListInvalidations, and their multi-tenant counterparts
// CreateInvalidationForDistributionTenant, GetInvalidationForDistributionTenant
// and ListInvalidationsForDistributionTenant — on the exact wire format the
// AWS SDK for Go v2 and the aws cli send and expect, so the worker can be
// tested against a peer that enforces what moto does not: the
// per-distribution in-progress limits (a multi-tenant distribution's shared
// with its tenants), slow completion, throttling, server faults and latency.
// moto has no distribution tenants at all. Every invalidation it
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
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
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

// MaxTenantIDLen bounds a distribution tenant id. The API model in
// botocore 1.43 and aws-sdk-go-v2/service/cloudfront v1.73.0 gives the
// tenant Id members (CreateInvalidationForDistributionTenantRequest.Id,
// GetInvalidationForDistributionTenantRequest.DistributionTenantId,
// ListInvalidationsForDistributionTenantRequest.Id) the plain "string"
// shape: required, no pattern, no length. The current API Reference
// (API_ListInvalidationsForDistributionTenant) adds "Length Constraints:
// Minimum length of 1. Maximum length of 64."; its examples and the aws
// cli's show ids like "dt_2wjDZi3hD1ivOXf6rpZJO1AB", a shape no model pins,
// so the simulator does not require the prefix.
const MaxTenantIDLen = 64

// Options configures a Server. The zero value serves no distributions.
type Options struct {
	Distributions []string // ids that exist
	// Tenants maps each distribution tenant id that exists to its parent
	// multi-tenant distribution, which must be in Distributions. A
	// tenant's in-progress invalidations count against its parent's limits
	// (see pool).
	Tenants       map[string]string
	Denied        []string      // distribution or tenant ids that answer 403 AccessDenied
	CompleteAfter time.Duration // InProgress → Completed after this (0 = immediately)
	MaxFilePaths  int           // in-progress file-path limit per distribution and its tenants, default 3000
	MaxWildcards  int           // in-progress wildcard-path limit per distribution and its tenants, default 15
	ThrottleRate  float64       // Create* requests/s (distributions and tenants together) above which Throttling is returned (0 = off), token bucket
	ThrottleBurst int           // bucket size; 0 means max(1, ceil(ThrottleRate))
	ErrorRate     float64       // share of API requests answered 503 ServiceUnavailable (0..1)
	Latency       time.Duration // added to every API request
	// AuditLog receives one JSON line per accepted (newly created)
	// invalidation: {"time","distribution","tenant","id","caller_reference","paths":[…]}
	// (see AuditEntry).
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

	mu      sync.Mutex // guards everything below
	dists   map[string]*resource
	tenants map[string]*resource
	invIDs  map[string]bool // every invalidation id handed out, to keep them unique
	bucket  *tokenBucket    // nil when throttling is off
	rng     *rand.Rand
	audit   []AuditEntry
	stats   counters
}

// Validate reports what in o New cannot serve: a tenant whose parent is not
// in Distributions, a tenant id that is empty, longer than MaxTenantIDLen,
// not one URI path segment, or also a distribution id (Denied would not
// know which it meant).
func (o Options) Validate() error {
	dists := make(map[string]bool, len(o.Distributions))
	for _, id := range o.Distributions {
		dists[id] = true
	}
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(o.Tenants)) {
		parent := o.Tenants[id]
		switch {
		case id == "" || len(id) > MaxTenantIDLen:
			errs = append(errs, fmt.Errorf("tenant id %q: want 1 to %d characters", id, MaxTenantIDLen))
		case !isPathSegment(id):
			errs = append(errs, fmt.Errorf("tenant id %q: must be one URI path segment (no '/', '?', '#', '%%', spaces or control characters)", id))
		case dists[id]:
			errs = append(errs, fmt.Errorf("tenant id %q is also a distribution id", id))
		}
		if !dists[parent] {
			errs = append(errs, fmt.Errorf("tenant %q: parent distribution %q is not in Distributions", id, parent))
		}
	}
	return errors.Join(errs...)
}

// isPathSegment reports whether id can stand in a request path as it is,
// so the SDK's and the cli's escaping cannot make it another id.
func isPathSegment(id string) bool {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '%' {
			return false
		}
	}
	return true
}

// New returns a Server for o, filling in defaults. It panics if
// o.Validate() fails, as regexp.MustCompile does: options are written by
// tests, and cmd/cfsim validates its flags first.
func New(o Options) *Server {
	if err := o.Validate(); err != nil {
		panic("cfsim: " + err.Error())
	}
	o = withDefaults(o)
	s := &Server{
		opts:    o,
		denied:  make(map[string]bool),
		dists:   make(map[string]*resource),
		tenants: make(map[string]*resource),
		invIDs:  make(map[string]bool),
		rng:     o.Rand,
		stats:   newCounters(),
	}
	for _, id := range o.Denied {
		s.denied[id] = true
	}
	for _, id := range o.Distributions {
		s.dists[id] = newResource(kindDistribution, id, "", &pool{})
	}
	for id, parent := range o.Tenants {
		s.tenants[id] = newResource(kindTenant, id, parent, s.dists[parent].pool)
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

// routes serves the URIs of the API model (botocore cloudfront 2020-05-31
// service-2.json, "http"."requestUri" of each operation):
//
//	POST /2020-05-31/distribution/{DistributionId}/invalidation               CreateInvalidation (201)
//	GET  /2020-05-31/distribution/{DistributionId}/invalidation/{Id}          GetInvalidation
//	GET  /2020-05-31/distribution/{DistributionId}/invalidation               ListInvalidations
//	POST /2020-05-31/distribution-tenant/{Id}/invalidation                    CreateInvalidationForDistributionTenant (201)
//	GET  /2020-05-31/distribution-tenant/{DistributionTenantId}/invalidation/{Id}  GetInvalidationForDistributionTenant
//	GET  /2020-05-31/distribution-tenant/{Id}/invalidation                    ListInvalidationsForDistributionTenant
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, e := range []endpoint{distributionEndpoint, tenantEndpoint} {
		base := "/" + APIVersion + "/" + e.kind.segment() + "/{res}/invalidation"
		mux.HandleFunc("POST "+base, s.api(e.create, func(r *http.Request) reply { return s.create(e, r) }))
		mux.HandleFunc("GET "+base, s.api(e.list, func(r *http.Request) reply { return s.list(e, r) }))
		mux.HandleFunc("GET "+base+"/{id}", s.api(e.get, func(r *http.Request) reply { return s.get(e, r) }))
	}
	mux.HandleFunc("GET /_sim/audit", s.adminAudit)
	mux.HandleFunc("GET /_sim/stats", s.adminStats)
	mux.HandleFunc("POST /_sim/complete", s.adminComplete)
	mux.HandleFunc("GET /_sim/healthz", s.adminHealthz)
	mux.HandleFunc("/", s.api(opUnknown, unsupported))
	return mux
}
