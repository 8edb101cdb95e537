// Package metrics defines the worker's Prometheus metrics in one place, so
// the README's list and the code cannot drift apart: every metric is a field
// of Metrics, registered on a registry the caller owns.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Outcomes of a CreateInvalidation call (label "outcome").
const (
	OutcomeAccepted  = "accepted"
	OutcomeTransient = "transient_error"
	OutcomeQuota     = "quota_exceeded"
	OutcomePermanent = "permanent_error"
	// OutcomeSplit: refused as too large (BatchTooLarge) or invalid over
	// several messages (InvalidArgument), and retried in parts.
	OutcomeSplit = "split_retry"
)

// Metrics holds every collector the worker exports.
type Metrics struct {
	Received          prometheus.Counter
	Deleted           prometheus.Counter
	DeadLettered      *prometheus.CounterVec // reason
	Ignored           *prometheus.CounterVec // reason
	PoisonKept        *prometheus.CounterVec // reason: poison with no DLQ to send it to
	PathsIn           prometheus.Counter
	PathsSubmitted    prometheus.Counter
	Requests          *prometheus.CounterVec // outcome
	Held              prometheus.Gauge
	BatchAge          prometheus.Histogram
	SubmitLatency     prometheus.Histogram
	SQSErrors         *prometheus.CounterVec // operation
	VisibilityExtends prometheus.Counter
	Released          prometheus.Counter

	HeldPaths         *prometheus.CounterVec // reason: quota|quota_refused|paused|over_budget|budget_unknown|origin_floor
	Collapses         *prometheus.CounterVec // distribution
	Paused            *prometheus.GaugeVec   // distribution
	BilledPaths       *prometheus.CounterVec // distribution
	EstimatedCost     *prometheus.GaugeVec   // distribution
	InProgress        *prometheus.GaugeVec   // distribution, kind=file|wildcard
	CompletionLatency prometheus.Histogram

	Settled       *prometheus.CounterVec // by: own|fleet|other|arrival
	Deferred      prometheus.Counter
	MaxHoldFloor  *prometheus.CounterVec // distribution
	MonthPaths    *prometheus.GaugeVec   // distribution
	MonthUnsized  *prometheus.GaugeVec   // distribution
	SpendExact    *prometheus.GaugeVec   // distribution
	BudgetState   *prometheus.GaugeVec   // distribution
	ViewAge       *prometheus.GaugeVec   // distribution
	CloudFrontAPI *prometheus.CounterVec // operation, outcome

	// MessageAgeAtDelete: SentTimestamp → the successful DeleteMessageBatch
	// entry, by reason (ReasonSettled, ReasonDeadLettered).
	MessageAgeAtDelete *prometheus.HistogramVec
}

// How a message was settled (label "by" of invalidator_messages_settled_total).
const (
	SettledOwn     = "own"     // an invalidation this process submitted
	SettledFleet   = "fleet"   // another process of this worker (a replica, or before a restart)
	SettledOther   = "other"   // a person's or another tool's invalidation
	SettledArrival = "arrival" // covered already when it arrived
)

// Reasons of a delete (label "reason" of invalidator_message_age_at_delete_seconds).
const (
	// ReasonSettled: the pipeline was done with the message — CloudFront
	// accepted invalidations covering all its paths, or it was ignorable.
	ReasonSettled = "settled"
	// ReasonDeadLettered: deleted after its copy reached the dead-letter queue.
	ReasonDeadLettered = "dead_lettered"
)

// MessageAgeBuckets span 0.1 s (a short window on an idle queue) to 12 h
// (SQS's cap on keeping a received message invisible), denser around the
// 1 s–15 min windows the worker allows.
var MessageAgeBuckets = []float64{0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 10800, 21600, 43200}

