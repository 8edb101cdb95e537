package cfsim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// t0 is the fake clock's start: a fixed instant with milliseconds, so
// CreateTime round-trips exactly.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123_000_000, time.UTC)

// clock is the injectable clock: tests move time, nobody sleeps.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// sim starts the simulator on an httptest server with a fake clock (unless
// o has one) and returns it with a real SDK client whose retries are off,
// so every answer the server gives reaches the test.
func sim(t *testing.T, o cfsim.Options) (*cfsim.Server, *cloudfront.Client, *clock) {
	t.Helper()
	clk := newClock()
	if o.Now == nil {
		o.Now = clk.Now
	}
	s := cfsim.New(o)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, sdkClient(hs.URL, func(o *cloudfront.Options) { o.Retryer = aws.NopRetryer{} }), clk
}

// sdkClient is the real CloudFront client pointed at endpoint.
func sdkClient(endpoint string, optFns ...func(*cloudfront.Options)) *cloudfront.Client {
	base := func(o *cloudfront.Options) { o.BaseEndpoint = aws.String(endpoint) }
	return cloudfront.NewFromConfig(testenv.AWSConfig(), append([]func(*cloudfront.Options){base}, optFns...)...)
}

func createInput(dist, ref string, paths ...string) *cloudfront.CreateInvalidationInput {
	return &cloudfront.CreateInvalidationInput{
		DistributionId: aws.String(dist),
		InvalidationBatch: &types.InvalidationBatch{
			CallerReference: aws.String(ref),
			Paths:           &types.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths},
		},
	}
}

func create(c *cloudfront.Client, dist, ref string, paths ...string) (*cloudfront.CreateInvalidationOutput, error) {
	return c.CreateInvalidation(context.Background(), createInput(dist, ref, paths...))
}

func mustCreate(t *testing.T, c *cloudfront.Client, dist, ref string, paths ...string) *types.Invalidation {
	t.Helper()
	out, err := create(c, dist, ref, paths...)
	if err != nil {
		t.Fatalf("CreateInvalidation(%s, %s): %v", dist, ref, err)
	}
	return out.Invalidation
}

func get(c *cloudfront.Client, dist, id string) (*cloudfront.GetInvalidationOutput, error) {
	return c.GetInvalidation(context.Background(), &cloudfront.GetInvalidationInput{
		DistributionId: aws.String(dist), Id: aws.String(id),
	})
}

func list(c *cloudfront.Client, dist, marker string, maxItems int32) (*cloudfront.ListInvalidationsOutput, error) {
	in := &cloudfront.ListInvalidationsInput{DistributionId: aws.String(dist)}
	if marker != "" {
		in.Marker = aws.String(marker)
	}
	if maxItems > 0 {
		in.MaxItems = aws.Int32(maxItems)
	}
	return c.ListInvalidations(context.Background(), in)
}

// statusOf returns the HTTP status of a successful SDK call.
func statusOf(t *testing.T, md middleware.Metadata) int {
	t.Helper()
	resp, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	if !ok {
		t.Fatalf("no raw response in metadata")
	}
	return resp.StatusCode
}

// errStatus returns the HTTP status of a failed SDK call.
func errStatus(t *testing.T, err error) int {
	t.Helper()
	re, ok := errors.AsType[*awshttp.ResponseError](err)
	if !ok {
		t.Fatalf("error %v carries no HTTP response", err)
	}
	return re.HTTPStatusCode()
}

// wantCode asserts err is an API error with code and HTTP status.
func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	ae, ok := errors.AsType[smithy.APIError](err)
	if !ok {
		t.Fatalf("want API error %s, got %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want code %s, got %s (%v)", code, ae.ErrorCode(), err)
	}
	if got := errStatus(t, err); got != status {
		t.Fatalf("%s: want HTTP %d, got %d", code, status, got)
	}
}

// wantTyped asserts err is the SDK's typed error E with the given status.
func wantTyped[E error](t *testing.T, err error, status int) E {
	t.Helper()
	e, ok := errors.AsType[E](err)
	if !ok {
		var zero E
		t.Fatalf("want %T, got %T: %v", zero, err, err)
	}
	if got := errStatus(t, err); got != status {
		t.Fatalf("%T: want HTTP %d, got %d", e, status, got)
	}
	return e
}

// paths returns n distinct paths; with wildcard set they end in '*'.
func paths(prefix string, n int, wildcard bool) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("/%s/%d", prefix, i)
		if wildcard {
			out[i] += "*"
		}
	}
	return out
}
