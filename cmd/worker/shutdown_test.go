package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// TestShutdownReleasesHeld: CloudFront answers too slowly for the 2 s
// shutdown grace; on SIGTERM the worker exits 0 within the grace (plus a
// margin) and every message is visible again at once: visibility is 60 s,
// so only a release (visibility 0) explains it. Nothing is deleted: the
// recording proxy sees no delete at all.
func TestShutdownReleasesHeld(t *testing.T) {
	fq := testenv.Fauxqs(t)
	sq := e2e.SQSClient(fq.Endpoint)
	const a = "ESHUTDOWN00001"
	sim := e2e.StartSim(t, cfsim.Options{Distributions: []string{a}, Latency: time.Minute})
	queue, dlq := e2e.CreateQueues(t, sq, "shutdown", 5, 60*time.Second)
	const n = 12
	var bodies []string
	for i := range n {
		bodies = append(bodies, e2e.V1(false, a, fmt.Sprintf("/slow/%d.html", i)))
	}
	e2e.SendBodies(t, sq, queue, bodies)

	proxy := e2e.NewSQSProxy(t, fq.Endpoint, e2e.ProxyOptions{})
	w := e2e.StartWorker(t, e2e.Config{QueueURL: queue, DLQURL: dlq, Window: "1s", Visibility: "60s", Grace: "2s",
		Distributions: e2e.Dists(a)}, proxy.URL, sim.URL)
	w.WaitMetric(t, "invalidator_messages_held", n, 10*time.Second)
	// The worker is waiting on CloudFront (CreateInvalidation, or the
	// ListInvalidations of its quota view before it).
	e2e.Poll(t, 10*time.Second, 50*time.Millisecond, "a CloudFront request in flight", func() (bool, string) {
		return sim.Counter.InFlight() > 0, fmt.Sprintf("started=%d inFlight=%d", sim.Counter.Started(), sim.Counter.InFlight())
	})
	if v, nv := e2e.QueueCounts(t, sq, queue); v != 0 || nv != n {
		t.Fatalf("before SIGTERM: visible=%d notVisible=%d, want 0 and %d", v, nv, n)
	}

	sent := time.Now()
	w.Stop(t, 2*time.Second+5*time.Second)
	took := time.Since(sent)
	t.Logf("exited %s after SIGTERM", took.Round(time.Millisecond))
	// "Right away": far sooner than the 60 s visibility timeout.
	e2e.Poll(t, 3*time.Second, 100*time.Millisecond, "every message visible again", func() (bool, string) {
		v, nv := e2e.QueueCounts(t, sq, queue)
		return v == n && nv == 0, fmt.Sprintf("visible=%d notVisible=%d", v, nv)
	})
	if !strings.Contains(w.Output(), fmt.Sprintf(`"released":%d`, n)) {
		t.Errorf("the worker did not log released=%d", n)
	}
	if got := len(sim.Audit()); got != 0 {
		t.Errorf("%d invalidations were accepted, want none (CloudFront answers after a minute)", got)
	}
	if dl := e2e.ReceiveAll(t, sq, dlq, 1, time.Second); len(dl) > 0 {
		t.Errorf("DLQ got %d messages, want none; first: %s %s", len(dl), dl[0].ReasonCode, dl[0].Body)
	}
	// No Wants: any delete would be one without a covering invalidation.
	e2e.CheckDeletesJustified(t, proxy.Snapshot(), nil, sim.Accepted())
}

// TestShutdownFlushesOpenBatch: the window is 30 s and CloudFront is
// healthy; on SIGTERM the open batch is flushed at once, accepted, and its
// messages deleted (each after its invalidation was created) before the
// worker exits 0, well before the window ends.
func TestShutdownFlushesOpenBatch(t *testing.T) {
	fq := testenv.Fauxqs(t)
	sq := e2e.SQSClient(fq.Endpoint)
	const a, b = "EFLUSH00000001", "EFLUSH00000002"
	sim := e2e.StartSim(t, cfsim.Options{Distributions: []string{a, b}, CompleteAfter: time.Minute})
	queue, dlq := e2e.CreateQueues(t, sq, "flush", 5, 60*time.Second)
	var ms []e2e.Msg
	for i := range 12 {
		d := a
		if i%3 == 0 {
			d = b
		}
		ms = append(ms, e2e.Plain(d, fmt.Sprintf("/flush/%d.html", i)))
	}
	wants := e2e.SendMessages(t, sq, queue, ms)

	proxy := e2e.NewSQSProxy(t, fq.Endpoint, e2e.ProxyOptions{})
	w := e2e.StartWorker(t, e2e.Config{QueueURL: queue, DLQURL: dlq, Window: "30s", Visibility: "60s", Grace: "20s",
		Distributions: e2e.Dists(a, b)}, proxy.URL, sim.URL)
	w.WaitMetric(t, "invalidator_messages_held", float64(len(ms)), 10*time.Second)
	if got := len(sim.Audit()); got != 0 {
		t.Fatalf("%d invalidations before SIGTERM; the 30 s window should still be open", got)
	}

	sent := time.Now()
	w.Stop(t, 10*time.Second)
	took := time.Since(sent)
	t.Logf("exited %s after SIGTERM", took.Round(time.Millisecond))
	if v, nv := e2e.QueueCounts(t, sq, queue); v != 0 || nv != 0 {
		t.Errorf("after exit: visible=%d notVisible=%d, want an empty queue", v, nv)
	}
	byDist := e2e.ByDist(sim.Accepted())
	for d, want := range e2e.WantByDist(ms) {
		if len(byDist[d]) != 1 {
			t.Errorf("distribution %s: %d invalidations, want 1", d, len(byDist[d]))
		}
		if miss := e2e.Uncovered(want, e2e.Union(byDist[d])); len(miss) > 0 {
			t.Errorf("distribution %s: not covered: %q", d, miss)
		}
	}
	if !strings.Contains(w.Output(), `"released":0`) {
		t.Errorf("the worker did not log released=0")
	}
	if dl := e2e.ReceiveAll(t, sq, dlq, 1, time.Second); len(dl) > 0 {
		t.Errorf("DLQ got %d messages, want none; first: %s %s", len(dl), dl[0].ReasonCode, dl[0].Body)
	}
	// The worker has exited: what it deleted, it deleted before.
	e2e.CheckDeletesJustified(t, proxy.Snapshot(), wants, sim.Accepted())
}
