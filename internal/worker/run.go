package worker

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Lifecycle is the part of the consumer Run needs besides settling messages.
type Lifecycle interface {
	WaitPollers()
	WaitBackground()
	Held() int
	ReleaseAll(ctx context.Context) int
}

// Shutdown settles what it can and releases the rest, after the pollers
// stopped receiving: flush every open batch now, wait up to grace for
// acceptance and deletes, then stop submitting, stop the heartbeat and
// deleters (cancelBg), and make whatever is still held visible again.
func (w *Worker) Shutdown(c Lifecycle, grace time.Duration, cancelBg context.CancelFunc) (released int) {
	start := time.Now()
	c.WaitPollers()
	flushed := w.co.FlushAll()
	w.log.Info("shutting down: receiving stopped, open batches flushed", zap.Int("batches", flushed),
		zap.Int("pending_messages", w.Pending()), zap.Int("held_messages", c.Held()), zap.Duration("grace", grace))
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for w.Pending() > 0 || c.Held() > 0 {
		select {
		case <-deadline.C:
			break wait
		case <-w.changed:
		case <-tick.C: // deletes finishing in the consumer
		}
	}
	w.cancel() // stop CreateInvalidation calls and their retries
	w.subs.Wait()
	w.co.Close()
	cancelBg()
	c.WaitBackground()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	released = c.ReleaseAll(ctx)
	w.log.Info("shutdown complete", zap.Int("released", released), zap.Duration("took", time.Since(start)))
	return released
}
