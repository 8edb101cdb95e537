package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/testenv"
)

// The recording proxy against fauxqs through the real SDK: messages sent by
// the open-loop producer, received through the proxy (with and without
// SentTimestamp) and deleted in batches and singly, come out with one
// latency each, bounded by what the test itself observed.
func TestRecorderMeasuresSentToDelete(t *testing.T) {
	fq := testenv.Fauxqs(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	direct := newSQS(fq.Endpoint, 4)
	queue, err := createQueue(ctx, direct, "bench-proxy-test")
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	h, err := rec.handler(fq.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(h)
	defer proxy.Close()
	viaProxy := newSQS(proxy.URL, 4)

	bodies := make([]string, 40)
	for i := range bodies {
		bodies[i] = fmt.Sprintf(`{"n":%d}`, i)
	}
	start := time.Now()
	sent, lag, err := openLoop(ctx, direct, queue, bodies, 400) // 40 batches/s: 0.1 s in all
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != len(bodies) {
		t.Fatalf("producer reports %d sent, want %d", len(sent), len(bodies))
	}
	if took := time.Since(start); took < 75*time.Millisecond {
		t.Errorf("open loop took %s for 4 batches at 40/s, want about 75 ms or more (it must keep its schedule)", took)
	}
	if lag > time.Second {
		t.Errorf("lag %s", lag)
	}

	time.Sleep(200 * time.Millisecond) // every message at least this old when deleted
	got := 0
	for i := 0; got < len(bodies); i++ {
		in := &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 9, WaitTimeSeconds: 1} // room for a bogus entry
		if i == 0 {
			in.MaxNumberOfMessages = 1 // deleted with DeleteMessage
		}
		if got < 20 { // the first half with SentTimestamp, the rest falls back to the producer's times
			in.MessageSystemAttributeNames = []types.MessageSystemAttributeName{types.MessageSystemAttributeNameSentTimestamp}
		}
		out, err := viaProxy.ReceiveMessage(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			t.Fatalf("queue empty after %d of %d", got, len(bodies))
		}
		got += len(out.Messages)
		if len(out.Messages) == 1 {
			if _, err := viaProxy.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: out.Messages[0].ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		entries, err := receiveEntries(out.Messages)
		if err != nil {
			t.Fatal(err)
		}
		// A bogus entry fails and must not count as a delete.
		entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String("bogus"), ReceiptHandle: aws.String("not-a-receipt")})
		if _, err := deleteEntries(ctx, viaProxy, queue, entries); err != nil {
			t.Fatal(err)
		}
	}
	upper := time.Since(start)
	if n := rec.deletes(); n != len(bodies) {
		t.Fatalf("recorder counted %d deletes, want %d", n, len(bodies))
	}
	lat, missing := rec.latencies(sent)
	if missing != 0 || len(lat) != len(bodies) {
		t.Fatalf("%d latencies, %d missing; want %d, 0", len(lat), missing, len(bodies))
	}
	for _, l := range lat {
		if l < 150*time.Millisecond || l > upper+time.Second { // SentTimestamp has millisecond resolution
			t.Errorf("latency %s outside [150ms, %s]", l, upper)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.noSentAt == 0 || rec.noSentAt == len(bodies) {
		t.Errorf("noSentAt %d: want some messages with and some without SentTimestamp", rec.noSentAt)
	}
	if rec.receives == 0 || len(rec.problems) != 0 {
		t.Errorf("receives %d, problems %v", rec.receives, rec.problems)
	}
}

func receiveEntries(ms []types.Message) ([]types.DeleteMessageBatchRequestEntry, error) {
	out := make([]types.DeleteMessageBatchRequestEntry, len(ms))
	for i, m := range ms {
		if m.ReceiptHandle == nil {
			return nil, fmt.Errorf("message %d without receipt handle", i)
		}
		out[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle}
	}
	return out, nil
}

// The windowed loop keeps what it receives in flight until the end of the
// window it was received in, and still deletes exactly n.
func TestBareLoopWindowed(t *testing.T) {
	fq := testenv.Fauxqs(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newSQS(fq.Endpoint, 8)
	queue, err := createQueue(ctx, c, "bench-windowed-test")
	if err != nil {
		t.Fatal(err)
	}
	bodies := make([]string, 200)
	for i := range bodies {
		bodies[i] = "x"
	}
	if err := sendAll(ctx, c, queue, bodies, 4); err != nil {
		t.Fatal(err)
	}
	took, err := bareLoop(ctx, c, queue, len(bodies), 2, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if took < 500*time.Millisecond {
		t.Errorf("drained in %s, before the first 500 ms window ended", took)
	}
	if v, f, err := queueDepth(ctx, c, queue); err != nil || v+f != 0 {
		t.Errorf("queue after the loop: %d visible, %d in flight, %v", v, f, err)
	}
}
