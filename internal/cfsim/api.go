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
	opCreate  = "CreateInvalidation"
	opGet     = "GetInvalidation"
	opList    = "ListInvalidations"
	opUnknown = "Unknown"
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

// lookup resolves a distribution id; callers hold s.mu.
func (s *Server) lookup(id, op string) (*distribution, *apiError) {
	if s.denied[id] {
		return nil, errAccessDenied(op, id)
	}
	d, ok := s.dists[id]
	if !ok {
		return nil, errNoSuchDistribution()
	}
	return d, nil
}

func (s *Server) create(r *http.Request) reply {
	distID := r.PathValue("dist")
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
	d, aerr := s.lookup(distID, opCreate)
	if aerr != nil {
		return errReply(aerr)
	}
	b, aerr := parseBatch(body)
	if aerr != nil {
		return errReply(aerr)
	}
	return s.admit(d, b, now)
}

func bodyError(err error) *apiError {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return errBatchTooLarge(fmt.Sprintf("request body over %d bytes", maxBody))
	}
	return errInvalidArgument("cannot read the request body: " + err.Error())
}

// admit creates the invalidation, or returns the earlier one for a reused
// CallerReference; callers hold s.mu.
func (s *Server) admit(d *distribution, b batch, now time.Time) reply {
	inv, reused, aerr := d.admit(b, now, s.limits(), s.opts.ConflictAsInvalidArgument)
	if aerr != nil {
		return errReply(aerr)
	}
	outcome := outcomeReused
	if !reused {
		outcome = outcomeCreated
		s.record(d.id, inv)
	}
	return reply{
		status:   http.StatusCreated,
		body:     invalidationDoc(inv, now),
		location: location(d.id, inv.id),
		outcome:  outcome,
	}
}

func (s *Server) limits() limits {
	return limits{files: s.opts.MaxFilePaths, wildcards: s.opts.MaxWildcards, completeAfter: s.opts.CompleteAfter}
}

// location is the Location header CloudFront sends: always the public
// endpoint, whatever host the request went to.
func location(distID, invID string) string {
	return "https://cloudfront.amazonaws.com/" + APIVersion + "/distribution/" + distID + "/invalidation/" + invID
}

func (s *Server) get(r *http.Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, aerr := s.lookup(r.PathValue("dist"), opGet)
	if aerr != nil {
		return errReply(aerr)
	}
	inv, ok := d.byID[r.PathValue("id")]
	if !ok {
		return errReply(errNoSuchInvalidation())
	}
	return reply{status: http.StatusOK, body: invalidationDoc(inv, s.opts.Now()), outcome: outcomeOK}
}

func (s *Server) list(r *http.Request) reply {
	q := r.URL.Query()
	maxItems, aerr := parseMaxItems(q.Get("MaxItems"))
	if aerr != nil {
		return errReply(aerr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, aerr := s.lookup(r.PathValue("dist"), opList)
	if aerr != nil {
		return errReply(aerr)
	}
	marker := q.Get("Marker")
	page, next, aerr := d.page(marker, maxItems)
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
		msg:    "cfsim implements only the invalidation API: " + r.Method + " " + r.URL.Path,
	})
}
