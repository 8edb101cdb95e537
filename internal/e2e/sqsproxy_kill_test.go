package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestProxyRecordsDeleteOfAClientThatHungUp: a worker killed while its
// DeleteMessageBatch is under way hangs up, but SQS may delete anyway; the
// proxy must still record the delete, or a message gone from the queue
// would look lost.
func TestProxyRecordsDeleteOfAClientThatHungUp(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		switch r.Header.Get("X-Amz-Target") {
		case "AmazonSQS.ReceiveMessage":
			_, _ = io.WriteString(w, `{"Messages":[{"MessageId":"m1","ReceiptHandle":"r1","Body":"{}","Attributes":{"SentTimestamp":"1700000000000"}}]}`)
		case "AmazonSQS.DeleteMessageBatch":
			time.Sleep(300 * time.Millisecond) // the client gives up meanwhile; the delete happens
			_, _ = io.WriteString(w, `{"Successful":[{"Id":"0"}],"Failed":[]}`)
		}
	}))
	t.Cleanup(backend.Close)
	p := NewSQSProxy(t, backend.URL, ProxyOptions{})
	call := func(ctx context.Context, op, body string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("X-Amz-Target", "AmazonSQS."+op)
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	if err := call(context.Background(), "ReceiveMessage", `{"QueueUrl":"q"}`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := call(ctx, "DeleteMessageBatch", `{"QueueUrl":"q","Entries":[{"Id":"0","ReceiptHandle":"r1"}]}`); err == nil {
		t.Fatal("the delete returned before the client gave up: the test proves nothing")
	}
	rec := p.WaitDeleted(Wants{"m1": {}}, 5*time.Second)
	if len(rec.DeletedAt["m1"]) != 1 {
		t.Fatalf("deletes of m1 recorded: %v, want the one SQS performed after the client hung up", rec.DeletedAt["m1"])
	}
}
