// Package status is the worker's operator console: the data model behind
// GET /api/status (a documented, versioned JSON schema), the server-rendered
// page at GET /, the actions behind the admin token, and the terminal table
// of `worker status`.
//
// The pipeline fills a Snapshot (Provider); this package renders it. Nothing
// in a Snapshot is a secret: no receipt handle, credential or token is ever
// put in one, and item samples are truncated (SampleItems, SampleLen).
package status

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// SchemaVersion is the version of the JSON schema of Snapshot. It changes
// only when a field is removed or changes meaning; new fields are added
// without a change (clients ignore what they do not know).
const SchemaVersion = 1

// Truncation of what a snapshot shows of items and bodies.
const (
	SampleItems = 5   // items shown per invalidation or batch
	SampleLen   = 120 // characters shown of one item or body
)

// Snapshot is everything the console shows, as of At.
type Snapshot struct {
	Schema  int       `json:"schema"` // SchemaVersion
	At      time.Time `json:"at"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	Ready   bool      `json:"ready"`
	// Draining: shutting down (flushing, then releasing what is held).
	Draining bool `json:"draining"`
	// Window is the coalescing window (config window): the console measures
	// long waits in windows. Absent when unknown.
	Window *Duration `json:"window,omitempty"`

	Queues        []Queue        `json:"queues"`
	Distributions []Distribution `json:"distributions"`
	// Account is the month's spend over every allow-listed distribution.
	Account Spend `json:"account"`

	DeadLettered DeadLetters  `json:"dead_lettered"`
	Errors       []ErrorClass `json:"errors"`
	// Actions taken through the console or the admin API, newest first.
	Actions []Action `json:"actions"`
	// Alerts are computed by the console from the rest of the snapshot
	// (see Alerts): a provider leaves them empty.
	Alerts []Alert `json:"alerts"`
}

// Alert is one condition an operator should look at, worst first.
type Alert struct {
	Level  string `json:"level"`            // crit, warn, info
	Code   string `json:"code"`             // long_wait, near_max_hold, view_error, paused_long, over_budget, near_budget, budget_unknown, dlq_depth, queue_attributes, not_ready, draining, errors
	Target string `json:"target,omitempty"` // a distribution id, a queue URL or an error class; "" for the worker
	Text   string `json:"text"`             // the same in words
}

// Queue is one SQS queue the worker consumes.
type Queue struct {
	URL     string `json:"url"`
	Lane    string `json:"lane"` // "live" or "bulk"
	Pollers int    `json:"pollers"`
	// From GetQueueAttributes, cached (AttributesAt); absent when unknown.
	Visible      *int      `json:"visible,omitempty"`   // ApproximateNumberOfMessages
	InFlight     *int      `json:"in_flight,omitempty"` // ApproximateNumberOfMessagesNotVisible
	AttributesAt time.Time `json:"attributes_at,omitzero"`
	AttrError    string    `json:"attributes_error,omitempty"`
	// OldestAge is the age (from SentTimestamp) of the oldest message this
	// process holds: SQS's attributes have no oldest-message age (that is
	// CloudWatch's ApproximateAgeOfOldestMessage).
	OldestAge *Duration    `json:"oldest_age,omitempty"`
	DLQ       *DeadLetterQ `json:"dlq,omitempty"`
	Held      int          `json:"held"` // messages this process holds from it
	Received  int64        `json:"received"`
	Deleted   int64        `json:"deleted"`
}

// DeadLetterQ is a queue's dead-letter queue.
type DeadLetterQ struct {
	URL     string `json:"url"`
	Visible *int   `json:"visible,omitempty"`
}

// Distribution is one allow-listed distribution or distribution tenant.
type Distribution struct {
	ID      string   `json:"id"`
	Aliases []string `json:"aliases"`
	// Kind is "distribution" or "tenant"; Parent is a tenant's
	// multi-tenant distribution.
	Kind   string `json:"kind"`
	Parent string `json:"parent,omitempty"`

	Paused *Pause `json:"paused,omitempty"`
	// MaxHold is the distribution's max_hold: past it a batch is reduced
	// to fit (absent when unknown).
	MaxHold *Duration `json:"max_hold,omitempty"`

	Batch   Batch  `json:"batch"`
	Waiting []Wait `json:"waiting"` // why work is waiting, in words; empty when nothing waits
	Quota   Quota  `json:"quota"`
	View    View   `json:"view"`
	Spend   Spend  `json:"spend"`

	InProgress []Invalidation `json:"in_progress"`
	Recent     []Invalidation `json:"recent"` // accepted, newest first, completed or not
}

// Pause says who paused what, and why.
type Pause struct {
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	All    bool      `json:"all"` // every distribution is paused
}

// Batch is what the worker holds for a distribution.
type Batch struct {
	Held      int       `json:"held_messages"`
	Items     int       `json:"items"` // distinct items not covered yet
	InFlight  int       `json:"items_in_flight"`
	Oldest    *Duration `json:"oldest_age,omitempty"`
	NextFlush time.Time `json:"next_flush,omitzero"`
	Sample    []string  `json:"sample,omitempty"`
}

// Wait is one reason work is waiting.
type Wait struct {
	Code  string    `json:"code"` // window, quota, backoff, paused, over_budget, budget_unknown, origin_floor, in_flight
	Text  string    `json:"text"` // the same in words
	Until time.Time `json:"until,omitzero"`
}

// Quota is CloudFront's in-progress allowance for the distribution.
type Quota struct {
	Files            int `json:"files"`     // in progress, everyone's
	Wildcards        int `json:"wildcards"` // in progress, everyone's
	OwnFiles         int `json:"own_files"` // of them, this process's
	OwnWildcards     int `json:"own_wildcards"`
	MaxFiles         int `json:"max_files"`     // 3,000
	MaxWildcards     int `json:"max_wildcards"` // 15
	ReserveFiles     int `json:"reserve_files"`
	ReserveWildcards int `json:"reserve_wildcards"`
}

// View is the state of the distribution's CloudFront view.
type View struct {
	Age   *Duration `json:"age,omitempty"` // since the last successful refresh
	Error string    `json:"error,omitempty"`
}

// Spend is a month's invalidation paths and their estimated cost.
type Spend struct {
	Month     time.Time `json:"month"`
	Paths     int       `json:"paths"`           // billed this month, known
	Upper     *int      `json:"upper,omitempty"` // the most it can be while not all is known
	Exact     bool      `json:"exact"`           // every invalidation of the month is known
	Source    string    `json:"source"`          // where the figure comes from, in words
	AsOf      time.Time `json:"as_of,omitzero"`
	FreePaths int       `json:"free_paths"`
	USD       float64   `json:"usd"`
	BudgetUSD float64   `json:"budget_usd,omitempty"` // 0 = none
	State     string    `json:"state"`                // under, near, over, unknown
	Remaining *int      `json:"remaining_paths,omitempty"`
}

// Invalidation is one CloudFront invalidation.
type Invalidation struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Created   time.Time `json:"created"`
	Completed time.Time `json:"completed,omitzero"`
	Latency   *Duration `json:"completion_latency,omitempty"`
	Items     int       `json:"items"`
	Sample    []string  `json:"sample,omitempty"`
	// Origin: own (this process), fleet (another process of this worker),
	// other (a person or another tool), unknown (not fetched yet).
	Origin    string `json:"origin"`
	Messages  int    `json:"messages,omitempty"` // own: messages the request served
	Collapsed bool   `json:"collapsed,omitempty"`
}

// DeadLetters is what this process dead-lettered since it started.
type DeadLetters struct {
	Total    int64         `json:"total"`
	ByReason []ReasonCount `json:"by_reason"`
}

// ReasonCount is one reason code with its latest examples.
type ReasonCount struct {
	Code     string    `json:"code"`
	Count    int64     `json:"count"`
	Examples []Example `json:"examples"` // newest first, at most 3
}

// Example is one dead-lettered message.
type Example struct {
	MessageID string    `json:"message_id"`
	At        time.Time `json:"at"`
	Reason    string    `json:"reason"`
	Body      string    `json:"body"` // truncated to SampleLen
}

// ErrorClass counts recent errors of one class.
type ErrorClass struct {
	Class  string    `json:"class"` // e.g. sqs:ReceiveMessage, cloudfront:transient, cloudfront:quota
	Count  int64     `json:"count"`
	Last   time.Time `json:"last"`
	Sample string    `json:"sample"` // the latest error's text, truncated
}

// Action is one operator action.
type Action struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"` // pause, resume, flush
	Target string    `json:"target"` // a distribution id, or "" for all
	By     string    `json:"by"`     // the client's address and user agent
	Reason string    `json:"reason,omitempty"`
	Result string    `json:"result"`
}

// Duration marshals as seconds (a JSON number) for scripts.
type Duration time.Duration

// D returns a *Duration.
func D(d time.Duration) *Duration { x := Duration(d); return &x }

// MarshalJSON writes seconds with millisecond precision.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(d).Round(time.Millisecond).Seconds(), 'f', -1, 64), nil
}

// UnmarshalJSON reads seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("status: duration %s: %w", b, err)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// Provider produces snapshots.
type Provider interface {
	Snapshot(ctx context.Context) Snapshot
}

// Controller carries out actions; target "" means every distribution.
type Controller interface {
	Pause(target, reason, by string) error
	Resume(target, by string) error
	Flush(target, by string) error
}
