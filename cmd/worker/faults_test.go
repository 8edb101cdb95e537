package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// faultEnv is fauxqs, the recording proxy in front of it, and a CloudFront
// simulator with the given options.
type faultEnv struct {
	sim        *e2e.Sim
	sqsURL     string
	proxy      *e2e.SQSProxy
	queue, dlq string
}

func newFaultEnv(t *testing.T, o cfsim.Options, name string) faultEnv {
	t.Helper()
	fq := testenv.Fauxqs(t)
	queue, dlq := e2e.CreateQueues(t, e2e.SQSClient(fq.Endpoint), name, 5, 30*time.Second)
	return faultEnv{sim: e2e.StartSim(t, o), sqsURL: fq.Endpoint, proxy: e2e.NewSQSProxy(t, fq.Endpoint, e2e.ProxyOptions{}),
		queue: queue, dlq: dlq}
}

// start runs the worker on the environment's queue, through the proxy.
func (env faultEnv) start(t *testing.T, cfg e2e.Config) *e2e.Worker {
	t.Helper()
	cfg.QueueURL, cfg.DLQURL = env.queue, env.dlq
	return e2e.StartWorker(t, cfg, env.proxy.URL, env.sim.URL)
}

// TestTransientErrorsRetried: half of CloudFront's answers are 503. The
// SDK's retries and the worker's backoff get everything accepted and
// deleted; nothing is dead-lettered, and no delete comes before an
// invalidation covering the message was created.
func TestTransientErrorsRetried(t *testing.T) {
	const a, b = "ETRANSIENT0001", "ETRANSIENT0002"
	// A fixed seed: the simulator's first answers include 503s whatever
	// the worker asks first (CreateInvalidation, or the ListInvalidations
	// and GetInvalidation of its quota and completion tracking).
	env := newFaultEnv(t, cfsim.Options{Distributions: []string{a, b}, ErrorRate: 0.5,
		Rand: rand.New(rand.NewPCG(7, 11))}, "transient")
	sq := e2e.SQSClient(env.sqsURL)
	var ms []e2e.Msg
	for i := range 40 {
		d := a
		if i%2 == 1 {
			d = b
		}
		ms = append(ms, e2e.Plain(d, fmt.Sprintf("/t/%d.html", i)))
	}
	// Four waves, each sent after the previous one was deleted, so that
	// several requests per distribution meet the faults.
	wants := e2e.SendMessages(t, sq, env.queue, ms[:10])
	w := env.start(t, e2e.Config{Window: "1s", Visibility: "30s", Grace: "5s", MaxBackoff: "2s", Distributions: e2e.Dists(a, b)})
	for wave := 1; wave < 4; wave++ {
		w.WaitMetric(t, "invalidator_messages_deleted_total", float64(10*wave), 30*time.Second)
		maps.Copy(wants, e2e.SendMessages(t, sq, env.queue, ms[10*wave:10*wave+10]))
	}
	e2e.WaitDrained(t, sq, env.queue, 60*time.Second)
	w.WaitMetric(t, "invalidator_messages_deleted_total", float64(len(ms)), 10*time.Second)

	e2e.CheckCoverage(t, ms, env.sim.Accepted())
	st := env.sim.Stats()
	faults := 0
	for _, byOutcome := range st.Requests {
		faults += byOutcome["ServiceUnavailable"]
	}
	if faults == 0 {
		t.Errorf("the simulator answered no 503 (stats %v): the test proved nothing", st.Requests)
	}
	m := w.Metrics(t)
	if got := e2e.MetricSum(m, "invalidator_messages_dead_lettered_total"); got != 0 {
		t.Errorf("dead_lettered_total = %v, want 0", got)
	}
	if got := m[`invalidator_invalidation_requests_total{outcome="permanent_error"}`]; got != 0 {
		t.Errorf("permanent errors = %v, want 0", got)
	}
	if dl := e2e.ReceiveAll(t, sq, env.dlq, 1, time.Second); len(dl) > 0 {
		t.Errorf("DLQ got %d messages, want none; first: %s %s", len(dl), dl[0].ReasonCode, dl[0].Body)
	}
	e2e.CheckDeletesJustified(t, env.proxy.WaitDeleted(wants, 10*time.Second), wants, env.sim.Accepted())
	t.Logf("simulator: %v; worker: transient=%v accepted=%v", st.Requests,
		m[`invalidator_invalidation_requests_total{outcome="transient_error"}`], m[`invalidator_invalidation_requests_total{outcome="accepted"}`])
	w.Stop(t, 10*time.Second)
}

