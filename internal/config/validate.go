package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acme/cf-invalidator/internal/message"
)

// Bounds of the numeric keys, each with the limit it obeys.
const (
	// A batch holds its messages for the window; 15 m is far past any useful
	// latency and keeps window + backoff + submission well inside SQS's 12 h
	// cap on a message's total hold.
	maxWindow = 15 * time.Minute

	// What is still held after the grace is released (visibility 0), not
	// lost. Orchestrators kill far sooner: Kubernetes' terminationGracePeriod
	// defaults to 30 s, ECS stopTimeout is at most 120 s.
	maxShutdownGrace = 15 * time.Minute

	// Each poller is one ReceiveMessage long poll (≤ 10 messages, ≤ 20 s);
	// 64 of them is 640 messages a round, past what one worker should hold.
	minPollers, maxPollers = 1, 64

	// SQS VisibilityTimeout is whole seconds in 0..43,200 (12 h). Below 10 s
	// the heartbeat (at half the timeout) calls ChangeMessageVisibilityBatch
	// every few seconds and one slow call lets held messages reappear.
	minVisibility, maxVisibility = 10 * time.Second, 12 * time.Hour

	// One ReceiveMessage returns up to 10 messages; a standard queue allows
	// about 120,000 in-flight messages (more and ReceiveMessage fails with
	// OverLimit).
	minHeld, maxHeld = 10, 120_000

	// CreateInvalidation is rate-limited to about 0.5 request/s per account
	// (unofficial); more calls in flight only earn Throttling.
	minSubmit, maxSubmit = 1, 16

	// Backoff for Throttling, 5xx and TooManyInvalidationsInProgress: at
	// least 1 s; at most 1 h, so a held message is retried many times within
	// SQS's 12 h hold cap.
	minBackoff, maxBackoff = time.Second, time.Hour

	// An SQS body is at most 1 MiB; at ≥ 6 bytes a JSON path ("/a", plus a
	// byte) 100,000 paths is about what fits. CloudFront allows 3,000 file
	// paths in progress per distribution, so such a message is spread over
	// many invalidations.
	minPaths, maxPaths = 1, 100_000

	// CloudFront allows 3,000 file paths and 15 wildcard paths in progress
	// per distribution; the reserve must leave the worker at least one of
	// each.
	maxReserveFiles, maxReserveWildcards = 2999, 14

	// CloudFront's view: a refresh is a ListInvalidations call (plus a
	// GetInvalidation per invalidation someone else made). Every 1 s is the
	// politest busy cadence; past 5 m it is no live view. Reads are paced
	// per process; CloudFront documents no rate for them, 100/s is far past
	// polite.
	maxViewMaxAge                  = 5 * time.Minute
	minViewRefresh, maxViewRefresh = time.Second, 5 * time.Minute
	maxViewIdleRefresh             = time.Hour
	minReadRate, maxReadRate       = 0.1, 100

	// Clocks of SQS (SentTimestamp) and CloudFront (CreateTime) are synced
	// to well under a second; a margin of minutes would only re-bill.
	maxSkew = 5 * time.Minute
	// The random delay before a flush; it adds to every message's latency.
	maxJitter = time.Minute
	// collapse_min_depth: a path has far fewer levels than this.
	maxMinDepth = 32
	// origin_lag waits before invalidating; past an hour a producer should
	// enqueue later instead.
	maxOriginLag = time.Hour

	// max_hold forces a coarser reduction; it must leave room under SQS's
	// 12 h cap on a message's visibility for the submission itself.
	minMaxHold, maxMaxHold = time.Minute, 11 * time.Hour

	// CloudFront's free tier is 1,000 paths a month per account.
	maxFreePaths = 1_000_000

	// collapse_above: CloudFront allows 3,000 file paths in progress per
	// distribution, so no submission holds more and a higher threshold would
	// never be reached.
	maxCollapseAbove = 3000
)

// CloudFront distribution ids are upper-case letters and digits
// (EDFDVBD6EXAMPLE); the API model allows no more than 128 characters.
var distributionID = regexp.MustCompile(`^[A-Z0-9]{1,128}$`)

var logLevels = []string{"debug", "info", "warn", "error"}

// Validate checks every key. The error joins all problems, one line each,
// named by key: "config: pollers: must be between 1 and 64, got 100".
func (c Config) Validate() error {
	return errors.Join(c.problems()...)
}

