// Package redrive moves dead-lettered messages from a dead-letter queue back
// to the queue the worker reads, filtered by rejection reason and
// distribution, without SQS's StartMessageMoveTask (which the emulators
// lack, and which can neither filter nor send each message back to its own
// source queue).
//
// A message is never lost, whenever the process stops: each one is sent to
// its target first and deleted from the dead-letter queue only after the
// send succeeded. A crash between the two leaves it in both queues; its
// paths are then invalidated once more when it is redriven again, which
// costs one invalidation and nothing else. (The worker's CallerReference
// idempotency does not catch this: SQS gives the redriven copy a new
// MessageId.)
//
// Messages are received with a visibility timeout (Options.Visibility). The
// ones not moved — filtered out, without a target, failed — are kept
// invisible while the run goes on, so that receiving makes progress, and
// are made visible again at the end (ChangeMessageVisibility 0). If the
// process dies they reappear by themselves when the timeout lapses; so do
// the messages of a ReceiveMessage response lost on the network (the SDK
// retries the call, and never sees them), which a run that ends before
// then leaves in the dead-letter queue for the next one.
//
// The moved copy carries the original body and the producer's own message
// attributes; the invalidator.* attributes the worker added when it
// dead-lettered the message are dropped (the worker adds fresh ones if the
// message is rejected again). Standard queues only: no MessageGroupId is
// set on the copies.
package redrive

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
	"github.com/acme/cf-invalidator/internal/retry"
)

// SQS limits the package obeys (SQS API reference): batch calls take at most
// 10 entries, a SendMessageBatch at most 1 MiB of messages in total,
// ReceiveMessage returns at most 10 messages, and a visibility timeout is at
// most 12 hours.
const (
	maxBatch         = 10
	maxBatchBytes    = 1 << 20
	maxVisibility    = 12 * time.Hour
	defaultWait      = time.Second
	idlePollsToStop  = 3
	maxErrorLines    = 50
	releaseTimeout   = 30 * time.Second
	attributesPrefix = "invalidator."
)

// DefaultVisibility is how long a received message stays invisible before
// SQS lets it reappear, when Options.Visibility is 0.
const DefaultVisibility = 30 * time.Second

// NoReason is the reason column of messages without the
// invalidator.reason_code attribute (e.g. moved by SQS's own redrive policy
// after maxReceiveCount receives).
const NoReason = "(none)"

// API is the part of the SQS client redrive uses.
type API interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

var _ API = (*sqs.Client)(nil)

// Options configure a run.
type Options struct {
	From string // the dead-letter queue URL
	// To is the queue to move messages to; "" sends each message back to
	// the queue named by its invalidator.source_queue attribute, and a
	// message without one fails (and stays).
	To string
	// Distributions keeps only messages whose body names one of these (the
	// "distribution_id", "distribution_tenant_id" or "distribution" of a v1
	// body, also inside an SNS envelope), compared as written: an alias
	// matches only that alias. Empty: any message.
	Distributions []string
	// Reasons keeps only messages whose invalidator.reason_code is one of
	// these ([NoReason] for messages without it). Empty: any.
	Reasons []string
	// Max stops after this many matching messages were moved or failed
	// (0: no limit).
	Max int
	// DryRun receives and counts, but sends and deletes nothing; every
	// message received is released at the end.
	DryRun bool
	// Visibility is the visibility timeout of received messages
	// (0: DefaultVisibility): how long a message held by a process that
	// died stays invisible.
	Visibility time.Duration
	// Wait is the long-poll time of each receive (0: 1 s). The run stops
	// after a poll that returns nothing, or three in a row that return only
	// messages already looked at.
	Wait time.Duration
	// Rate caps moves per second (0: no cap), to spare the worker a flood.
	Rate float64
}

// Counts are the outcomes of one reason code.
type Counts struct {
	Moved   int // sent and deleted; in a dry run, would be moved
	Skipped int // filtered out, left in the queue
	Failed  int // matched but not moved (no target, send or delete failed)
}

// Result is what a run did.
type Result struct {
	DryRun   bool
	ByReason map[string]*Counts
	// Errors has one line per failed message (at most 50, then a count).
	Errors []string
	// Unreleased counts messages whose release failed; they reappear when
	// their visibility timeout lapses.
	Unreleased int
	// Stopped says why the run ended.
	Stopped string
}

// Total adds up every reason.
func (r Result) Total() Counts {
	var t Counts
	for _, c := range r.ByReason {
		t.Moved, t.Skipped, t.Failed = t.Moved+c.Moved, t.Skipped+c.Skipped, t.Failed+c.Failed
	}
	return t
}

