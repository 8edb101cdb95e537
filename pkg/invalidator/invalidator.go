// Package invalidator is the Go client for applications that want CloudFront
// paths invalidated by the invalidation worker: it puts v1 messages on the
// worker's SQS queue and leaves the rest (coalescing, CloudFront limits,
// retries) to the worker.
//
//	cfg, _ := config.LoadDefaultConfig(ctx)
//	c := invalidator.New(sqs.NewFromConfig(cfg), queueURL)
//	ids, err := c.Invalidate(ctx, "EDFDVBD6EXAMPLE", "/index.html", "/blog/*")
//	ids, err = c.InvalidateTenant(ctx, "dt_2wjDZi3hD1ivOXf6rpZJO1AB", "/index.html")
//
// A request is packed into as few messages as fit: each message carries at
// most [DefaultMaxItemsPerMessage] paths and tags (the worker's default
// max_paths_per_message; a message beyond the worker's limit is
// dead-lettered whole) and at most [DefaultMaxMessageBytes] of JSON. The
// messages go out with SendMessageBatch, at most 10 to a request and at
// most 1 MiB per request; entries SQS reports as failed are sent again, and
// those still failing are named in a [*SendError].
//
// Paths are checked only lightly here — each must start with "/" or be an
// http(s) URL, be valid UTF-8 and at most 4,000 characters long; tags must
// be 1–256 printable ASCII characters other than "," and "*". The worker
// owns the full rules (percent-encoding, where "*" may appear, the length
// after encoding) and dead-letters a path it refuses with the reason, so a
// path that passes here can still be refused there. The message format is
// described by schema/message-v1.schema.json in the worker's repository.
//
// Delivery is at least once: a retried entry whose first send did reach SQS
// is queued twice, which costs one more invalidation of the same paths and
// nothing else.
package invalidator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	iretry "github.com/acme/cf-invalidator/internal/retry"
)

const (
	// SQSMaxMessageBytes is SQS's limit on one message (body plus
	// attributes) and on the sum of a SendMessageBatch request's messages:
	// 1 MiB, 1,048,576 bytes (SendMessage and SendMessageBatch API
	// reference; it was 256 KiB before August 2025, and a queue may still
	// set a lower MaximumMessageSize).
	SQSMaxMessageBytes = 1 << 20

	// DefaultMaxMessageBytes leaves 16 KiB of the SQS limit unused: when the
	// worker dead-letters a message it sends the same body again with up to
	// five attributes of its own (the reason alone up to 1 KiB) plus the
	// producer's, and attributes count toward the limit.
	DefaultMaxMessageBytes = SQSMaxMessageBytes - 16<<10

	// DefaultMaxItemsPerMessage is the worker's default
	// max_paths_per_message: a message with more paths and tags than the
	// worker's limit is dead-lettered whole.
	DefaultMaxItemsPerMessage = 10000

	// MaxBatchEntries is the most messages one SendMessageBatch takes.
	MaxBatchEntries = 10

	// MaxPathLen is CloudFront's limit on an invalidation path, 4,000
	// characters. Checked on the raw path; the worker checks it again after
	// percent-encoding.
	MaxPathLen = 4000

	// MaxTagLen is the longest cache tag name the worker accepts.
	MaxTagLen = 256

	// DefaultAttempts is how often a batch entry SQS reported as failed is
	// tried in all (SenderFault entries are not retried).
	DefaultAttempts = 3

	// minMessageBytes is the smallest packing limit New accepts: a message
	// must hold the JSON envelope and at least one long path.
	minMessageBytes = 8 << 10
)

// SendAPI is the part of the SQS client the Client uses; *sqs.Client
// implements it.
type SendAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var _ SendAPI = (*sqs.Client)(nil)

// Client sends invalidation requests to one queue. It is safe for
// concurrent use.
type Client struct {
	api      SendAPI
	queueURL string
	maxItems int
	maxBytes int
	attempts int
	backoff  time.Duration
}

// Option changes a Client's defaults.
type Option func(*Client)

// WithMaxItemsPerMessage sets the most paths and tags one message carries
// (default [DefaultMaxItemsPerMessage]). Set it to the worker's
// max_paths_per_message when that is lower than the default. Values below 1
// are ignored.
func WithMaxItemsPerMessage(n int) Option {
	return func(c *Client) {
		if n >= 1 {
			c.maxItems = n
		}
	}
}

// WithMaxMessageBytes sets the largest message body (default
// [DefaultMaxMessageBytes]); lower it for a queue whose MaximumMessageSize
// is below 1 MiB, leaving about 16 KiB of headroom. It is clamped to
// 8 KiB..[SQSMaxMessageBytes].
func WithMaxMessageBytes(n int) Option {
	return func(c *Client) { c.maxBytes = min(max(n, minMessageBytes), SQSMaxMessageBytes) }
}