func (c Config) problems() []error {
	errs := c.queueProblems()
	errs = append(errs, c.laneProblems()...)
	errs = append(errs,
		positiveDuration("window", c.Window, maxWindow),
		checkHTTPAddr(c.HTTPAddr),
		durationIn("shutdown_grace", c.ShutdownGrace, 0, maxShutdownGrace),
		intIn("pollers", c.Pollers, minPollers, maxPollers),
		checkVisibility(c.VisibilityTimeout),
		intIn("max_held", c.MaxHeld, minHeld, maxHeld),
		intIn("submit_concurrency", c.SubmitConcurrency, minSubmit, maxSubmit),
		durationIn("retry_max_backoff", c.RetryMaxBackoff, minBackoff, maxBackoff),
		intIn("max_paths_per_message", c.MaxPathsPerMessage, minPaths, maxPaths),
		checkLogLevel(c.LogLevel),
		intIn("quota_reserve_files", c.QuotaReserveFiles, 0, maxReserveFiles),
		intIn("quota_reserve_wildcards", c.QuotaReserveWildcards, 0, maxReserveWildcards),
		durationIn("view_max_age", c.ViewMaxAge, 0, maxViewMaxAge),
		durationIn("view_refresh", c.ViewRefresh, minViewRefresh, maxViewRefresh),
		durationIn("view_idle_refresh", c.ViewIdleRefresh, max(c.ViewRefresh, minViewRefresh), maxViewIdleRefresh),
		floatIn("cloudfront_read_rate", c.CloudFrontReadRate, minReadRate, maxReadRate),
		durationIn("clock_skew_margin", c.ClockSkewMargin, 0, maxSkew),
		durationIn("flush_jitter", c.FlushJitter, 0, maxJitter),
		durationIn("max_hold", c.MaxHold, minMaxHold, maxMaxHold),
		intIn("free_paths_per_month", c.FreePathsPerMonth, 0, maxFreePaths),
		nonNegative("monthly_budget_usd", c.MonthlyBudgetUSD),
		optionalURL("completion_queue_url", c.CompletionQueueURL),
		optionalARN("completion_topic_arn", c.CompletionTopicARN),
	)
	errs = append(errs, c.distributionProblems()...)
	return slices.DeleteFunc(errs, func(err error) bool { return err == nil })
}

// queueProblems checks the queues: the queue_url shorthand or the queues
// list, never both.
func (c Config) queueProblems() []error {
	switch {
	case len(c.Queues) > 0 && c.QueueURL != "":
		return []error{problemf("queues", "set together with queue_url: give queue_url (with dead_letter_queue_url and pollers) for one queue, or queues for several, not both (check INVALIDATOR_QUEUE_URL and INVALIDATOR_QUEUES too)")}
	case len(c.Queues) > 0:
		return c.queueListProblems()
	case c.QueueURL == "":
		return []error{problemf("queue_url", "required (or queues, to read several)")}
	}
	errs := []error{checkQueueURL("queue_url", c.QueueURL)}
	if c.DeadLetterQueueURL == "" {
		return errs // the worker reads the queue's RedrivePolicy instead
	}
	errs = append(errs, checkQueueURL("dead_letter_queue_url", c.DeadLetterQueueURL))
	if c.DeadLetterQueueURL == c.QueueURL {
		errs = append(errs, problemf("dead_letter_queue_url",
			"must differ from queue_url (poison messages would come straight back)"))
	}
	return errs
}

// queueListProblems checks each entry of queues: a URL read once, a known
// lane, a poller count, and a dead-letter queue that is no queue the
// worker reads (poison would come straight back).
func (c Config) queueListProblems() []error {
	var errs []error
	if c.DeadLetterQueueURL != "" {
		errs = append(errs, problemf("dead_letter_queue_url",
			"belongs to the queue_url shorthand; with queues, set each queue's dead_letter_queue_url (queues[0].dead_letter_queue_url)"))
	}
	read := map[string]string{} // url → key where it is read
	for i, q := range c.Queues {
		key := fmt.Sprintf("queues[%d]", i)
		if err := checkQueueURL(key+".url", q.URL); err != nil {
			errs = append(errs, err)
		} else if first, dup := read[q.URL]; dup {
			errs = append(errs, problemf(key+".url", "duplicate %q (also %s): a queue is read once", q.URL, first))
		} else {
			read[q.URL] = key + ".url"
		}
		if q.Lane != "" && !slices.Contains(LaneNames, q.Lane) {
			errs = append(errs, problemf(key+".lane", "must be %s (default %s), got %q", strings.Join(LaneNames, " or "), LaneLive, q.Lane))
		}
		if q.Pollers != 0 {
			errs = append(errs, intIn(key+".pollers", q.Pollers, minPollers, maxPollers))
		}
	}
	for i, q := range c.Queues {
		if q.DeadLetterQueueURL == "" {
			continue
		}
		key := fmt.Sprintf("queues[%d].dead_letter_queue_url", i)
		if err := checkQueueURL(key, q.DeadLetterQueueURL); err != nil {
			errs = append(errs, err)
			continue
		}
		switch other, isRead := read[q.DeadLetterQueueURL]; {
		case q.DeadLetterQueueURL == q.URL:
			errs = append(errs, problemf(key, "must differ from queues[%d].url (poison messages would come straight back)", i))
		case isRead:
			errs = append(errs, problemf(key, "is %s, a queue the worker reads (poison messages would come straight back)", other))
		}
	}
	return errs
}

