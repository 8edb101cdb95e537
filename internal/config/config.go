// Package config loads and validates the worker's configuration.
//
// A configuration comes from three layers, later ones winning: the
// built-in defaults ([Default]), an optional YAML file, and environment
// variables. Every top-level key K of the file can also be set through
// INVALIDATOR_<UPPER(K)>, e.g. INVALIDATOR_QUEUE_URL or INVALIDATOR_WINDOW=5s.
// An environment value is read as a YAML value of the key's type, so lists
// can be given as JSON (INVALIDATOR_DISTRIBUTIONS='[{"id":"E1"}]'); string
// keys take the value verbatim. A list set from the environment replaces the
// file's list as a whole.
//
// Loading is strict: unknown keys in the file (at any depth), unknown
// INVALIDATOR_ variables, and durations without a unit are errors. Every
// problem is reported, one line each, in the form "config: <key>: <problem>",
// where <key> is what the user wrote: the YAML key path
// (distributions[1].id) or the environment variable.
//
// The reference for every key, its default and the limit bounding it is
// configs/worker.yaml.
package config

import "time"

// S3Source maps S3 event notifications to a distribution's URL paths.
type S3Source struct {
	// Bucket is the S3 bucket name named in the event.
	Bucket string `yaml:"bucket"`
	// Prefix restricts the mapping to object keys that start with it
	// ("" = every key of the bucket). It is a filter and is kept in the path.
	Prefix string `yaml:"prefix"`
	// OriginPath is the CloudFront origin path of this bucket's origin
	// ("" or "/site"): it is removed from the front of the object key to
	// give the URL path, as CloudFront prepends it when fetching.
	OriginPath string `yaml:"origin_path"`
}

// Distribution is one entry of the allow-list.
type Distribution struct {
	ID      string     `yaml:"id"`
	Aliases []string   `yaml:"aliases"`
	S3      []S3Source `yaml:"s3"`
	// IndexDirectories: nil means the default, true: "blog/index.html" also
	// invalidates "/blog/". Read it through [Config.IndexDirectories].
	IndexDirectories *bool `yaml:"index_directories"`
	// Collapse is the quota policy: "auto" (default: when a batch does not
	// fit CloudFront's in-progress headroom, replace crowded directories by
	// dir/*) or "never" (hold what does not fit until room frees up).
	Collapse string `yaml:"collapse"`
	// CollapseMinPaths: only a directory holding at least this many paths is
	// replaced by a wildcard (0 = 2). max_hold still forces a reduction.
	CollapseMinPaths int `yaml:"collapse_min_paths"`
	// MaxHold overrides the top-level max_hold for this distribution (0 = use it).
	MaxHold time.Duration `yaml:"max_hold"`
	// MonthlyBudgetUSD is this distribution's budget (0 = none).
	MonthlyBudgetUSD float64 `yaml:"monthly_budget_usd"`
	// CollapseMinDepth is origin protection: no wildcard the worker makes
	// covers a directory shallower than this ("/" is depth 0, "/blog/" 1).
	// nil means the default, 1: never "/*". Read it through
	// [Config.CollapseMinDepth].
	CollapseMinDepth *int `yaml:"collapse_min_depth"`
	// OriginLag is for producers that enqueue before their change is live
	// at the origin: an invalidation settles a message only if created at
	// least this long after the message was sent (0 = the producer enqueues
	// after the change is live, as the producers' guide asks).
	OriginLag time.Duration `yaml:"origin_lag"`
}

// Tenant is one allow-listed distribution tenant of a multi-tenant
// distribution (CloudFront SaaS Manager).
type Tenant struct {
	// ID is the tenant id (dt_2wjDZi3hD1ivOXf6rpZJO1AB); see
	// message.TenantIDProblem for what it may look like.
	ID string `yaml:"id"`
	// Aliases are names a message may use instead of the id, unique across
	// every distribution's and tenant's id and aliases.
	Aliases []string `yaml:"aliases"`
	// Distribution is the id of the tenant's multi-tenant distribution. It
	// need not be in distributions.
	Distribution string `yaml:"distribution"`
}

// Lanes of work. A queue belongs to one; live work goes first.
const (
	LaneLive = "live"
	LaneBulk = "bulk"
)

// LaneNames are the lanes, in priority order.
var LaneNames = []string{LaneLive, LaneBulk}

