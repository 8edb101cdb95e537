package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/consumer"
	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// toolDeadLetter puts bodies into dlq with the attributes the worker sets
// when it dead-letters (internal/consumer/deadletter.go), 10 at a time.
func toolDeadLetter(t *testing.T, c *sqs.Client, dlq, source, reason string, bodies []string) {
	t.Helper()
	str := func(s string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s)}
	}
	for i := 0; i < len(bodies); i += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for j := i; j < min(i+10, len(bodies)); j++ {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(bodies[j]),
				MessageAttributes: map[string]types.MessageAttributeValue{
					consumer.AttrReasonCode:      str(reason),
					consumer.AttrReason:          str("test: " + reason),
					consumer.AttrSourceQueue:     str(source),
					consumer.AttrSourceMessageID: str(fmt.Sprintf("orig-%d", j)),
					consumer.AttrDeadLetteredAt:  str(time.Now().UTC().Format(time.RFC3339)),
				}})
		}
		out, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(dlq), Entries: entries})
		if err != nil || len(out.Failed) > 0 {
			t.Fatalf("SendMessageBatch to the DLQ: %v %+v", err, out)
		}
	}
}

// TestRedriveKilledMidwayLosesNothing: `worker redrive` killed with SIGKILL
// part way through 300 messages, a third of which its --reason filter
// skips (and so holds invisible); once the visibility of what it held
// lapses, every body is in the DLQ or the source queue (a duplicate is
// allowed, a loss is not).
func TestRedriveKilledMidwayLosesNothing(t *testing.T) {
	fq := testenv.Fauxqs(t)
	c := toolSQS(fq.Endpoint)
	src, dlq := toolQueuePair(t, c, "killed")
	const n = 300
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = string(message.EncodeV1("EDFDVBD6EXAMPLE", []string{fmt.Sprintf("/killed/%03d", i)}))
	}
	for i := 0; i < n; i += 3 { // interleaved, so skipped ones are held while others move
		toolDeadLetter(t, c, dlq, src, message.CodeDistributionNotAllowed, bodies[i:i+2])
		toolDeadLetter(t, c, dlq, src, message.CodeInvalidPath, bodies[i+2:i+3])
	}

	// --rate keeps the run a few seconds long, so the kill lands midway;
	// --visibility 2s lets what it held reappear soon after.
	p := testenv.StartClean(t, "redrive", toolAWSEnv(fq.Endpoint), workerBin, "redrive", "--from", dlq,
		"--reason", message.CodeDistributionNotAllowed, "--visibility", "2s", "--rate", "40")
	var atKill int
	toolPoll(t, 30*time.Second, "50 messages moved", func() (bool, string) {
		select {
		case <-p.Done():
			t.Fatalf("redrive finished before it could be killed:\n%s", p.Output())
		default:
		}
		v, nv := toolCounts(t, c, src)
		atKill = v + nv
		return atKill >= 50, fmt.Sprintf("source queue holds %d", atKill)
	})
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(10 * time.Second); code == 0 {
		t.Fatalf("redrive exited 0: it finished before the kill")
	}
	v, nv := toolCounts(t, c, src)
	if v+nv >= 200 {
		t.Fatalf("source queue holds %d after the kill: the run was not interrupted midway", v+nv)
	}
	dv, dnv := toolCounts(t, c, dlq)
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
	got := toolReceive(t, c, []string{dlq, src}, 30*time.Second, func(got map[string][]types.Message) bool { return missing(got) == 0 })
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
	c := toolSQS(moto.Endpoint)
	src, dlq := toolQueuePair(t, c, "cli")
	var bad, na []string
	for i := range 4 {
		bad = append(bad, string(message.EncodeV1("E1", []string{fmt.Sprintf("/bad/%d", i)})))
	}
	for i := range 2 {
		na = append(na, string(message.EncodeV1("E2", []string{fmt.Sprintf("/na/%d", i)})))
	}
	toolDeadLetter(t, c, dlq, src, message.CodeInvalidPath, bad)
	toolDeadLetter(t, c, dlq, src, message.CodeDistributionNotAllowed, na)

	res := toolExec(t, moto.Endpoint, "", "redrive", "--from", dlq, "--reason", "invalid_path", "--dry-run")
	t.Logf("dry run:\n%s", res.stdout)
	if res.code != 0 || !strings.Contains(res.stdout, "WOULD MOVE") || !toolRow(res.stdout, "invalid_path", "4", "0", "0") ||
		!toolRow(res.stdout, "distribution_not_allowed", "0", "2", "0") {
		t.Fatalf("dry run: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if v, nv := toolCounts(t, c, dlq); v != 6 || nv != 0 {
		t.Fatalf("DLQ after the dry run: visible %d, not visible %d; want 6, 0", v, nv)
	}
	if v, nv := toolCounts(t, c, src); v+nv != 0 {
		t.Fatalf("the dry run sent %d messages", v+nv)
	}

	res = toolExec(t, moto.Endpoint, "", "redrive", "--from", dlq, "--reason", "invalid_path", "--distribution", "E1", "--max", "3")
	t.Logf("run:\n%s", res.stdout)
	if res.code != 0 || !toolRow(res.stdout, "invalid_path", "3", "0", "0") || !strings.Contains(res.stdout, "max of 3 messages reached") {
		t.Fatalf("run: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if v, nv := toolCounts(t, c, dlq); v != 3 || nv != 0 {
		t.Fatalf("DLQ after moving 3: visible %d, not visible %d; want 3, 0", v, nv)
	}
	moved := toolReceive(t, c, []string{src}, 10*time.Second, func(got map[string][]types.Message) bool { return len(got[src]) >= 3 })[src]
	for _, m := range moved {
		if !strings.Contains(aws.ToString(m.Body), "/bad/") || len(m.MessageAttributes) != 0 {
			t.Errorf("moved %s with attributes %v", aws.ToString(m.Body), m.MessageAttributes)
		}
	}

	// No source queue and no --to: a failure, exit 1, the message stays.
	toolDeadLetter(t, c, dlq, "", message.CodeMalformed, []string{"{"})
	res = toolExec(t, moto.Endpoint, "", "redrive", "--from", dlq, "--reason", "malformed_body")
	if res.code != exitFailure || !toolRow(res.stdout, "malformed_body", "0", "0", "1") || !strings.Contains(res.stdout, "give --to") {
		t.Fatalf("no target: exit %d\n%s", res.code, res.stdout)
	}
	if res := toolExec(t, moto.Endpoint, "", "redrive", "--to", src); res.code != exitUsage {
		t.Fatalf("no --from: exit %d", res.code)
	}
}

// toolRow reports whether out has a table row: name then the given cells.
func toolRow(out, name string, cells ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == len(cells)+1 && f[0] == name && strings.Join(f[1:], " ") == strings.Join(cells, " ") {
			return true
		}
	}
	return false
}
