package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// countingHandler counts CloudFront API requests (not the /_sim/ admin
// surface) that reached the simulator and those still being answered.
//
// It reads the request body before the simulator sleeps its Latency: net/http
// notices a client that hung up (and cancels r.Context()) only once the body
// has been read, and cfsim reads it after the sleep, so without this a
// cancelled request would keep httptest.Server.Close waiting for the whole
// Latency.
type countingHandler struct {
	next              http.Handler
	started, inFlight atomic.Int64
}

func (h *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !strings.HasPrefix(r.URL.Path, "/_sim/") {
		h.started.Add(1)
		h.inFlight.Add(1)
		defer h.inFlight.Add(-1)
	}
	h.next.ServeHTTP(w, r)
}

// TestShutdownReleasesHeld: CloudFront answers too slowly for the 2 s
// shutdown grace; on SIGTERM the worker exits 0 within the grace (plus a
// margin) and every message is visible again at once: visibility is 60 s,
// so only a release (visibility 0) explains it.
func TestShutdownReleasesHeld(t *testing.T) {
	fq := testenv.Fauxqs(t)
	sq := sqsClient(fq.Endpoint)
	const a = "ESHUTDOWN00001"
	h := &countingHandler{next: cfsim.New(cfsim.Options{Distributions: []string{a}, Latency: time.Minute})}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	queue, dlq := createQueues(t, sq, "shutdown", 5, 60*time.Second)
	const n = 12
	var bodies []string
	for i := range n {
		bodies = append(bodies, v1(false, a, fmt.Sprintf("/slow/%d.html", i)))
	}
	sendBodies(t, sq, queue, bodies)

	w := startWorker(t, workerConfig{QueueURL: queue, DLQURL: dlq, Window: "1s", Visibility: "60s", Grace: "2s",
		Distributions: []dist{{a, nil}}}, fq.Endpoint, hs.URL)
	w.waitMetric(t, "invalidator_messages_held", n, 10*time.Second)
	// The worker is waiting on CloudFront (CreateInvalidation, or the
	// ListInvalidations of its quota view before it).
	poll(t, 10*time.Second, 50*time.Millisecond, "a CloudFront request in flight", func() (bool, string) {
		return h.inFlight.Load() > 0, fmt.Sprintf("started=%d inFlight=%d", h.started.Load(), h.inFlight.Load())
	})
	if v, nv := queueCounts(t, sq, queue); v != 0 || nv != n {
		t.Fatalf("before SIGTERM: visible=%d notVisible=%d, want 0 and %d", v, nv, n)
	}

	sent := time.Now()
	w.stop(t, 2*time.Second+5*time.Second)
	took := time.Since(sent)
	t.Logf("exited %s after SIGTERM", took.Round(time.Millisecond))
	// "Right away": far sooner than the 60 s visibility timeout.
	poll(t, 3*time.Second, 100*time.Millisecond, "every message visible again", func() (bool, string) {
		v, nv := queueCounts(t, sq, queue)
		return v == n && nv == 0, fmt.Sprintf("visible=%d notVisible=%d", v, nv)
	})
	if !strings.Contains(w.Output(), fmt.Sprintf(`"released":%d`, n)) {
		t.Errorf("the worker did not log released=%d", n)
	}
	if got := len(h.next.(*cfsim.Server).Audit()); got != 0 {
		t.Errorf("%d invalidations were accepted, want none (CloudFront answers after a minute)", got)
	}
	if dl := receiveAll(t, sq, dlq, 1, time.Second); len(dl) > 0 {
		t.Errorf("DLQ got %d messages, want none; first: %s %s", len(dl), dl[0].ReasonCode, dl[0].Body)
	}
}

// TestShutdownFlushesOpenBatch: the window is 30 s and CloudFront is
// healthy; on SIGTERM the open batch is flushed at once, accepted, and its
// messages deleted before the worker exits 0, well before the window ends.
func TestShutdownFlushesOpenBatch(t *testing.T) {
	fq := testenv.Fauxqs(t)
	sq := sqsClient(fq.Endpoint)
	const a, b = "EFLUSH00000001", "EFLUSH00000002"
	sim := cfsim.New(cfsim.Options{Distributions: []string{a, b}, CompleteAfter: time.Minute})
	hs := httptest.NewServer(sim)
	t.Cleanup(hs.Close)
	queue, dlq := createQueues(t, sq, "flush", 5, 60*time.Second)
	var ms []msg
	for i := range 12 {
		d := a
		if i%3 == 0 {
			d = b
		}
		p := fmt.Sprintf("/flush/%d.html", i)
		ms = append(ms, msg{Dist: d, Body: v1(false, d, p), Want: []string{p}})
	}
	sendBodies(t, sq, queue, bodiesOf(ms))

	w := startWorker(t, workerConfig{QueueURL: queue, DLQURL: dlq, Window: "30s", Visibility: "60s", Grace: "20s",
		Distributions: []dist{{a, nil}, {b, nil}}}, fq.Endpoint, hs.URL)
	w.waitMetric(t, "invalidator_messages_held", float64(len(ms)), 10*time.Second)
	if got := len(sim.Audit()); got != 0 {
		t.Fatalf("%d invalidations before SIGTERM; the 30 s window should still be open", got)
	}

	sent := time.Now()
	w.stop(t, 10*time.Second)
	took := time.Since(sent)
	t.Logf("exited %s after SIGTERM", took.Round(time.Millisecond))
	if v, nv := queueCounts(t, sq, queue); v != 0 || nv != 0 {
		t.Errorf("after exit: visible=%d notVisible=%d, want an empty queue", v, nv)
	}
	byDist := auditByDist(sim.Audit())
	for d, want := range wantByDist(ms) {
		var submitted []string
		for _, e := range byDist[d] {
			submitted = append(submitted, e.Paths...)
		}
		if len(byDist[d]) != 1 {
			t.Errorf("distribution %s: %d invalidations, want 1", d, len(byDist[d]))
		}
		if miss := uncovered(want, submitted); len(miss) > 0 {
			t.Errorf("distribution %s: not covered: %q", d, miss)
		}
	}
	if !strings.Contains(w.Output(), `"released":0`) {
		t.Errorf("the worker did not log released=0")
	}
	if dl := receiveAll(t, sq, dlq, 1, time.Second); len(dl) > 0 {
		t.Errorf("DLQ got %d messages, want none; first: %s %s", len(dl), dl[0].ReasonCode, dl[0].Body)
	}
}