// Queue is one queue the worker reads.
type Queue struct {
	URL string `yaml:"url"`
	// Lane is LaneLive or LaneBulk ("" = live).
	Lane string `yaml:"lane"`
	// Pollers is this queue's concurrent long polls (0 = the top-level pollers).
	Pollers int `yaml:"pollers"`
	// DeadLetterQueueURL is where this queue's poison goes ("" = the
	// dead-letter queue of the queue's RedrivePolicy).
	DeadLetterQueueURL string `yaml:"dead_letter_queue_url"`
}

// Lane holds one lane's settings.
type Lane struct {
	// Window is the lane's batch window (0 = the top-level window).
	Window time.Duration `yaml:"window"`
	// CollapseAbove: a submission of this lane with more file paths than
	// this is collapsed to fit under it even when CloudFront's headroom would
	// take it whole, so bulk work uses fewer paths of the shared in-progress
	// quota and leaves the rest to live work (0 = off).
	CollapseAbove int `yaml:"collapse_above"`
}

// Lanes are the settings of each lane; read them through [Config.LaneSettings].
type Lanes struct {
	Live Lane `yaml:"live"`
	Bulk Lane `yaml:"bulk"`
}

// Config is the worker's configuration. See configs/worker.yaml for what
// each key means and why it is bounded as it is.
//
// The queues are either the one-queue shorthand (QueueURL, with
// DeadLetterQueueURL and Pollers) or the Queues list; read them through
// [Config.EffectiveQueues], which expands the shorthand.
type Config struct {
	QueueURL              string         `yaml:"queue_url"`
	DeadLetterQueueURL    string         `yaml:"dead_letter_queue_url"`
	Queues                []Queue        `yaml:"queues"`
	Window                time.Duration  `yaml:"window"`
	Lanes                 Lanes          `yaml:"lanes"`
	HTTPAddr              string         `yaml:"http_addr"`
	ShutdownGrace         time.Duration  `yaml:"shutdown_grace"`
	Pollers               int            `yaml:"pollers"`
	VisibilityTimeout     time.Duration  `yaml:"visibility_timeout"`
	MaxHeld               int            `yaml:"max_held"`
	AllowAllDistributions bool           `yaml:"allow_all_distributions"`
	Distributions         []Distribution `yaml:"distributions"`
	Tenants               []Tenant       `yaml:"tenants"`
	SubmitConcurrency     int            `yaml:"submit_concurrency"`
	RetryMaxBackoff       time.Duration  `yaml:"retry_max_backoff"`
	MaxPathsPerMessage    int            `yaml:"max_paths_per_message"`
	LogLevel              string         `yaml:"log_level"`

	QuotaReserveFiles     int           `yaml:"quota_reserve_files"`
	QuotaReserveWildcards int           `yaml:"quota_reserve_wildcards"`
	ViewMaxAge            time.Duration `yaml:"view_max_age"`
	ViewRefresh           time.Duration `yaml:"view_refresh"`
	ViewIdleRefresh       time.Duration `yaml:"view_idle_refresh"`
	CloudFrontReadRate    float64       `yaml:"cloudfront_read_rate"`
	ClockSkewMargin       time.Duration `yaml:"clock_skew_margin"`
	FlushJitter           time.Duration `yaml:"flush_jitter"`
	MaxHold               time.Duration `yaml:"max_hold"`
	FreePathsPerMonth     int           `yaml:"free_paths_per_month"`
	MonthlyBudgetUSD      float64       `yaml:"monthly_budget_usd"`
	PauseWhenOverBudget   bool          `yaml:"pause_when_over_budget"`
	AdminToken            string        `yaml:"admin_token"`
	TrackCompletion       bool          `yaml:"track_completion"`
	CompletionTopicARN    string        `yaml:"completion_topic_arn"`
	CompletionQueueURL    string        `yaml:"completion_queue_url"`
	DebugPprof            bool          `yaml:"debug_pprof"`
}

// Collapse policies of a distribution.
const (
	CollapseAuto  = "auto"
	CollapseNever = "never"
)

// MaxHoldFor is d's max_hold: its own, else the top-level one.
func (c Config) MaxHoldFor(d Distribution) time.Duration {
	if d.MaxHold > 0 {
		return d.MaxHold
	}
	return c.MaxHold
}

