package coalesce

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkAdd measures paths added per second to one open group and the
// heap held per pending path (what max_held × paths per message costs).
func BenchmarkAdd(b *testing.B) {
	paths := make([]string, 1<<16)
	for i := range paths {
		paths[i] = fmt.Sprintf("/content/section-%03d/article-%06d.html", i%500, i)
	}
	c := New(Options{Window: time.Hour, MaxFiles: 1 << 30, MaxWildcards: 1 << 30, Flush: func(Batch) {}})
	defer c.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Add("E1", fmt.Sprintf("m%d", i/5), paths[i%len(paths):i%len(paths)+1])
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	_, pending := c.Pending()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "paths/s")
	if pending > 0 {
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(pending), "B/pending-path")
	}
}

// BenchmarkPlan measures turning a full window (10k messages, 30k paths with
// wildcards) into requests.
func BenchmarkPlan(b *testing.B) {
	owners := map[string][]int{}
	msgs := make([]string, 10000)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("m%d", i)
		for j := range 3 {
			owners[fmt.Sprintf("/s%03d/p%06d-%d.html", i%300, i, j)] = []int{i}
		}
		if i%1000 == 0 {
			owners[fmt.Sprintf("/s%03d/*", i%300)] = []int{i}
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plan("E1", owners, msgs, MaxFilePathsPerRequest, MaxWildcardsPerRequest)
	}
	b.ReportMetric(float64(len(owners)*b.N)/b.Elapsed().Seconds(), "paths/s")
}