// WithAttempts sets how often a failed batch entry is tried in all
// (default [DefaultAttempts]). Values below 1 are ignored.
func WithAttempts(n int) Option {
	return func(c *Client) {
		if n >= 1 {
			c.attempts = n
		}
	}
}

// New returns a Client that sends to queueURL through sqsClient. AWS
// retries of throttling and network errors are the SQS client's own.
func New(sqsClient SendAPI, queueURL string, opts ...Option) *Client {
	c := &Client{
		api: sqsClient, queueURL: queueURL,
		maxItems: DefaultMaxItemsPerMessage, maxBytes: DefaultMaxMessageBytes,
		attempts: DefaultAttempts, backoff: 200 * time.Millisecond,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Request is one invalidation request: paths and cache tags of one
// distribution, or of one distribution tenant of a multi-tenant
// distribution. Exactly one of Distribution and Tenant is set.
type Request struct {
	// Distribution is the distribution id (EDFDVBD6EXAMPLE) or an alias the
	// worker's configuration gives it (a tenant's alias works too). It is
	// sent as "distribution", which the worker resolves as any of them.
	Distribution string
	// Tenant is a distribution tenant's id (dt_2wjDZi3hD1ivOXf6rpZJO1AB) or
	// an alias the worker's configuration gives it (tenants[].aliases). It
	// is sent as "distribution_tenant_id", which the worker resolves only to
	// a listed tenant: a name of a plain distribution is refused there.
	Tenant string
	// Paths start with "/" ("/blog/*" for a wildcard) or are full http(s)
	// URLs, whose host the worker drops.
	Paths []string
	// Tags are cache tag names, with or without a leading "#".
	Tags []string
}

// Invalidate queues paths of distribution (an id or alias) for
// invalidation and returns the SQS message ids, one per message sent.
func (c *Client) Invalidate(ctx context.Context, distribution string, paths ...string) ([]string, error) {
	return c.Send(ctx, Request{Distribution: distribution, Paths: paths})
}

// InvalidateTenant queues paths of a distribution tenant (an id or alias)
// for invalidation and returns the SQS message ids, one per message sent.
func (c *Client) InvalidateTenant(ctx context.Context, tenant string, paths ...string) ([]string, error) {
	return c.Send(ctx, Request{Tenant: tenant, Paths: paths})
}

// InvalidateTags queues cache tags of distribution for invalidation.
func (c *Client) InvalidateTags(ctx context.Context, distribution string, tags ...string) ([]string, error) {
	return c.Send(ctx, Request{Distribution: distribution, Tags: tags})
}

// Send queues r and returns the ids of the messages sent, in order. Invalid
// input sends nothing and returns a *ValidationError. When sending fails
// part way, the ids of the messages that were sent come back with a
// *SendError naming the others; sending the whole request again is safe
// (paths already queued are invalidated once more).
func (c *Client) Send(ctx context.Context, r Request) ([]string, error) {
	bodies, err := c.Bodies(r)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, bodies)
}

// Bodies returns the message bodies Send would send for r: v1 messages,
// paths first, then tags, in the order given, exact duplicates dropped.
func (c *Client) Bodies(r Request) ([][]byte, error) {
	items, err := validate(r)
	if err != nil {
		return nil, err
	}
	return c.pack(v1Message{Version: 1, Distribution: strings.TrimSpace(r.Distribution), Tenant: strings.TrimSpace(r.Tenant)}, items)
}

// ValidationError lists what is wrong with a request; nothing was sent.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	const show = 5
	msg := fmt.Sprintf("invalidator: invalid request: %s", strings.Join(e.Problems[:min(len(e.Problems), show)], "; "))
	if n := len(e.Problems) - show; n > 0 {
		msg += fmt.Sprintf("; and %d more", n)
	}
	return msg
}

// item is a path or a tag as it goes into a message.
type item struct {
	value string
	tag   bool
}