// TestQuotaFilePaths: the simulator allows 50 file paths in progress and
// completes an invalidation after 3 s; a burst of 120 distinct paths for one
// distribution must all be covered eventually, with quota refusals along
// the way and no permanent error.
func TestQuotaFilePaths(t *testing.T) {
	const a = "EQUOTAFILES001"
	env := newFaultEnv(t, cfsim.Options{Distributions: []string{a}, MaxFilePaths: 50, CompleteAfter: 3 * time.Second}, "quota")
	var ms []e2e.Msg
	for i := range 120 {
		ms = append(ms, e2e.Plain(a, fmt.Sprintf("/q/%03d.html", i)))
	}
	wants := e2e.SendMessages(t, e2e.SQSClient(env.sqsURL), env.queue, ms)
	w := env.start(t, e2e.Config{Window: "1s", Visibility: "30s", Grace: "5s", MaxBackoff: "2s", Distributions: e2e.Dists(a)})
	testQuota(t, env, w, ms, wants)
}

// TestQuotaWildcards: the same with CloudFront's real wildcard limit (15 in
// progress per distribution, which the worker also uses as its per-request
// cap), completing after 3 s. With collapse "auto" (the default) 45
// distinct wildcards and 30 file paths arrive in one burst; with collapse
// "never" the worker may not merge paths and must hold what does not fit
// until earlier invalidations complete (20 wildcards, 10 files).
func TestQuotaWildcards(t *testing.T) {
	for _, tc := range []struct {
		collapse         string
		wildcards, files int
	}{{"auto", 45, 30}, {"never", 20, 10}} {
		t.Run("collapse="+tc.collapse, func(t *testing.T) {
			const a = "EQUOTAWILD0001"
			env := newFaultEnv(t, cfsim.Options{Distributions: []string{a}, CompleteAfter: 3 * time.Second}, "quotaw")
			var ms []e2e.Msg
			for i := range tc.wildcards {
				ms = append(ms, e2e.Plain(a, fmt.Sprintf("/w%02d/*", i)))
			}
			for i := range tc.files {
				ms = append(ms, e2e.Plain(a, fmt.Sprintf("/files/%02d.html", i)))
			}
			wants := e2e.SendMessages(t, e2e.SQSClient(env.sqsURL), env.queue, ms)
			w := env.start(t, e2e.Config{Window: "1s", Visibility: "30s", Grace: "5s", MaxBackoff: "2s",
				Distributions: []e2e.Dist{{ID: a, Collapse: tc.collapse}}})
			testQuota(t, env, w, ms, wants)
			if tc.collapse == "never" {
				for _, e := range env.sim.Accepted() {
					for _, p := range e.Items {
						if strings.HasSuffix(p, "*") && !strings.HasPrefix(p, "/w") || p == "/w*" {
							t.Errorf("collapse never, yet %q was submitted", p)
						}
					}
				}
			}
		})
	}
}

func testQuota(t *testing.T, env faultEnv, w *e2e.Worker, ms []e2e.Msg, wants e2e.Wants) {
	t.Helper()
	sq := e2e.SQSClient(env.sqsURL)
	e2e.WaitDrained(t, sq, env.queue, 60*time.Second)
	w.WaitMetric(t, "invalidator_messages_deleted_total", float64(len(ms)), 10*time.Second)
	e2e.CheckCoverage(t, ms, env.sim.Accepted())
	m := w.Metrics(t)
	st := env.sim.Stats()
	t.Logf("simulator: %v; worker requests: accepted=%v quota=%v permanent=%v transient=%v", st.Requests["CreateInvalidation"],
		m[`invalidator_invalidation_requests_total{outcome="accepted"}`], m[`invalidator_invalidation_requests_total{outcome="quota_exceeded"}`],
		m[`invalidator_invalidation_requests_total{outcome="permanent_error"}`], m[`invalidator_invalidation_requests_total{outcome="transient_error"}`])
	// The limit must have been binding. The worker may learn it from
	// CloudFront's refusal (quota_exceeded) or, counting what is in
	// progress itself, hold paths back or collapse them into wildcards.
	refused := m[`invalidator_invalidation_requests_total{outcome="quota_exceeded"}`]
	held := e2e.MetricSum(m, "invalidator_paths_held_total")
	collapsed := e2e.MetricSum(m, "invalidator_collapses_total")
	t.Logf("quota: refused=%v held_paths=%v collapses=%v", refused, held, collapsed)
	if refused+held+collapsed == 0 {
		t.Errorf("no quota refusal, hold or collapse: the in-progress limit was never binding, the test proved nothing")
	}
	if got := m[`invalidator_invalidation_requests_total{outcome="permanent_error"}`]; got != 0 {
		t.Errorf("permanent_error = %v, want 0", got)
	}
	if got := e2e.MetricSum(m, "invalidator_messages_dead_lettered_total"); got != 0 {
		t.Errorf("dead_lettered_total = %v, want 0", got)
	}
	if dl := e2e.ReceiveAll(t, sq, env.dlq, 1, time.Second); len(dl) > 0 {
		t.Errorf("DLQ got %d messages, want none; first: %s %s (%s)", len(dl), dl[0].ReasonCode, dl[0].Body, dl[0].Reason)
	}
	e2e.CheckDeletesJustified(t, env.proxy.WaitDeleted(wants, 10*time.Second), wants, env.sim.Accepted())
	w.Stop(t, 10*time.Second)
}

