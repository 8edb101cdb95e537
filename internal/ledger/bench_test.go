package ledger

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/coalesce"
)

// benchItems are a CMS-like site's items: posts under sections, shared
// listing pages and tags.
func benchItems(n int) [][]string {
	out := make([][]string, n)
	for i := range out {
		out[i] = []string{
			fmt.Sprintf("/section-%03d/article-%07d.html", i%300, i),
			fmt.Sprintf("/section-%03d/", i%300),
			"/",
		}
	}
	return out
}

// BenchmarkAdd measures items taken into the ledger per second (three a
// message, two of them shared with other messages) and the heap held per
// message.
func BenchmarkAdd(b *testing.B) {
	items := benchItems(1 << 16)
	ids := make([]string, len(items))
	for i := range ids {
		ids[i] = fmt.Sprintf("%08d-0000-4000-8000-%012d", i, i)
	}
	now := time.Now()
	l := New(Options{Window: time.Hour, Skew: time.Second, Now: func() time.Time { return now }})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(items)
		id := ids[k]
		if i >= len(items) {
			id = fmt.Sprintf("%s-%d", ids[k], i/len(items))
		}
		l.Add(Message{ID: id, Sent: now, Received: now, Targets: []Target{{ID: "E1", Items: items[k]}}})
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N*3)/b.Elapsed().Seconds(), "items/s")
	if held := l.Held(); held > 0 {
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(held), "B/msg")
	}
}

// BenchmarkPlan measures planning a due window of 10,000 messages (30,000
// items, 10,300 distinct) and turning it into requests.
func BenchmarkPlan(b *testing.B) {
	items := benchItems(10000)
	now := time.Now()
	l := New(Options{Window: time.Second, Skew: time.Second, Now: func() time.Time { return now }})
	for i, it := range items {
		l.Add(Message{ID: fmt.Sprintf("m%d", i), Sent: now, Received: now.Add(-time.Minute), Targets: []Target{{ID: "E1", Items: it}}})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch := l.Plan("E1", false)
		coalesce.Plan("E1", batch.Items, batch.Owners, 0, 0)
	}
	b.ReportMetric(float64(len(items)*3*b.N)/b.Elapsed().Seconds(), "items/s")
}
