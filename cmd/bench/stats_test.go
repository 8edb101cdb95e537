package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func sec(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// steady: 1,000 deleted per second from t=2 s, sampled every 100 ms.
func steady() []sample {
	var s []sample
	for i := 0; i <= 140; i++ {
		at := sec(float64(i) / 10)
		d := 0
		if at > 2*time.Second {
			d = min(int((at-2*time.Second).Seconds()*1000+0.5), 10000)
		}
		s = append(s, sample{at, d})
	}
	return s
}

func TestMiddleSpanSteadyRate(t *testing.T) {
	sp, err := middleSpan(steady(), 10000, 0.2, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	if got := sp.rate(); math.Abs(got-1000) > 1 {
		t.Errorf("rate %.1f, want 1000", got)
	}
	// 20 % = 2,000 deleted at t=4 s; 80 % at t=10 s: start-up (2 s) and
	// the tail are outside the span.
	if sp.first.at != 4*time.Second || sp.last.at != 10*time.Second {
		t.Errorf("span %s → %s, want 4s → 10s", sp.first.at, sp.last.at)
	}
}

// A worker deletes in waves: 1,000 messages every 1 s, all at once, after
// a first window of 3 s. The rate over whole waves is 1,000/s wherever the
// percentiles fall; dividing 60 % of n by the time between the crossings
// would not be.
func TestMiddleSpanWavesCountsWholeWaves(t *testing.T) {
	var s []sample
	for i := 0; i <= 200; i++ {
		at := sec(float64(i) / 20) // every 50 ms
		waves := 0
		if at >= 3*time.Second {
			waves = int((at-3*time.Second)/time.Second) + 1
		}
		s = append(s, sample{at, min(waves*1000, 7500)})
	}
	sp, err := middleSpan(s, 7500, 0.2, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	// 20 % (1,500) is first reached by the wave at 4 s (2,000), 80 %
	// (6,000) by the wave at 8 s: 4 waves in 4 s.
	if sp.first.at != 4*time.Second || sp.last.at != 8*time.Second {
		t.Errorf("span %s → %s, want 4s → 8s", sp.first.at, sp.last.at)
	}
	if got := sp.rate(); got != 1000 {
		t.Errorf("rate %.1f, want exactly 1000 (whole waves over their period)", got)
	}
	if naive := 0.6 * 7500 / (sp.last.at - sp.first.at).Seconds(); naive == 1000 {
		t.Fatalf("test data does not tell the methods apart")
	}
}

func TestMiddleSpanErrors(t *testing.T) {
	tests := []struct {
		name    string
		samples []sample
		n       int
		want    string
	}{
		{"never reaches 80%", []sample{{0, 0}, {sec(1), 500}, {sec(2), 700}}, 1000, "never reached 80%"},
		{"one jump", []sample{{0, 0}, {sec(1), 1000}}, 1000, "fall in one sample"},
		{"out of order", []sample{{sec(1), 0}, {0, 500}}, 1000, "out of time order"},
		{"empty", nil, 1000, "never reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := middleSpan(tt.samples, tt.n, 0.2, 0.8)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := middleSpan(steady(), 10000, 0.8, 0.2); err == nil {
		t.Error("from > to accepted")
	}
}

func TestSummarise(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	st := summarise(lat)
	if st.n != 100 || st.p50 != 50*time.Millisecond || st.p99 != 99*time.Millisecond || st.max != 100*time.Millisecond {
		t.Errorf("got %+v, want n 100, p50 50ms, p99 99ms, max 100ms", st)
	}
	if lat[0] != 100*time.Millisecond {
		t.Error("summarise sorted its input in place")
	}
	if st := summarise(nil); st.n != 0 || st.p99 != 0 || st.max != 0 {
		t.Errorf("empty: %+v", st)
	}
	if got := quantile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("quantile of one value: %v", got)
	}
}

const agePage = `# HELP invalidator_message_age_at_delete_seconds x
# TYPE invalidator_message_age_at_delete_seconds histogram
invalidator_message_age_at_delete_seconds_bucket{reason="dead_lettered",le="0.5"} 5
invalidator_message_age_at_delete_seconds_bucket{reason="dead_lettered",le="1"} 5
invalidator_message_age_at_delete_seconds_bucket{reason="dead_lettered",le="+Inf"} 5
invalidator_message_age_at_delete_seconds_sum{reason="dead_lettered"} 0.1
invalidator_message_age_at_delete_seconds_count{reason="dead_lettered"} 5
invalidator_message_age_at_delete_seconds_bucket{reason="settled",le="0.5"} 40
invalidator_message_age_at_delete_seconds_bucket{reason="settled",le="1"} 98
invalidator_message_age_at_delete_seconds_bucket{reason="settled",le="+Inf"} 100
invalidator_message_age_at_delete_seconds_count{reason="settled"} 100
invalidator_messages_deleted_total 105
`

func TestHistogramBuckets(t *testing.T) {
	bs, err := histogramBuckets(agePage, ageMetric, `reason="settled"`)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 3 || bs[0] != (bucket{0.5, 40}) || bs[1] != (bucket{1, 98}) || !math.IsInf(bs[2].le, 1) || bs[2].count != 100 {
		t.Fatalf("settled buckets %+v", bs)
	}
	// 99 of 100 are first reached in the +Inf bucket.
	if le, n := bucketQuantile(bs, 0.99); !math.IsInf(le, 1) || n != 100 {
		t.Errorf("p99 bucket %v of %v, want +Inf of 100", le, n)
	}
	if le, _ := bucketQuantile(bs, 0.98); le != 1 {
		t.Errorf("p98 bucket %v, want 1", le)
	}
	all, err := histogramBuckets(agePage, ageMetric)
	if err != nil {
		t.Fatal(err)
	}
	if all[0].count != 45 || all[2].count != 105 {
		t.Errorf("summed over reasons: %+v", all)
	}
	if _, err := histogramBuckets(agePage, "no_such_metric"); err == nil {
		t.Error("missing histogram not reported")
	}
	if v, err := metricValue(agePage, "invalidator_messages_deleted_total"); err != nil || v != 105 {
		t.Errorf("metricValue = %v, %v", v, err)
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with a space and a ')' in it, as /proc allows.
	stat := "4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0 123 456 789"
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3250 * time.Millisecond; got != want { // (250 + 75) ticks of 10 ms
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := parseStatCPU("4242 (short) S 1 2"); err == nil {
		t.Error("short line accepted")
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tworker\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nThreads:\t7\n"
	got, err := parseVmRSS(strings.NewReader(status))
	if err != nil || got != 12345*1024 {
		t.Errorf("got %d, %v; want %d", got, err, 12345*1024)
	}
	if _, err := parseVmRSS(strings.NewReader("Name:\tx\n")); err == nil {
		t.Error("missing VmRSS accepted")
	}
	if _, err := parseVmRSS(strings.NewReader("VmRSS:\t12 MB\n")); err == nil {
		t.Error("unknown unit accepted")
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-n", "5000", "-phases", "worker,bare,worker", "-window", "250ms"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.phases) != 2 || !o.has(phaseBare) || !o.has(phaseWorker) || o.has(phaseMemory) {
		t.Errorf("phases %v", o.phases)
	}
	if got, want := o.reproduce(), "go run ./cmd/bench -worker bin/worker -n=5000 -phases=worker,bare,worker -window=250ms"; got != want {
		t.Errorf("reproduce:\n got %s\nwant %s", got, want)
	}
	_, err = parseFlags([]string{"-phases", "bare,nope", "-rate-from", "0.9", "-hold", "200000", "-hold-posts", "2000"})
	for _, want := range []string{`unknown phase "nope"`, "-rate-from 0.9", "-hold 200000", "-hold-posts 2000"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to mention %q", err, want)
		}
	}
}

// The feeder keeps at most depth messages queued: what the last sample saw
// visible plus what it has started sending since.
func TestFeederRoom(t *testing.T) {
	f := &feeder{depth: 100}
	f.lastVisible.Store(60)
	if !f.room(40) || f.room(41) {
		t.Fatalf("60 visible of 100: room(40) %v, room(41) %v; want true, false", f.room(40), f.room(41))
	}
	f.started.Add(30) // sent since that sample
	if !f.room(10) || f.room(11) {
		t.Fatalf("60 visible + 30 sent: room(10) %v, room(11) %v; want true, false", f.room(10), f.room(11))
	}
	f.lastVisible.Store(0) // a new sample: the consumer took everything
	f.startedAtSample.Store(f.started.Load())
	if !f.room(100) || f.room(101) {
		t.Fatalf("after an empty sample: room(100) %v, room(101) %v; want true, false", f.room(100), f.room(101))
	}
}
