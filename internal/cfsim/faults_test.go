package cfsim_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/acme/cf-invalidator/internal/cfsim"
)

// TestThrottling: a token bucket on CreateInvalidation only; Throttling is
// HTTP 400 and refills with the (fake) clock.
func TestThrottling(t *testing.T) {
	s, c, clk := sim(t, cfsim.Options{Distributions: []string{"E1"}, ThrottleRate: 1, ThrottleBurst: 2})
	id := aws.ToString(mustCreate(t, c, "E1", "a", "/a").Id)
	mustCreate(t, c, "E1", "b", "/b")
	_, err := create(c, "E1", "c", "/c")
	wantCode(t, err, "Throttling", 400)
	if _, err := get(c, "E1", id); err != nil { // reads are not throttled
		t.Fatal(err)
	}
	if _, err := list(c, "E1", "", 0); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	mustCreate(t, c, "E1", "c", "/c")
	_, err = create(c, "E1", "d", "/d")
	wantCode(t, err, "Throttling", 400)
	if got := s.Stats().Requests["CreateInvalidation"]; got["Throttling"] != 2 || got["Created"] != 3 {
		t.Fatalf("create outcomes %v", got)
	}
}

// TestThrottlingBurstDefault: ThrottleBurst 0 means max(1, ceil(rate)).
func TestThrottlingBurstDefault(t *testing.T) {
	_, c, clk := sim(t, cfsim.Options{Distributions: []string{"E1"}, ThrottleRate: 0.5})
	mustCreate(t, c, "E1", "a", "/a")
	_, err := create(c, "E1", "b", "/b")
	wantCode(t, err, "Throttling", 400)
	clk.Advance(2 * time.Second) // 0.5 requests/s: one token every 2 s
	mustCreate(t, c, "E1", "b", "/b")
}

// retryingClient has the SDK's standard retryer with 3 attempts and no
// backoff, so the test counts retries without waiting.
func retryingClient(url string) *cloudfront.Client {
	return sdkClient(url, func(o *cloudfront.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 3
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			so.RateLimiter = ratelimit.None
		})
	})
}

// TestSDKRetriesThrottlingNotLimits proves the facts the worker relies on:
// the SDK retries Throttling and 503 by itself, and does not retry
// TooManyInvalidationsInProgress.
func TestSDKRetriesThrottlingNotLimits(t *testing.T) {
	clk := newClock()
	s := cfsim.New(cfsim.Options{Distributions: []string{"E1"}, ThrottleRate: 1, ThrottleBurst: 1, MaxFilePaths: 1,
		CompleteAfter: time.Hour, Now: clk.Now})
	hs := httptest.NewServer(s)
	defer hs.Close()
	c := retryingClient(hs.URL)

	mustCreate(t, c, "E1", "a", "/a")
	_, err := create(c, "E1", "b", "/b")
	wantCode(t, err, "Throttling", 400)
	if !retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool() {
		t.Fatal("the SDK does not consider Throttling retryable")
	}
	if n := s.Stats().Requests["CreateInvalidation"]["Throttling"]; n != 3 {
		t.Fatalf("Throttling answered %d times, want 3 (retried)", n)
	}

	clk.Advance(time.Second)
	_, err = create(c, "E1", "b", "/b")
	wantTyped[*types.TooManyInvalidationsInProgress](t, err, 400)
	if n := s.Stats().Requests["CreateInvalidation"]["TooManyInvalidationsInProgress"]; n != 1 {
		t.Fatalf("TooManyInvalidationsInProgress answered %d times, want 1 (not retried)", n)
	}
}

// TestServiceUnavailable: ErrorRate 1 fails every API request with 503,
// Type Receiver, and the SDK's standard retryer retries it.
func TestServiceUnavailable(t *testing.T) {
	s := cfsim.New(cfsim.Options{Distributions: []string{"E1"}, ErrorRate: 1})
	hs := httptest.NewServer(s)
	defer hs.Close()
	c := sdkClient(hs.URL, func(o *cloudfront.Options) { o.Retryer = aws.NopRetryer{} })
	_, err := create(c, "E1", "a", "/a")
	wantCode(t, err, "ServiceUnavailable", 503)
	_, err = get(c, "E1", "I1")
	wantCode(t, err, "ServiceUnavailable", 503)
	_, err = list(c, "E1", "", 0)
	wantCode(t, err, "ServiceUnavailable", 503)

	resp, err := http.Get(hs.URL + "/2020-05-31/distribution/E1/invalidation")
	if err != nil {
		t.Fatal(err)
	}
	if doc := readErrorDoc(t, resp); doc.Type != "Receiver" || resp.StatusCode != 503 {
		t.Fatalf("503 body %+v", doc)
	}

	_, err = create(retryingClient(hs.URL), "E1", "a", "/a")
	wantCode(t, err, "ServiceUnavailable", 503)
	if n := s.Stats().Requests["CreateInvalidation"]["ServiceUnavailable"]; n != 1+3 {
		t.Fatalf("503 answered %d times to create, want 4 (1 + 3 attempts)", n)
	}
}

// TestErrorRateShare: with an injected Rand the share of 503s is exactly
// what that generator draws: one Float64 per API request.
func TestErrorRateShare(t *testing.T) {
	const rate, n = 0.25, 200
	s, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}, ErrorRate: rate, Rand: rand.New(rand.NewPCG(1, 2))})
	want, r := 0, rand.New(rand.NewPCG(1, 2))
	for range n {
		if r.Float64() < rate {
			want++
		}
	}
	for range n {
		_, _ = list(c, "E1", "", 0)
	}
	got := s.Stats().Requests["ListInvalidations"]
	if got["ServiceUnavailable"] != want || got["OK"] != n-want {
		t.Fatalf("outcomes %v, want %d ServiceUnavailable of %d", got, want, n)
	}
}

// TestLatency runs the handler in a synctest bubble: the added latency is
// exact in fake time, the admin surface is not delayed, and a request whose
// client gives up is dropped.
func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := cfsim.New(cfsim.Options{Distributions: []string{"E1"}, Latency: 250 * time.Millisecond})
		start := time.Now()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/2020-05-31/distribution/E1/invalidation", nil))
		if took := time.Since(start); took != 250*time.Millisecond || rec.Code != 200 {
			t.Fatalf("took %v, HTTP %d; want 250ms, 200", took, rec.Code)
		}

		start = time.Now()
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/_sim/healthz", nil))
		if took := time.Since(start); took != 0 {
			t.Fatalf("admin took %v", took)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req := httptest.NewRequest("GET", "/2020-05-31/distribution/E1/invalidation", nil).WithContext(ctx)
		s.ServeHTTP(httptest.NewRecorder(), req)
		if got := s.Stats().Requests["ListInvalidations"]["OK"]; got != 1 {
			t.Fatalf("abandoned request was answered: %d OK", got)
		}
	})
}
