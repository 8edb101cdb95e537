package main

// Tests of `worker enqueue`, and the helpers the enqueue, redrive and
// inspect tests share (named tool*, apart from the worker tests' helpers).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// toolResult is what one run of the worker binary did.
type toolResult struct {
	stdout, stderr string
	code           int
}

// toolExec runs the worker binary with args against the SQS endpoint (""
// for none), stdin as given, and waits for it (at most two minutes).
func toolExec(t *testing.T, sqsEndpoint, stdin string, args ...string) toolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, workerBin, args...)
	cmd.Env = append(testenv.CleanEnv(), toolAWSEnv(sqsEndpoint)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("worker %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	if strings.Contains(stderr.String(), "WARNING: DATA RACE") {
		t.Errorf("worker %s reported a data race:\n%s", args[0], stderr.String())
	}
	return toolResult{stdout.String(), stderr.String(), code}
}

// toolAWSEnv is the AWS environment of a child: test credentials, no
// profile files, and the SQS endpoint.
func toolAWSEnv(sqsEndpoint string) []string {
	return append(testenv.AWSEnv(sqsEndpoint, ""), "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull, "AWS_CONFIG_FILE="+os.DevNull)
}

func toolSQS(endpoint string) *sqs.Client {
	return sqs.NewFromConfig(testenv.AWSConfig(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// toolQueue creates a queue with attrs and returns its URL.
func toolQueue(t *testing.T, c *sqs.Client, name string, attrs map[string]string) string {
	t.Helper()
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// toolQueuePair creates name-dlq and name, the second redriving to the
// first after 5 receives.
func toolQueuePair(t *testing.T, c *sqs.Client, name string) (queueURL, dlqURL string) {
	t.Helper()
	dlqURL = toolQueue(t, c, name+"-dlq", nil)
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(dlqURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	policy := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"5"}`, out.Attributes["QueueArn"])
	return toolQueue(t, c, name, map[string]string{"RedrivePolicy": policy}), dlqURL
}

// toolCounts returns ApproximateNumberOfMessages and …NotVisible.
func toolCounts(t *testing.T, c *sqs.Client, q string) (visible, notVisible int) {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatalf("GetQueueAttributes %s: %v", q, err)
	}
	visible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	notVisible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, notVisible
}

// toolReceive receives from each queue until done says so or within
// passes, and returns the messages by queue, each once. It short-polls (the
// emulators answer a short poll with every visible message) and rests
// briefly when no queue had anything new.
//
// What it receives it hides for toolReceiveVisibility only, well inside
// within: when a response is lost on the connection, the SDK retries the
// ReceiveMessage, and the messages of the lost response must reappear in
// time to be counted (seen with aws-sdk-go-v2 and fauxqs: "use of closed
// network connection", then "retrying request SQS/ReceiveMessage").
const toolReceiveVisibility = 5 // seconds

func toolReceive(t *testing.T, c *sqs.Client, queues []string, within time.Duration, done func(got map[string][]types.Message) bool) map[string][]types.Message {
	t.Helper()
	got := map[string][]types.Message{}
	seen := map[string]bool{}
	deadline := time.Now().Add(within)
	for !done(got) && time.Now().Before(deadline) {
		fresh := 0
		for _, q := range queues {
			out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10,
				VisibilityTimeout: toolReceiveVisibility, MessageAttributeNames: []string{"All"}})
			if err != nil {
				t.Fatalf("ReceiveMessage %s: %v", q, err)
			}
			for _, m := range out.Messages {
				if id := aws.ToString(m.MessageId); !seen[id] {
					seen[id] = true
					fresh++
					got[q] = append(got[q], m)
				}
			}
		}
		if fresh == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return got
}

// toolPoll calls cond every 20 ms until it holds or within passes.
func toolPoll(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s (last: %s)", what, within, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEnqueuePacks25000Paths: 25,000 paths on stdin become the fewest
// messages (3, at 10,000 items each at most), whose ids are printed, and
// the worker's decoder finds every path in them exactly once.
func TestEnqueuePacks25000Paths(t *testing.T) {
	fq := testenv.Fauxqs(t)
	c := toolSQS(fq.Endpoint)
	q := toolQueue(t, c, "enqueue", nil)
	var in strings.Builder
	want := make([]string, 25000)
	for i := range want {
		want[i] = fmt.Sprintf("/articles/%05d/", i)
		fmt.Fprintf(&in, "%s\n", want[i])
		if i%1000 == 0 {
			in.WriteString("\n") // blank lines are skipped
		}
	}
	res := toolExec(t, fq.Endpoint, in.String(), "enqueue", "--queue-url", q, "--distribution", "EDFDVBD6EXAMPLE")
	if res.code != 0 {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	ids := strings.Fields(res.stdout)
	if len(ids) != 3 {
		t.Fatalf("printed %d message ids, want 3:\n%s", len(ids), res.stdout)
	}
	got := toolReceive(t, c, []string{q}, 30*time.Second, func(got map[string][]types.Message) bool { return len(got[q]) >= 3 })[q]
	dec, err := message.NewDecoder(message.Options{Distributions: []message.Distribution{{ID: "EDFDVBD6EXAMPLE"}}})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, m := range got {
		if !strings.Contains(res.stdout, aws.ToString(m.MessageId)) {
			t.Errorf("received message %s, whose id was not printed", aws.ToString(m.MessageId))
		}
		d, err := dec.Decode([]byte(aws.ToString(m.Body)))
		if err != nil || len(d.Rejected) > 0 {
			t.Fatalf("the worker would refuse a message: %v %+v", err, d.Rejected)
		}
		for _, p := range d.Targets[0].Paths {
			count[p]++
		}
	}
	for _, p := range want {
		if count[p] != 1 {
			t.Fatalf("path %s arrived %d times", p, count[p])
		}
	}
	if v, nv := toolCounts(t, c, q); len(got) != 3 || v+nv != 3 {
		t.Fatalf("received %d, queue holds %d; want exactly 3 messages", len(got), v+nv)
	}
}

// TestEnqueueArgsTagsAndAWSCLI: paths as arguments, "-" adding stdin, tags
// and an alias; the message is read back with the aws cli.
func TestEnqueueArgsTagsAndAWSCLI(t *testing.T) {
	moto := testenv.Moto(t)
	q := toolQueue(t, toolSQS(moto.Endpoint), "enqueue-cli", nil)
	res := toolExec(t, moto.Endpoint, "/from/stdin\n", "enqueue", "--queue-url", q, "--distribution", "www",
		"--tag", "product-42", "--tag", "#category-7", "/a", "https://www.example.com/b c", "-")
	if res.code != 0 || len(strings.Fields(res.stdout)) != 1 {
		t.Fatalf("exit %d, stdout %q:\n%s", res.code, res.stdout, res.stderr)
	}
	out := testenv.AWSCLI(t, moto.Endpoint, "sqs", "receive-message", "--queue-url", q, "--max-number-of-messages", "10")
	var recv struct {
		Messages []struct{ MessageId, Body string }
	}
	if err := json.Unmarshal([]byte(out), &recv); err != nil || len(recv.Messages) != 1 {
		t.Fatalf("aws sqs receive-message: %v\n%s", err, out)
	}
	if id := strings.TrimSpace(res.stdout); recv.Messages[0].MessageId != id {
		t.Errorf("cli got message %s, enqueue printed %s", recv.Messages[0].MessageId, id)
	}
	dec, err := message.NewDecoder(message.Options{Distributions: []message.Distribution{{ID: "EDFDVBD6EXAMPLE", Aliases: []string{"www"}}}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dec.Decode([]byte(recv.Messages[0].Body))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/a", "/b%20c", "/from/stdin", "#product-42", "#category-7"}
	if d.Targets[0].DistributionID != "EDFDVBD6EXAMPLE" || strings.Join(d.Targets[0].Paths, " ") != strings.Join(want, " ") {
		t.Fatalf("decoded %+v, want %q", d.Targets, want)
	}
}

// TestEnqueueUsageErrors: bad command lines and bad input exit 2 before any
// AWS call (the endpoint is a closed port: reaching it would exit 1).
func TestEnqueueUsageErrors(t *testing.T) {
	closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	q := closed + "/000000000000/q"
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"enqueue", "--distribution", "E1", "/a"}, "--queue-url is required"},
		{"", []string{"enqueue", "--queue-url", q, "/a"}, "--distribution is required"},
		{"", []string{"enqueue", "--queue-url", q, "--distribution", "E1", "relative/path"}, `"relative/path"`},
		{"/ok\nno-slash\n", []string{"enqueue", "--queue-url", q, "--distribution", "E1"}, `"no-slash"`},
		{"", []string{"enqueue", "--queue-url", q, "--distribution", "E1"}, "no paths and no tags"},
		{"", []string{"enqueue", "--queue-url", q, "--distribution", "E1", "--tag", "a,b"}, `tag "a,b"`},
		{"", []string{"enqueue", "--queue-url", q, "--distribution", "E1", "--max-items", "0", "/a"}, "--max-items"},
		{"", []string{"enqueue", "--bogus"}, "flag provided but not defined"},
	} {
		res := toolExec(t, closed, tc.stdin, tc.args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, tc.want) || res.stdout != "" {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, res.code, res.stderr, tc.want)
		}
	}
	if res := toolExec(t, closed, "", "enqueue", "-h"); res.code != 0 || !strings.Contains(res.stderr, "usage: worker enqueue") {
		t.Errorf("-h: exit %d:\n%s", res.code, res.stderr)
	}
	// A valid request against an endpoint that is not there: exit 1.
	if res := toolExec(t, closed, "", "enqueue", "--queue-url", q, "--distribution", "E1", "/a"); res.code != exitFailure {
		t.Errorf("unreachable SQS: exit %d, want 1:\n%s", res.code, res.stderr)
	}
}
