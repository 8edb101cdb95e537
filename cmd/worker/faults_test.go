package main

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// faultEnv is fauxqs plus a CloudFront simulator with the given options.
type faultEnv struct {
	sim        *cfsim.Server
	cfURL      string
	sqsURL     string
	queue, dlq string
}

func newFaultEnv(t *testing.T, o cfsim.Options, name string) faultEnv {
	t.Helper()
	fq := testenv.Fauxqs(t)
	sim := cfsim.New(o)
	hs := httptest.NewServer(sim)
	t.Cleanup(hs.Close)
	queue, dlq := createQueues(t, sqsClient(fq.Endpoint), name, 5, 30*time.Second)
	return faultEnv{sim: sim, cfURL: hs.URL, sqsURL: fq.Endpoint, queue: queue, dlq: dlq}
}

// checkCovered fails the test unless the simulator's accepted invalidations
// cover every message's paths.
func checkCovered(t *testing.T, sim *cfsim.Server, ms []msg) {
	t.Helper()
	byDist := auditByDist(sim.Audit())
	for d, want := range wantByDist(ms) {
		var submitted []string
		for _, e := range byDist[d] {
			submitted = append(submitted, e.Paths...)
		}
		if miss := uncovered(want, submitted); len(miss) > 0 {
			t.Errorf("distribution %s: %d of %d paths never accepted: %q", d, len(miss), len(want), miss)
		}
	}
}

// TestTransientErrorsRetried: half of CloudFront's answers are 503. The
// SDK's retries and the worker's backoff get everything accepted and
// deleted; nothing is dead-lettered.
func TestTransientErrorsRetried(t *testing.T) {
	const a, b = "ETRANSIENT0001", "ETRANSIENT0002"
	// A fixed seed: the simulator's first answers include 503s whatever
	// the worker asks first (CreateInvalidation, or the ListInvalidations
	// and GetInvalidation of its quota and completion tracking).
	env := newFaultEnv(t, cfsim.Options{Distributions: []string{a, b}, ErrorRate: 0.5,
		Rand: rand.New(rand.NewPCG(7, 11))}, "transient")
	sq := sqsClient(env.sqsURL)
	var ms []msg
	for i := range 40 {
		d := a
		if i%2 == 1 {
			d = b
		}
		p := fmt.Sprintf("/t/%d.html", i)
		ms = append(ms, msg{Dist: d, Body: v1(false, d, p), Want: []string{p}})
	}
	// Four waves, each sent after the previous one was deleted, so that
	// several requests per distribution meet the faults.
	sendBodies(t, sq, env.queue, bodiesOf(ms[:10]))
	w := startWorker(t, workerConfig{QueueURL: env.queue, DLQURL: env.dlq, Window: "1s", Visibility: "30s",
		Grace: "5s", MaxBackoff: "2s", Distributions: []dist{{a, nil}, {b, nil}}}, env.sqsURL, env.cfURL)
	for wave := 1; wave < 4; wave++ {
		w.waitMetric(t, "invalidator_messages_deleted_total", float64(10*wave), 30*time.Second)
		sendBodies(t, sq, env.queue, bodiesOf(ms[10*wave:10*wave+10]))
	}
	waitDrained(t, sq, env.queue, 60*time.Second)
	w.waitMetric(t, "invalidator_messages_deleted_total", float64(len(ms)), 10*time.Second)

	checkCovered(t, env.sim, ms)
	st := env.sim.Stats()
	faults := 0
	for _, byOutcome := range st.Requests {
		faults += byOutcome["ServiceUnavailable"]
	}
	if faults == 0 {
		t.Errorf("the simulator answered no 503 (stats %v): the test proved nothing", st.Requests)
	}
	m := w.metrics(t)
	if got := metricSum(m, "invalidator_messages_dead_lettered_total"); got != 0 {
		t.Errorf("dead_lettered_total = %v, want 0", got)
	}
	if got := m[`invalidator_invalidation_requests_total{outcome="permanent_error"}`]; got != 0 {
		t.Errorf("permanent errors = %v, want 0", got)
	}
	if dl := receiveAll(t, sq, env.dlq, 1, time.Second); len(dl) > 0 {
		t.Errorf("DLQ got %d messages, want none; first: %s %s", len(dl), dl[0].ReasonCode, dl[0].Body)
	}
	t.Logf("simulator: %v; worker: transient=%v accepted=%v", st.Requests,
		m[`invalidator_invalidation_requests_total{outcome="transient_error"}`], m[`invalidator_invalidation_requests_total{outcome="accepted"}`])
	w.stop(t, 10*time.Second)
}

