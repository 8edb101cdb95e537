// Package completion follows accepted invalidations until CloudFront reports
// them Completed, exports how long that took, frees their quota, and can
// announce each completion — the invalidation id and the SQS message ids it
// covered — so a CMS can show "cache cleared".
package completion

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// cloudFrontAPI is the part of the CloudFront client the tracker uses.
type cloudFrontAPI interface {
	GetInvalidation(context.Context, *cloudfront.GetInvalidationInput, ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error)
}

var _ cloudFrontAPI = (*cloudfront.Client)(nil)

// Announcement is what is published when an invalidation completes.
type Announcement struct {
	Event          string    `json:"event"` // "invalidation.completed"
	Distribution   string    `json:"distribution_id"`
	InvalidationID string    `json:"invalidation_id"`
	MessageIDs     []string  `json:"message_ids"`
	Paths          int       `json:"paths"`
	CreatedAt      time.Time `json:"created_at"`
	CompletedAt    time.Time `json:"completed_at"`
}

// Announcer publishes announcements.
type Announcer interface {
	Announce(ctx context.Context, a Announcement) error
}

// Options configures a Tracker.
type Options struct {
	// Interval between GetInvalidation rounds; default 10 s. Invalidations
	// usually take well over a minute, and every call counts against the
	// account's CloudFront API rate.
	Interval time.Duration
	// OnComplete runs when an invalidation is seen Completed (quota
	// accounting frees its paths).
	OnComplete func(dist, id string)
	Announcers []Announcer
	Latency    prometheus.Observer
	Logger     *zap.Logger
}

type watched struct {
	Announcement
	errors int
}

// Tracker polls GetInvalidation for every invalidation it watches.
type Tracker struct {
	api  cloudFrontAPI
	opts Options
	mu   sync.Mutex
	w    map[string]*watched // by invalidation id
}

// New returns a Tracker; call Run to start polling.
func New(api cloudFrontAPI, o Options) *Tracker {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Tracker{api: api, opts: o, w: map[string]*watched{}}
}

// Watch starts following an accepted invalidation. A status already final
// (moto answers COMPLETED at once) completes it immediately.
func (t *Tracker) Watch(dist, id, status string, messageIDs []string, paths int, createdAt time.Time) {
	if createdAt.IsZero() {
		createdAt = time.Now()
	}
	w := &watched{Announcement: Announcement{Event: "invalidation.completed", Distribution: dist, InvalidationID: id,
		MessageIDs: messageIDs, Paths: paths, CreatedAt: createdAt}}
	if isCompleted(status) {
		t.complete(context.Background(), w, time.Now())
		return
	}
	t.mu.Lock()
	t.w[id] = w
	t.mu.Unlock()
}

// Watching returns how many invalidations are being followed.
func (t *Tracker) Watching() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.w)
}

// isCompleted compares without case: CloudFront says "Completed", moto
// "COMPLETED".
func isCompleted(status string) bool { return strings.EqualFold(status, "Completed") }

// Run polls until ctx ends.
func (t *Tracker) Run(ctx context.Context) {
	tick := time.NewTicker(t.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			t.poll(ctx)
		case <-ctx.Done():
			return
		}
	}
}

// maxPollErrors: after this many failed GetInvalidation calls in a row an
// invalidation is dropped from tracking (logged); quota accounting still
// learns of its completion from ListInvalidations.
const maxPollErrors = 30

func (t *Tracker) poll(ctx context.Context) {
	t.mu.Lock()
	ids := make([]*watched, 0, len(t.w))
	for _, w := range t.w {
		ids = append(ids, w)
	}
	t.mu.Unlock()
	for _, w := range ids {
		out, err := t.api.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{
			DistributionId: aws.String(w.Distribution), Id: aws.String(w.InvalidationID),
		})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			t.failed(w, err)
			continue
		}
		if out.Invalidation != nil && isCompleted(aws.ToString(out.Invalidation.Status)) {
			t.mu.Lock()
			delete(t.w, w.InvalidationID)
			t.mu.Unlock()
			t.complete(ctx, w, time.Now())
		}
	}
}

func (t *Tracker) failed(w *watched, err error) {
	w.errors++
	log := t.opts.Logger.With(zap.String("distribution", w.Distribution), zap.String("invalidation_id", w.InvalidationID))
	if w.errors < maxPollErrors {
		log.Warn("cloudfront GetInvalidation failed", zap.Error(err), zap.Int("failures", w.errors))
		return
	}
	log.Error("giving up following invalidation", zap.Error(err))
	t.mu.Lock()
	delete(t.w, w.InvalidationID)
	t.mu.Unlock()
}

func (t *Tracker) complete(ctx context.Context, w *watched, now time.Time) {
	w.CompletedAt = now
	took := now.Sub(w.CreatedAt)
	if t.opts.Latency != nil {
		t.opts.Latency.Observe(took.Seconds())
	}
	t.opts.Logger.Info("invalidation completed", zap.String("distribution", w.Distribution),
		zap.String("invalidation_id", w.InvalidationID), zap.Duration("took", took), zap.Int("messages", len(w.MessageIDs)))
	if t.opts.OnComplete != nil {
		t.opts.OnComplete(w.Distribution, w.InvalidationID)
	}
	for _, a := range t.opts.Announcers {
		if err := a.Announce(ctx, w.Announcement); err != nil {
			t.opts.Logger.Warn("completion announcement failed", zap.String("invalidation_id", w.InvalidationID), zap.Error(err))
		}
	}
}

type snsAPI interface {
	Publish(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error)
}

type sqsAPI interface {
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var (
	_ snsAPI = (*sns.Client)(nil)
	_ sqsAPI = (*sqs.Client)(nil)
)

// SNS publishes announcements to a topic.
type SNS struct {
	API      snsAPI
	TopicARN string
}

// Announce implements Announcer.
func (s SNS) Announce(ctx context.Context, a Announcement) error {
	body, _ := json.Marshal(a)
	if _, err := s.API.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(s.TopicARN), Message: aws.String(string(body))}); err != nil {
		return fmt.Errorf("sns Publish %s: %w", s.TopicARN, err)
	}
	return nil
}

// SQS sends announcements to a queue.
type SQS struct {
	API      sqsAPI
	QueueURL string
}

// Announce implements Announcer.
func (s SQS) Announce(ctx context.Context, a Announcement) error {
	body, _ := json.Marshal(a)
	if _, err := s.API.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.QueueURL), MessageBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("sqs SendMessage %s: %w", s.QueueURL, err)
	}
	return nil
}