// laneProblems checks each lane's settings; windows are bounded like window.
func (c Config) laneProblems() []error {
	var errs []error
	for _, l := range []struct {
		name string
		lane Lane
	}{{LaneLive, c.Lanes.Live}, {LaneBulk, c.Lanes.Bulk}} {
		key := "lanes." + l.name
		if l.lane.Window != 0 {
			errs = append(errs, positiveDuration(key+".window", l.lane.Window, maxWindow))
		}
		errs = append(errs, intIn(key+".collapse_above", l.lane.CollapseAbove, 0, maxCollapseAbove))
	}
	return errs
}

func checkQueueURL(key, s string) error {
	if s == "" {
		return problemf(key, "required")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return problemf(key, "must be an http(s) queue URL like "+
			"https://sqs.us-east-1.amazonaws.com/123456789012/invalidations, got %q", s)
	}
	return nil
}

func checkHTTPAddr(addr string) error {
	if addr == "" {
		return nil // disabled
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		return problemf("http_addr", `must be host:port like 127.0.0.1:9090 (or "" to disable), got %q`, addr)
	}
	return nil
}

func checkVisibility(d time.Duration) error {
	if err := durationIn("visibility_timeout", d, minVisibility, maxVisibility); err != nil {
		return err
	}
	if d%time.Second != 0 {
		return problemf("visibility_timeout", "must be whole seconds (SQS counts it in seconds), got %s", fmtDuration(d))
	}
	return nil
}

func checkLogLevel(level string) error {
	if slices.Contains(logLevels, level) {
		return nil
	}
	return problemf("log_level", "must be one of %s, got %q", strings.Join(logLevels, ", "), level)
}

func (c Config) distributionProblems() []error {
	if len(c.Distributions) == 0 && len(c.Tenants) == 0 && !c.AllowAllDistributions {
		return []error{problemf("distributions",
			"empty allow-list (list distributions or tenants, or set allow_all_distributions: true on purpose)")}
	}
	var errs []error
	seen := map[string]string{} // id or alias → key where it first appeared
	for i, d := range c.Distributions {
		errs = append(errs, d.problems(fmt.Sprintf("distributions[%d]", i), seen)...)
	}
	for i, t := range c.Tenants {
		errs = append(errs, t.problems(fmt.Sprintf("tenants[%d]", i), seen)...)
	}
	return errs
}

// problems checks one tenant. Its id and aliases share seen with the
// distributions': a message's "distribution" may name any of them.
// allow_all_distributions never covers tenants, so every tenant a message
// may name is listed here.
func (t Tenant) problems(key string, seen map[string]string) []error {
	errs := []error{checkTenantID(key+".id", t.ID), unique(seen, key+".id", t.ID)}
	for j, alias := range t.Aliases {
		k := fmt.Sprintf("%s.aliases[%d]", key, j)
		if strings.TrimSpace(alias) == "" {
			errs = append(errs, problemf(k, "must not be empty"))
			continue
		}
		errs = append(errs, unique(seen, k, alias))
	}
	if t.Distribution == "" {
		errs = append(errs, problemf(key+".distribution", "required (the id of the tenant's multi-tenant distribution)"))
	} else {
		errs = append(errs, checkID(key+".distribution", t.Distribution))
	}
	return errs
}

// checkTenantID applies message.TenantIDProblem, which cites the limits: the
// API model gives a tenant id only as a non-empty string, the API Reference
// bounds it to 1-64 characters, and the worker needs it to be one URI path
// segment that is not shaped like a distribution id.
func checkTenantID(key, id string) error {
	if id == "" {
		return problemf(key, "required")
	}
	if p := message.TenantIDProblem(id); p != "" {
		return problemf(key, "not a distribution tenant id (1-64 characters like dt_2wjDZi3hD1ivOXf6rpZJO1AB): %s, got %q", p, id)
	}
	return nil
}