// TestQuotaFilePaths: the simulator allows 50 file paths in progress and
// completes an invalidation after 3 s; a burst of 120 distinct paths for one
// distribution must all be covered eventually, with quota refusals along
// the way and no permanent error.
func TestQuotaFilePaths(t *testing.T) {
	const a = "EQUOTAFILES001"
	env := newFaultEnv(t, cfsim.Options{Distributions: []string{a}, MaxFilePaths: 50, CompleteAfter: 3 * time.Second}, "quota")
	sq := sqsClient(env.sqsURL)
	var ms []msg
	for i := range 120 {
		p := fmt.Sprintf("/q/%03d.html", i)
		ms = append(ms, msg{Dist: a, Body: v1(false, a, p), Want: []string{p}})
	}
	sendBodies(t, sq, env.queue, bodiesOf(ms))
	w := startWorker(t, workerConfig{QueueURL: env.queue, DLQURL: env.dlq, Window: "1s", Visibility: "30s",
		Grace: "5s", MaxBackoff: "2s", Distributions: []dist{{a, nil}}}, env.sqsURL, env.cfURL)
	testQuota(t, env, w, ms)
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
			sq := sqsClient(env.sqsURL)
			var ms []msg
			for i := range tc.wildcards {
				p := fmt.Sprintf("/w%02d/*", i)
				ms = append(ms, msg{Dist: a, Body: v1(false, a, p), Want: []string{p}})
			}
			for i := range tc.files {
				p := fmt.Sprintf("/files/%02d.html", i)
				ms = append(ms, msg{Dist: a, Body: v1(false, a, p), Want: []string{p}})
			}
			sendBodies(t, sq, env.queue, bodiesOf(ms))
			w := startWorker(t, workerConfig{QueueURL: env.queue, DLQURL: env.dlq, Window: "1s", Visibility: "30s",
				Grace: "5s", MaxBackoff: "2s", Distributions: []dist{{a, nil}}, DistExtra: "collapse: " + tc.collapse},
				env.sqsURL, env.cfURL)
			testQuota(t, env, w, ms)
			if tc.collapse == "never" {
				for _, e := range env.sim.Audit() {
					for _, p := range e.Paths {
						if strings.HasSuffix(p, "*") && !strings.HasPrefix(p, "/w") || p == "/w*" {
							t.Errorf("collapse never, yet %q was submitted", p)
						}
					}
				}
			}
		})
	}
}

