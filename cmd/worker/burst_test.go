package main

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// TestBurstMoto: ~200 messages for two distributions, queued before the
// worker starts, against moto for SQS and CloudFront. At most two
// invalidations per distribution cover every path, and every message is
// deleted.
//
// The window is 4 s, not 1 s: moto answers a ReceiveMessage in about 250 ms
// (measured: 200 messages take ~5 s to receive one call at a time, against
// ~30 ms with fauxqs), so with four pollers the burst reaches the worker
// over 2-3 s, and a 1 s window rightly gives 3-4 invalidations per
// distribution.
func TestBurstMoto(t *testing.T) {
	moto := testenv.Moto(t)
	sq, cf := sqsClient(moto.Endpoint), cfClient(moto.Endpoint)
	a := createMotoDistribution(t, cf, "burst-a")
	b := createMotoDistribution(t, cf, "burst-b")
	queue, dlq := createQueues(t, sq, "burst", 5, 30*time.Second)
	ms := burst(a, b)
	sendBodies(t, sq, queue, bodiesOf(ms))

	w := startWorker(t, workerConfig{
		QueueURL: queue, DLQURL: dlq, Window: "4s", Visibility: "30s", Grace: "5s",
		Distributions: []dist{{a, []string{"www"}}, {b, []string{"shop"}}},
	}, serialSQS(t, moto.Endpoint), moto.Endpoint)
	waitDrained(t, sq, queue, 60*time.Second)

	for d, want := range wantByDist(ms) {
		invs := listInvalidations(t, cf, d)
		if len(invs) == 0 || len(invs) > 2 {
			t.Errorf("distribution %s: %d invalidations, want 1 or 2", d, len(invs))
		}
		var submitted []string
		for _, inv := range invs {
			if !strings.EqualFold(inv.Status, "completed") {
				t.Errorf("distribution %s: invalidation %s status %q (moto completes at once)", d, inv.ID, inv.Status)
			}
			submitted = append(submitted, inv.Paths...)
		}
		if miss := uncovered(want, submitted); len(miss) > 0 {
			t.Errorf("distribution %s: %d of %d paths not covered: %q\nsubmitted: %q", d, len(miss), len(want), miss, submitted)
		}
	}
	w.waitMetric(t, "invalidator_messages_deleted_total", float64(len(ms)), 10*time.Second)
	m := w.metrics(t)
	if got := m["invalidator_messages_deleted_total"]; got != float64(len(ms)) {
		t.Errorf("messages_deleted_total = %v, want %d", got, len(ms))
	}
	if got := metricSum(m, "invalidator_messages_dead_lettered_total"); got != 0 {
		t.Errorf("dead_lettered_total = %v, want 0", got)
	}
	if got := m[`invalidator_invalidation_requests_total{outcome="accepted"}`]; got < 2 || got > 4 {
		t.Errorf("accepted requests = %v, want 2..4", got)
	}
	if dl := receiveAll(t, sq, dlq, 1, time.Second); len(dl) > 0 {
		t.Errorf("DLQ got %d messages, want none; first: %s %s", len(dl), dl[0].ReasonCode, dl[0].Body)
	}
	w.stop(t, 10*time.Second)
}

// TestBurstFauxqsCfsim: the same burst against fauxqs and the CloudFront
// simulator, slowed to 300 ms an answer. At most two accepted requests per
// distribution cover every path, and no message is deleted before accepted
// invalidations covered all of its paths: sampled continuously, the number
// of deleted messages never exceeds the number of messages whose paths were
// all covered by then.
func TestBurstFauxqsCfsim(t *testing.T) {
	fq := testenv.Fauxqs(t)
	sq := sqsClient(fq.Endpoint)
	const a, b = "EBURSTA0000001", "EBURSTB0000002"
	sim := cfsim.New(cfsim.Options{Distributions: []string{a, b}, Latency: 300 * time.Millisecond})
	hs := httptest.NewServer(sim)
	t.Cleanup(hs.Close)
	queue, dlq := createQueues(t, sq, "burst", 5, 30*time.Second)
	ms := burst(a, b)
	sendBodies(t, sq, queue, bodiesOf(ms))

	w := startWorker(t, workerConfig{
		QueueURL: queue, DLQURL: dlq, Window: "1s", Visibility: "30s", Grace: "5s",
		Distributions: []dist{{a, []string{"www"}}, {b, []string{"shop"}}},
	}, fq.Endpoint, hs.URL)

	// Sample messages_deleted_total until the queue is drained.
	var rec recorder
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if m, err := w.scrape(); err == nil {
				rec.add(time.Now(), m["invalidator_messages_deleted_total"])
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	waitDrained(t, sq, queue, 60*time.Second)
	w.waitMetric(t, "invalidator_messages_deleted_total", float64(len(ms)), 10*time.Second)
	close(stop)
	wg.Wait()

	audit := sim.Audit()
	byDist := auditByDist(audit)
	for d, want := range wantByDist(ms) {
		entries := byDist[d]
		if len(entries) == 0 || len(entries) > 2 {
			t.Errorf("distribution %s: %d accepted invalidations, want 1 or 2", d, len(entries))
		}
		var submitted []string
		for _, e := range entries {
			submitted = append(submitted, e.Paths...)
		}
		if miss := uncovered(want, submitted); len(miss) > 0 {
			t.Errorf("distribution %s: %d of %d paths not covered: %q", d, len(miss), len(want), miss)
		}
	}
	st := sim.Stats()
	if n := st.Requests["CreateInvalidation"]["Created"]; n > 4 {
		t.Errorf("simulator created %d invalidations, want at most 4; stats %+v", n, st.Requests)
	}

	timeline := coveredAt(ms, audit)
	samples := rec.all()
	if len(samples) < 10 {
		t.Fatalf("only %d samples of messages_deleted_total", len(samples))
	}
	firstAccepted := audit[0].Time
	for _, e := range audit {
		if e.Time.Before(firstAccepted) {
			firstAccepted = e.Time
		}
	}
	zeroBefore := 0
	for _, s := range samples {
		if s.at.Before(firstAccepted) {
			zeroBefore++
			if s.value != 0 {
				t.Errorf("at %s, before the first accepted invalidation (%s), %v messages were already deleted",
					s.at.Format(time.StampMilli), firstAccepted.Format(time.StampMilli), s.value)
			}
		}
		if allowed := timeline.countBy(s.at); s.value > float64(allowed) {
			t.Errorf("at %s %v messages were deleted, but only %d had all their paths covered by accepted invalidations",
				s.at.Format(time.StampMilli), s.value, allowed)
		}
	}
	if zeroBefore == 0 {
		t.Errorf("no sample was taken before the first invalidation was accepted (%s, worker started %s): the ordering check proved nothing",
			firstAccepted.Format(time.StampMilli), w.started.Format(time.StampMilli))
	}
	if dl := receiveAll(t, sq, dlq, 1, time.Second); len(dl) > 0 {
		t.Errorf("DLQ got %d messages, want none; first: %s %s", len(dl), dl[0].ReasonCode, dl[0].Body)
	}
	w.stop(t, 10*time.Second)
	t.Logf("%d samples; first accepted invalidation %s after the worker started", len(samples), firstAccepted.Sub(w.started).Round(time.Millisecond))
}
