package completion

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/acme/cf-invalidator/internal/cfsim"
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

// TestFollowsToCompleted runs against the CloudFront simulator through the
// real SDK: an invalidation completes 300 ms after creation.
func TestFollowsToCompleted(t *testing.T) {
	sim := httptest.NewServer(cfsim.New(cfsim.Options{Distributions: []string{"E1"}, CompleteAfter: 300 * time.Millisecond}))
	defer sim.Close()
	cf := cloudfront.NewFromConfig(testenv.AWSConfig(), func(o *cloudfront.Options) { o.BaseEndpoint = aws.String(sim.URL) })
	out, err := cf.CreateInvalidation(context.Background(), &cloudfront.CreateInvalidationInput{
		DistributionId: aws.String("E1"),
		InvalidationBatch: &cftypes.InvalidationBatch{CallerReference: aws.String("r1"),
			Paths: &cftypes.Paths{Quantity: aws.Int32(1), Items: []string{"/a"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x"})
	var completed []string
	var mu sync.Mutex
	tr := New(cf, Options{Interval: 50 * time.Millisecond, Announcers: []Announcer{rec}, Latency: hist,
		OnComplete: func(dist, id string) { mu.Lock(); completed = append(completed, dist+"/"+id); mu.Unlock() }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tr.Run(ctx)
	id := aws.ToString(out.Invalidation.Id)
	tr.Watch("E1", id, aws.ToString(out.Invalidation.Status), []string{"m2", "m1"}, 1, aws.ToTime(out.Invalidation.CreateTime))
	if tr.Watching() != 1 {
		t.Fatal("InProgress invalidation not watched")
	}
	waitFor(t, "completion", func() bool { return len(rec.list()) == 1 })
	a := rec.list()[0]
	if a.InvalidationID != id || a.Distribution != "E1" || !slices.Equal(a.MessageIDs, []string{"m2", "m1"}) {
		t.Fatalf("announcement %+v", a)
	}
	if took := a.CompletedAt.Sub(a.CreatedAt); took < 300*time.Millisecond {
		t.Fatalf("completed after %v, before the simulator's 300ms", took)
	}
	var m dto.Metric
	_ = hist.Write(&m)
	if m.GetHistogram().GetSampleCount() != 1 {
		t.Fatal("latency not observed")
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(completed, []string{"E1/" + id}) || tr.Watching() != 0 {
		t.Fatalf("OnComplete calls %v, watching %d", completed, tr.Watching())
	}
}

func TestAlreadyCompletedAnyCase(t *testing.T) {
	rec := &recorder{}
	tr := New(nil, Options{Announcers: []Announcer{rec}})
	tr.Watch("E1", "I1", "COMPLETED", []string{"m1"}, 1, time.Time{}) // moto's spelling
	if len(rec.list()) != 1 || tr.Watching() != 0 {
		t.Fatalf("a COMPLETED status should complete at once: %d announcements, %d watched", len(rec.list()), tr.Watching())
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
	tr := New(nil, Options{Announcers: []Announcer{SQS{sq, aws.ToString(direct.QueueUrl)}, SNS{sn, aws.ToString(topic.TopicArn)}}})
	tr.Watch("E1", "I9", "Completed", []string{"m1", "m2"}, 3, time.Now().Add(-time.Minute))
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
