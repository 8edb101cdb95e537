// Package inspect reports on an SQS queue of the worker — usually its
// dead-letter queue: how many messages wait, are in flight or delayed, how
// old the oldest is, and for dead-lettered messages how many were rejected
// for which reason.
//
// Counts come from GetQueueAttributes (ApproximateNumberOf*). The age of the
// oldest message and the counts by reason come from peeking: SQS has no
// "oldest message" attribute (ApproximateAgeOfOldestMessage is a CloudWatch
// metric, which emulators lack), so up to Options.Peek messages are received
// with a short visibility timeout, their SentTimestamp and
// invalidator.reason_code read, and then made visible again at once
// (ChangeMessageVisibility 0). If the process dies meanwhile they reappear
// when the short timeout lapses. With more messages than peeked, the age is
// that of the oldest message seen, a lower bound.
//
// Peeking is a receive: it raises each message's ApproximateReceiveCount,
// and hides the messages from other consumers for a moment. On a queue
// that has a RedrivePolicy (a source queue, not a dead-letter queue) that
// count moves messages to the dead-letter queue once it passes
// maxReceiveCount, so there Peek is ignored unless Options.ForcePeek is set.
package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/consumer"
)

// Defaults and SQS limits (SQS API reference: ReceiveMessage returns at most
// 10 messages, batch calls take at most 10 entries).
const (
	DefaultPeek           = 100
	DefaultPeekVisibility = 5 * time.Second
	maxBatch              = 10
	peekWait              = time.Second
	releaseTimeout        = 30 * time.Second
	// NoReason counts peeked messages without invalidator.reason_code:
	// moved by SQS's own redrive policy, or not dead-lettered at all.
	NoReason = "(none)"
)

