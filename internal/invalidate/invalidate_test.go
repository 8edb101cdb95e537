package invalidate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/smithy-go"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/testenv"
)

func TestCallerReference(t *testing.T) {
	base := CallerReference("E1", []string{"m2", "m1"}, []string{"/b", "/a"}, time.Time{})
	if !strings.HasPrefix(base, "cfinv2-") || len(base) != len("cfinv2-")+64 {
		t.Fatalf("reference %q has the wrong shape", base)
	}
	if _, ok := SentBound(base); ok {
		t.Fatalf("a reference without a bound read as having one")
	}
	same := []struct {
		name       string
		ids, paths []string
	}{
		{"same request", []string{"m2", "m1"}, []string{"/b", "/a"}},
		{"order does not matter", []string{"m1", "m2"}, []string{"/a", "/b"}},
	}
	for _, tc := range same {
		if got := CallerReference("E1", tc.ids, tc.paths, time.Time{}); got != base {
			t.Errorf("%s: %q != %q", tc.name, got, base)
		}
	}
	differ := []struct {
		name       string
		dist       string
		ids, paths []string
	}{
		{"same paths from other messages (republished tomorrow)", "E1", []string{"m3"}, []string{"/a", "/b"}},
		{"one more message", "E1", []string{"m1", "m2", "m3"}, []string{"/a", "/b"}},
		{"other paths", "E1", []string{"m1", "m2"}, []string{"/a", "/c"}},
		{"other distribution", "E2", []string{"m1", "m2"}, []string{"/a", "/b"}},
		{"field boundaries are unambiguous", "E1", []string{"m1\n1:m2"}, []string{"/a", "/b"}},
	}
	for _, tc := range differ {
		if got := CallerReference(tc.dist, tc.ids, tc.paths, time.Time{}); got == base {
			t.Errorf("%s: got the same reference", tc.name)
		}
	}
	// The sent bound rides along and reads back, to the millisecond (what
	// SentTimestamp has); every reference is this worker's.
	sent := time.UnixMilli(1796230904416)
	ref := CallerReference("E1", []string{"m2", "m1"}, []string{"/b", "/a"}, sent)
	if want := base + "-s1796230904416"; ref != want {
		t.Fatalf("reference with a bound %q, want %q", ref, want)
	}
	if got, ok := SentBound(ref); !ok || !got.Equal(sent) {
		t.Fatalf("SentBound(%q) = %v, %v; want %v", ref, got, ok, sent)
	}
	for _, other := range []string{"cfinv1-abc", "cfinv2-abc-sx", "cfinv2-abc-s-5", "my-ref-s123", ""} {
		if got, ok := SentBound(other); ok {
			t.Errorf("SentBound(%q) = %v, want none", other, got)
		}
	}
	for _, r := range []string{base, ref, "cfinv1-abc"} {
		if !IsWorkerReference(r) {
			t.Errorf("IsWorkerReference(%q) = false", r)
		}
	}
}

func newClient(url string) *cloudfront.Client {
	return cloudfront.NewFromConfig(testenv.AWSConfig(), func(o *cloudfront.Options) {
		o.BaseEndpoint = aws.String(url)
		o.Retryer = aws.NopRetryer{} // count CloudFront's answers, not the SDK's retries
	})
}

// TestClassifyRealAnswers drives the real SDK against the CloudFront
// simulator so classification is checked on the SDK's real error types.
func TestClassifyRealAnswers(t *testing.T) {
	sim := httptest.NewServer(cfsim.New(cfsim.Options{
		Distributions: []string{"EOK", "EFULL"}, Denied: []string{"EDENY"}, MaxWildcards: 1, CompleteAfter: time.Hour,
		Tenants: map[string]string{"dt_ok": "EOK", "dt_full": "EFULL"},
	}))
	defer sim.Close()
	sub := NewSubmitter(newClient(sim.URL))
	ctx := context.Background()
	if _, err := sub.Submit(ctx, Request{Distribution: "EFULL", Paths: []string{"/a/*"}, MessageIDs: []string{"m0"}}); err != nil {
		t.Fatalf("filling the wildcard quota: %v", err)
	}
	tests := []struct {
		name  string
		req   Request
		class Class
		code  string
	}{
		{"unknown distribution", Request{Distribution: "ENOPE", Paths: []string{"/a"}, MessageIDs: []string{"m1"}}, Permanent, "NoSuchDistribution"},
		{"access denied", Request{Distribution: "EDENY", Paths: []string{"/a"}, MessageIDs: []string{"m1"}}, Permanent, "AccessDenied"},
		{"invalid path", Request{Distribution: "EOK", Paths: []string{"no-slash"}, MessageIDs: []string{"m1"}}, Permanent, "InvalidArgument"},
		{"wildcards in progress", Request{Distribution: "EFULL", Paths: []string{"/b/*"}, MessageIDs: []string{"m2"}}, Quota, "TooManyInvalidationsInProgress"},
		{"unknown tenant", Request{Distribution: "dt_nope", Tenant: true, Paths: []string{"/a"}, MessageIDs: []string{"m1"}}, Permanent, "EntityNotFound"},
		// A tenant shares its distribution's in-progress limits (the
		// simulator's conservative reading; AWS documents none per tenant).
		{"tenant of a full distribution", Request{Distribution: "dt_full", Tenant: true, Paths: []string{"/c/*"}, MessageIDs: []string{"m3"}}, Quota, "TooManyInvalidationsInProgress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sub.Submit(ctx, tt.req)
			if err == nil {
				t.Fatal("Submit succeeded")
			}
			op := "cloudfront CreateInvalidation "
			if tt.req.Tenant {
				op = "cloudfront CreateInvalidationForDistributionTenant "
			}
			if !strings.Contains(err.Error(), op+tt.req.Distribution) {
				t.Errorf("error %q does not name the operation", err)
			}
			class, code := Classify(err)
			if class != tt.class || code != tt.code {
				t.Errorf("Classify = %v %q, want %v %q", class, code, tt.class, tt.code)
			}
		})
	}
	t.Run("tenant accepted", func(t *testing.T) {
		r, err := sub.Submit(ctx, Request{Distribution: "dt_ok", Tenant: true, Paths: []string{"/t"}, MessageIDs: []string{"m7"}})
		if err != nil || r.ID == "" || r.Reference == "" {
			t.Fatalf("tenant submit: %+v %v", r, err)
		}
	})
	t.Run("same reference other paths", func(t *testing.T) {
		first := Request{Distribution: "EOK", Paths: []string{"/x"}, MessageIDs: []string{"m9"}}
		r1, err := sub.Submit(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := sub.Submit(ctx, first)
		if err != nil || r2.ID != r1.ID {
			t.Fatalf("resubmitting the same request: id %q err %v, want the earlier %q", r2.ID, err, r1.ID)
		}
	})
}