// New creates the collectors and registers them (plus the Go and process
// collectors) on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Received: prometheus.NewCounter(prometheus.CounterOpts{Name: "invalidator_messages_received_total",
			Help: "SQS messages received (redeliveries of a message already held are not counted)."}),
		Deleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "invalidator_messages_deleted_total",
			Help: "SQS messages deleted: after CloudFront accepted invalidations covering all their paths, after being dead-lettered, or as ignorable events."}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invalidator_messages_dead_lettered_total",
			Help: "Messages (or rejected parts of messages) sent to the dead-letter queue, by reason code."}, []string{"reason"}),
		Ignored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invalidator_messages_ignored_total",
			Help: "Messages deleted without an invalidation because they carry nothing to do (e.g. s3:TestEvent)."}, []string{"reason"}),
		PoisonKept: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invalidator_poison_kept_total",
			Help: "Poison messages left on the queue because no dead-letter queue is configured or reachable, by reason code."}, []string{"reason"}),
		PathsIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "invalidator_paths_in_total",
			Help: "Valid paths and cache tags decoded from messages, before deduplication."}),
		PathsSubmitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "invalidator_paths_submitted_total",
			Help: "Paths in invalidations CloudFront accepted (what is billed)."}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invalidator_invalidation_requests_total",
			Help: "CreateInvalidation calls by outcome (after the SDK's own retries)."}, []string{"outcome"}),
		Held: prometheus.NewGauge(prometheus.GaugeOpts{Name: "invalidator_messages_held",
			Help: "Messages received and not yet deleted, dead-lettered or released (their visibility is being extended)."}),
		BatchAge: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "invalidator_batch_age_seconds",
			Help:    "Age of a distribution's batch (since its first path) when it was flushed.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900, 3600}}),
		SubmitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "invalidator_submit_latency_seconds",
			Help:    "CreateInvalidation call latency including the SDK's retries.",
			Buckets: prometheus.DefBuckets}),
		SQSErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invalidator_sqs_errors_total",
			Help: "Failed SQS calls and failed batch entries, by operation."}, []string{"operation"}),
		VisibilityExtends: prometheus.NewCounter(prometheus.CounterOpts{Name: "invalidator_visibility_extensions_total",
			Help: "Visibility timeout extensions of held messages (entries, not calls)."}),
		Released: prometheus.NewCounter(prometheus.CounterOpts{Name: "invalidator_messages_released_total",
			Help: "Held messages made visible again at shutdown (visibility 0) for another worker to take."}),
		HeldPaths: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invalidator_paths_held_total",
			Help: "Paths held back instead of submitted, by reason (quota: no headroom; quota_refused: TooManyInvalidationsInProgress; paused; over_budget)."}, []string{"reason"}),
		Collapses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invalidator_collapses_total",
			Help: "Requests reduced with wildcards to fit CloudFront's in-progress headroom or a budget."}, []string{"distribution"}),
		Paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "invalidator_paused",
			Help: "1 while submissions for the distribution are paused (by an operator, for it or for all)."}, []string{"distribution"}),
		BilledPaths: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invalidator_billed_paths_total",
			Help: "Paths in accepted invalidations (a wildcard is one path), by distribution."}, []string{"distribution"}),
		EstimatedCost: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "invalidator_estimated_cost_usd",
			Help: "Estimated invalidation cost this calendar month (UTC) after the free tier, by distribution: its pro-rata share, from CloudFront's history of every invalidation this month (see invalidator_month_spend_exact)."}, []string{"distribution"}),
		InProgress: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "invalidator_in_progress_paths",
			Help: "Paths in progress per distribution as last seen (own submissions and CloudFront's list), by kind (file, wildcard)."}, []string{"distribution", "kind"}),
		CompletionLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "invalidator_completion_latency_seconds",
			Help:    "Time from one of this process's invalidations' creation until the view saw it Completed (resolution: view_refresh).",
			Buckets: []float64{1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 900, 3600}}),
		Settled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invalidator_messages_settled_total",
			Help: "Messages whose every item was covered by invalidations created after they were sent, by whose invalidation settled the last item: own, fleet (another process of this worker), other (a person or tool), arrival (covered when it arrived)."}, []string{"by"}),
		Deferred: prometheus.NewCounter(prometheus.CounterOpts{Name: "invalidator_items_deferred_total",
			Help: "Items left out of a flush because an invalidation created within the last window covers them for other messages and only messages not yet due want them."}),
		MaxHoldFloor: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invalidator_max_hold_floor_total",
			Help: "Requests past max_hold that stayed (partly) held because a broader wildcard would cross collapse_min_depth."}, []string{"distribution"}),
		MonthPaths: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "invalidator_month_paths",
			Help: "Paths billed this calendar month (UTC) by the distribution's invalidations whose size is known, whoever made them, from CloudFront's history."}, []string{"distribution"}),
		MonthUnsized: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "invalidator_month_invalidations_unsized",
			Help: "Invalidations of this month whose size is not fetched yet (each counted as the largest possible by budgets)."}, []string{"distribution"}),
		SpendExact: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "invalidator_month_spend_exact",
			Help: "1 when this month's history is fully known (listed back to the month's start, every invalidation sized), 0 while it is being rebuilt or was cut at the scan bound."}, []string{"distribution"}),
		BudgetState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "invalidator_budget_state",
			Help: "Where the distribution stands against the budgets that apply: 0 under, 1 near (80%), 2 over, 3 unknown (history not known yet)."}, []string{"distribution"}),
		ViewAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "invalidator_view_age_seconds",
			Help: "Age of the CloudFront view of the distribution (since its last successful refresh began)."}, []string{"distribution"}),
		CloudFrontAPI: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invalidator_cloudfront_reads_total",
			Help: "ListInvalidations and GetInvalidation calls of the CloudFront view, by operation and outcome (ok, error)."}, []string{"operation", "outcome"}),
		MessageAgeAtDelete: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "invalidator_message_age_at_delete_seconds",
			Help:    "Age of a message when SQS confirmed its delete: from its SentTimestamp to the successful DeleteMessageBatch entry, by reason (settled: covered by accepted invalidations or ignorable; dead_lettered).",
			Buckets: MessageAgeBuckets}, []string{"reason"}),
	}
	reg.MustRegister(m.MessageAgeAtDelete)
	reg.MustRegister(m.HeldPaths, m.Collapses, m.Paused, m.BilledPaths, m.EstimatedCost, m.InProgress, m.CompletionLatency,
		m.Settled, m.Deferred, m.MaxHoldFloor, m.MonthPaths, m.MonthUnsized, m.SpendExact, m.BudgetState, m.ViewAge, m.CloudFrontAPI)
	for _, by := range []string{SettledOwn, SettledFleet, SettledOther, SettledArrival} {
		m.Settled.WithLabelValues(by)
	}
	reg.MustRegister(m.Received, m.Deleted, m.DeadLettered, m.Ignored, m.PoisonKept, m.PathsIn, m.PathsSubmitted,
		m.Requests, m.Held, m.BatchAge, m.SubmitLatency, m.SQSErrors, m.VisibilityExtends, m.Released,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{OutcomeAccepted, OutcomeTransient, OutcomeQuota, OutcomePermanent, OutcomeSplit} {
		m.Requests.WithLabelValues(o) // export zeros so rate() and alerts work from the start
	}
	for _, r := range []string{ReasonSettled, ReasonDeadLettered} {
		m.MessageAgeAtDelete.WithLabelValues(r)
	}
	return m
}

// NewUnregistered returns metrics on a private registry, for tests.
func NewUnregistered() *Metrics { return New(prometheus.NewRegistry()) }
