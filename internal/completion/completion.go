// Package completion exports how long the worker's invalidations took to
// complete and can announce each completion — the invalidation id and the
// SQS message ids it served — so a CMS can show "cache cleared". Statuses
// come from the shared CloudFront view (internal/cfview), which polls.
package completion

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

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

// Options configures a Notifier.
type Options struct {
	Announcers []Announcer
	// Latency observes the time from creation to the first sight of
	// Completed, in seconds.
	Latency prometheus.Observer
	Logger  *zap.Logger
}

// Notifier announces completions of the worker's own invalidations. The
// CloudFront view (internal/cfview) sees the statuses; the Notifier only
// remembers which messages each own invalidation served and publishes.
type Notifier struct {
	o     Options
	mu    sync.Mutex
	msgs  map[string][]string // invalidation id → message ids, until completed
	queue chan Announcement
	done  chan struct{}
}

// announceQueue bounds the announcements waiting to be published; a
// publisher that cannot keep up drops the newest (logged): an announcement
// is a courtesy to a CMS, never a condition for deleting a message.
const announceQueue = 1024

// New returns a Notifier; Run publishes its announcements.
func New(o Options) *Notifier {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Notifier{o: o, msgs: map[string][]string{}, queue: make(chan Announcement, announceQueue), done: make(chan struct{})}
}

// Watch remembers the messages an own invalidation served, for its
// announcement.
func (n *Notifier) Watch(id string, messageIDs []string) {
	if len(n.o.Announcers) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs[id] = messageIDs
}

// Completed records that an own invalidation was seen completed: the
// latency is observed and the announcement queued.
func (n *Notifier) Completed(dist, id string, paths int, created, completed time.Time) {
	took := completed.Sub(created)
	if n.o.Latency != nil {
		n.o.Latency.Observe(max(took, 0).Seconds())
	}
	n.mu.Lock()
	ids := n.msgs[id]
	delete(n.msgs, id)
	n.mu.Unlock()
	n.o.Logger.Info("invalidation completed", zap.String("distribution", dist), zap.String("invalidation_id", id),
		zap.Duration("took", took), zap.Int("messages", len(ids)))
	if len(n.o.Announcers) == 0 {
		return
	}
	a := Announcement{Event: "invalidation.completed", Distribution: dist, InvalidationID: id, MessageIDs: ids,
		Paths: paths, CreatedAt: created, CompletedAt: completed}
	select {
	case n.queue <- a:
	default:
		n.o.Logger.Warn("completion announcement dropped: the publishers are behind", zap.String("invalidation_id", id))
	}
}

// Run publishes queued announcements until ctx ends, then returns.
func (n *Notifier) Run(ctx context.Context) {
	for {
		select {
		case a := <-n.queue:
			for _, an := range n.o.Announcers {
				if err := an.Announce(ctx, a); err != nil {
					n.o.Logger.Warn("completion announcement failed", zap.String("invalidation_id", a.InvalidationID), zap.Error(err))
				}
			}
		case <-ctx.Done():
			return
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
