// Package invalidate submits invalidation requests to CloudFront with an
// idempotent CallerReference and classifies what comes back.
package invalidate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"
)

// cloudFrontAPI is the part of the CloudFront client the submitter uses:
// distributions' and distribution tenants' CreateInvalidation.
type cloudFrontAPI interface {
	CreateInvalidation(ctx context.Context, in *cloudfront.CreateInvalidationInput,
		optFns ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error)
	CreateInvalidationForDistributionTenant(ctx context.Context, in *cloudfront.CreateInvalidationForDistributionTenantInput,
		optFns ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationForDistributionTenantOutput, error)
}

var _ cloudFrontAPI = (*cloudfront.Client)(nil)

// referenceVersion prefixes every CallerReference so the derivation can
// change later without colliding with references made by this one.
// cfinv2 added the sent bound; cfinv1 references (no bound) are still
// this worker's (IsWorkerReference).
const referenceVersion = "cfinv2-"

// boundMark separates the hash from the sent bound in a reference.
const boundMark = "-s"

// referenceFamily starts every CallerReference this worker has made, of
// any derivation version.
const referenceFamily = "cfinv"

// IsWorkerReference reports whether ref was made by this worker (any
// process, any version): the CloudFront view tells a replica's
// invalidations from a person's by it.
func IsWorkerReference(ref string) bool { return strings.HasPrefix(ref, referenceFamily) }

// CallerReference derives the request's CallerReference from the
// distribution, the sorted SQS MessageIds it serves and its sorted paths.
//
// The message ids are what make it right: the same request re-sent after a
// crash or a lost response (same messages, same paths) gets the same
// reference, and CloudFront returns the earlier invalidation instead of
// billing again; the same path published again tomorrow arrives in another
// message, so it gets a new reference and a new invalidation. A hash of the
// paths alone would make CloudFront hand back yesterday's invalidation.
//
// sentBound, when not zero, is the latest SentTimestamp of those messages;
// it is appended in Unix milliseconds ("-s1733140800123") so that other
// processes of this worker can read it back ([SentBound]): the invalidation
// was created after a message sent then was received. It is a function of
// the message ids (a message's SentTimestamp never changes), so the
// reference stays deterministic.
func CallerReference(distribution string, messageIDs, paths []string, sentBound time.Time) string {
	ids := slices.Sorted(slices.Values(messageIDs))
	ps := slices.Sorted(slices.Values(paths))
	h := sha256.New()
	// Lengths are written before every field so that no two different
	// inputs serialize to the same bytes.
	write := func(s string) { fmt.Fprintf(h, "%d:%s\n", len(s), s) }
	write(distribution)
	fmt.Fprintf(h, "ids %d\n", len(ids))
	for _, id := range ids {
		write(id)
	}
	fmt.Fprintf(h, "paths %d\n", len(ps))
	for _, p := range ps {
		write(p)
	}
	ref := referenceVersion + hex.EncodeToString(h.Sum(nil))
	if !sentBound.IsZero() {
		ref += boundMark + strconv.FormatInt(sentBound.UnixMilli(), 10)
	}
	return ref
}

