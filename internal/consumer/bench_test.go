package consumer

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// loopSQS is an endless queue for benchmarks: every ReceiveMessage returns
// as many messages as asked, drawn round-robin from a pool large enough
// that an id comes back only long after its delete; deletes all succeed.
type loopSQS struct {
	fakeSQS // the calls the benchmark does not make
	pool    []types.Message
	next    atomic.Int64
	deleted atomic.Int64
}

func newLoopSQS(n int, body string) *loopSQS {
	f := &loopSQS{pool: make([]types.Message, n)}
	sent := fmt.Sprint(time.Now().UnixMilli())
	for i := range f.pool {
		id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
		f.pool[i] = types.Message{
			MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String(body),
			Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": sent},
		}
	}
	return f
}

func (f *loopSQS) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	n := int(in.MaxNumberOfMessages)
	out := &sqs.ReceiveMessageOutput{Messages: make([]types.Message, n)}
	for i := range out.Messages {
		out.Messages[i] = f.pool[int(f.next.Add(1))%len(f.pool)]
	}
	return out, nil
}

func (f *loopSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	out := &sqs.DeleteMessageBatchOutput{Successful: make([]types.DeleteMessageBatchResultEntry, len(in.Entries))}
	for i, e := range in.Entries {
		out.Successful[i].Id = e.Id
	}
	f.deleted.Add(int64(len(in.Entries)))
	return out, nil
}

// BenchmarkConsumerReceiveDelete is the consumer's own cost per message,
// without the SDK: receive (ledger), hand to the handler, which deletes at
// once, batched delete, forget. ns/op and allocs/op are per message.
func BenchmarkConsumerReceiveDelete(b *testing.B) {
	f := newLoopSQS(200000, `{"distribution_id":"EDFDVBD6EXAMPLE","paths":["/a"]}`)
	var c *Consumer
	c = New(f, Options{QueueURL: "q", Pollers: 2, Visibility: time.Minute, MaxHeld: 20000})
	recv, cancelRecv := context.WithCancel(context.Background())
	bg, cancelBg := context.WithCancel(context.Background())
	want := int64(b.N)
	var once sync.Once
	done := make(chan struct{})
	var handled atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	c.Start(recv, bg, func(_ context.Context, ms []*Message) {
		for _, m := range ms {
			c.Delete(m.ID)
		}
		if handled.Add(int64(len(ms))) >= want {
			once.Do(func() { c.StopReceiving() })
		}
	})
	go func() {
		for f.deleted.Load() < want {
			runtime.Gosched()
		}
		close(done)
	}()
	<-done
	b.StopTimer()
	cancelRecv()
	c.WaitPollers()
	cancelBg()
	c.WaitBackground()
}

// sdkServer answers ReceiveMessage with 10 messages of the given body (and
// a correct MD5OfBody) and DeleteMessageBatch with every entry successful,
// in the AWS JSON protocol, as SQS does.
func sdkServer(b *testing.B, body string) *httptest.Server {
	sum := md5.Sum([]byte(body))
	type msg struct {
		MessageId, ReceiptHandle, MD5OfBody, Body string
		Attributes                                map[string]string
	}
	var recv struct{ Messages []msg }
	for i := range 10 {
		recv.Messages = append(recv.Messages, msg{
			MessageId:     fmt.Sprintf("%08d-0000-4000-8000-000000000000", i),
			ReceiptHandle: strings.Repeat("r", 180) + fmt.Sprint(i), // real handles are long
			MD5OfBody:     hex.EncodeToString(sum[:]), Body: body,
			Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
		})
	}
	recvJSON, _ := json.Marshal(recv)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		switch r.Header.Get("X-Amz-Target") {
		case "AmazonSQS.ReceiveMessage":
			_, _ = io.Copy(io.Discard, r.Body)
			_, _ = w.Write(recvJSON)
		case "AmazonSQS.DeleteMessageBatch":
			var in struct{ Entries []struct{ Id string } }
			_ = json.NewDecoder(r.Body).Decode(&in)
			var out struct{ Successful []struct{ Id string } }
			out.Successful = make([]struct{ Id string }, len(in.Entries))
			for i, e := range in.Entries {
				out.Successful[i].Id = e.Id
			}
			_ = json.NewEncoder(w).Encode(out)
		default:
			http.Error(w, "unexpected", http.StatusBadRequest)
		}
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkSDKReceiveMessage is what the SDK's ReceiveMessage costs per
// message (10 a call, over loopback HTTP, serving included), with and
// without its MD5 validation of the bodies, for the bench's v1 bodies and
// larger ones.
func BenchmarkSDKReceiveMessage(b *testing.B) {
	for _, size := range []int{100, 2000, 20000} {
		body := `{"distribution_id":"EDFDVBD6EXAMPLE","paths":["/` + strings.Repeat("a", size-50) + `"]}`
		srv := sdkServer(b, body)
		for _, disable := range []bool{false, true} {
			b.Run(fmt.Sprintf("body=%d/md5=%v", len(body), !disable), func(b *testing.B) {
				c := sqs.New(sqs.Options{
					Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
					Credentials:                      credentials.NewStaticCredentialsProvider("k", "s", ""),
					DisableMessageChecksumValidation: disable,
				})
				in := &sqs.ReceiveMessageInput{QueueUrl: aws.String(srv.URL + "/q"), MaxNumberOfMessages: 10,
					MessageSystemAttributeNames: []types.MessageSystemAttributeName{
						types.MessageSystemAttributeNameApproximateReceiveCount, types.MessageSystemAttributeNameSentTimestamp},
					MessageAttributeNames: []string{"All"}}
				b.ReportAllocs()
				b.SetBytes(10 * int64(len(body)))
				for b.Loop() {
					if _, err := c.ReceiveMessage(context.Background(), in); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(10*b.N), "ns/msg")
			})
		}
	}
}

// BenchmarkHeartbeatScan is one heartbeat tick over 100,000 held messages
// (max_held's order): "none due" is most ticks (a tick every visibility/6
// extends only messages with less than half their visibility left), "all
// due" the tick that extends them all, 10,000 ChangeMessageVisibilityBatch
// calls to an instant fake.
func BenchmarkHeartbeatScan(b *testing.B) {
	const held = 100000
	f := newLoopSQS(held, "{}")
	c := New(f, Options{QueueURL: "q", Pollers: 1, Visibility: time.Minute, MaxHeld: held})
	for i := range held {
		e := newEntry(f.pool[i])
		c.held[e.msg.ID] = e
	}
	setVisible := func(at time.Duration) {
		for _, e := range c.held {
			e.visibleAt = at
		}
	}
	b.Run("none-due", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			setVisible(c.now() + time.Hour)
			c.extendDue(context.Background())
		}
	})
	b.Run("all-due", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			setVisible(c.now())
			c.extendDue(context.Background())
		}
	})
}

func (f *loopSQS) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	out := &sqs.ChangeMessageVisibilityBatchOutput{Successful: make([]types.ChangeMessageVisibilityBatchResultEntry, len(in.Entries))}
	for i, e := range in.Entries {
		out.Successful[i].Id = e.Id
	}
	return out, nil
}
