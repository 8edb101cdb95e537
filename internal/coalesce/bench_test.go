package coalesce

import (
	"fmt"
	"testing"
)

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