// Default returns the configuration used for every key that neither the
// file nor the environment sets. It has no queue and an empty allow-list,
// so it does not validate on its own.
func Default() Config {
	return Config{
		Window:             10 * time.Second,
		Lanes:              Lanes{Bulk: Lane{Window: DefaultBulkWindow, CollapseAbove: DefaultBulkCollapseAbove}},
		HTTPAddr:           "127.0.0.1:9090",
		ShutdownGrace:      30 * time.Second,
		Pollers:            4,
		VisibilityTimeout:  60 * time.Second,
		MaxHeld:            20000,
		SubmitConcurrency:  2,
		RetryMaxBackoff:    2 * time.Minute,
		MaxPathsPerMessage: 10000,
		LogLevel:           "info",

		QuotaReserveFiles:     100,
		QuotaReserveWildcards: 2,
		ViewMaxAge:            0, // every flush looks at CloudFront first: replicas see each other
		ViewRefresh:           5 * time.Second,
		ViewIdleRefresh:       time.Minute,
		CloudFrontReadRate:    5,
		ClockSkewMargin:       time.Second,
		FlushJitter:           time.Second,
		MaxHold:               time.Hour,
		FreePathsPerMonth:     1000,
		TrackCompletion:       true,
	}
}

// Defaults of the bulk lane: a longer window merges more of a backfill into
// each invalidation, and collapsing above 500 file paths keeps a bulk
// submission to a sixth of CloudFront's 3,000 in progress per distribution.
// The live lane defaults to the top-level window and never collapses early.
const (
	DefaultBulkWindow        = time.Minute
	DefaultBulkCollapseAbove = 500
)

// EffectiveQueues returns the queues to read: the queues list, or the
// queue_url shorthand as a one-entry list (lane live, the top-level
// pollers and dead_letter_queue_url). Lane and Pollers are filled in, so
// the caller needs no defaults of its own.
func (c Config) EffectiveQueues() []Queue {
	if len(c.Queues) == 0 {
		if c.QueueURL == "" {
			return nil
		}
		return []Queue{{URL: c.QueueURL, Lane: LaneLive, Pollers: c.Pollers, DeadLetterQueueURL: c.DeadLetterQueueURL}}
	}
	out := make([]Queue, len(c.Queues))
	for i, q := range c.Queues {
		if q.Lane == "" {
			q.Lane = LaneLive
		}
		if q.Pollers == 0 {
			q.Pollers = c.Pollers
		}
		out[i] = q
	}
	return out
}

// QueuesOfLane returns the effective queues of lane, in config order.
func (c Config) QueuesOfLane(lane string) []Queue {
	var out []Queue
	for _, q := range c.EffectiveQueues() {
		if q.Lane == lane {
			out = append(out, q)
		}
	}
	return out
}

// LaneSettings returns lane's effective settings, its window resolved (0 =
// the top-level window). lane must be one of [LaneNames]; any other name
// gets the top-level window and no early collapse.
func (c Config) LaneSettings(lane string) Lane {
	var l Lane
	switch lane {
	case LaneLive:
		l = c.Lanes.Live
	case LaneBulk:
		l = c.Lanes.Bulk
	}
	if l.Window == 0 {
		l.Window = c.Window
	}
	return l
}

// EffectiveLanes returns [Config.LaneSettings] of every lane, by name.
func (c Config) EffectiveLanes() map[string]Lane {
	out := make(map[string]Lane, len(LaneNames))
	for _, name := range LaneNames {
		out[name] = c.LaneSettings(name)
	}
	return out
}

// DefaultCollapseMinDepth: by default the worker never invalidates "/*"
// on its own.
const DefaultCollapseMinDepth = 1

// CollapseMinDepth is d's collapse_min_depth (default 1).
func (c Config) CollapseMinDepth(d Distribution) int {
	if d.CollapseMinDepth == nil {
		return DefaultCollapseMinDepth
	}
	return *d.CollapseMinDepth
}

// Jitter is the random delay before a flush: flush_jitter, at most a
// quarter of the window so it never dominates a message's latency.
func (c Config) Jitter() time.Duration {
	return min(c.FlushJitter, c.Window/4)
}

// IndexDirectories reports whether an invalidation of ".../index.html" in d
// also invalidates the directory path ".../" (default true).
func (c Config) IndexDirectories(d Distribution) bool {
	return d.IndexDirectories == nil || *d.IndexDirectories
}