// API is the part of the SQS client inspect uses.
type API interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ListDeadLetterSourceQueues(ctx context.Context, in *sqs.ListDeadLetterSourceQueuesInput, optFns ...func(*sqs.Options)) (*sqs.ListDeadLetterSourceQueuesOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

var _ API = (*sqs.Client)(nil)

// Options configure Inspect.
type Options struct {
	QueueURL string
	// Peek is the most messages to peek at (0: none).
	Peek int
	// ForcePeek peeks also on a queue with a RedrivePolicy.
	ForcePeek bool
	// PeekVisibility hides peeked messages this long at most (0:
	// DefaultPeekVisibility); they are released as soon as the peek ends.
	PeekVisibility time.Duration
	// Now is the clock for ages (nil: time.Now).
	Now func() time.Time
}

// RedrivePolicy is a queue's dead-letter setting.
type RedrivePolicy struct {
	DeadLetterTargetArn string `json:"dead_letter_target_arn"`
	MaxReceiveCount     int    `json:"max_receive_count"`
}

// Report is what Inspect found.
type Report struct {
	QueueURL  string         `json:"queue_url"`
	QueueArn  string         `json:"queue_arn,omitempty"`
	Visible   int            `json:"visible"`
	InFlight  int            `json:"in_flight"`
	Delayed   int            `json:"delayed"`
	Retention time.Duration  `json:"retention_ns,omitempty"`
	Redrive   *RedrivePolicy `json:"redrive_policy,omitempty"`
	// DeadLetterSources are the queues using this one as their dead-letter
	// queue; SourcesError is set when that could not be asked
	// (ListDeadLetterSourceQueues is missing from some emulators).
	DeadLetterSources []string `json:"dead_letter_sources"`
	SourcesError      string   `json:"sources_error,omitempty"`
	// Peeked counts the distinct messages looked at; PeekSkipped says why
	// none were when peeking was asked for but not done.
	Peeked      int    `json:"peeked"`
	PeekSkipped string `json:"peek_skipped,omitempty"`
	// Oldest is the earliest SentTimestamp among the peeked messages, and
	// OldestAge its age when the peek ended.
	Oldest    time.Time     `json:"oldest,omitzero"`
	OldestAge time.Duration `json:"oldest_age_ns,omitempty"`
	// ByReason counts peeked messages by invalidator.reason_code.
	ByReason map[string]int `json:"by_reason,omitempty"`
	// Unreleased counts peeked messages that could not be made visible
	// again; they reappear when the peek visibility lapses.
	Unreleased int `json:"unreleased,omitempty"`
}

// IsDeadLetterQueue reports whether the queue serves as a dead-letter
// queue, as far as the report shows: some queue names it, or peeked
// messages carry the worker's rejection reasons.
func (r Report) IsDeadLetterQueue() bool {
	if len(r.DeadLetterSources) > 0 {
		return true
	}
	for reason := range r.ByReason {
		if reason != NoReason {
			return true
		}
	}
	return false
}

// Inspect reads the queue's attributes and, as o says, peeks at messages.
func Inspect(ctx context.Context, api API, o Options) (Report, error) {
	if o.QueueURL == "" {
		return Report{}, errors.New("inspect: no queue URL")
	}
	if o.PeekVisibility == 0 {
		o.PeekVisibility = DefaultPeekVisibility
	}
	if o.PeekVisibility < time.Second || o.PeekVisibility%time.Second != 0 {
		return Report{}, fmt.Errorf("inspect: peek visibility %s: want whole seconds, at least 1s", o.PeekVisibility)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := Report{QueueURL: o.QueueURL}
	if err := r.attributes(ctx, api); err != nil {
		return r, err
	}
	r.sources(ctx, api)
	switch {
	case o.Peek <= 0:
	case r.Redrive != nil && !o.ForcePeek:
		r.PeekSkipped = fmt.Sprintf("the queue has a RedrivePolicy (maxReceiveCount %d): peeking would count as a receive; ask for it explicitly to peek anyway", r.Redrive.MaxReceiveCount)
	default:
		if err := r.peek(ctx, api, o); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (r *Report) attributes(ctx context.Context, api API) error {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(r.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		return fmt.Errorf("inspect: sqs GetQueueAttributes %s: %w", r.QueueURL, err)
	}
	a := out.Attributes
	num := func(name types.QueueAttributeName) int { n, _ := strconv.Atoi(a[string(name)]); return n }
	r.QueueArn = a[string(types.QueueAttributeNameQueueArn)]
	r.Visible = num(types.QueueAttributeNameApproximateNumberOfMessages)
	r.InFlight = num(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
	r.Delayed = num(types.QueueAttributeNameApproximateNumberOfMessagesDelayed)
	r.Retention = time.Duration(num(types.QueueAttributeNameMessageRetentionPeriod)) * time.Second
	if raw := a[string(types.QueueAttributeNameRedrivePolicy)]; raw != "" {
		r.Redrive = parseRedrivePolicy(raw)
	}
	return nil
}

// parseRedrivePolicy reads {"deadLetterTargetArn": …, "maxReceiveCount": …};
// maxReceiveCount comes as a number or a string depending on who set it.
func parseRedrivePolicy(raw string) *RedrivePolicy {
	var p struct {
		Arn string          `json:"deadLetterTargetArn"`
		Max json.RawMessage `json:"maxReceiveCount"`
	}
	if json.Unmarshal([]byte(raw), &p) != nil {
		return &RedrivePolicy{DeadLetterTargetArn: "(unreadable: " + raw + ")"}
	}
	n, _ := strconv.Atoi(strings.Trim(string(p.Max), `"`))
	return &RedrivePolicy{DeadLetterTargetArn: p.Arn, MaxReceiveCount: n}
}

func (r *Report) sources(ctx context.Context, api API) {
	r.DeadLetterSources = []string{}
	p := sqs.NewListDeadLetterSourceQueuesPaginator(api, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(r.QueueURL)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			r.SourcesError = err.Error()
			return
		}
		r.DeadLetterSources = append(r.DeadLetterSources, page.QueueUrls...)
	}
	sort.Strings(r.DeadLetterSources)
}

// peek receives up to o.Peek distinct messages, then releases them.
func (r *Report) peek(ctx context.Context, api API, o Options) error {
	held := map[string]string{} // message id → latest receipt handle
	defer func() { r.Unreleased = release(api, r.QueueURL, held) }()
	r.ByReason = map[string]int{}
	var oldest int64
	for len(held) < o.Peek {
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(r.QueueURL),
			MaxNumberOfMessages:         int32(min(maxBatch, o.Peek-len(held))),
			VisibilityTimeout:           int32(o.PeekVisibility / time.Second),
			WaitTimeSeconds:             int32(peekWait / time.Second),
			MessageAttributeNames:       []string{consumer.AttrReasonCode},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameSentTimestamp},
		})
		if err != nil {
			return fmt.Errorf("inspect: sqs ReceiveMessage %s: %w", r.QueueURL, err)
		}
		fresh := 0
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			if _, seen := held[id]; !seen {
				fresh++
				r.count(m, &oldest)
			}
			held[id] = aws.ToString(m.ReceiptHandle)
		}
		if fresh == 0 { // empty, or only messages whose short visibility lapsed: seen them all
			break
		}
	}
	r.Peeked = len(held)
	if oldest > 0 {
		r.Oldest = time.UnixMilli(oldest).UTC()
		r.OldestAge = max(o.Now().Sub(r.Oldest), 0)
	}
	return nil
}

