package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// TestPoisonToDLQ: every kind of poison, received together with good
// messages, reaches the dead-letter queue within seconds — far sooner than
// SQS's own redrive could (visibility 30 s, maxReceiveCount 2) — with its
// reason in the message attributes; a partly bad message has only its bad
// path dead-lettered and its good path invalidated; good messages flow.
// Each delete is justified: a poison message by its copy in the DLQ, a good
// one by an invalidation created after its send, the partial one by both.
//
// Against moto the DLQ is not configured: the worker finds it from the
// queue's RedrivePolicy. Against fauxqs + cfsim it is configured.
func TestPoisonToDLQ(t *testing.T) {
	t.Run("moto/discovered-dlq", func(t *testing.T) {
		moto := testenv.Moto(t)
		cf := e2e.CFClient(moto.Endpoint)
		a := e2e.CreateDistribution(t, cf, "poison-a")
		testPoison(t, moto.Endpoint, true, moto.Endpoint, a, false, func() []e2e.Invalidation {
			return e2e.ListInvalidations(t, cf, a)
		})
	})
	t.Run("fauxqs+cfsim/configured-dlq", func(t *testing.T) {
		fq := testenv.Fauxqs(t)
		const a = "EPOISON0000001"
		sim := e2e.StartSim(t, cfsim.Options{Distributions: []string{a}})
		testPoison(t, fq.Endpoint, false, sim.URL, a, true, sim.Accepted)
	})
}