// problems checks one allow-list entry. Ids and aliases share seen: a
// message's "distribution" may name either, so each must name one entry.
func (d Distribution) problems(key string, seen map[string]string) []error {
	errs := []error{checkID(key+".id", d.ID), unique(seen, key+".id", d.ID)}
	for j, alias := range d.Aliases {
		k := fmt.Sprintf("%s.aliases[%d]", key, j)
		if strings.TrimSpace(alias) == "" {
			errs = append(errs, problemf(k, "must not be empty"))
			continue
		}
		errs = append(errs, unique(seen, k, alias))
	}
	for j, s := range d.S3 {
		errs = append(errs, s.problems(fmt.Sprintf("%s.s3[%d]", key, j))...)
	}
	if d.Collapse != "" && d.Collapse != CollapseAuto && d.Collapse != CollapseNever {
		errs = append(errs, problemf(key+".collapse", "must be %q or %q, got %q", CollapseAuto, CollapseNever, d.Collapse))
	}
	errs = append(errs, intIn(key+".collapse_min_paths", d.CollapseMinPaths, 0, maxPaths),
		nonNegative(key+".monthly_budget_usd", d.MonthlyBudgetUSD))
	if d.MaxHold != 0 {
		errs = append(errs, durationIn(key+".max_hold", d.MaxHold, minMaxHold, maxMaxHold))
	}
	if d.CollapseMinDepth != nil {
		errs = append(errs, intIn(key+".collapse_min_depth", *d.CollapseMinDepth, 0, maxMinDepth))
	}
	errs = append(errs, durationIn(key+".origin_lag", d.OriginLag, 0, maxOriginLag))
	return errs
}

func checkID(key, id string) error {
	switch {
	case id == "":
		return problemf(key, "required")
	case !distributionID.MatchString(id):
		return problemf(key, "must be a CloudFront distribution id (1-128 upper-case letters and digits, like EDFDVBD6EXAMPLE), got %q", id)
	}
	return nil
}

func unique(seen map[string]string, key, name string) error {
	if name == "" {
		return nil // reported as required
	}
	if first, dup := seen[name]; dup {
		return problemf(key, "duplicate %q (also %s)", name, first)
	}
	seen[name] = key
	return nil
}

// problems checks an S3 mapping; origin_path follows CloudFront's rule for
// OriginPath: it begins with a slash and does not end with one.
func (s S3Source) problems(key string) []error {
	var errs []error
	if s.Bucket == "" {
		errs = append(errs, problemf(key+".bucket", "required"))
	}
	if s.OriginPath != "" && (!strings.HasPrefix(s.OriginPath, "/") || strings.HasSuffix(s.OriginPath, "/")) {
		errs = append(errs, problemf(key+".origin_path", `must start with "/" and not end with "/" (CloudFront OriginPath), got %q`, s.OriginPath))
	}
	return errs
}

func positiveDuration(key string, d, hi time.Duration) error {
	if d <= 0 || d > hi {
		return problemf(key, "must be more than 0 and at most %s, got %s", fmtDuration(hi), fmtDuration(d))
	}
	return nil
}

func durationIn(key string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return problemf(key, "must be between %s and %s, got %s", fmtDuration(lo), fmtDuration(hi), fmtDuration(d))
	}
	return nil
}

func intIn(key string, n, lo, hi int) error {
	if n < lo || n > hi {
		return problemf(key, "must be between %d and %d, got %d", lo, hi, n)
	}
	return nil
}

// fmtDuration writes 12h and 2m rather than 12h0m0s and 2m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func floatIn(key string, v, lo, hi float64) error {
	if v < lo || v > hi {
		return problemf(key, "must be between %v and %v, got %v", lo, hi, v)
	}
	return nil
}

func nonNegative(key string, v float64) error {
	if v < 0 {
		return problemf(key, "must not be negative, got %v", v)
	}
	return nil
}

func optionalURL(key, s string) error {
	if s == "" {
		return nil
	}
	return checkQueueURL(key, s)
}

// optionalARN checks an SNS topic ARN: arn:PARTITION:sns:REGION:ACCOUNT:NAME.
func optionalARN(key, s string) error {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sns" {
		return problemf(key, "must be an SNS topic ARN like arn:aws:sns:us-east-1:123456789012:cache-cleared, got %q", s)
	}
	return nil
}
