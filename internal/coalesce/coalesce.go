// Package coalesce decides when and how a target's (a distribution's)
// waiting items go to CloudFront: one flush timer per target, armed for the
// due time of its oldest waiting message plus a small random delay, and the
// turning of a flush's items into as few requests as CloudFront's limits
// allow (deduplicated, with paths a wildcard of the same batch covers
// dropped, chunked at 3,000 file paths and 15 wildcards; see Plan).
//
// What is waiting, and what is due, is the ledger's (internal/ledger) to
// say; this package holds no messages. It is pure logic plus timers from
// the time package, so tests drive it with testing/synctest; it knows
// nothing of SQS or CloudFront types.
//
// # Why a random delay
//
// Replicas on one queue whose batches open together would flush together,
// each before the others' invalidations are visible, and each pay for the
// pages they share. A delay drawn from [0, Jitter) before every flush makes
// one of them go first; the others look at CloudFront's list right before
// submitting (the worker refreshes its view) and find their shared items
// already covered. The delay adds at most Jitter to a message's latency.
package coalesce

import (
	"math/rand/v2"
	"sync"
	"time"
)

// SchedulerOptions configures a Scheduler.
type SchedulerOptions struct {
	// Jitter bounds the random delay added to every armed flush (0 = none).
	Jitter time.Duration
	// Rand returns a number in [0, 1) (math/rand/v2's Float64 by default).
	Rand func() float64
	// Flush is called on a timer goroutine when a target is due. Flushes of
	// one target never overlap; Flush may call Arm (typically with the
	// target's next due time).
	Flush func(target string)
}

// Scheduler keeps one flush timer per target.
type Scheduler struct {
	o SchedulerOptions

	mu     sync.Mutex
	slots  map[string]*slot
	closed bool
}

type slot struct {
	timer   *time.Timer
	due     time.Time // the time asked for, before the random delay; zero = not armed
	running bool
	again   time.Time // an Arm while running: armed when the flush returns
}

// NewScheduler returns a Scheduler; Flush must be set.
func NewScheduler(o SchedulerOptions) *Scheduler {
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return &Scheduler{o: o, slots: map[string]*slot{}}
}

// Arm makes sure target is flushed at due (plus the random delay), or
// earlier if it is armed for earlier already. A due time in the past
// flushes after the delay alone.
func (s *Scheduler) Arm(target string, due time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	sl := s.slots[target]
	if sl == nil {
		sl = &slot{}
		s.slots[target] = sl
	}
	if sl.running {
		if sl.again.IsZero() || due.Before(sl.again) {
			sl.again = due
		}
		return
	}
	s.armLocked(target, sl, due)
}

func (s *Scheduler) armLocked(target string, sl *slot, due time.Time) {
	if !sl.due.IsZero() && !due.Before(sl.due) {
		return // already armed for no later
	}
	sl.due = due
	d := time.Until(due)
	if s.o.Jitter > 0 {
		d += time.Duration(s.o.Rand() * float64(s.o.Jitter))
	}
	if sl.timer != nil {
		sl.timer.Stop()
	}
	sl.timer = time.AfterFunc(max(d, 0), func() { s.fire(target, sl) })
}

func (s *Scheduler) fire(target string, sl *slot) {
	s.mu.Lock()
	if s.closed || s.slots[target] != sl || sl.running || sl.due.IsZero() {
		s.mu.Unlock()
		return
	}
	sl.due, sl.running = time.Time{}, true
	s.mu.Unlock()

	s.o.Flush(target)

	s.mu.Lock()
	defer s.mu.Unlock()
	sl.running = false
	if again := sl.again; !again.IsZero() && !s.closed {
		sl.again = time.Time{}
		s.armLocked(target, sl, again)
	}
}

// Armed returns when target is due to be flushed (before the random delay)
// and whether it is armed at all; a flush under way counts as armed now.
func (s *Scheduler) Armed(target string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slots[target]
	switch {
	case sl == nil:
		return time.Time{}, false
	case sl.running:
		return time.Now(), true
	case sl.due.IsZero():
		return time.Time{}, false
	}
	return sl.due, true
}

// Close stops every timer; later Arms do nothing. A flush under way
// finishes.
func (s *Scheduler) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, sl := range s.slots {
		if sl.timer != nil {
			sl.timer.Stop()
		}
	}
}