func testQuota(t *testing.T, env faultEnv, w *workerProc, ms []msg) {
	t.Helper()
	sq := sqsClient(env.sqsURL)
	waitDrained(t, sq, env.queue, 60*time.Second)
	w.waitMetric(t, "invalidator_messages_deleted_total", float64(len(ms)), 10*time.Second)
	checkCovered(t, env.sim, ms)
	m := w.metrics(t)
	st := env.sim.Stats()
	t.Logf("simulator: %v; worker requests: accepted=%v quota=%v permanent=%v transient=%v", st.Requests["CreateInvalidation"],
		m[`invalidator_invalidation_requests_total{outcome="accepted"}`], m[`invalidator_invalidation_requests_total{outcome="quota_exceeded"}`],
		m[`invalidator_invalidation_requests_total{outcome="permanent_error"}`], m[`invalidator_invalidation_requests_total{outcome="transient_error"}`])
	// The limit must have been binding. The worker may learn it from
	// CloudFront's refusal (quota_exceeded) or, counting what is in
	// progress itself, hold paths back or collapse them into wildcards.
	refused := m[`invalidator_invalidation_requests_total{outcome="quota_exceeded"}`]
	held := metricSum(m, "invalidator_paths_held_total")
	collapsed := metricSum(m, "invalidator_collapses_total")
	t.Logf("quota: refused=%v held_paths=%v collapses=%v", refused, held, collapsed)
	if refused+held+collapsed == 0 {
		t.Errorf("no quota refusal, hold or collapse: the in-progress limit was never binding, the test proved nothing")
	}
	if got := m[`invalidator_invalidation_requests_total{outcome="permanent_error"}`]; got != 0 {
		t.Errorf("permanent_error = %v, want 0", got)
	}
	if got := metricSum(m, "invalidator_messages_dead_lettered_total"); got != 0 {
		t.Errorf("dead_lettered_total = %v, want 0", got)
	}
	if dl := receiveAll(t, sq, env.dlq, 1, time.Second); len(dl) > 0 {
		t.Errorf("DLQ got %d messages, want none; first: %s %s (%s)", len(dl), dl[0].ReasonCode, dl[0].Body, dl[0].Reason)
	}
	w.stop(t, 10*time.Second)
}

// TestPermanentNoSuchDistribution: a distribution the worker allows but
// CloudFront does not know. Its messages are dead-lettered with reason code
// cloudfront_NoSuchDistribution; the other distributions' messages are
// invalidated and deleted as usual.
func TestPermanentNoSuchDistribution(t *testing.T) {
	const a, b, gone = "EPERMANENT0001", "EPERMANENT0002", "EDOESNOTEXIST1"
	env := newFaultEnv(t, cfsim.Options{Distributions: []string{a, b}}, "permanent")
	sq := sqsClient(env.sqsURL)
	var good, bad []msg
	for i := range 12 {
		d := []string{a, b, gone}[i%3]
		p := fmt.Sprintf("/p/%d.html", i)
		m := msg{Dist: d, Body: v1(false, d, p), Want: []string{p}}
		if d == gone {
			bad = append(bad, m)
		} else {
			good = append(good, m)
		}
	}
	sendBodies(t, sq, env.queue, append(bodiesOf(good), bodiesOf(bad)...))
	w := startWorker(t, workerConfig{QueueURL: env.queue, DLQURL: env.dlq, Window: "1s", Visibility: "30s",
		Grace: "5s", MaxBackoff: "2s", Distributions: []dist{{a, nil}, {b, nil}, {gone, nil}}}, env.sqsURL, env.cfURL)

	got := receiveAll(t, sq, env.dlq, len(bad), 20*time.Second)
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
	waitDrained(t, sq, env.queue, 30*time.Second)
	checkCovered(t, env.sim, good)
	for _, e := range env.sim.Audit() {
		if e.Distribution == gone {
			t.Errorf("an invalidation was accepted for %s", gone)
		}
	}
	w.waitMetric(t, "invalidator_messages_deleted_total", float64(len(good)), 10*time.Second)
	m := w.metrics(t)
	if got := m[`invalidator_messages_dead_lettered_total{reason="cloudfront_NoSuchDistribution"}`]; got != float64(len(bad)) {
		t.Errorf(`dead_lettered_total{reason="cloudfront_NoSuchDistribution"} = %v, want %d`, got, len(bad))
	}
	if got := m[`invalidator_invalidation_requests_total{outcome="permanent_error"}`]; got < 1 {
		t.Errorf("permanent_error = %v, want >= 1", got)
	}
	w.stop(t, 10*time.Second)
}
