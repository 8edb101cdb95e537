package worker

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/consumer"
)

// Lifecycle is the part of the consumer Run and Shutdown drive.
type Lifecycle interface {
	Start(recvCtx, bgCtx context.Context, h consumer.Handler)
	Ready() <-chan struct{}
	StopReceiving()
	WaitPollers()
	WaitPollersFor(d time.Duration) bool
	WaitBackground()
	Held() int
	ReleaseAll(ctx context.Context) int
}

// Run runs the pipeline until ctx ends, then shuts down (see Shutdown); it
// is the one owner of shutdown. onReady is told when receiving starts and
// when shutdown begins.
func (w *Worker) Run(ctx context.Context, c Lifecycle, grace time.Duration, onReady func(bool)) (released int) {
	// Not derived from ctx: a signal stops new receives (StopReceiving) but
	// must not cancel a long poll under way — SQS would still deliver to it.
	recvCtx, cancelRecv := context.WithCancel(context.Background())
	defer cancelRecv()
	bgCtx, cancelBg := context.WithCancel(context.Background())
	defer cancelBg()
	var bg sync.WaitGroup
	bg.Go(func() { w.view.Run(bgCtx) })
	if w.o.Notifier != nil {
		bg.Go(func() { w.o.Notifier.Run(bgCtx) })
	}
	bg.Go(func() { w.exportLoop(bgCtx) })
	c.Start(recvCtx, bgCtx, w.Handle)
	w.st.started = time.Now()
	go func() {
		select {
		case <-c.Ready():
			w.st.ready.Store(true)
			if onReady != nil {
				onReady(true)
			}
			w.log.Info("receiving from SQS")
		case <-ctx.Done():
		}
	}()
	<-ctx.Done()
	w.st.ready.Store(false)
	if onReady != nil {
		onReady(false)
	}
	released = w.Shutdown(c, grace, cancelRecv, cancelBg)
	bg.Wait()
	return released
}

// pollDrain bounds the wait for long polls under way at shutdown: SQS's
// longest wait (20 s) and a margin.
const pollDrain = consumer.LongPoll + 5*time.Second

// Shutdown settles what it can and releases the rest: stop new receives,
// flush every open batch now, wait up to grace for acceptance and deletes,
// then stop submitting, stop the heartbeat and deleters (cancelBg), make
// whatever is still held visible again, and wait for the long polls under
// way (they give back what they take) before cancelling them (cancelRecv).
func (w *Worker) Shutdown(c Lifecycle, grace time.Duration, cancelRecv, cancelBg context.CancelFunc) (released int) {
	start := time.Now()
	c.StopReceiving()
	w.draining.Store(true)
	targets := w.led.Targets()
	for _, t := range targets {
		w.flush(t) // every held message counts as due now
	}
	w.log.Info("shutting down: receiving stopped, open batches flushed", zap.Int("distributions", len(targets)),
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
	w.sched.Close()
	w.mu.Lock()
	w.stopped = true // a flush under way starts no submission now
	w.mu.Unlock()
	w.subs.Wait()
	cancelBg()
	c.WaitBackground()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	released = c.ReleaseAll(ctx)
	// A long poll under way would take what was just released (SQS serves
	// a poll whose client went away) and strand it for a visibility
	// timeout. So after a release, let the polls finish: each returns the
	// messages it took to the pollers' release path, which frees them again
	// for the next — a few round trips. With nothing released there is
	// nothing of ours to take: cancel at once.
	if released == 0 || !c.WaitPollersFor(pollDrain) {
		cancelRecv()
		c.WaitPollers()
	}
	released += c.ReleaseAll(ctx) // handled by a poller that was mid-batch when receiving stopped
	w.log.Info("shutdown complete", zap.Int("released", released), zap.Duration("took", time.Since(start)))
	return released
}
