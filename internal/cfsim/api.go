package cfsim

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/acme/cf-invalidator/internal/retry"
)

// Operation names, as the API model spells them; Stats counts by these.
const (
	opCreate       = "CreateInvalidation"
	opGet          = "GetInvalidation"
	opList         = "ListInvalidations"
	opTenantCreate = "CreateInvalidationForDistributionTenant"
	opTenantGet    = "GetInvalidationForDistributionTenant"
	opTenantList   = "ListInvalidationsForDistributionTenant"
	opUnknown      = "Unknown"
)

// endpoint is one resource kind's three operations. Both kinds share every
// rule: batch validation, CallerReference reuse, the throttle bucket, the
// faults, the audit log and the counters.
type endpoint struct {
	kind              kind
	create, get, list string // operation names
}

var (
	distributionEndpoint = endpoint{kindDistribution, opCreate, opGet, opList}
	tenantEndpoint       = endpoint{kindTenant, opTenantCreate, opTenantGet, opTenantList}
)

// Outcomes of successful requests in Stats; failed ones count by error code.
const (
	outcomeCreated = "Created" // a new invalidation
	outcomeReused  = "Reused"  // CallerReference seen before with the same paths
	outcomeOK      = "OK"      // Get and List
)

// maxBody caps a CreateInvalidation body: 3,000 paths of 4,000 characters
// plus markup stays under it.
const maxBody = 16 << 20

// reply is what an API handler answers: an XML document or an error.
type reply struct {
	status   int
	body     any
	location string
	outcome  string
	err      *apiError
}

func errReply(e *apiError) reply { return reply{err: e, outcome: e.code} }

// api wraps an operation with what every API request gets: a request id,
// the configured latency, fault injection and the counters.
func (s *Server) api(op string, fn func(*http.Request) reply) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reqID := newRequestID()
		if s.opts.Latency > 0 && !retry.Sleep(r.Context(), s.opts.Latency) {
			return // the client gave up; nobody reads an answer
		}
		rep, injected := s.injectFault()
		if !injected {
			rep = fn(r)
		}
		s.count(op, rep.outcome)
		writeReply(w, rep, reqID)
	}
}

// injectFault answers ServiceUnavailable to a share ErrorRate of requests.
func (s *Server) injectFault() (reply, bool) {
	if s.opts.ErrorRate == 0 {
		return reply{}, false
	}
	s.mu.Lock()
	hit := s.rng.Float64() < s.opts.ErrorRate
	s.mu.Unlock()
	if !hit {
		return reply{}, false
	}
	return errReply(errServiceUnavailable()), true
}

// lookup resolves the resource a request names: a denied id is
// AccessDenied; an unknown distribution NoSuchDistribution and an unknown
// tenant EntityNotFound (404, "The entity was not found."), the only
// not-found error the model gives the three tenant operations. Callers hold
// s.mu.
func (s *Server) lookup(e endpoint, id, op string) (*resource, *apiError) {
	if s.denied[id] {
		return nil, errAccessDenied(op, e.kind, id)
	}
	if e.kind == kindTenant {
		t, ok := s.tenants[id]
		if !ok {
			return nil, errEntityNotFound(id)
		}
		return t, nil
	}
	d, ok := s.dists[id]
	if !ok {
		return nil, errNoSuchDistribution()
	}
	return d, nil
}

func (s *Server) create(e endpoint, r *http.Request) reply {
	resID := r.PathValue("res")
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return errReply(bodyError(err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if s.bucket != nil && !s.bucket.take(now) {
		return errReply(errThrottling())
	}
	res, aerr := s.lookup(e, resID, e.create)
	if aerr != nil {
		return errReply(aerr)
	}
	b, aerr := parseBatch(body)
	if aerr != nil {
		return errReply(aerr)
	}
	return s.admit(res, b, now)
}

func bodyError(err error) *apiError {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return errBatchTooLarge(fmt.Sprintf("request body over %d bytes", maxBody))
	}
	return errInvalidArgument("cannot read the request body: " + err.Error())
}

// admit creates the invalidation, or returns the earlier one for a reused
// CallerReference; callers hold s.mu.
func (s *Server) admit(res *resource, b batch, now time.Time) reply {
	inv, reused, aerr := res.admit(b, now, s.limits(), s.opts.ConflictAsInvalidArgument, s.newInvalidationID)
	if aerr != nil {
		return errReply(aerr)
	}
	outcome := outcomeReused
	if !reused {
		outcome = outcomeCreated
		s.record(res, inv)
	}
	return reply{
		status:   http.StatusCreated,
		body:     invalidationDoc(inv, now),
		location: location(res, inv.id),
		outcome:  outcome,
	}
}

// newInvalidationID hands out an id no distribution or tenant has used;
// callers hold s.mu.
func (s *Server) newInvalidationID() string {
	id := newInvalidationID(s.invIDs)
	s.invIDs[id] = true
	return id
}

func (s *Server) limits() limits {
	return limits{files: s.opts.MaxFilePaths, wildcards: s.opts.MaxWildcards, completeAfter: s.opts.CompleteAfter}
}

// location is the Location header CloudFront sends: always the public
// endpoint, whatever host the request went to, under the resource the
// invalidation was created for (the aws cli's example for
// create-invalidation-for-distribution-tenant shows
// https://cloudfront.amazonaws.com/2020-05-31/distribution-tenant/dt_…/invalidation/I…).
func location(res *resource, invID string) string {
	return "https://cloudfront.amazonaws.com/" + APIVersion + "/" + res.kind.segment() + "/" + res.id + "/invalidation/" + invID
}

// get answers Get*. An invalidation belongs to the resource it was created
// for: neither the model nor the guide says whether a tenant's invalidation
// can be read through its parent distribution's endpoint or the other way
// round, so the simulator keeps them apart and answers NoSuchInvalidation
// across (both Get operations model it).
func (s *Server) get(e endpoint, r *http.Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, aerr := s.lookup(e, r.PathValue("res"), e.get)
	if aerr != nil {
		return errReply(aerr)
	}
	inv, ok := res.byID[r.PathValue("id")]
	if !ok {
		return errReply(errNoSuchInvalidation())
	}
	return reply{status: http.StatusOK, body: invalidationDoc(inv, s.opts.Now()), outcome: outcomeOK}
}

func (s *Server) list(e endpoint, r *http.Request) reply {
	q := r.URL.Query()
	maxItems, aerr := parseMaxItems(q.Get("MaxItems"))
	if aerr != nil {
		return errReply(aerr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, aerr := s.lookup(e, r.PathValue("res"), e.list)
	if aerr != nil {
		return errReply(aerr)
	}
	marker := q.Get("Marker")
	page, next, aerr := res.page(marker, maxItems)
	if aerr != nil {
		return errReply(aerr)
	}
	doc := listDoc(page, s.opts.Now(), marker, next, maxItems)
	return reply{status: http.StatusOK, body: doc, outcome: outcomeOK}
}

func parseMaxItems(v string) (int, *apiError) {
	if v == "" {
		return DefaultMaxItems, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errInvalidArgument("MaxItems must be a positive integer, got " + strconv.Quote(v))
	}
	return n, nil
}

// unsupported answers everything the simulator does not implement.
func unsupported(r *http.Request) reply {
	return errReply(&apiError{
		status: http.StatusNotFound,
		code:   "UnsupportedOperation",
		msg:    "cfsim implements only the invalidation API (distributions and distribution tenants): " + r.Method + " " + r.URL.Path,
	})
}
