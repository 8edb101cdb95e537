package e2e

import (
	"slices"
	"sync"
	"time"
)

// Sample is a value of a metric and when it was known to be reached (just
// after the scrape returned).
type Sample struct {
	At    time.Time
	Value float64
}

// Sampler scrapes one series of a worker in the background.
type Sampler struct {
	mu      sync.Mutex
	samples []Sample
	stop    chan struct{}
	wg      sync.WaitGroup
}

// SampleMetric scrapes series from w every `every` until Stop.
func SampleMetric(w *Worker, series string, every time.Duration) *Sampler {
	s := &Sampler{stop: make(chan struct{})}
	s.wg.Go(func() {
		for {
			if m, err := w.Scrape(); err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, Sample{time.Now(), m[series]})
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-time.After(every):
			}
		}
	})
	return s
}

// Stop ends the sampling and returns every sample, oldest first.
func (s *Sampler) Stop() []Sample {
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples)
}
