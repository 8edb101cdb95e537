package preflight

import (
	"errors"
	"fmt"

	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// errKind is what an AWS error means for a check: the remedy depends on it.
type errKind int

const (
	errOther       errKind = iota
	errNotFound            // the resource does not exist
	errDenied              // the caller may not do this
	errCredentials         // the credentials themselves were refused
)

// API error codes by kind, for errors that reach us as a generic API error
// rather than a modelled type. SQS answers in two spellings: the JSON
// protocol's QueueDoesNotExist and the query protocol's legacy
// AWS.SimpleQueueService.NonExistentQueue (both seen from SQS and its
// emulators); denials are AccessDenied (query, CloudFront),
// AccessDeniedException (JSON) or AuthorizationError (SNS).
var codeKinds = map[string]errKind{
	"QueueDoesNotExist":                       errNotFound,
	"AWS.SimpleQueueService.NonExistentQueue": errNotFound,
	"NoSuchDistribution":                      errNotFound,
	"EntityNotFound":                          errNotFound,
	"NotFound":                                errNotFound,
	"NotFoundException":                       errNotFound,

	"AccessDenied":          errDenied,
	"AccessDeniedException": errDenied,
	"AuthorizationError":    errDenied,

	"InvalidClientTokenId":        errCredentials,
	"UnrecognizedClientException": errCredentials,
	"SignatureDoesNotMatch":       errCredentials,
	"InvalidAccessKeyId":          errCredentials,
	"ExpiredToken":                errCredentials,
	"ExpiredTokenException":       errCredentials,
	"InvalidSecurity":             errCredentials,
	"IncompleteSignature":         errCredentials,
	"MissingAuthenticationToken":  errCredentials,
}

// classify decides an error's kind from SDK error types and API error
// codes, never from message text.
func classify(err error) errKind {
	var (
		sqsMissing  *sqstypes.QueueDoesNotExist
		cfMissing   *cftypes.NoSuchDistribution
		cfNoEntity  *cftypes.EntityNotFound
		snsMissing  *snstypes.NotFoundException
		cfDenied    *cftypes.AccessDenied
		snsDenied   *snstypes.AuthorizationErrorException
		sqsSecurity *sqstypes.InvalidSecurity
	)
	switch {
	case errors.As(err, &sqsMissing), errors.As(err, &cfMissing), errors.As(err, &cfNoEntity), errors.As(err, &snsMissing):
		return errNotFound
	case errors.As(err, &cfDenied), errors.As(err, &snsDenied):
		return errDenied
	case errors.As(err, &sqsSecurity):
		return errCredentials
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return codeKinds[api.ErrorCode()]
	}
	return errOther
}

// credentialsRemedy is the remedy for refused credentials, whatever call
// found out.
const credentialsRemedy = "the credentials were refused (unknown, expired or mistyped key): " +
	"check which ones the SDK chain picks up (AWS_PROFILE, AWS_ACCESS_KEY_ID, the task or instance role)"

// failure is a failed result for err from op on target; remedies maps the
// kinds the caller has a specific remedy for. Other errors keep the SDK's
// message (it names the operation and the request id, never a secret).
func failure(name, target, op string, err error, remedies map[errKind]string) Result {
	kind := classify(err)
	r := Result{Name: name, Target: target, Status: Fail, Detail: fmt.Sprintf("%s: %v", op, err)}
	if kind == errCredentials {
		r.Remedy = credentialsRemedy
		return r
	}
	if remedy, ok := remedies[kind]; ok {
		r.Remedy = remedy
		return r
	}
	r.Remedy = "not a permission or configuration answer (network, endpoint or service error): " +
		"check connectivity and the endpoint (AWS_ENDPOINT_URL_*), then run the check again"
	return r
}

func keyf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
