package cfsim_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/acme/cf-invalidator/internal/cfsim"
)

// TestAdminSurface: healthz, stats and complete over HTTP; the admin calls
// are not counted as API requests.
func TestAdminSurface(t *testing.T) {
	clk := newClock()
	s := cfsim.New(cfsim.Options{Distributions: []string{"E1"}, CompleteAfter: time.Hour, Now: clk.Now})
	hs := httptest.NewServer(s)
	defer hs.Close()
	c := sdkClient(hs.URL)
	id := aws.ToString(mustCreate(t, c, "E1", "a", "/a", "/b*").Id)
	_, _ = get(c, "ENOSUCH", id)

	resp, err := http.Get(hs.URL + "/_sim/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}

	var st cfsim.Stats
	getJSON(t, hs.URL+"/_sim/stats", &st)
	if st.Invalidations != 1 || st.PathsBilled != 2 || st.InProgress != 1 ||
		st.Requests["CreateInvalidation"]["Created"] != 1 || st.Requests["GetInvalidation"]["NoSuchDistribution"] != 1 || len(st.Requests) != 2 {
		t.Fatalf("stats %+v", st)
	}

	resp, err = http.Post(hs.URL+"/_sim/complete", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "{\n  \"completed\": 1\n}\n" {
		t.Fatalf("complete: %d %s", resp.StatusCode, body)
	}
	g, err := get(c, "E1", id)
	if err != nil || aws.ToString(g.Invalidation.Status) != cfsim.StatusCompleted {
		t.Fatalf("after complete: %v %v", g, err)
	}
	if s.Stats().InProgress != 0 {
		t.Fatal("still in progress")
	}
	mustCreate(t, c, "E1", "b", "/c") // and the limits are free again
}

// TestCompleteAllFreesLimits: CompleteAll frees the in-progress limits at
// once, without moving the clock.
func TestCompleteAllFreesLimits(t *testing.T) {
	s, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}, CompleteAfter: time.Hour, MaxWildcards: 1})
	mustCreate(t, c, "E1", "a", "/a*")
	if _, err := create(c, "E1", "b", "/b*"); err == nil {
		t.Fatal("limit not enforced")
	}
	if n := s.CompleteAll(); n != 1 {
		t.Fatalf("CompleteAll = %d, want 1", n)
	}
	mustCreate(t, c, "E1", "b", "/b*")
}
