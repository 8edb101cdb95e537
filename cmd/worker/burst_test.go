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

// TestBurstMoto: ~200 messages for two distributions, queued before the
// worker starts, against moto for SQS and CloudFront. At most two
// invalidations per distribution cover every path, and every message is
// deleted, each only after invalidations created after its send covered it.
//
// The window is 4 s, not 1 s: moto answers a ReceiveMessage in about 250 ms
// (measured: 200 messages take ~5 s to receive one call at a time, against
// ~30 ms with fauxqs), so with four pollers the burst reaches the worker
// over 2-3 s, and a 1 s window rightly gives 3-4 invalidations per
// distribution.
func TestBurstMoto(t *testing.T) {
	moto := testenv.Moto(t)
	sq, cf := e2e.SQSClient(moto.Endpoint), e2e.CFClient(moto.Endpoint)
	a := e2e.CreateDistribution(t, cf, "burst-a")
	b := e2e.CreateDistribution(t, cf, "burst-b")
	queue, dlq := e2e.CreateQueues(t, sq, "burst", 5, 30*time.Second)
	ms := burst(a, b)
	wants := e2e.SendMessages(t, sq, queue, ms)

	proxy := e2e.NewSQSProxy(t, moto.Endpoint, e2e.ProxyOptions{Serial: true})
	w := e2e.StartWorker(t, e2e.Config{
		QueueURL: queue, DLQURL: dlq, Window: "4s", Visibility: "30s", Grace: "5s",
		Distributions: []e2e.Dist{{ID: a, Aliases: []string{"www"}}, {ID: b, Aliases: []string{"shop"}}},
	}, proxy.URL, moto.Endpoint)
	e2e.WaitDrained(t, sq, queue, 60*time.Second)

	for d, want := range e2e.WantByDist(ms) {
		invs := e2e.ListInvalidations(t, cf, d)
		if len(invs) == 0 || len(invs) > 2 {
			t.Errorf("distribution %s: %d invalidations, want 1 or 2", d, len(invs))
		}
		var submitted []string
		for _, inv := range invs {
			if !strings.EqualFold(inv.Status, "completed") {
				t.Errorf("distribution %s: invalidation %s status %q (moto completes at once)", d, inv.ID, inv.Status)
			}
			submitted = append(submitted, inv.Items...)
		}
		if miss := e2e.Uncovered(want, submitted); len(miss) > 0 {
			t.Errorf("distribution %s: %d of %d paths not covered: %q\nsubmitted: %q", d, len(miss), len(want), miss, submitted)
		}
	}
	w.WaitMetric(t, "invalidator_messages_deleted_total", float64(len(ms)), 10*time.Second)
	m := w.Metrics(t)
	if got := m["invalidator_messages_deleted_total"]; got != float64(len(ms)) {
		t.Errorf("messages_deleted_total = %v, want %d", got, len(ms))
	}
	if got := e2e.MetricSum(m, "invalidator_messages_dead_lettered_total"); got != 0 {
		t.Errorf("dead_lettered_total = %v, want 0", got)
	}
	if got := m[`invalidator_invalidation_requests_total{outcome="accepted"}`]; got < 2 || got > 4 {
		t.Errorf("accepted requests = %v, want 2..4", got)
	}
	if dl := e2e.ReceiveAll(t, sq, dlq, 1, time.Second); len(dl) > 0 {
		t.Errorf("DLQ got %d messages, want none; first: %s %s", len(dl), dl[0].ReasonCode, dl[0].Body)
	}
	e2e.CheckDeletesJustified(t, proxy.WaitDeleted(wants, 10*time.Second), wants, e2e.FromCloudFront(t, cf, a, b))
	w.Stop(t, 10*time.Second)
}

