package cfsim

import (
	"math"
	"time"
)

// tokenBucket limits CreateInvalidation the way CloudFront's account-wide
// rate limit appears to (about 0.5 requests/s sustained, with bursts; not
// documented): a request takes a token, tokens refill at rate per second up
// to burst. Time comes from the Server's clock, so tests need no sleeps.
type tokenBucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int, now time.Time) *tokenBucket {
	if burst <= 0 {
		burst = max(1, int(math.Ceil(rate)))
	}
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// take reports whether a request at now may pass, and if so spends a token.
func (b *tokenBucket) take(now time.Time) bool {
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
