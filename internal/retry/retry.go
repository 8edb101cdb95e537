// Package retry computes backoff delays with full jitter ("Exponential
// Backoff And Jitter", AWS Architecture Blog): a random delay in
// [0, min(max, base·2^attempt)], so many holders of the same error spread out
// instead of retrying in lockstep.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is an exponential backoff policy with full jitter.
type Backoff struct {
	Base, Max time.Duration
	// Rand returns a float in [0,1); nil means math/rand/v2.
	Rand func() float64
}

// Delay returns the wait before retry number attempt (0-based). It is never
// below Base/2, so a tight loop of failures cannot become a hot loop.
func (b Backoff) Delay(attempt int) time.Duration {
	ceil := b.Base
	for i := 0; i < attempt && ceil < b.Max; i++ {
		ceil *= 2
	}
	if ceil > b.Max {
		ceil = b.Max
	}
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	floor := b.Base / 2
	return floor + time.Duration(r()*float64(ceil-floor))
}

// Sleep waits for d or until ctx ends; it reports whether the full delay
// passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
