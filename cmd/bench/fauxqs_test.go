package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// -fauxqs-inflight-fix skips only walks that cannot find an expired
// message: through the real SDK against fauxqs with the preload, a message
// received with a 3 s visibility timeout, and one received with 60 s and
// then lowered to 1 s by ChangeMessageVisibility, both come back on time
// (not before their timeout, nor long after: the lowered one must not wait
// for the other's walk); a deleted one never does.
func TestFauxqsInflightFixKeepsVisibility(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fq, endpoint, err := startFauxqs(ctx, root, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer fq.kill()
	if log, _ := os.ReadFile(filepath.Join(dir, "fauxqs.log")); !strings.Contains(string(log), "fauxqs-inflight-fix: loaded") {
		t.Fatalf("fauxqs log does not show the preload:\n%s", log)
	}
	c := newSQS(endpoint, 2)
	queue, err := createQueue(ctx, c, "bench-inflight-fix")
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"short", "lowered", "deleted"} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	receiveOne := func(visibility int32) (body, receipt string) {
		t.Helper()
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 1, VisibilityTimeout: visibility})
		if err != nil || len(out.Messages) != 1 {
			t.Fatalf("receive: %v (%d messages)", err, len(out.Messages))
		}
		return aws.ToString(out.Messages[0].Body), aws.ToString(out.Messages[0].ReceiptHandle)
	}
	invisibleUntil := map[string]time.Time{}
	if body, _ := receiveOne(3); body != "short" {
		t.Fatalf("first receive got %q", body)
	}
	invisibleUntil["short"] = time.Now().Add(3 * time.Second)
	body, receipt := receiveOne(60)
	if body != "lowered" {
		t.Fatalf("second receive got %q", body)
	}
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(queue), ReceiptHandle: aws.String(receipt), VisibilityTimeout: 1}); err != nil {
		t.Fatal(err)
	}
	invisibleUntil["lowered"] = time.Now().Add(time.Second)
	body, receipt = receiveOne(60)
	if body != "deleted" {
		t.Fatalf("third receive got %q", body)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: aws.String(receipt)}); err != nil {
		t.Fatal(err)
	}
	// Receives come back as soon as a message is visible: each must be
	// visible again no earlier than its timeout (less clock granularity),
	// and soon after it (fauxqs's timer ticks every 20 ms; the margin is for
	// a loaded machine).
	back := map[string]bool{}
	for deadline := time.Now().Add(10 * time.Second); len(back) < 2 && time.Now().Before(deadline); {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		for _, m := range out.Messages {
			b := aws.ToString(m.Body)
			until, ok := invisibleUntil[b]
			if !ok || back[b] {
				t.Fatalf("received %q again", b)
			}
			if early := until.Sub(now); early > 50*time.Millisecond {
				t.Fatalf("%q visible again %s before its visibility timeout ran out", b, early)
			}
			if late := now.Sub(until); late > 700*time.Millisecond {
				t.Fatalf("%q visible again %s after its visibility timeout ran out", b, late)
			}
			back[b] = true
		}
	}
	if len(back) != 2 {
		t.Fatalf("came back: %v; want short and lowered", back)
	}
}