// testPoison runs the case against the SQS emulator at sqsEndpoint (moto
// with serial) and CloudFront at cfEndpoint, whose accepted invalidations
// accepted lists.
func testPoison(t *testing.T, sqsEndpoint string, serial bool, cfEndpoint, a string, configureDLQ bool, accepted func() []e2e.Invalidation) {
	sq := e2e.SQSClient(sqsEndpoint)
	queue, dlq := e2e.CreateQueues(t, sq, "poison", 2, 30*time.Second)
	invalidated := func() []string { return e2e.Union(accepted()) }

	malformed := `{"distribution_id": "` + a + `", "paths": ["/x.html"`
	missing := `{"paths": ["/orphan.html"]}`
	notAllowed := e2e.V1(false, "ENOTLISTED0001", "/elsewhere.html")
	noValid := e2e.V1(false, a, "relative.html", "/mid*dle.html")
	partial := e2e.V1(false, a, "/partial-ok.html", "/bad*path.html")
	var good []string
	for _, p := range []string{"/good/1.html", "/good/2.html", "/good/3.html", "/good/4.html", "/good/5.html"} {
		good = append(good, e2e.V1(false, a, p))
	}
	bodies := []string{malformed, good[0], missing, good[1], notAllowed, good[2], noValid, good[3], partial, good[4]}
	wantOf := map[string]e2e.Want{malformed: {DeadLettered: true}, missing: {DeadLettered: true}, notAllowed: {DeadLettered: true},
		noValid: {DeadLettered: true}, partial: {Dist: a, Items: []string{"/partial-ok.html"}, DeadLettered: true}}
	for i, body := range good {
		wantOf[body] = e2e.Want{Dist: a, Items: []string{fmt.Sprintf("/good/%d.html", i+1)}}
	}
	wants := e2e.Wants{}
	for i, id := range e2e.SendBodies(t, sq, queue, bodies) {
		wants[id] = wantOf[bodies[i]]
	}

	cfg := e2e.Config{QueueURL: queue, Window: "1s", Visibility: "30s", Grace: "5s",
		Distributions: []e2e.Dist{{ID: a, Aliases: []string{"www"}}}}
	if configureDLQ {
		cfg.DLQURL = dlq
	}
	proxy := e2e.NewSQSProxy(t, sqsEndpoint, e2e.ProxyOptions{Serial: serial})
	w := e2e.StartWorker(t, cfg, proxy.URL, cfEndpoint)
	if !configureDLQ && !strings.Contains(w.Output(), dlq) {
		t.Errorf("the worker did not log the dead-letter queue %s it should have found from the RedrivePolicy", dlq)
	}

	const poisonCount = 5
	got := e2e.ReceiveAll(t, sq, dlq, poisonCount, 10*time.Second)
	elapsed := time.Since(w.Started)
	if len(got) != poisonCount {
		t.Fatalf("%d messages reached the DLQ within 10 s of the worker's start, want %d: %+v", len(got), poisonCount, got)
	}
	t.Logf("all %d poison messages in the DLQ %s after the worker started", poisonCount, elapsed.Round(time.Millisecond))

	byBody := map[string]e2e.Message{}
	for _, m := range got {
		if m.Reason == "" {
			t.Errorf("DLQ message %q has no invalidator.reason; attributes %v", m.Body, m.Attrs)
		}
		if m.Attrs["invalidator.source_message_id"] == "" {
			t.Errorf("DLQ message %q has no invalidator.source_message_id", m.Body)
		}
		byBody[m.Body] = m
	}
	for body, code := range map[string]string{
		malformed:  "malformed_body",
		missing:    "missing_distribution",
		notAllowed: "distribution_not_allowed",
		noValid:    "invalid_path",
	} {
		m, ok := byBody[body]
		if !ok {
			t.Errorf("no DLQ message with the original body %s", body)
			continue
		}
		if m.ReasonCode != code {
			t.Errorf("DLQ %s: reason_code %q (reason %q), want %q", body, m.ReasonCode, m.Reason, code)
		}
		delete(byBody, body)
	}
	// What is left is the partial message's rejected part: a v1 body that
	// holds only the invalid path.
	if len(byBody) != 1 {
		t.Fatalf("want exactly one more DLQ message (the partial one), got %d: %v", len(byBody), byBody)
	}
	for body, m := range byBody {
		if m.ReasonCode != "invalid_path" {
			t.Errorf("partial DLQ message: reason_code %q, want invalid_path", m.ReasonCode)
		}
		var v struct {
			DistributionID string   `json:"distribution_id"`
			Paths          []string `json:"paths"`
			Tags           []string `json:"tags"`
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("partial DLQ body %q is not v1 JSON: %v", body, err)
		}
		if v.DistributionID != a || !slices.Equal(v.Paths, []string{"/bad*path.html"}) || len(v.Tags) > 0 {
			t.Errorf("partial DLQ body = %s, want distribution_id %s and paths [/bad*path.html] only", body, a)
		}
	}

	e2e.WaitDrained(t, sq, queue, 30*time.Second)
	wantPaths := []string{"/partial-ok.html", "/good/1.html", "/good/2.html", "/good/3.html", "/good/4.html", "/good/5.html"}
	e2e.Poll(t, 10*time.Second, 100*time.Millisecond, "good paths invalidated", func() (bool, string) {
		miss := e2e.Uncovered(wantPaths, invalidated())
		return len(miss) == 0, strings.Join(miss, " ")
	})
	for _, p := range invalidated() {
		if strings.Contains(p, "*path") || strings.Contains(p, "mid") || strings.Contains(p, "orphan") || strings.Contains(p, "elsewhere") {
			t.Errorf("poison path %q was invalidated", p)
		}
	}
	// The good and the partial message are deleted after acceptance (the
	// counter may also count the originals of dead-lettered messages).
	w.WaitMetric(t, "invalidator_messages_deleted_total", float64(len(good)+1), 10*time.Second)
	m := w.Metrics(t)
	if got := e2e.MetricSum(m, "invalidator_messages_dead_lettered_total"); got != poisonCount {
		t.Errorf("dead_lettered_total = %v, want %d", got, poisonCount)
	}
	if got := m[`invalidator_messages_dead_lettered_total{reason="invalid_path"}`]; got != 2 {
		t.Errorf(`dead_lettered_total{reason="invalid_path"} = %v, want 2`, got)
	}
	if got := e2e.MetricSum(m, "invalidator_poison_kept_total"); got != 0 {
		t.Errorf("poison_kept_total = %v, want 0", got)
	}
	// Nothing else trickles into the DLQ later.
	if more := e2e.ReceiveAll(t, sq, dlq, 1, time.Second); len(more) > 0 {
		t.Errorf("unexpected further DLQ message: %+v", more[0])
	}
	e2e.CheckDeletesJustified(t, proxy.WaitDeleted(wants, 10*time.Second), wants, accepted(), got...)
	w.Stop(t, 10*time.Second)
}
