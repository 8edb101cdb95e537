package consumer

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func testCounter(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// testHistogram returns a histogram's observation count and sum.
func testHistogram(h prometheus.Observer) (count uint64, sum float64) {
	var m dto.Metric
	if err := h.(prometheus.Metric).Write(&m); err != nil {
		return 0, -1
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}
