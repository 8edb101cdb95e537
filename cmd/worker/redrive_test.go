package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// TestRedriveKilledMidwayLosesNothing: `worker redrive` killed with SIGKILL
// part way through 300 messages, a third of which its --reason filter
// skips (and so holds invisible); once the visibility of what it held
// lapses, every body is in the DLQ or the source queue (a duplicate is
// allowed, a loss is not).
func TestRedriveKilledMidwayLosesNothing(t *testing.T) {
	fq := testenv.Fauxqs(t)
	c := e2e.SQSClient(fq.Endpoint)
	src, dlq := e2e.CreateQueues(t, c, "killed", 5, 0)
	const n = 300
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = string(message.EncodeV1("EDFDVBD6EXAMPLE", []string{fmt.Sprintf("/killed/%03d", i)}))
	}
	for i := 0; i < n; i += 3 { // interleaved, so skipped ones are held while others move
		e2e.SendDeadLettered(t, c, dlq, src, message.CodeDistributionNotAllowed, bodies[i:i+2])
		e2e.SendDeadLettered(t, c, dlq, src, message.CodeInvalidPath, bodies[i+2:i+3])
	}

	// --rate keeps the run a few seconds long, so the kill lands midway;
	// --visibility 2s lets what it held reappear soon after.
	p := e2e.StartBinary(t, "redrive", e2e.ChildEnv(fq.Endpoint, ""), "redrive", "--from", dlq,
		"--reason", message.CodeDistributionNotAllowed, "--visibility", "2s", "--rate", "40")
	var atKill int
	e2e.Poll(t, 30*time.Second, 20*time.Millisecond, "50 messages moved", func() (bool, string) {
		select {
		case <-p.Done():
			t.Fatalf("redrive finished before it could be killed:\n%s", p.Output())
		default:
		}
		v, nv := e2e.QueueCounts(t, c, src)
		atKill = v + nv
		return atKill >= 50, fmt.Sprintf("source queue holds %d", atKill)
	})
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(10 * time.Second); code == 0 {
		t.Fatalf("redrive exited 0: it finished before the kill")
	}
	v, nv := e2e.QueueCounts(t, c, src)
	if v+nv >= 200 {
		t.Fatalf("source queue holds %d after the kill: the run was not interrupted midway", v+nv)
	}
	dv, dnv := e2e.QueueCounts(t, c, dlq)
	t.Logf("killed with %d (then %d) of 200 matching messages moved; DLQ visible %d, held by the dead process %d", atKill, v+nv, dv, dnv)
	if dnv == 0 {
		t.Fatalf("the dead process held no DLQ message: the test no longer covers held messages reappearing")
	}

	want := map[string]bool{}
	for _, b := range bodies {
		want[b] = true
	}
	missing := func(got map[string][]types.Message) int {
		found := map[string]bool{}
		for _, ms := range got {
			for _, m := range ms {
				found[aws.ToString(m.Body)] = true
			}
		}
		left := 0
		for b := range want {
			if !found[b] {
				left++
			}
		}
		return left
	}
	got := e2e.ReceiveUntil(t, c, []string{dlq, src}, 30*time.Second, func(got map[string][]types.Message) bool { return missing(got) == 0 })
	if left := missing(got); left > 0 {
		t.Fatalf("%d of %d messages are in neither queue (DLQ gave %d, source %d)", left, n, len(got[dlq]), len(got[src]))
	}
	dups := len(got[dlq]) + len(got[src]) - n
	t.Logf("all %d bodies found: %d in the DLQ, %d in the source queue, %d duplicates", n, len(got[dlq]), len(got[src]), dups)
}

// TestRedriveFilterAndDryRunCLI: the command's summary and exit codes; a
// dry run leaves both queues as they were; a filtered run with --max moves
// only that many matching messages.
func TestRedriveFilterAndDryRunCLI(t *testing.T) {
	moto := testenv.Moto(t)
	c := e2e.SQSClient(moto.Endpoint)
	src, dlq := e2e.CreateQueues(t, c, "cli", 5, 0)
	var bad, na []string
	for i := range 4 {
		bad = append(bad, string(message.EncodeV1("E1", []string{fmt.Sprintf("/bad/%d", i)})))
	}
	for i := range 2 {
		na = append(na, string(message.EncodeV1("E2", []string{fmt.Sprintf("/na/%d", i)})))
	}
	e2e.SendDeadLettered(t, c, dlq, src, message.CodeInvalidPath, bad)
	e2e.SendDeadLettered(t, c, dlq, src, message.CodeDistributionNotAllowed, na)

	res := e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "redrive", "--from", dlq, "--reason", "invalid_path", "--dry-run")
	t.Logf("dry run:\n%s", res.Stdout)
	if res.Code != 0 || !strings.Contains(res.Stdout, "WOULD MOVE") || !e2e.HasRow(res.Stdout, "invalid_path", "4", "0", "0") ||
		!e2e.HasRow(res.Stdout, "distribution_not_allowed", "0", "2", "0") {
		t.Fatalf("dry run: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}
	if v, nv := e2e.QueueCounts(t, c, dlq); v != 6 || nv != 0 {
		t.Fatalf("DLQ after the dry run: visible %d, not visible %d; want 6, 0", v, nv)
	}
	if v, nv := e2e.QueueCounts(t, c, src); v+nv != 0 {
		t.Fatalf("the dry run sent %d messages", v+nv)
	}

	res = e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "redrive", "--from", dlq, "--reason", "invalid_path", "--distribution", "E1", "--max", "3")
	t.Logf("run:\n%s", res.Stdout)
	if res.Code != 0 || !e2e.HasRow(res.Stdout, "invalid_path", "3", "0", "0") || !strings.Contains(res.Stdout, "max of 3 messages reached") {
		t.Fatalf("run: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}
	if v, nv := e2e.QueueCounts(t, c, dlq); v != 3 || nv != 0 {
		t.Fatalf("DLQ after moving 3: visible %d, not visible %d; want 3, 0", v, nv)
	}
	moved := e2e.ReceiveUntil(t, c, []string{src}, 10*time.Second, func(got map[string][]types.Message) bool { return len(got[src]) >= 3 })[src]
	for _, m := range moved {
		if !strings.Contains(aws.ToString(m.Body), "/bad/") || len(m.MessageAttributes) != 0 {
			t.Errorf("moved %s with attributes %v", aws.ToString(m.Body), m.MessageAttributes)
		}
	}

	// No source queue and no --to: a failure, exit 1, the message stays.
	e2e.SendDeadLettered(t, c, dlq, "", message.CodeMalformed, []string{"{"})
	res = e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "redrive", "--from", dlq, "--reason", "malformed_body")
	if res.Code != exitFailure || !e2e.HasRow(res.Stdout, "malformed_body", "0", "0", "1") || !strings.Contains(res.Stdout, "give --to") {
		t.Fatalf("no target: exit %d\n%s", res.Code, res.Stdout)
	}
	if res := e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "redrive", "--to", src); res.Code != exitUsage {
		t.Fatalf("no --from: exit %d", res.Code)
	}
}

