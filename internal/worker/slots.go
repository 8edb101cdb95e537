package worker

import (
	"context"
	"sync"
)

// slots bound the CreateInvalidation calls in flight (submit_concurrency)
// and give a freed slot to live work before bulk work: the account's
// request rate (about 0.5 CreateInvalidation a second) goes to live work
// first.
type slots struct {
	mu   sync.Mutex
	free int
	wait [2][]chan struct{} // waiters: [0] live, [1] bulk
}

func newSlots(n int) *slots { return &slots{free: n} }

// acquire waits for a slot; false when ctx ends first.
func (s *slots) acquire(ctx context.Context, bulk bool) bool {
	s.mu.Lock()
	lane := 0
	if bulk {
		lane = 1
	}
	if s.free > 0 && (lane == 0 || len(s.wait[0]) == 0) {
		s.free--
		s.mu.Unlock()
		return true
	}
	ch := make(chan struct{})
	s.wait[lane] = append(s.wait[lane], ch)
	s.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, c := range s.wait[lane] {
			if c == ch {
				s.wait[lane] = append(s.wait[lane][:i], s.wait[lane][i+1:]...)
				return false
			}
		}
		// Handed a slot just as ctx ended: give it back.
		s.releaseLocked()
		return false
	}
}

// release frees a slot, to the first live waiter, else the first bulk one.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked()
}

func (s *slots) releaseLocked() {
	for lane := range s.wait {
		if q := s.wait[lane]; len(q) > 0 {
			s.wait[lane] = q[1:]
			close(q[0])
			return
		}
	}
	s.free++
}