func validate(r Request) ([]item, error) {
	var problems []string
	dist, tenant := strings.TrimSpace(r.Distribution), strings.TrimSpace(r.Tenant)
	switch {
	case dist == "" && tenant == "":
		problems = append(problems, "no distribution and no tenant")
	case dist != "" && tenant != "":
		problems = append(problems, "both a distribution and a tenant: a request names one of them (the worker refuses a message naming a distribution and a tenant)")
	}
	if len(r.Paths)+len(r.Tags) == 0 {
		problems = append(problems, "no paths and no tags")
	}
	var items []item
	seen := make(map[item]bool)
	add := func(it item) {
		if !seen[it] {
			seen[it] = true
			items = append(items, it)
		}
	}
	for _, p := range r.Paths {
		if msg := pathProblem(p); msg != "" {
			problems = append(problems, fmt.Sprintf("path %s: %s", quote(p), msg))
			continue
		}
		add(item{value: strings.TrimSpace(p)})
	}
	for _, t := range r.Tags {
		name := strings.TrimPrefix(strings.TrimSpace(t), "#")
		if msg := tagProblem(name); msg != "" {
			problems = append(problems, fmt.Sprintf("tag %s: %s", quote(t), msg))
			continue
		}
		add(item{value: name, tag: true})
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	return items, nil
}

func pathProblem(raw string) string {
	p := strings.TrimSpace(raw)
	lower := strings.ToLower(p)
	switch {
	case p == "":
		return "empty"
	case !utf8.ValidString(p):
		return "not valid UTF-8"
	case utf8.RuneCountInString(p) > MaxPathLen:
		return fmt.Sprintf("longer than %d characters", MaxPathLen)
	case strings.HasPrefix(p, "#"):
		return "starts with \"#\": send cache tags as tags"
	case !strings.HasPrefix(p, "/") && !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://"):
		return `must start with "/" or be an http(s) URL`
	}
	return ""
}

func tagProblem(name string) string {
	switch {
	case name == "":
		return "empty"
	case len(name) > MaxTagLen:
		return fmt.Sprintf("longer than %d characters", MaxTagLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ',' || c == '*' {
			return fmt.Sprintf("character %q not allowed (printable ASCII other than \",\" and \"*\" only)", rune(c))
		}
	}
	return ""
}

func quote(s string) string {
	const n = 80
	if len(s) > n {
		s = s[:n] + "…"
	}
	return strconv.Quote(s)
}

// v1Message is the wire format (schema/message-v1.schema.json).
type v1Message struct {
	Version      int      `json:"version"`
	Distribution string   `json:"distribution,omitempty"`
	Tenant       string   `json:"distribution_tenant_id,omitempty"`
	Paths        []string `json:"paths,omitempty"`
	Tags         []string `json:"tags,omitempty"`
}

// pack fills messages in order, each the head (version and target) plus up
// to maxItems items and maxBytes bytes. Filling greedily is optimal for an
// ordered list: no packing that keeps the order needs fewer messages.
func (c *Client) pack(head v1Message, items []item) ([][]byte, error) {
	base := jsonLen(head)
	var (
		out  [][]byte
		cur  v1Message
		size int
		n    int
	)
	flush := func() {
		if n > 0 {
			out = append(out, encode(cur))
		}
		cur, size, n = head, base, 0
	}
	flush()
	for _, it := range items {
		cost := addedLen(cur, it)
		if n > 0 && (n+1 > c.maxItems || size+cost > c.maxBytes) {
			flush()
			cost = addedLen(cur, it)
		}
		if size+cost > c.maxBytes {
			return nil, &ValidationError{Problems: []string{fmt.Sprintf("item %s does not fit in a message of %d bytes", quote(it.value), c.maxBytes)}}
		}
		if it.tag {
			cur.Tags = append(cur.Tags, it.value)
		} else {
			cur.Paths = append(cur.Paths, it.value)
		}
		size += cost
		n++
	}
	flush()
	return out, nil
}

// addedLen is how many bytes adding it to m adds to m's JSON: the element
// and its comma, or the whole `,"paths":[…]` member for the first one.
func addedLen(m v1Message, it item) int {
	list, member := m.Paths, `,"paths":[]`
	if it.tag {
		list, member = m.Tags, `,"tags":[]`
	}
	if len(list) == 0 {
		return len(member) + jsonLen(it.value)
	}
	return 1 + jsonLen(it.value)
}

// encode writes v as JSON without HTML escaping (so "&" stays one byte
// and bodies stay readable in a DLQ) and without the trailing newline.
func encode(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings and ints only: cannot fail
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func jsonLen(v any) int { return len(encode(v)) }

// SendError reports messages that could not be queued. Messages not named
// were sent.
type SendError struct {
	Failed []FailedMessage
	// Err is the error of a whole SendMessageBatch call (after the SDK's
	// retries) or of ctx, which stopped the request; nil when SQS only
	// reported failed entries.
	Err error
}

// Unwrap returns Err, so errors.Is(err, context.Canceled) and errors.As
// for SDK error types work.
func (e *SendError) Unwrap() error { return e.Err }

// FailedMessage is one message that was not queued.
type FailedMessage struct {
	Index       int    // position among the request's messages, from 0
	Items       int    // paths and tags it carried
	First       string // its first path or tag, to find it by
	Code        string // SQS error code, or "RequestFailed" when the whole call failed
	Message     string
	SenderFault bool // SQS blames the request (e.g. too large): retrying as is will not help
}

func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalidator: %d message(s) not sent", len(e.Failed))
	for i, f := range e.Failed {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-i)
			break
		}
		fmt.Fprintf(&b, "; message %d (%d items from %s): %s: %s", f.Index, f.Items, quote(f.First), f.Code, f.Message)
	}
	return b.String()
}

