package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sample is one observation of a drain: at this offset from the consumer's
// start, this many of the backlog had been deleted.
type sample struct {
	at      time.Duration
	deleted int
}

// span is a drain's rate over its middle: from the first sample at which
// `from` of the backlog was deleted to the first at which `to` was.
type span struct {
	first, last sample
}

func (s span) rate() float64 { return rate(s.last.deleted-s.first.deleted, s.last.at-s.first.at) }

// middleSpan finds the span of samples (in time order) between the first
// one with at least from·n deleted and the first with at least to·n.
//
// The rate is taken between two samples and divided by what was actually
// deleted between them, not by (to-from)·n: a worker deletes in waves (one
// per window), and counting whole waves over the time between them keeps a
// wave that happens to straddle a percentile from biasing the rate. What
// is left out is the start (process start-up, the first window, during
// which nothing can be deleted) and the end (the last window's tail).
func middleSpan(samples []sample, n int, from, to float64) (span, error) {
	if n <= 0 || from < 0 || to > 1 || from >= to {
		return span{}, fmt.Errorf("middle span: bad bounds n=%d from=%g to=%g", n, from, to)
	}
	lo, hi := -1, -1
	for i, s := range samples {
		if i > 0 && s.at < samples[i-1].at {
			return span{}, errors.New("middle span: samples out of time order")
		}
		if lo < 0 && float64(s.deleted) >= from*float64(n) {
			lo = i
		}
		if float64(s.deleted) >= to*float64(n) {
			hi = i
			break
		}
	}
	switch {
	case lo < 0 || hi < 0:
		return span{}, fmt.Errorf("middle span: the drain never reached %.0f%% of %d", to*100, n)
	case samples[hi].at <= samples[lo].at || samples[hi].deleted <= samples[lo].deleted:
		return span{}, fmt.Errorf("middle span: %.0f%% and %.0f%% of the drain fall in one sample; sample more often or drain more messages",
			from*100, to*100)
	}
	return span{samples[lo], samples[hi]}, nil
}

// quantile returns the q-quantile of sorted (nearest rank: the smallest
// value with at least q of the values at or below it).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// latencyStats summarises per-message latencies.
type latencyStats struct {
	n             int
	p50, p99, max time.Duration
}

func summarise(lat []time.Duration) latencyStats {
	s := slices.Clone(lat)
	slices.Sort(s)
	st := latencyStats{n: len(s), p50: quantile(s, 0.50), p99: quantile(s, 0.99)}
	if len(s) > 0 {
		st.max = s[len(s)-1]
	}
	return st
}

// bucket is one cumulative histogram bucket of a Prometheus text page.
type bucket struct {
	le    float64 // upper bound; +Inf for the last
	count float64
}

// histogramBuckets reads the cumulative buckets of histogram name from a
// Prometheus text page, summed over the series whose labels contain every
// pair in match (e.g. `reason="settled"`), in increasing le order.
func histogramBuckets(page, name string, match ...string) ([]bucket, error) {
	byLE := map[float64]float64{}
	prefix := name + "_bucket{"
	for _, line := range strings.Split(page, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			return nil, fmt.Errorf("%s: unreadable line %q", name, line)
		}
		if !hasLabels(labels, match) {
			continue
		}
		le, err := leOf(labels)
		if err != nil {
			return nil, fmt.Errorf("%s: %w in %q", name, err, line)
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w in %q", name, err, line)
		}
		byLE[le] += v
	}
	if len(byLE) == 0 {
		return nil, fmt.Errorf("no %s buckets on the page", name)
	}
	out := make([]bucket, 0, len(byLE))
	for le, c := range byLE {
		out = append(out, bucket{le, c})
	}
	slices.SortFunc(out, func(a, b bucket) int {
		switch {
		case a.le < b.le:
			return -1
		case a.le > b.le:
			return 1
		}
		return 0
	})
	return out, nil
}

func hasLabels(labels string, match []string) bool {
	parts := strings.Split(labels, ",")
	for _, m := range match {
		if !slices.Contains(parts, m) {
			return false
		}
	}
	return true
}

func leOf(labels string) (float64, error) {
	for _, kv := range strings.Split(labels, ",") {
		if v, ok := strings.CutPrefix(kv, `le="`); ok {
			return strconv.ParseFloat(strings.TrimSuffix(v, `"`), 64) // accepts "+Inf"
		}
	}
	return 0, errors.New("no le label")
}

// bucketQuantile returns the upper bound of the bucket holding the
// q-quantile of a cumulative histogram, and the observation count.
func bucketQuantile(bs []bucket, q float64) (le, count float64) {
	if len(bs) == 0 {
		return math.NaN(), 0
	}
	count = bs[len(bs)-1].count
	for _, b := range bs {
		if b.count >= q*count && count > 0 {
			return b.le, count
		}
	}
	return math.Inf(1), count
}
