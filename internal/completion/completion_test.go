package completion

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/acme/cf-invalidator/internal/testenv"
)

type recorder struct {
	mu  sync.Mutex
	got []Announcement
}

func (r *recorder) Announce(_ context.Context, a Announcement) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, a)
	return nil
}

func (r *recorder) list() []Announcement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCompletedObservesLatencyAndAnnounces(t *testing.T) {
	rec := &recorder{}
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x", Buckets: []float64{1, 10, 100}})
	n := New(Options{Announcers: []Announcer{rec}, Latency: h})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)
	n.Watch("I1", []string{"m1", "m2"})
	created := time.Now().Add(-12 * time.Second)
	n.Completed("E1", "I1", 3, created, created.Add(12*time.Second))
	waitFor(t, "announcement", func() bool { return len(rec.list()) == 1 })
	a := rec.list()[0]
	if a.InvalidationID != "I1" || !slices.Equal(a.MessageIDs, []string{"m1", "m2"}) || a.Paths != 3 || a.Event != "invalidation.completed" {
		t.Fatalf("announcement %+v", a)
	}
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Histogram.GetSampleCount() != 1 || m.Histogram.GetSampleSum() != 12 {
		t.Fatalf("latency histogram: %d samples, sum %v", m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum())
	}
}

// TestAnnouncersAgainstMoto publishes through real SNS and SQS clients to
// moto: the SQS announcement lands on the queue, the SNS one on a queue
// subscribed to the topic.
func TestAnnouncersAgainstMoto(t *testing.T) {
	moto := testenv.Moto(t)
	cfg := testenv.AWSConfig()
	sq := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
	sn := sns.NewFromConfig(cfg, func(o *sns.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
	ctx := context.Background()
	direct, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("cleared")})
	if err != nil {
		t.Fatal(err)
	}
	viaTopic, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("cleared-topic")})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("cache-cleared")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint:   aws.String("arn:aws:sqs:us-east-1:123456789012:cleared-topic"),
		Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	n := New(Options{Announcers: []Announcer{SQS{sq, aws.ToString(direct.QueueUrl)}, SNS{sn, aws.ToString(topic.TopicArn)}}})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go n.Run(runCtx)
	n.Watch("I9", []string{"m1", "m2"})
	n.Completed("E1", "I9", 3, time.Now().Add(-time.Minute), time.Now())
	for _, q := range []string{aws.ToString(direct.QueueUrl), aws.ToString(viaTopic.QueueUrl)} {
		out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 2})
		if err != nil || len(out.Messages) != 1 {
			t.Fatalf("%s: %v, %d messages", q, err, len(out.Messages))
		}
		var a Announcement
		if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &a); err != nil {
			t.Fatalf("%s: body %q: %v", q, aws.ToString(out.Messages[0].Body), err)
		}
		if a.InvalidationID != "I9" || a.Event != "invalidation.completed" || !slices.Equal(a.MessageIDs, []string{"m1", "m2"}) {
			t.Fatalf("%s: %+v", q, a)
		}
	}
}