// SentBound reads the sent bound back from a reference this worker made
// (zero and false for any other, or one without a bound).
func SentBound(ref string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(ref, referenceVersion)
	if !ok {
		return time.Time{}, false
	}
	_, ms, ok := strings.Cut(rest, boundMark)
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// Request is what Submit sends.
type Request struct {
	// Distribution is the target: a distribution id, or with Tenant a
	// distribution tenant's id (CreateInvalidationForDistributionTenant).
	Distribution string
	Tenant       bool
	Paths        []string
	MessageIDs   []string
	// SentBound is the latest SentTimestamp of the messages (zero: none
	// known); it goes into the CallerReference.
	SentBound time.Time
}

// Result is CloudFront's answer to an accepted request.
type Result struct {
	ID        string
	Status    string // "InProgress" from CloudFront; compare without case (moto says "COMPLETED")
	Reference string
	CreatedAt time.Time
}

// Submitter calls CreateInvalidation.
type Submitter struct {
	api cloudFrontAPI
}

// NewSubmitter returns a Submitter using api.
func NewSubmitter(api cloudFrontAPI) *Submitter { return &Submitter{api: api} }

// oneAttempt turns the SDK's retryer off for one call. A retry of
// CreateInvalidation is the caller's: it looks at CloudFront again first,
// because in the seconds a backoff lasts another replica may have covered
// some of the paths, and a blind resend would pay for them twice.
func oneAttempt(o *cloudfront.Options) { o.Retryer = aws.NopRetryer{} }

// Submit sends one invalidation request, once (no SDK retries: see
// oneAttempt); Classify tells the caller what to do with an error.
func (s *Submitter) Submit(ctx context.Context, r Request) (Result, error) {
	ref := CallerReference(r.Distribution, r.MessageIDs, r.Paths, r.SentBound)
	batch := &types.InvalidationBatch{
		CallerReference: aws.String(ref),
		Paths:           &types.Paths{Quantity: aws.Int32(int32(len(r.Paths))), Items: r.Paths},
	}
	var inv *types.Invalidation
	op := "CreateInvalidation"
	if r.Tenant {
		op = "CreateInvalidationForDistributionTenant"
		out, err := s.api.CreateInvalidationForDistributionTenant(ctx, &cloudfront.CreateInvalidationForDistributionTenantInput{
			Id: aws.String(r.Distribution), InvalidationBatch: batch,
		}, oneAttempt)
		if err != nil {
			return Result{Reference: ref}, fmt.Errorf("cloudfront %s %s: %w", op, r.Distribution, err)
		}
		inv = out.Invalidation
	} else {
		out, err := s.api.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
			DistributionId: aws.String(r.Distribution), InvalidationBatch: batch,
		}, oneAttempt)
		if err != nil {
			return Result{Reference: ref}, fmt.Errorf("cloudfront %s %s: %w", op, r.Distribution, err)
		}
		inv = out.Invalidation
	}
	res := Result{Reference: ref}
	if inv != nil {
		res.ID = aws.ToString(inv.Id)
		res.Status = aws.ToString(inv.Status)
		res.CreatedAt = aws.ToTime(inv.CreateTime)
	}
	if res.ID == "" {
		return res, fmt.Errorf("cloudfront %s %s: answer without an invalidation id", op, r.Distribution)
	}
	return res, nil
}

// Class says what to do about a failed request.
type Class int

const (
	// Transient: throttling, 5xx, network, credentials being refreshed. Keep
	// holding the messages; retry after a backoff and a fresh look (the
	// same request, same reference, unless something changed meanwhile).
	Transient Class = iota
	// Quota: TooManyInvalidationsInProgress. Keep holding, back off, and
	// merge newer paths into the retry.
	Quota
	// Permanent: the request can never succeed as sent. Dead-letter the
	// messages concerned with the reason; never retry them.
	Permanent
)

func (c Class) String() string {
	return [...]string{"transient", "quota", "permanent"}[c]
}

// credentialCodes are API errors about the caller's credentials, not the
// messages: dead-lettering every message during a credential rotation would
// be wrong, so they are transient (and loud in the logs and metrics).
var credentialCodes = map[string]bool{
	"ExpiredToken": true, "ExpiredTokenException": true, "InvalidClientTokenId": true,
	"SignatureDoesNotMatch": true, "IncompleteSignature": true, "MissingAuthenticationToken": true,
	"RequestExpired": true, "UnrecognizedClientException": true, "InvalidAccessKeyId": true,
}

// permanentCodes are CloudFront's answers that no retry of the same request
// can change (API model 2020-05-31, CreateInvalidation errors).
var permanentCodes = map[string]bool{
	"NoSuchDistribution": true, "AccessDenied": true, "InvalidArgument": true,
	// A distribution tenant that does not exist (…ForDistributionTenant).
	"EntityNotFound":         true,
	"InconsistentQuantities": true, "BatchTooLarge": true, "MissingBody": true,
	// Same CallerReference with other paths; documented in the model without a
	// shape, so the SDK returns it as a generic API error.
	"InvalidationBatchAlreadyExists": true,
}

// Classify sorts err by the SDK's typed errors and API error codes — never by
// message text — and returns the class and a short reason code for logs,
// metrics and dead-letter attributes.
func Classify(err error) (Class, string) {
	var quota *types.TooManyInvalidationsInProgress
	if errors.As(err, &quota) {
		return Quota, quota.ErrorCode()
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return Transient, "network" // no answer from CloudFront: timeouts, resets, DNS, cancellation
	}
	code := api.ErrorCode()
	switch {
	case permanentCodes[code]:
		return Permanent, code
	case credentialCodes[code], api.ErrorFault() == smithy.FaultServer:
		return Transient, code
	case code == "Throttling", code == "ThrottlingException", code == "RequestLimitExceeded":
		return Transient, code
	case api.ErrorFault() == smithy.FaultClient:
		return Permanent, code // an unknown 4xx: the request itself is wrong
	}
	return Transient, code
}