func (o Options) validate() error {
	var errs []error
	if o.From == "" {
		errs = append(errs, errors.New("no dead-letter queue URL to redrive from"))
	}
	if o.To != "" && o.To == o.From {
		errs = append(errs, errors.New("the target queue is the dead-letter queue itself"))
	}
	if o.Max < 0 {
		errs = append(errs, fmt.Errorf("max %d: must not be negative", o.Max))
	}
	if o.Visibility < 0 || o.Visibility > maxVisibility || o.Visibility%time.Second != 0 {
		errs = append(errs, fmt.Errorf("visibility %s: want whole seconds, at most 12h", o.Visibility))
	}
	if o.Wait < 0 || o.Wait > 20*time.Second || o.Wait%time.Second != 0 {
		errs = append(errs, fmt.Errorf("wait %s: want whole seconds, at most 20s (the SQS long-poll limit)", o.Wait))
	}
	if o.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate %g: must not be negative", o.Rate))
	}
	return errors.Join(errs...)
}

// run is the state of one Run.
type run struct {
	api     API
	o       Options
	res     Result
	held    map[string]string // message id → latest receipt handle, to release at the end
	seen    map[string]bool   // every message id looked at
	handled int               // matching messages moved or failed (what Max counts)
	moved   int
	start   time.Time
	errMore int
}

// Run redrives messages as o says. It returns what it did also when it
// fails part way (err set) or ctx is cancelled (Stopped says so; not an
// error). Messages it holds are released before it returns.
func Run(ctx context.Context, api API, o Options) (Result, error) {
	if err := o.validate(); err != nil {
		return Result{}, fmt.Errorf("redrive: %w", err)
	}
	if o.Visibility == 0 {
		o.Visibility = DefaultVisibility
	}
	if o.Wait == 0 {
		o.Wait = defaultWait
	}
	r := &run{api: api, o: o, held: map[string]string{}, seen: map[string]bool{}, start: time.Now(),
		res: Result{DryRun: o.DryRun, ByReason: map[string]*Counts{}}}
	err := r.loop(ctx)
	r.release()
	if r.errMore > 0 {
		r.res.Errors = append(r.res.Errors, fmt.Sprintf("… and %d more failed messages", r.errMore))
	}
	return r.res, err
}

func (r *run) loop(ctx context.Context) error {
	idle := 0
	for {
		switch {
		case ctx.Err() != nil:
			r.res.Stopped = "interrupted"
			return nil
		case r.o.Max > 0 && r.handled >= r.o.Max:
			r.res.Stopped = fmt.Sprintf("max of %d messages reached", r.o.Max)
			return nil
		}
		if err := r.pace(ctx); err != nil {
			r.res.Stopped = "interrupted"
			return nil
		}
		msgs, err := r.receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				r.res.Stopped = "interrupted"
				return nil
			}
			r.res.Stopped = "receive failed"
			return err
		}
		fresh := r.fresh(msgs)
		if len(fresh) == 0 {
			idle++
			if len(msgs) == 0 || idle >= idlePollsToStop {
				r.res.Stopped = "no more messages"
				return nil
			}
			continue
		}
		idle = 0
		r.handle(ctx, fresh)
	}
}

// pace waits as long as Rate asks before the next batch.
func (r *run) pace(ctx context.Context) error {
	if r.o.Rate <= 0 || r.moved == 0 {
		return nil
	}
	due := r.start.Add(time.Duration(float64(r.moved) / r.o.Rate * float64(time.Second)))
	if d := time.Until(due); d > 0 && !retry.Sleep(ctx, d) {
		return ctx.Err()
	}
	return nil
}

func (r *run) receive(ctx context.Context) ([]types.Message, error) {
	n := maxBatch
	if r.o.Max > 0 {
		n = min(n, r.o.Max-r.handled)
	}
	out, err := r.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:              aws.String(r.o.From),
		MaxNumberOfMessages:   int32(n),
		VisibilityTimeout:     int32(r.o.Visibility / time.Second),
		WaitTimeSeconds:       int32(r.o.Wait / time.Second),
		MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		return nil, fmt.Errorf("sqs ReceiveMessage %s: %w", r.o.From, err)
	}
	return out.Messages, nil
}

// fresh returns the messages not looked at before. A message seen again
// (its visibility lapsed during a long run) gets its new receipt handle
// recorded, so the release at the end uses the valid one.
func (r *run) fresh(msgs []types.Message) []types.Message {
	var out []types.Message
	for _, m := range msgs {
		id := aws.ToString(m.MessageId)
		if r.seen[id] {
			if _, ok := r.held[id]; ok {
				r.held[id] = aws.ToString(m.ReceiptHandle)
			}
			continue
		}
		r.seen[id] = true
		out = append(out, m)
	}
	return out
}

// move is a message on its way to target.
type move struct {
	msg    types.Message
	reason string
	target string
}

