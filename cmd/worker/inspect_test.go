package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// TestInspectDeadLetterQueue: counts by reason, the queue it serves, and
// the messages visible again afterwards; --json for scripts; a source
// queue is not peeked.
func TestInspectDeadLetterQueue(t *testing.T) {
	moto := testenv.Moto(t)
	c := e2e.SQSClient(moto.Endpoint)
	src, dlq := e2e.CreateQueues(t, c, "inspect", 5, 0)
	e2e.SendDeadLettered(t, c, dlq, src, message.CodeInvalidPath, []string{"a", "b", "c"})
	e2e.SendDeadLettered(t, c, dlq, src, message.CodeDistributionNotAllowed, []string{"d"})

	res := e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "inspect", "--queue-url", dlq)
	t.Logf("inspect:\n%s", res.Stdout)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Stderr)
	}
	for _, want := range []string{"visible:               4", "dead-letter queue of:  " + src, "peeked:                4 message(s)", "oldest message:"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !e2e.HasRow(res.Stdout, "invalid_path", "3") || !e2e.HasRow(res.Stdout, "distribution_not_allowed", "1") {
		t.Errorf("output lacks the counts by reason")
	}
	if v, nv := e2e.QueueCounts(t, c, dlq); v != 4 || nv != 0 {
		t.Fatalf("after inspect: visible %d, not visible %d; want 4, 0", v, nv)
	}

	res = e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "inspect", "--queue-url", dlq, "--json", "--peek", "2")
	var rep struct {
		Visible  int            `json:"visible"`
		Peeked   int            `json:"peeked"`
		ByReason map[string]int `json:"by_reason"`
		Sources  []string       `json:"dead_letter_sources"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil || res.Code != 0 {
		t.Fatalf("--json: exit %d, %v:\n%s", res.Code, err, res.Stdout)
	}
	if rep.Visible != 4 || rep.Peeked != 2 || len(rep.Sources) != 1 {
		t.Fatalf("--json report %+v", rep)
	}

	res = e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "inspect", "--queue-url", src)
	if res.Code != 0 || !strings.Contains(res.Stdout, "RedrivePolicy") || !strings.Contains(res.Stdout, "after 5 receives") {
		t.Fatalf("source queue: exit %d\n%s", res.Code, res.Stdout)
	}
	if res := e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "inspect"); res.Code != exitUsage {
		t.Fatalf("no --queue-url: exit %d", res.Code)
	}
}

// TestOperatorLoop is the operator's path end to end against moto (SQS and
// CloudFront) and the real worker: a producer enqueues for a distribution
// the worker does not list and sends a malformed body; the worker
// dead-letters both with their reasons; inspect shows them; redrive
// --reason moves the one message to a queue read by a worker that allows
// the distribution, which invalidates its paths, while the malformed body
// stays in the dead-letter queue. Each delete of both workers is
// justified: the dead-lettered originals by their copies in the DLQ, the
// redriven message by an invalidation created after the redrive sent it.
//
// The second worker reads a second queue because a stopped worker's long
// polls stay open in moto for up to 20 s and would catch a message
// redriven to its queue, hiding it for the visibility timeout.
func TestOperatorLoop(t *testing.T) {
	moto := testenv.Moto(t)
	c := e2e.SQSClient(moto.Endpoint)
	cf := e2e.CFClient(moto.Endpoint)
	queue, dlq := e2e.CreateQueues(t, c, "operator", 5, 0)
	fixed := e2e.CreateQueue(t, c, "operator-fixed", nil)
	dist := e2e.CreateDistribution(t, cf, "operator-loop")
	proxy := e2e.NewSQSProxy(t, moto.Endpoint, e2e.ProxyOptions{Serial: true})
	cfg := func(queue, dist string) e2e.Config {
		return e2e.Config{QueueURL: queue, DLQURL: dlq, Window: "1s", Grace: "10s", Distributions: e2e.Dists(dist)}
	}

	res := e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "enqueue", "--queue-url", queue, "--distribution", dist, "/a", "/b")
	if res.Code != 0 {
		t.Fatalf("enqueue: exit %d\n%s", res.Code, res.Stderr)
	}
	wants := e2e.Wants{
		strings.TrimSpace(res.Stdout):         {DeadLettered: true},
		e2e.SendBody(t, c, queue, "not json"): {DeadLettered: true},
	}
	// Started after the sends: the worker is ready once its first receive
	// returned, which on an empty queue is a whole 20 s long poll.
	w := e2e.StartWorker(t, cfg(queue, "EOTHER0000000"), proxy.URL, moto.Endpoint)
	e2e.Poll(t, 30*time.Second, 20*time.Millisecond, "both messages dead-lettered", func() (bool, string) {
		v, nv := e2e.QueueCounts(t, c, dlq)
		return v+nv == 2, fmt.Sprintf("DLQ visible %d, not visible %d", v, nv)
	})
	w.Stop(t, 30*time.Second)
	// The copies, before redrive moves one of them away.
	copies := e2e.Peek(t, c, dlq, 2, 10*time.Second)

	res = e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "inspect", "--queue-url", dlq)
	t.Logf("inspect:\n%s", res.Stdout)
	if res.Code != 0 || !e2e.HasRow(res.Stdout, message.CodeDistributionNotAllowed, "1") || !e2e.HasRow(res.Stdout, message.CodeMalformed, "1") {
		t.Fatalf("inspect: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}

	res = e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "redrive", "--from", dlq, "--to", fixed, "--reason", message.CodeDistributionNotAllowed)
	t.Logf("redrive:\n%s", res.Stdout)
	if res.Code != 0 || !e2e.HasRow(res.Stdout, message.CodeDistributionNotAllowed, "1", "0", "0") || !e2e.HasRow(res.Stdout, message.CodeMalformed, "0", "1", "0") {
		t.Fatalf("redrive: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}
	for _, m := range e2e.Peek(t, c, fixed, 1, 10*time.Second) { // the redriven copy: a new message
		wants[m.ID] = e2e.Want{Dist: dist, Items: []string{"/a", "/b"}}
	}
	// Started after the redrive, for the same reason as the first one.
	w = e2e.StartWorker(t, cfg(fixed, dist), proxy.URL, moto.Endpoint)
	e2e.Poll(t, 60*time.Second, 20*time.Millisecond, "invalidation of /a and /b", func() (bool, string) {
		_, got := e2e.Invalidated(t, cf, dist)
		return slices.Contains(got, "/a") && slices.Contains(got, "/b"), fmt.Sprintf("invalidated %q", got)
	})
	e2e.Poll(t, 30*time.Second, 20*time.Millisecond, "queue drained", func() (bool, string) {
		v, nv := e2e.QueueCounts(t, c, fixed)
		return v+nv == 0, fmt.Sprintf("queue visible %d, not visible %d", v, nv)
	})
	w.Stop(t, 30*time.Second)
	if v, nv := e2e.QueueCounts(t, c, dlq); v != 1 || nv != 0 {
		t.Fatalf("DLQ visible %d, not visible %d; want the malformed body alone", v, nv)
	}
	e2e.CheckDeletesJustified(t, proxy.WaitDeleted(wants, 10*time.Second), wants, e2e.FromCloudFront(t, cf, dist), copies...)
}

// TestInspectSeveralQueues: --config reports on every configured queue and
// its dead-letter queue (configured, or found through the RedrivePolicy),
// a section each; a shared dead-letter queue once; repeated --queue-url
// with --json gives a list.
func TestInspectSeveralQueues(t *testing.T) {
	moto := testenv.Moto(t)
	c := e2e.SQSClient(moto.Endpoint)
	live, liveDLQ := e2e.CreateQueues(t, c, "multi", 5, 0)
	bulk := e2e.CreateQueue(t, c, "multi-bulk", nil)
	bulkDLQ := e2e.CreateQueue(t, c, "multi-bulk-dlq", nil)
	e2e.SendDeadLettered(t, c, liveDLQ, live, message.CodeInvalidPath, []string{"a", "b"})
	e2e.SendDeadLettered(t, c, bulkDLQ, bulk, message.CodeConflictingTarget, []string{"c", "d", "e"})
	cfg := e2e.WriteConfig(t, fmt.Sprintf("queues:\n  - url: %s\n  - url: %s\n    lane: bulk\n    dead_letter_queue_url: %s\ndistributions: [{id: E1}]\n", live, bulk, bulkDLQ))

	res := e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "inspect", "--config", cfg)
	t.Logf("inspect --config:\n%s", res.Stdout)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Stderr)
	}
	sections := strings.Split(res.Stdout, "=== ")[1:]
	wantTitles := []string{"live queue ===", "dead-letter queue of " + live + " ===", "bulk queue ===", "dead-letter queue of " + bulk + " ==="}
	if len(sections) != len(wantTitles) {
		t.Fatalf("%d sections, want %d", len(sections), len(wantTitles))
	}
	for i, sec := range sections {
		if !strings.HasPrefix(sec, wantTitles[i]) {
			t.Errorf("section %d starts %q, want %q", i, e2e.Abridge(sec, 80), wantTitles[i])
		}
	}
	for i, want := range [][]string{
		{"queue:                 " + live, "after 5 receives", "peeked:                none: the worker reads this queue"},
		{"queue:                 " + liveDLQ, "visible:               2", "dead-letter queue of:  " + live},
		{"queue:                 " + bulk, "redrive policy:        none", "peeked:                none: the worker reads this queue"},
		{"queue:                 " + bulkDLQ, "visible:               3", "peeked:                3 message(s)"},
	} {
		for _, w := range want {
			if !strings.Contains(sections[i], w) {
				t.Errorf("section %d lacks %q", i, w)
			}
		}
	}
	if !e2e.HasRow(sections[1], message.CodeInvalidPath, "2") || !e2e.HasRow(sections[3], message.CodeConflictingTarget, "3") {
		t.Errorf("the counts by reason are not in their sections")
	}
	for _, q := range []string{liveDLQ, bulkDLQ} {
		if v, nv := e2e.QueueCounts(t, c, q); nv != 0 || v == 0 {
			t.Errorf("%s after inspect: visible %d, not visible %d; want all visible again", q, v, nv)
		}
	}

	// A dead-letter queue shared by both queues: one section naming both.
	shared := e2e.WriteConfig(t, fmt.Sprintf("queues:\n  - {url: %s, dead_letter_queue_url: %s}\n  - {url: %s, lane: bulk, dead_letter_queue_url: %s}\ndistributions: [{id: E1}]\n", live, liveDLQ, bulk, liveDLQ))
	res = e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "inspect", "--config", shared, "--no-peek")
	if res.Code != 0 || strings.Count(res.Stdout, "=== ") != 3 || !strings.Contains(res.Stdout, "=== dead-letter queue of "+live+", "+bulk+" ===") {
		t.Fatalf("shared DLQ: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}

	res = e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "inspect", "--queue-url", liveDLQ, "--queue-url", bulkDLQ, "--json")
	var reps []struct {
		Role     string         `json:"role"`
		QueueURL string         `json:"queue_url"`
		Visible  int            `json:"visible"`
		ByReason map[string]int `json:"by_reason"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &reps); err != nil || res.Code != 0 {
		t.Fatalf("--json: exit %d, %v:\n%s", res.Code, err, res.Stdout)
	}
	if len(reps) != 2 || reps[0].QueueURL != liveDLQ || reps[0].Visible != 2 || reps[1].ByReason[message.CodeConflictingTarget] != 3 || reps[1].Role != "queue" {
		t.Fatalf("--json reports %+v", reps)
	}

	// One queue that fails among others: reported, the rest still are, exit 1.
	missing := live + "-absent"
	res = e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "inspect", "--queue-url", missing, "--queue-url", bulkDLQ, "--no-peek")
	if res.Code != exitFailure || !strings.Contains(res.Stdout, "error:") || !strings.Contains(res.Stdout, "queue:                 "+bulkDLQ) {
		t.Fatalf("a failing queue: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}
	if res := e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "inspect", "--config", cfg, "--queue-url", live); res.Code != exitUsage || !strings.Contains(res.Stderr, "not both") {
		t.Fatalf("--config with --queue-url: exit %d\n%s", res.Code, res.Stderr)
	}
}