// send sends bodies in batches of at most MaxBatchEntries entries and
// SQSMaxMessageBytes in total.
func (c *Client) send(ctx context.Context, bodies [][]byte) ([]string, error) {
	ids := make([]string, len(bodies))
	var failed []FailedMessage
	var callErr error
	for _, batch := range batches(bodies) {
		fs, err := c.sendBatch(ctx, bodies, batch, ids)
		failed = append(failed, fs...)
		if err != nil {
			callErr = err
			for _, rest := range indexesAfter(bodies, batch) {
				failed = append(failed, failure(bodies[rest], rest, "NotAttempted", "an earlier batch failed: "+err.Error(), false))
			}
			break
		}
	}
	var sent []string
	for _, id := range ids {
		if id != "" {
			sent = append(sent, id)
		}
	}
	if len(failed) > 0 {
		return sent, &SendError{Failed: failed, Err: callErr}
	}
	return sent, nil
}

// batches groups message indexes into SendMessageBatch requests.
func batches(bodies [][]byte) [][]int {
	var out [][]int
	var cur []int
	size := 0
	for i, b := range bodies {
		if len(cur) == MaxBatchEntries || len(cur) > 0 && size+len(b) > SQSMaxMessageBytes {
			out, cur, size = append(out, cur), nil, 0
		}
		cur, size = append(cur, i), size+len(b)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// indexesAfter returns the indexes after batch's last one.
func indexesAfter(bodies [][]byte, batch []int) []int {
	var out []int
	for i := batch[len(batch)-1] + 1; i < len(bodies); i++ {
		out = append(out, i)
	}
	return out
}

// sendBatch sends one batch, retrying failed entries that were not the
// sender's fault. It records message ids in ids and returns the messages
// given up on; err is set when a whole call failed (after the SDK's own
// retries) or ctx ended, which ends the request.
func (c *Client) sendBatch(ctx context.Context, bodies [][]byte, batch []int, ids []string) ([]FailedMessage, error) {
	pending := batch
	var failed []FailedMessage
	for attempt := 1; len(pending) > 0; attempt++ {
		entries := make([]types.SendMessageBatchRequestEntry, len(pending))
		for i, idx := range pending {
			entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(idx)), MessageBody: aws.String(string(bodies[idx]))}
		}
		out, err := c.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(c.queueURL), Entries: entries})
		if err != nil {
			for _, idx := range pending {
				failed = append(failed, failure(bodies[idx], idx, "RequestFailed", err.Error(), false))
			}
			return failed, fmt.Errorf("sqs SendMessageBatch: %w", err)
		}
		for _, ok := range out.Successful {
			if idx, err := strconv.Atoi(aws.ToString(ok.Id)); err == nil && idx >= 0 && idx < len(ids) {
				ids[idx] = aws.ToString(ok.MessageId)
			}
		}
		reported := make(map[int]types.BatchResultErrorEntry, len(out.Failed))
		for _, f := range out.Failed {
			if idx, err := strconv.Atoi(aws.ToString(f.Id)); err == nil {
				reported[idx] = f
			}
		}
		var retry []int
		for _, idx := range pending {
			if ids[idx] != "" {
				continue
			}
			// An entry reported neither way is retried like a failed one.
			f, ok := reported[idx]
			if !ok {
				f = types.BatchResultErrorEntry{Code: aws.String("NoResult"), Message: aws.String("SQS reported neither success nor failure")}
			}
			if f.SenderFault || attempt >= c.attempts {
				failed = append(failed, failure(bodies[idx], idx, aws.ToString(f.Code), aws.ToString(f.Message), f.SenderFault))
				continue
			}
			retry = append(retry, idx)
		}
		pending = retry
		if len(pending) == 0 {
			break
		}
		if !iretry.Sleep(ctx, c.backoff<<(attempt-1)) {
			err := ctx.Err()
			for _, idx := range pending {
				failed = append(failed, failure(bodies[idx], idx, "Canceled", err.Error(), false))
			}
			return failed, err
		}
	}
	return failed, nil
}

func failure(body []byte, idx int, code, msg string, senderFault bool) FailedMessage {
	var m v1Message
	_ = json.Unmarshal(body, &m) // our own encoding
	f := FailedMessage{Index: idx, Items: len(m.Paths) + len(m.Tags), Code: code, Message: msg, SenderFault: senderFault}
	switch {
	case len(m.Paths) > 0:
		f.First = m.Paths[0]
	case len(m.Tags) > 0:
		f.First = "#" + m.Tags[0]
	}
	return f
}