// TestBurstFauxqsCfsim: the same burst against fauxqs and the CloudFront
// simulator, slowed to 300 ms an answer. At most two accepted requests per
// distribution cover every path, and no message is deleted before accepted
// invalidations covered all of its paths: sampled continuously, the number
// of deleted messages never exceeds the number of messages whose paths were
// all covered by then; and each delete the worker made is justified by
// invalidations created between the message's send and the delete.
func TestBurstFauxqsCfsim(t *testing.T) {
	fq := testenv.Fauxqs(t)
	sq := e2e.SQSClient(fq.Endpoint)
	const a, b = "EBURSTA0000001", "EBURSTB0000002"
	sim := e2e.StartSim(t, cfsim.Options{Distributions: []string{a, b}, Latency: 300 * time.Millisecond})
	queue, dlq := e2e.CreateQueues(t, sq, "burst", 5, 30*time.Second)
	ms := burst(a, b)
	wants := e2e.SendMessages(t, sq, queue, ms)

	proxy := e2e.NewSQSProxy(t, fq.Endpoint, e2e.ProxyOptions{})
	w := e2e.StartWorker(t, e2e.Config{
		QueueURL: queue, DLQURL: dlq, Window: "1s", Visibility: "30s", Grace: "5s",
		Distributions: []e2e.Dist{{ID: a, Aliases: []string{"www"}}, {ID: b, Aliases: []string{"shop"}}},
	}, proxy.URL, sim.URL)

	// Sample messages_deleted_total until the queue is drained.
	sampler := e2e.SampleMetric(w, "invalidator_messages_deleted_total", 20*time.Millisecond)
	e2e.WaitDrained(t, sq, queue, 60*time.Second)
	w.WaitMetric(t, "invalidator_messages_deleted_total", float64(len(ms)), 10*time.Second)
	samples := sampler.Stop()

	accepted := sim.Accepted()
	byDist := e2e.ByDist(accepted)
	for d, want := range e2e.WantByDist(ms) {
		entries := byDist[d]
		if len(entries) == 0 || len(entries) > 2 {
			t.Errorf("distribution %s: %d accepted invalidations, want 1 or 2", d, len(entries))
		}
		if miss := e2e.Uncovered(want, e2e.Union(entries)); len(miss) > 0 {
			t.Errorf("distribution %s: %d of %d paths not covered: %q", d, len(miss), len(want), miss)
		}
	}
	st := sim.Stats()
	if n := st.Requests["CreateInvalidation"]["Created"]; n > 4 {
		t.Errorf("simulator created %d invalidations, want at most 4; stats %+v", n, st.Requests)
	}

	timeline := e2e.CoveredAt(ms, accepted)
	if len(samples) < 10 {
		t.Fatalf("only %d samples of messages_deleted_total", len(samples))
	}
	firstAccepted := accepted[0].Created // oldest first
	zeroBefore := 0
	for _, s := range samples {
		if s.At.Before(firstAccepted) {
			zeroBefore++
			if s.Value != 0 {
				t.Errorf("at %s, before the first accepted invalidation (%s), %v messages were already deleted",
					s.At.Format(time.StampMilli), firstAccepted.Format(time.StampMilli), s.Value)
			}
		}
		if allowed := timeline.CountBy(s.At); s.Value > float64(allowed) {
			t.Errorf("at %s %v messages were deleted, but only %d had all their paths covered by accepted invalidations",
				s.At.Format(time.StampMilli), s.Value, allowed)
		}
	}
	if zeroBefore == 0 {
		t.Errorf("no sample was taken before the first invalidation was accepted (%s, worker started %s): the ordering check proved nothing",
			firstAccepted.Format(time.StampMilli), w.Started.Format(time.StampMilli))
	}
	if dl := e2e.ReceiveAll(t, sq, dlq, 1, time.Second); len(dl) > 0 {
		t.Errorf("DLQ got %d messages, want none; first: %s %s", len(dl), dl[0].ReasonCode, dl[0].Body)
	}
	e2e.CheckDeletesJustified(t, proxy.WaitDeleted(wants, 10*time.Second), wants, accepted)
	w.Stop(t, 10*time.Second)
	t.Logf("%d samples; first accepted invalidation %s after the worker started", len(samples), firstAccepted.Sub(w.Started).Round(time.Millisecond))
}

// burst is ~200 messages for two distributions a (alias "www") and b (alias
// "shop"): plain paths by id and by alias, duplicates, wildcards that cover
// other paths, multi-path messages, and paths that need normalizing
// (spaces, non-ASCII, full URLs, a lone "%", surrounding blanks).
func burst(a, b string) []e2e.Msg {
	var ms []e2e.Msg
	add := func(d string, byName bool, name string, want []string, paths ...string) {
		ms = append(ms, e2e.Msg{Dist: d, Body: e2e.V1(byName, name, paths...), Items: want})
	}
	plain := func(d string, byName bool, name string, paths ...string) { add(d, byName, name, paths, paths...) }
	for i := range 120 {
		d, alias, dir := a, "www", "posts"
		if i%2 == 1 {
			d, alias, dir = b, "shop", "products"
		}
		name := d
		if i%3 == 0 {
			name = alias
		}
		plain(d, i%3 == 0, name, fmt.Sprintf("/%s/%d.html", dir, i))
	}
	for i := range 20 { // duplicates of the first 20, once by id and once by alias
		d, alias, dir := a, "www", "posts"
		if i%2 == 1 {
			d, alias, dir = b, "shop", "products"
		}
		p := fmt.Sprintf("/%s/%d.html", dir, i)
		if i%4 < 2 {
			plain(d, false, d, p)
		} else {
			plain(d, true, alias, p)
		}
	}
	// A wildcard and 30 messages it covers, sent before and after it.
	for i := range 15 {
		plain(a, false, a, fmt.Sprintf("/img/p-%d.png", i), fmt.Sprintf("/img/sub/q-%d.png", i))
	}
	plain(a, true, "www", "/img/*")
	for i := 15; i < 30; i++ {
		plain(a, false, a, fmt.Sprintf("/img/p-%d.png", i))
	}
	plain(b, false, b, "/cat/*")
	for i := range 10 {
		plain(b, true, "shop", fmt.Sprintf("/cat/%d/index.json", i))
	}
	// Paths that need normalizing.
	add(a, false, a, []string{"/a%20b.html"}, "/a b.html")
	add(a, true, "www", []string{"/caf%C3%A9/men%C3%BC.html"}, "/café/menü.html")
	add(a, false, a, []string{"/x?y=1"}, "https://www.example.com/x?y=1")
	add(a, false, a, []string{"/already%20encoded.html"}, "/already%20encoded.html")
	add(a, false, a, []string{"/trimmed.html"}, "  /trimmed.html\t")
	add(a, false, a, []string{"/"}, "HTTPS://www.example.com")
	add(b, false, b, []string{"/search?q=a%20b"}, "https://shop.example.com/search?q=a b#top")
	add(b, true, "shop", []string{"/%E6%97%A5%E6%9C%AC/%E3%83%9A%E3%83%BC%E3%82%B8.html"}, "/日本/ページ.html")
	add(b, false, b, []string{"/50%25off.html"}, "/50%off.html")
	add(b, false, b, []string{"/a%7Bb%7D.html", "/quote%22d.html"}, "/a{b}.html", `/quote"d.html`)
	// Multi-path messages, overlapping each other and the plain ones.
	for i := range 6 {
		plain(a, false, a, fmt.Sprintf("/multi/%d.html", i), fmt.Sprintf("/multi/%d.html", i+1), "/posts/0.html")
	}
	for i := range 4 {
		plain(b, true, "shop", fmt.Sprintf("/bundle/%d.css", i), fmt.Sprintf("/bundle/%d.js", i))
	}
	return ms
}
