package invalidator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/testenv"
	"github.com/acme/cf-invalidator/pkg/invalidator"
)

// TestInvalidateThroughMoto sends 25,000 paths through moto's SQS with the
// real SDK client and checks that the fewest messages arrive and the
// worker's decoder finds every path in them exactly once.
func TestInvalidateThroughMoto(t *testing.T) {
	moto := testenv.Moto(t)
	client := sqs.NewFromConfig(testenv.AWSConfig(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
	ctx := context.Background()
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("invalidations")})
	if err != nil {
		t.Fatal(err)
	}
	paths := make([]string, 25000)
	for i := range paths {
		paths[i] = fmt.Sprintf("/catalog/item-%05d.html", i)
	}
	ids, err := invalidator.New(client, aws.ToString(q.QueueUrl)).Invalidate(ctx, "EDFDVBD6EXAMPLE", paths...)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 {
		t.Fatalf("%d messages sent, want 3 (10,000 items each at most)", len(ids))
	}
	dec, err := message.NewDecoder(message.Options{Distributions: []message.Distribution{{ID: "EDFDVBD6EXAMPLE"}}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	gotIDs := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(gotIDs) < len(ids) && time.Now().Before(deadline) {
		// A short visibility: should a response be lost and the SDK retry the
		// receive, its messages reappear within the deadline.
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 5})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			if gotIDs[aws.ToString(m.MessageId)] {
				continue // seen before its visibility lapsed
			}
			gotIDs[aws.ToString(m.MessageId)] = true
			d, err := dec.Decode([]byte(aws.ToString(m.Body)))
			if err != nil || len(d.Rejected) > 0 {
				t.Fatalf("message refused by the decoder: %v %+v", err, d.Rejected)
			}
			for _, p := range d.Targets[0].Paths {
				seen[p]++
			}
		}
	}
	for _, id := range ids {
		if !gotIDs[id] {
			t.Errorf("message %s was not received", id)
		}
	}
	for _, p := range paths {
		if seen[p] != 1 {
			t.Fatalf("path %s arrived %d times", p, seen[p])
		}
	}
	if len(seen) != len(paths) {
		t.Fatalf("%d distinct paths arrived, want %d", len(seen), len(paths))
	}
}