func TestClassifyFaults(t *testing.T) {
	throttled := httptest.NewServer(cfsim.New(cfsim.Options{Distributions: []string{"E1"}, ThrottleRate: 0.0001, ThrottleBurst: 1}))
	defer throttled.Close()
	unavailable := httptest.NewServer(cfsim.New(cfsim.Options{Distributions: []string{"E1"}, ErrorRate: 1}))
	defer unavailable.Close()
	ctx := context.Background()
	req := Request{Distribution: "E1", Paths: []string{"/a"}, MessageIDs: []string{"m1"}}
	sub := NewSubmitter(newClient(throttled.URL))
	_, _ = sub.Submit(ctx, req) // spends the burst
	if _, err := sub.Submit(ctx, Request{Distribution: "E1", Paths: []string{"/b"}, MessageIDs: []string{"m2"}}); err == nil {
		t.Fatal("expected Throttling")
	} else if c, code := Classify(err); c != Transient || code != "Throttling" {
		t.Fatalf("Throttling classified %v %q", c, code)
	}
	_, err := NewSubmitter(newClient(unavailable.URL)).Submit(ctx, req)
	if c, code := Classify(err); err == nil || c != Transient || code != "ServiceUnavailable" {
		t.Fatalf("503 classified %v %q (err %v)", c, code, err)
	}
	// Nothing listening: a network error.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, err = NewSubmitter(newClient("http://"+addr)).Submit(ctx, req)
	if c, code := Classify(err); err == nil || c != Transient || code != "network" {
		t.Fatalf("connection refused classified %v %q (err %v)", c, code, err)
	}
}

func TestClassifyCodes(t *testing.T) {
	tests := []struct {
		err   error
		class Class
	}{
		{&smithy.GenericAPIError{Code: "InvalidationBatchAlreadyExists", Fault: smithy.FaultClient}, Permanent},
		{&smithy.GenericAPIError{Code: "ExpiredToken", Fault: smithy.FaultClient}, Transient},
		{&smithy.GenericAPIError{Code: "SomethingNew", Fault: smithy.FaultServer}, Transient},
		{&smithy.GenericAPIError{Code: "SomethingWrong", Fault: smithy.FaultClient}, Permanent},
		{fmt.Errorf("wrapped: %w", &smithy.GenericAPIError{Code: "Throttling"}), Transient},
		{context.DeadlineExceeded, Transient},
		{errors.New("connection reset"), Transient},
	}
	for _, tt := range tests {
		if c, _ := Classify(tt.err); c != tt.class {
			t.Errorf("Classify(%v) = %v, want %v", tt.err, c, tt.class)
		}
	}
}

var _ http.Handler = (*cfsim.Server)(nil)

// TestSubmitTriesOnce: with the worker's retrying client (the SDK's
// standard retryer, several attempts), a 503 and a throttle come back after
// one request each: the retry is the worker's, after a fresh look at
// CloudFront, never the SDK's blind resend of the same paths.
func TestSubmitTriesOnce(t *testing.T) {
	sim := cfsim.New(cfsim.Options{Distributions: []string{"E1"}, ErrorRate: 1})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	client := cloudfront.NewFromConfig(testenv.AWSConfig(), func(o *cloudfront.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.Retryer = retry.AddWithMaxAttempts(retry.NewStandard(func(so *retry.StandardOptions) {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}), 5)
	})
	for _, tenant := range []bool{false, true} {
		id := "E1"
		if tenant {
			id = "dt_1"
		}
		if _, err := NewSubmitter(client).Submit(context.Background(), Request{Distribution: id, Tenant: tenant, Paths: []string{"/a"}, MessageIDs: []string{"m1"}}); err == nil {
			t.Fatalf("tenant %v: Submit succeeded against a simulator that answers every request with a 503", tenant)
		}
	}
	got := 0
	for op, byOutcome := range sim.Stats().Requests {
		for _, n := range byOutcome {
			got += n
		}
		t.Logf("%s: %v", op, byOutcome)
	}
	if got != 2 {
		t.Fatalf("CloudFront saw %d requests for two submits, want 2 (one attempt each)", got)
	}
}