func (r *run) handle(ctx context.Context, msgs []types.Message) {
	byTarget := map[string][]move{}
	var targets []string
	for _, m := range msgs {
		reason := reasonOf(m)
		c := r.counts(reason)
		if !r.matches(m, reason) {
			c.Skipped++
			r.hold(m)
			continue
		}
		target := r.o.To
		if target == "" {
			target = attr(m, consumer.AttrSourceQueue)
		}
		switch {
		case target == "":
			r.fail(m, reason, "no "+consumer.AttrSourceQueue+" attribute: give --to")
		case target == r.o.From:
			r.fail(m, reason, "its source queue is the dead-letter queue itself")
		case r.o.DryRun:
			c.Moved++
			r.handled++
			r.hold(m)
		default:
			if _, ok := byTarget[target]; !ok {
				targets = append(targets, target)
			}
			byTarget[target] = append(byTarget[target], move{msg: m, reason: reason, target: target})
		}
	}
	for _, t := range targets {
		r.moveAll(ctx, byTarget[t])
	}
}

func (r *run) counts(reason string) *Counts {
	c := r.res.ByReason[reason]
	if c == nil {
		c = &Counts{}
		r.res.ByReason[reason] = c
	}
	return c
}

func (r *run) hold(m types.Message) {
	r.held[aws.ToString(m.MessageId)] = aws.ToString(m.ReceiptHandle)
}

func (r *run) fail(m types.Message, reason, why string) {
	r.counts(reason).Failed++
	r.handled++
	r.hold(m)
	if len(r.res.Errors) >= maxErrorLines {
		r.errMore++
		return
	}
	r.res.Errors = append(r.res.Errors, fmt.Sprintf("message %s (%s): %s", aws.ToString(m.MessageId), reason, why))
}

func (r *run) matches(m types.Message, reason string) bool {
	if len(r.o.Reasons) > 0 && !contains(r.o.Reasons, reason) {
		return false
	}
	if len(r.o.Distributions) == 0 {
		return true
	}
	for _, name := range targetNames(aws.ToString(m.Body)) {
		if contains(r.o.Distributions, name) {
			return true
		}
	}
	return false
}

// moveAll sends ms (all to one target) in batches, then deletes from the
// dead-letter queue exactly the ones whose send succeeded.
func (r *run) moveAll(ctx context.Context, ms []move) {
	for _, chunk := range chunks(ms) {
		if ctx.Err() != nil {
			// Interrupted: leave the rest where they are, released at the end.
			for _, m := range chunk {
				r.hold(m.msg)
			}
			continue
		}
		sent := r.send(ctx, chunk)
		r.delete(ctx, sent)
	}
}

// chunks splits ms into SendMessageBatch requests: at most 10 entries and
// 1 MiB of bodies and attributes.
func chunks(ms []move) [][]move {
	var out [][]move
	var cur []move
	size := 0
	for _, m := range ms {
		n := messageSize(m.msg)
		if len(cur) == maxBatch || len(cur) > 0 && size+n > maxBatchBytes {
			out, cur, size = append(out, cur), nil, 0
		}
		cur, size = append(cur, m), size+n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// messageSize is what SQS counts toward its size limits: the body and, for
// each attribute, its name, data type and value.
func messageSize(m types.Message) int {
	n := len(aws.ToString(m.Body))
	for k, v := range producerAttributes(m) {
		n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

// sent is a message whose copy reached the target.
type sent struct {
	move
	newID string
}

func (r *run) send(ctx context.Context, chunk []move) []sent {
	entries := make([]types.SendMessageBatchRequestEntry, len(chunk))
	for i, m := range chunk {
		entries[i] = types.SendMessageBatchRequestEntry{
			Id:                aws.String(strconv.Itoa(i)),
			MessageBody:       m.msg.Body,
			MessageAttributes: producerAttributes(m.msg),
		}
	}
	out, err := r.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(chunk[0].target), Entries: entries})
	if err != nil {
		for _, m := range chunk {
			r.fail(m.msg, m.reason, fmt.Sprintf("sqs SendMessageBatch to %s: %v", m.target, err))
		}
		return nil
	}
	var ok []sent
	done := make([]bool, len(chunk))
	for _, s := range out.Successful {
		if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && i >= 0 && i < len(chunk) && !done[i] {
			done[i] = true
			ok = append(ok, sent{move: chunk[i], newID: aws.ToString(s.MessageId)})
		}
	}
	failed := map[int]types.BatchResultErrorEntry{}
	for _, f := range out.Failed {
		if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil {
			failed[i] = f
		}
	}
	for i, m := range chunk {
		if done[i] {
			continue
		}
		why := "SQS reported neither success nor failure"
		if f, ok := failed[i]; ok {
			why = fmt.Sprintf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
		}
		r.fail(m.msg, m.reason, fmt.Sprintf("send to %s failed: %s", m.target, why))
	}
	return ok
}

func (r *run) delete(ctx context.Context, ss []sent) {
	if len(ss) == 0 {
		return
	}
	// The copies exist: finish the deletes even if ctx was just cancelled,
	// or every interrupted batch would leave duplicates behind.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	entries := make([]types.DeleteMessageBatchRequestEntry, len(ss))
	for i, s := range ss {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: s.msg.ReceiptHandle}
	}
	out, err := r.api.DeleteMessageBatch(dctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.o.From), Entries: entries})
	if err != nil {
		for _, s := range ss {
			r.notDeleted(s, err.Error())
		}
		return
	}
	failed := map[int]string{}
	for _, f := range out.Failed {
		if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil {
			failed[i] = fmt.Sprintf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	for i, s := range ss {
		if why, bad := failed[i]; bad {
			r.notDeleted(s, why)
			continue
		}
		r.counts(s.reason).Moved++
		r.handled++
		r.moved++
	}
}

// notDeleted records a message copied to its target but still in the
// dead-letter queue: a later redrive would send it a second time.
func (r *run) notDeleted(s sent, why string) {
	r.fail(s.msg, s.reason, fmt.Sprintf("sent to %s as %s, but DeleteMessage failed (%s): it is still in the dead-letter queue, so redriving it again would invalidate its paths twice", s.target, s.newID, why))
}

// release makes every held message visible again.
func (r *run) release() {
	ids := make([]string, 0, len(r.held))
	for id := range r.held {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	for i := 0; i < len(ids); i += maxBatch {
		part := ids[i:min(i+maxBatch, len(ids))]
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(part))
		for j, id := range part {
			entries[j] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), ReceiptHandle: aws.String(r.held[id]), VisibilityTimeout: 0}
		}
		out, err := r.api.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(r.o.From), Entries: entries})
		switch {
		case err != nil:
			r.res.Unreleased += len(part)
		default:
			r.res.Unreleased += len(out.Failed)
		}
	}
}