// TestPermanentNoSuchDistribution: a distribution the worker allows but
// CloudFront does not know. Its messages are dead-lettered with reason code
// cloudfront_NoSuchDistribution (and deleted only once their copy is in the
// DLQ); the other distributions' messages are invalidated and deleted as
// usual.
func TestPermanentNoSuchDistribution(t *testing.T) {
	const a, b, gone = "EPERMANENT0001", "EPERMANENT0002", "EDOESNOTEXIST1"
	env := newFaultEnv(t, cfsim.Options{Distributions: []string{a, b}}, "permanent")
	sq := e2e.SQSClient(env.sqsURL)
	var good, bad []e2e.Msg
	for i := range 12 {
		d := []string{a, b, gone}[i%3]
		m := e2e.Plain(d, fmt.Sprintf("/p/%d.html", i))
		if d == gone {
			bad = append(bad, m)
		} else {
			good = append(good, m)
		}
	}
	wants := e2e.SendMessages(t, sq, env.queue, good)
	for _, id := range e2e.SendBodies(t, sq, env.queue, e2e.Bodies(bad)) {
		wants[id] = e2e.Want{DeadLettered: true}
	}
	w := env.start(t, e2e.Config{Window: "1s", Visibility: "30s", Grace: "5s", MaxBackoff: "2s", Distributions: e2e.Dists(a, b, gone)})

	got := e2e.ReceiveAll(t, sq, env.dlq, len(bad), 20*time.Second)
	if len(got) != len(bad) {
		t.Fatalf("%d messages in the DLQ, want %d", len(got), len(bad))
	}
	want := map[string]bool{}
	for _, m := range bad {
		want[m.Body] = true
	}
	for _, m := range got {
		if !want[m.Body] {
			t.Errorf("unexpected DLQ message %s (%s)", m.Body, m.ReasonCode)
		}
		if m.ReasonCode != "cloudfront_NoSuchDistribution" {
			t.Errorf("DLQ %s: reason_code %q, want cloudfront_NoSuchDistribution", m.Body, m.ReasonCode)
		}
		if m.Reason == "" || !strings.Contains(m.Reason, gone) {
			t.Errorf("DLQ %s: reason %q should say what failed for %s", m.Body, m.Reason, gone)
		}
	}
	e2e.WaitDrained(t, sq, env.queue, 30*time.Second)
	e2e.CheckCoverage(t, good, env.sim.Accepted())
	for _, e := range env.sim.Accepted() {
		if e.Dist == gone {
			t.Errorf("an invalidation was accepted for %s", gone)
		}
	}
	w.WaitMetric(t, "invalidator_messages_deleted_total", float64(len(good)), 10*time.Second)
	m := w.Metrics(t)
	if got := m[`invalidator_messages_dead_lettered_total{reason="cloudfront_NoSuchDistribution"}`]; got != float64(len(bad)) {
		t.Errorf(`dead_lettered_total{reason="cloudfront_NoSuchDistribution"} = %v, want %d`, got, len(bad))
	}
	if got := m[`invalidator_invalidation_requests_total{outcome="permanent_error"}`]; got < 1 {
		t.Errorf("permanent_error = %v, want >= 1", got)
	}
	e2e.CheckDeletesJustified(t, env.proxy.WaitDeleted(wants, 10*time.Second), wants, env.sim.Accepted(), got...)
	w.Stop(t, 10*time.Second)
}