func (r *Report) count(m types.Message, oldest *int64) {
	reason := NoReason
	if v, ok := m.MessageAttributes[consumer.AttrReasonCode]; ok && aws.ToString(v.StringValue) != "" {
		reason = aws.ToString(v.StringValue)
	}
	r.ByReason[reason]++
	if ts, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil && ts > 0 {
		if *oldest == 0 || ts < *oldest {
			*oldest = ts
		}
	}
}

// release makes the peeked messages visible again and returns how many
// could not be.
func release(api API, queueURL string, held map[string]string) int {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	ids := make([]string, 0, len(held))
	for id := range held {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	failed := 0
	for i := 0; i < len(ids); i += maxBatch {
		part := ids[i:min(i+maxBatch, len(ids))]
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(part))
		for j, id := range part {
			entries[j] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), ReceiptHandle: aws.String(held[id])}
		}
		out, err := api.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil {
			failed += len(part)
			continue
		}
		failed += len(out.Failed)
	}
	return failed
}

// Write prints the report for a person.
func (r Report) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t"+format+"\n", append([]any{k}, args...)...)
	}
	line("queue", "%s", r.QueueURL)
	line("visible", "%d", r.Visible)
	line("in flight", "%d", r.InFlight)
	line("delayed", "%d", r.Delayed)
	if r.Retention > 0 {
		line("retention", "%s", human(r.Retention))
	}
	if r.Redrive != nil {
		line("redrive policy", "to %s after %d receives", r.Redrive.DeadLetterTargetArn, r.Redrive.MaxReceiveCount)
	} else {
		line("redrive policy", "none")
	}
	switch {
	case r.SourcesError != "":
		line("dead-letter queue of", "unknown (ListDeadLetterSourceQueues failed: %s)", oneLine(r.SourcesError))
	case len(r.DeadLetterSources) == 0:
		line("dead-letter queue of", "no queue")
	default:
		line("dead-letter queue of", "%s", strings.Join(r.DeadLetterSources, ", "))
	}
	r.writePeek(line)
	if err := tw.Flush(); err != nil {
		return err
	}
	return r.writeReasons(w)
}

func (r Report) writePeek(line func(k, format string, args ...any)) {
	switch {
	case r.PeekSkipped != "":
		line("peeked", "none: %s", r.PeekSkipped)
		return
	case r.ByReason == nil:
		line("peeked", "none (peeking off)")
		return
	}
	line("peeked", "%d message(s), released again", r.Peeked)
	if r.Unreleased > 0 {
		line("not released", "%d (they reappear when the peek visibility lapses)", r.Unreleased)
	}
	if r.Oldest.IsZero() {
		return
	}
	bound := ""
	if r.Visible+r.InFlight > r.Peeked {
		bound = fmt.Sprintf(" (oldest of the %d peeked; older ones may exist)", r.Peeked)
	}
	line("oldest message", "%s old, sent %s%s", human(r.OldestAge), r.Oldest.Format(time.RFC3339), bound)
	if r.Retention > 0 {
		line("oldest expires in", "%s (retention %s)", human(max(r.Retention-r.OldestAge, 0)), human(r.Retention))
	}
}

func (r Report) writeReasons(w io.Writer) error {
	if len(r.ByReason) == 0 {
		return nil
	}
	type row struct {
		reason string
		n      int
	}
	rows := make([]row, 0, len(r.ByReason))
	for k, n := range r.ByReason {
		rows = append(rows, row{k, n})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].n != rows[j].n {
			return rows[i].n > rows[j].n
		}
		return rows[i].reason < rows[j].reason
	})
	fmt.Fprintln(w, "\nby reason (peeked messages):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  REASON\tCOUNT")
	for _, rw := range rows {
		fmt.Fprintf(tw, "  %s\t%d\n", rw.reason, rw.n)
	}
	return tw.Flush()
}

// human renders d rounded to the second as days, hours, minutes and
// seconds, leaving out zero parts: "3d23h", "1h", "2m5s", "0s".
func human(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		suffix string
		size   time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.size; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.suffix)
			d -= n * u.size
		}
	}
	return b.String()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
