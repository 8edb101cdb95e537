package cfsim_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"

	"github.com/acme/cf-invalidator/internal/cfsim"
)

// TestCallerReferenceSamePaths: the same reference with the same set of
// paths (in any order) is answered 201 with the earlier invalidation: no
// new audit line, not billed again, not held to the limits again.
func TestCallerReferenceSamePaths(t *testing.T) {
	s, c, clk := sim(t, cfsim.Options{Distributions: []string{"E1"}, CompleteAfter: time.Minute, MaxFilePaths: 2})
	first := mustCreate(t, c, "E1", "ref", "/a", "/b") // fills the file limit
	clk.Advance(time.Second)
	out, err := create(c, "E1", "ref", "/b", "/a")
	if err != nil {
		t.Fatalf("reuse within the limits: %v", err)
	}
	if statusOf(t, out.ResultMetadata) != 201 || aws.ToString(out.Invalidation.Id) != aws.ToString(first.Id) ||
		!aws.ToTime(out.Invalidation.CreateTime).Equal(t0) {
		t.Fatalf("reuse answered %+v, want invalidation %s", out.Invalidation, aws.ToString(first.Id))
	}
	if !slices.Equal(out.Invalidation.InvalidationBatch.Paths.Items, []string{"/a", "/b"}) {
		t.Fatalf("reuse shows paths %v, want the earlier batch's", out.Invalidation.InvalidationBatch.Paths.Items)
	}
	st := s.Stats()
	if len(s.Audit()) != 1 || st.Invalidations != 1 || st.PathsBilled != 2 || st.Requests["CreateInvalidation"]["Reused"] != 1 {
		t.Fatalf("reuse was booked: %+v", st)
	}
}

// TestCallerReferenceOtherPaths: the same reference with other paths is the
// documented InvalidationBatchAlreadyExists (409, unmodelled so a
// GenericAPIError), or with ConflictAsInvalidArgument what CloudFront is
// observed to answer, InvalidArgument (400).
func TestCallerReferenceOtherPaths(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1", "E2"}})
	mustCreate(t, c, "E1", "ref", "/a", "/b")
	_, err := create(c, "E1", "ref", "/a", "/c")
	wantCode(t, err, "InvalidationBatchAlreadyExists", 409)
	wantTyped[*smithy.GenericAPIError](t, err, 409)
	_, err = create(c, "E1", "ref", "/a")
	wantCode(t, err, "InvalidationBatchAlreadyExists", 409)
	mustCreate(t, c, "E2", "ref", "/a", "/c") // references are per distribution

	_, obs, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}, ConflictAsInvalidArgument: true})
	mustCreate(t, obs, "E1", "ref", "/a")
	_, err = create(obs, "E1", "ref", "/b")
	wantTyped[*types.InvalidArgument](t, err, 400)
}

// syncBuffer is an io.Writer the server writes and the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) Lines(t *testing.T) []map[string]any {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(w.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestAuditLog: one JSON line per accepted invalidation with exactly the
// fields time, distribution, id, caller_reference, paths; reuses and
// failures write nothing. Audit() and GET /_sim/audit agree with it.
func TestAuditLog(t *testing.T) {
	var log syncBuffer
	clk := newClock()
	s := cfsim.New(cfsim.Options{Distributions: []string{"E1", "E2"}, AuditLog: &log, Now: clk.Now})
	hs := httptest.NewServer(s)
	defer hs.Close()
	c := sdkClient(hs.URL)
	a := mustCreate(t, c, "E1", "ref-a", "/a", "/img/*")
	clk.Advance(1500 * time.Millisecond)
	b := mustCreate(t, c, "E2", "ref-b", "/b")
	mustCreate(t, c, "E1", "ref-a", "/img/*", "/a")
	_, _ = create(c, "E1", "bad", "nope")

	want := []map[string]any{
		{"time": t0.Format(time.RFC3339Nano), "distribution": "E1", "id": aws.ToString(a.Id), "caller_reference": "ref-a", "paths": []any{"/a", "/img/*"}},
		{"time": t0.Add(1500 * time.Millisecond).Format(time.RFC3339Nano), "distribution": "E2", "id": aws.ToString(b.Id), "caller_reference": "ref-b", "paths": []any{"/b"}},
	}
	if got := log.Lines(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("audit lines\n got %v\nwant %v", got, want)
	}
	entries := s.Audit()
	if len(entries) != 2 || entries[1].ID != aws.ToString(b.Id) || !entries[1].Time.Equal(t0.Add(1500*time.Millisecond)) {
		t.Fatalf("Audit() = %+v", entries)
	}
	var served []cfsim.AuditEntry
	getJSON(t, hs.URL+"/_sim/audit", &served)
	if !reflect.DeepEqual(served, entries) {
		t.Fatalf("/_sim/audit = %+v, want %+v", served, entries)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