// producerAttributes returns m's message attributes without the ones the
// worker added when it dead-lettered it.
func producerAttributes(m types.Message) map[string]types.MessageAttributeValue {
	var out map[string]types.MessageAttributeValue
	for k, v := range m.MessageAttributes {
		if strings.HasPrefix(k, attributesPrefix) {
			continue
		}
		if out == nil {
			out = map[string]types.MessageAttributeValue{}
		}
		out[k] = types.MessageAttributeValue{DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue}
	}
	return out
}

func reasonOf(m types.Message) string {
	if code := attr(m, consumer.AttrReasonCode); code != "" {
		return code
	}
	return NoReason
}

func attr(m types.Message, name string) string {
	if v, ok := m.MessageAttributes[name]; ok {
		return aws.ToString(v.StringValue)
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// targetNames reads "distribution_id", "distribution_tenant_id" and
// "distribution" from a v1 body, or from the v1 body inside an SNS
// envelope, and returns those set. It is permissive on purpose:
// dead-lettered bodies are often malformed, and a filter must not fail on
// them (they just do not match).
func targetNames(body string) []string {
	var m struct {
		ID      json.RawMessage `json:"distribution_id"`
		Tenant  json.RawMessage `json:"distribution_tenant_id"`
		Name    json.RawMessage `json:"distribution"`
		Type    string          `json:"Type"`
		Message string          `json:"Message"`
	}
	if json.Unmarshal([]byte(body), &m) != nil {
		return nil
	}
	var names []string
	for _, raw := range []json.RawMessage{m.ID, m.Tenant, m.Name} {
		if s := rawString(raw); s != "" {
			names = append(names, s)
		}
	}
	if len(names) == 0 && m.Type == "Notification" && m.Message != "" {
		return targetNames(m.Message)
	}
	return names
}

func rawString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// WriteTable writes the summary: one row per reason code, then the total,
// the failures, and why the run stopped.
func (r Result) WriteTable(w io.Writer) error {
	moved := "MOVED"
	if r.DryRun {
		moved = "WOULD MOVE"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "REASON\t%s\tSKIPPED\tFAILED\n", moved)
	reasons := make([]string, 0, len(r.ByReason))
	for k := range r.ByReason {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	for _, k := range reasons {
		c := r.ByReason[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", k, c.Moved, c.Skipped, c.Failed)
	}
	t := r.Total()
	fmt.Fprintf(tw, "TOTAL\t%d\t%d\t%d\n", t.Moved, t.Skipped, t.Failed)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "failed: %s\n", e)
	}
	if r.Unreleased > 0 {
		fmt.Fprintf(w, "%d message(s) could not be made visible again; they reappear when their visibility timeout lapses\n", r.Unreleased)
	}
	if r.DryRun {
		fmt.Fprintln(w, "dry run: nothing was sent or deleted")
	}
	if r.Stopped != "" {
		fmt.Fprintf(w, "stopped: %s\n", r.Stopped)
	}
	return nil
}