// TestRedriveToBulkLane: --lane bulk sends every message to the config's
// bulk queue, whatever its invalidator.source_queue says; the live queue
// gets nothing. The command's usage errors exit 2 before any AWS call.
func TestRedriveToBulkLane(t *testing.T) {
	moto := testenv.Moto(t)
	c := e2e.SQSClient(moto.Endpoint)
	live, dlq := e2e.CreateQueues(t, c, "lanes", 5, 0)
	bulk := e2e.CreateQueue(t, c, "lanes-bulk", nil)
	cfg := e2e.WriteConfig(t, fmt.Sprintf("queues:\n  - url: %s\n    dead_letter_queue_url: %s\n  - url: %s\n    lane: bulk\ndistributions: [{id: E1}]\n", live, dlq, bulk))
	var bodies []string
	for i := range 12 {
		bodies = append(bodies, string(message.EncodeV1("E1", []string{fmt.Sprintf("/replay/%d", i)})))
	}
	e2e.SendDeadLettered(t, c, dlq, live, message.CodeDistributionNotAllowed, bodies)

	res := e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, "redrive", "--from", dlq, "--lane", "bulk", "--config", cfg)
	t.Logf("redrive --lane bulk:\n%s", res.Stdout)
	if res.Code != 0 || !strings.Contains(res.Stdout, "to the bulk lane: "+bulk) || !e2e.HasRow(res.Stdout, message.CodeDistributionNotAllowed, "12", "0", "0") {
		t.Fatalf("exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}
	got := e2e.ReceiveUntil(t, c, []string{bulk}, 10*time.Second, func(got map[string][]types.Message) bool { return len(got[bulk]) >= 12 })[bulk]
	moved := map[string]bool{}
	for _, m := range got {
		moved[aws.ToString(m.Body)] = true
	}
	for _, b := range bodies {
		if !moved[b] {
			t.Errorf("%s did not reach the bulk queue", b)
		}
	}
	if v, nv := e2e.QueueCounts(t, c, live); v+nv != 0 {
		t.Errorf("the live queue got %d messages", v+nv)
	}
	if v, nv := e2e.QueueCounts(t, c, dlq); v+nv != 0 {
		t.Errorf("the DLQ still holds %d messages", v+nv)
	}

	// Usage errors, against a closed port: exit 2, nothing reached.
	closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	noBulk := e2e.WriteConfig(t, "queue_url: "+live+"\ndistributions: [{id: E1}]\n")
	twoBulk := e2e.WriteConfig(t, fmt.Sprintf("queues:\n  - {url: %s, lane: bulk}\n  - {url: %s, lane: bulk}\ndistributions: [{id: E1}]\n", live, bulk))
	bad := e2e.WriteConfig(t, "queues: [{url: "+live+", lane: fast}]\ndistributions: [{id: E1}]\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--lane", "bulk"}, "--lane needs --config"},
		{[]string{"--lane", "bulk", "--config", cfg, "--to", live}, "give --to or --lane, not both"},
		{[]string{"--lane", "slow", "--config", cfg}, `--lane must be live or bulk, got "slow"`},
		{[]string{"--lane", "bulk", "--config", noBulk}, "lists no bulk queue"},
		{[]string{"--lane", "bulk", "--config", twoBulk}, "lists 2 bulk queues (" + live + ", " + bulk + "): give --to one of them"},
		{[]string{"--lane", "bulk", "--config", bad}, `queues[0].lane: must be live or bulk`},
	} {
		res := e2e.Run(t, e2e.Exec{SQS: closed}, append([]string{"redrive", "--from", dlq}, tc.args...)...)
		if res.Code != exitUsage || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, res.Code, res.Stderr, tc.want)
		}
	}
}
