package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// TestInspectDeadLetterQueue: counts by reason, the queue it serves, and
// the messages visible again afterwards; --json for scripts; a source
// queue is not peeked.
func TestInspectDeadLetterQueue(t *testing.T) {
	moto := testenv.Moto(t)
	c := toolSQS(moto.Endpoint)
	src, dlq := toolQueuePair(t, c, "inspect")
	toolDeadLetter(t, c, dlq, src, message.CodeInvalidPath, []string{"a", "b", "c"})
	toolDeadLetter(t, c, dlq, src, message.CodeDistributionNotAllowed, []string{"d"})

	res := toolExec(t, moto.Endpoint, "", "inspect", "--queue-url", dlq)
	t.Logf("inspect:\n%s", res.stdout)
	if res.code != 0 {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	for _, want := range []string{"visible:               4", "dead-letter queue of:  " + src, "peeked:                4 message(s)", "oldest message:"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !toolRow(res.stdout, "invalid_path", "3") || !toolRow(res.stdout, "distribution_not_allowed", "1") {
		t.Errorf("output lacks the counts by reason")
	}
	if v, nv := toolCounts(t, c, dlq); v != 4 || nv != 0 {
		t.Fatalf("after inspect: visible %d, not visible %d; want 4, 0", v, nv)
	}

	res = toolExec(t, moto.Endpoint, "", "inspect", "--queue-url", dlq, "--json", "--peek", "2")
	var rep struct {
		Visible  int            `json:"visible"`
		Peeked   int            `json:"peeked"`
		ByReason map[string]int `json:"by_reason"`
		Sources  []string       `json:"dead_letter_sources"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil || res.code != 0 {
		t.Fatalf("--json: exit %d, %v:\n%s", res.code, err, res.stdout)
	}
	if rep.Visible != 4 || rep.Peeked != 2 || len(rep.Sources) != 1 {
		t.Fatalf("--json report %+v", rep)
	}

	res = toolExec(t, moto.Endpoint, "", "inspect", "--queue-url", src)
	if res.code != 0 || !strings.Contains(res.stdout, "RedrivePolicy") || !strings.Contains(res.stdout, "after 5 receives") {
		t.Fatalf("source queue: exit %d\n%s", res.code, res.stdout)
	}
	if res := toolExec(t, moto.Endpoint, "", "inspect"); res.code != exitUsage {
		t.Fatalf("no --queue-url: exit %d", res.code)
	}
}

// TestOperatorLoop is the operator's path end to end against moto (SQS and
// CloudFront) and the real worker: a producer enqueues for a distribution
// the worker does not list and sends a malformed body; the worker
// dead-letters both with their reasons; inspect shows them; redrive
// --reason moves the one message to a queue read by a worker that allows
// the distribution, which invalidates its paths, while the malformed body
// stays in the dead-letter queue.
//
// The second worker reads a second queue because a stopped worker's long
// polls stay open in moto for up to 20 s and would catch a message
// redriven to its queue, hiding it for the visibility timeout.
func TestOperatorLoop(t *testing.T) {
	moto := testenv.Moto(t)
	c := toolSQS(moto.Endpoint)
	cf := cloudfront.NewFromConfig(testenv.AWSConfig(), func(o *cloudfront.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
	queue, dlq := toolQueuePair(t, c, "operator")
	fixed := toolQueue(t, c, "operator-fixed", nil)
	dist := toolMotoDistribution(t, cf)

	if res := toolExec(t, moto.Endpoint, "", "enqueue", "--queue-url", queue, "--distribution", dist, "/a", "/b"); res.code != 0 {
		t.Fatalf("enqueue: exit %d\n%s", res.code, res.stderr)
	}
	if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String("not json")}); err != nil {
		t.Fatal(err)
	}
	// Started after the sends: the worker is ready once its first receive
	// returned, which on an empty queue is a whole 20 s long poll.
	w := toolStartWorker(t, moto.Endpoint, queue, dlq, "EOTHER0000000")
	toolPoll(t, 30*time.Second, "both messages dead-lettered", func() (bool, string) {
		v, nv := toolCounts(t, c, dlq)
		return v+nv == 2, fmt.Sprintf("DLQ visible %d, not visible %d", v, nv)
	})
	toolStopWorker(t, w)

	res := toolExec(t, moto.Endpoint, "", "inspect", "--queue-url", dlq)
	t.Logf("inspect:\n%s", res.stdout)
	if res.code != 0 || !toolRow(res.stdout, message.CodeDistributionNotAllowed, "1") || !toolRow(res.stdout, message.CodeMalformed, "1") {
		t.Fatalf("inspect: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}

	res = toolExec(t, moto.Endpoint, "", "redrive", "--from", dlq, "--to", fixed, "--reason", message.CodeDistributionNotAllowed)
	t.Logf("redrive:\n%s", res.stdout)
	if res.code != 0 || !toolRow(res.stdout, message.CodeDistributionNotAllowed, "1", "0", "0") || !toolRow(res.stdout, message.CodeMalformed, "0", "1", "0") {
		t.Fatalf("redrive: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	// Started after the redrive, for the same reason as the first one.
	w = toolStartWorker(t, moto.Endpoint, fixed, dlq, dist)
	toolPoll(t, 60*time.Second, "invalidation of /a and /b", func() (bool, string) {
		var got []string
		list, err := cf.ListInvalidations(context.Background(), &cloudfront.ListInvalidationsInput{DistributionId: aws.String(dist)})
		if err != nil {
			return false, err.Error()
		}
		if list.InvalidationList == nil {
			return false, "no invalidations"
		}
		for _, s := range list.InvalidationList.Items {
			inv, err := cf.GetInvalidation(context.Background(), &cloudfront.GetInvalidationInput{DistributionId: aws.String(dist), Id: s.Id})
			if err != nil {
				return false, err.Error()
			}
			got = append(got, inv.Invalidation.InvalidationBatch.Paths.Items...)
		}
		return slices.Contains(got, "/a") && slices.Contains(got, "/b"), fmt.Sprintf("invalidated %q", got)
	})
	toolPoll(t, 30*time.Second, "queue drained", func() (bool, string) {
		v, nv := toolCounts(t, c, fixed)
		return v+nv == 0, fmt.Sprintf("queue visible %d, not visible %d", v, nv)
	})
	toolStopWorker(t, w)
	if v, nv := toolCounts(t, c, dlq); v != 1 || nv != 0 {
		t.Fatalf("DLQ visible %d, not visible %d; want the malformed body alone", v, nv)
	}
}

// toolMotoDistribution creates the smallest distribution moto accepts.
func toolMotoDistribution(t *testing.T, cf *cloudfront.Client) string {
	t.Helper()
	out, err := cf.CreateDistribution(context.Background(), &cloudfront.CreateDistributionInput{
		DistributionConfig: &cftypes.DistributionConfig{
			CallerReference: aws.String("operator-loop"),
			Comment:         aws.String(""),
			Enabled:         aws.Bool(true),
			Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
				Id: aws.String("origin"), DomainName: aws.String("origin.example.com"),
				CustomOriginConfig: &cftypes.CustomOriginConfig{HTTPPort: aws.Int32(80), HTTPSPort: aws.Int32(443),
					OriginProtocolPolicy: cftypes.OriginProtocolPolicyHttpsOnly},
			}}},
			DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{TargetOriginId: aws.String("origin"),
				ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyAllowAll},
		},
	})
	if err != nil {
		t.Fatalf("moto CreateDistribution: %v", err)
	}
	return aws.ToString(out.Distribution.Id)
}

// toolStartWorker runs `worker run` on queue with dlq, allowing one
// distribution, and waits until it is ready.
func toolStartWorker(t *testing.T, endpoint, queue, dlq, dist string) *testenv.Process {
	t.Helper()
	port := testenv.FreePort(t)
	cfg := fmt.Sprintf("queue_url: %q\ndead_letter_queue_url: %q\nwindow: 1s\nshutdown_grace: 10s\nhttp_addr: \"127.0.0.1:%d\"\ndistributions:\n  - id: %q\n",
		queue, dlq, port, dist)
	path := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(testenv.AWSEnv(endpoint, endpoint), "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull, "AWS_CONFIG_FILE="+os.DevNull)
	p := testenv.StartClean(t, "worker", env, workerBin, "run", "--config", path)
	client := &http.Client{Timeout: time.Second}
	toolPoll(t, 30*time.Second, "worker ready", func() (bool, string) {
		select {
		case <-p.Done():
			t.Fatalf("worker exited:\n%s", p.Output())
		default:
		}
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

func toolStopWorker(t *testing.T, p *testenv.Process) {
	t.Helper()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("worker exit %d after SIGTERM:\n%s", code, p.Output())
	}
	if strings.Contains(p.Output(), "WARNING: DATA RACE") {
		t.Errorf("the worker reported a data race:\n%s", p.Output())
	}
}
