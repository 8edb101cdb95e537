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
}

// New creates the collectors and registers them (plus the Go and process
// collectors) on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Received: prometheus.NewCounter(prometheus.CounterOpts{Name: "invalidator_messages_received_total",
			Help: "SQS messages received (redeliveries of a message already held are not counted)."}),
		Deleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "invalidator_messages_deleted_total",
			Help: "SQS messages deleted after CloudFront accepted invalidations covering all their paths (or ignorable events)."}),
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
	}
	reg.MustRegister(m.Received, m.Deleted, m.DeadLettered, m.Ignored, m.PoisonKept, m.PathsIn, m.PathsSubmitted,
		m.Requests, m.Held, m.BatchAge, m.SubmitLatency, m.SQSErrors, m.VisibilityExtends, m.Released,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{OutcomeAccepted, OutcomeTransient, OutcomeQuota, OutcomePermanent} {
		m.Requests.WithLabelValues(o) // export zeros so rate() and alerts work from the start
	}
	return m
}

// NewUnregistered returns metrics on a private registry, for tests.
func NewUnregistered() *Metrics { return New(prometheus.NewRegistry()) }
