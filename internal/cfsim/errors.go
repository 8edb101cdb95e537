package cfsim

import (
	"fmt"
	"net/http"
)

// apiError is a CloudFront error answer. Status codes and codes are the API
// model's (botocore cloudfront/2020-05-31 service-2.json) unless a comment
// says otherwise; the SDK maps the modelled codes to typed errors
// (*types.NoSuchDistribution, …) and the rest to smithy.GenericAPIError.
type apiError struct {
	status   int
	code     string
	msg      string
	receiver bool // the fault is the service's: <Type>Receiver</Type>
}

func (e *apiError) document(reqID string) *errorResponseXML {
	doc := &errorResponseXML{Xmlns: Namespace, RequestID: reqID}
	doc.Error.Type = "Sender"
	if e.receiver {
		doc.Error.Type = "Receiver"
	}
	doc.Error.Code = e.code
	doc.Error.Message = e.msg
	return doc
}

func errNoSuchDistribution() *apiError {
	return &apiError{status: http.StatusNotFound, code: "NoSuchDistribution", msg: "The specified distribution does not exist."}
}

func errNoSuchInvalidation() *apiError {
	return &apiError{status: http.StatusNotFound, code: "NoSuchInvalidation", msg: "The specified invalidation does not exist."}
}

// errEntityNotFound is the model's EntityNotFound (404, "The entity was not
// found."): what the three tenant operations answer for an unknown tenant
// (none of them models NoSuchDistribution).
func errEntityNotFound(tenantID string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "EntityNotFound", msg: "The distribution tenant " + tenantID + " was not found."}
}

// errAccessDenied names the resource by its ARN: …:distribution/ID or
// …:distribution-tenant/ID.
func errAccessDenied(op string, k kind, id string) *apiError {
	return &apiError{status: http.StatusForbidden, code: "AccessDenied", msg: fmt.Sprintf(
		"User: arn:aws:iam::123456789012:user/test is not authorized to perform: cloudfront:%s on resource: arn:aws:cloudfront::123456789012:%s/%s",
		op, k.segment(), id)}
}

func errInvalidArgument(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "InvalidArgument", msg: msg}
}

// errMissingBody is the model's MissingBody (400): "This operation requires
// a body."
func errMissingBody() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "MissingBody", msg: "This operation requires a body. Ensure that the body is present and the Content-Type header is set."}
}

func errInconsistentQuantities(quantity, items int) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "InconsistentQuantities", msg: fmt.Sprintf(
		"The value of Quantity (%d) and the size of Items (%d) do not match.", quantity, items)}
}

// errBatchTooLarge is the model's BatchTooLarge: HTTP 413.
func errBatchTooLarge(msg string) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: "BatchTooLarge", msg: "Invalidation batch specified is too large: " + msg}
}

func errBatchTooLargeFor(b batch, lim limits) *apiError {
	return errBatchTooLarge(fmt.Sprintf("%d file paths (at most %d) and %d wildcard paths (at most %d)",
		b.files, lim.files, b.wildcards, lim.wildcards))
}

// errTooManyInvalidations is HTTP 400 with the message CloudFront sends;
// the SDK does not retry it.
func errTooManyInvalidations(files, wildcards int, b batch, lim limits) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "TooManyInvalidationsInProgress", msg: fmt.Sprintf(
		"Processing your request will cause you to exceed the maximum number of in-progress invalidations. "+
			"In progress: %d file paths (limit %d), %d wildcard paths (limit %d); this batch: %d file paths, %d wildcard paths.",
		files, lim.files, wildcards, lim.wildcards, b.files, b.wildcards)}
}

// errThrottling is what CloudFront answers a CreateInvalidation burst
// (the simulator answers a CreateInvalidationForDistributionTenant burst
// alike, from the same account-wide bucket):
// HTTP 400, Type Sender, "Rate exceeded". It is not in the model, but the
// SDK's standard retryer retries the code "Throttling"
// (retry.DefaultThrottleErrorCodes).
func errThrottling() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "Throttling", msg: "Rate exceeded"}
}

// errServiceUnavailable is a 503 with Type Receiver; the SDK retries 503.
func errServiceUnavailable() *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", msg: "CloudFront is temporarily unable to handle the request.", receiver: true}
}

// conflictError answers a CallerReference reused with other paths.
//
// Documented: the API model (InvalidationBatch.CallerReference) says "If
// CallerReference is a value you already sent in a previous invalidation
// batch request but the content of any Path is different from the original
// request, CloudFront returns an InvalidationBatchAlreadyExists error." The
// model defines no such shape (the SDK surfaces it as smithy.GenericAPIError)
// and so no status; we answer 409 like the model's other *AlreadyExists
// errors (DistributionAlreadyExists, …).
//
// Observed: real CloudFront answers 400 InvalidArgument, "Your request
// contains a caller reference that was used for a previous invalidation
// batch for the same distribution." (reported e.g. in aws/aws-cdk#3878 and
// jonls/s3-deploy-website#26). Options.ConflictAsInvalidArgument selects
// that answer, so the worker can be tested against both; either way the
// worker must treat it as permanent.
func conflictError(asInvalidArgument bool) *apiError {
	if asInvalidArgument {
		return errInvalidArgument("Your request contains a caller reference that was used for a previous invalidation batch for the same distribution.")
	}
	return &apiError{status: http.StatusConflict, code: "InvalidationBatchAlreadyExists", msg: "The CallerReference was used before for this distribution with different paths."}
}
