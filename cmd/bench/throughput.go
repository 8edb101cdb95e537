package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// drain is one consumer draining a standing backlog.
type drain struct {
	name          string
	n             int
	window        time.Duration // the windowed loop's or the worker's window; 0 for the bare loop
	prefill       time.Duration // sending the first -depth messages (not measured)
	samples       []sample
	depths        []int         // visible messages at each sample
	elapsed       time.Duration // consumer start → the first sample with all n deleted
	firstDelete   time.Duration // consumer start → the first sample with any deleted
	mid           span
	midDepth      [2]int // fewest and most visible during the middle span
	peakInFlight  int
	cpu           time.Duration // the consumer process's user+system time, start to exit
	maxRSSKiB     int64
	fauxqsCPU     time.Duration // fauxqs's user+system time from the consumer's start to the drain's end
	harnessCPU    time.Duration // this process's (the feeder's, the sampler's) over the same time
	deletedMetric float64       // the worker's invalidator_messages_deleted_total
}

func (d *drain) cpuPer1k() time.Duration { return d.cpu * 1000 / time.Duration(d.n) }

// finish computes what the samples say.
func (d *drain) finish(o options) error {
	last := d.samples[len(d.samples)-1]
	d.elapsed = last.at
	for _, s := range d.samples {
		if s.deleted > 0 {
			d.firstDelete = s.at
			break
		}
	}
	var err error
	d.mid, err = middleSpan(d.samples, d.n, o.rateFrom, o.rateTo)
	if err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	d.midDepth = [2]int{math.MaxInt, 0}
	for i, s := range d.samples {
		if s.at >= d.mid.first.at && s.at <= d.mid.last.at {
			d.midDepth = [2]int{min(d.midDepth[0], d.depths[i]), max(d.midDepth[1], d.depths[i])}
		}
	}
	return nil
}

// starved reports whether the queue ran dry during the middle span: then
// the rate is the feeder's, not the consumer's.
func (d *drain) starved() bool { return d.midDepth[0] == 0 }

// bareDrain drains a standing backlog with the bare loop in a child process
// (window > 0: the windowed variant).
func (h *harness) bareDrain(ctx context.Context, name, queueName string, window time.Duration) (*drain, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	profile := ""
	if window == 0 {
		profile = h.o.bareCPUProfile
	}
	d := &drain{name: name, n: h.o.n, window: window}
	var child *proc
	startConsumer := func(queue string) (*proc, error) {
		progress("%s: %d pollers receiving and deleting (window %s)", name, h.o.pollers, window)
		var err error
		child, err = start(name, filepath.Join(h.dir, strings.ReplaceAll(name, " ", "-")+".log"), nil,
			append([]string{exe}, bareChildArgs(h.sqsURL, queue, h.o.n, h.o.pollers, window, profile)...)...)
		if err == nil {
			h.cleanups = append(h.cleanups, child.kill)
		}
		return child, err
	}
	if err := h.drain(ctx, d, queueName, startConsumer); err != nil {
		return nil, err
	}
	select {
	case <-child.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: waiting for the child to exit: %w", name, ctx.Err())
	}
	if code := child.cmd.ProcessState.ExitCode(); code != 0 {
		return nil, fmt.Errorf("%s: exited with status %d; last log lines:\n%s", name, code, child.tail(10))
	}
	d.cpu, d.maxRSSKiB = rusage(child)
	return d, d.finish(h.o)
}

// workerDrain drains a standing backlog with the worker.
func (h *harness) workerDrain(ctx context.Context, cf *cfStats) (*drain, error) {
	const name = "worker"
	d := &drain{name: name, n: h.o.n, window: h.o.window}
	var w *proc
	var port int
	startConsumer := func(queue string) (*proc, error) {
		progress("worker: running %s (pollers %d, window %s)", h.workerBin, h.o.pollers, h.o.window)
		var err error
		w, port, err = h.startWorker(ctx, name, queue, h.sqsURL,
			"INVALIDATOR_DEBUG_PPROF="+strconv.FormatBool(h.o.cpuProfile != "" || h.o.allocProfile != ""))
		return w, err
	}
	profiled := make(chan error, 1)
	started := func() {
		if h.o.cpuProfile == "" {
			profiled <- nil
			return
		}
		url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", port, h.o.cpuProfileSeconds)
		go func() { profiled <- fetchProfile(ctx, url, h.o.cpuProfile) }()
	}
	_, cf.pathsSent, cf.distinctPaths = workload(h.o, h.ids, h.o.n)
	if err := h.drain(ctx, d, "bench-worker", startConsumer, started); err != nil {
		return nil, err
	}
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	var err error
	if d.deletedMetric, err = waitDeletedMetric(ctx, metrics, float64(d.n)); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	if err := <-profiled; err != nil {
		return nil, fmt.Errorf("worker: cpu profile: %w", err)
	}
	if h.o.allocProfile != "" {
		url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/allocs", port)
		if err := fetchProfile(ctx, url, h.o.allocProfile); err != nil {
			return nil, fmt.Errorf("worker: allocation profile: %w", err)
		}
	}
	if err := h.stopWorker(ctx, w); err != nil {
		return nil, err
	}
	d.cpu, d.maxRSSKiB = rusage(w)
	return d, d.finish(h.o)
}

// drain runs one throughput measurement: it sends the first -depth of n
// messages (not measured), starts the consumer, and from then on keeps
// about -depth messages visible until all n were sent, sampling the queue
// every -sample until the consumer has deleted all n.
//
// Why a standing backlog rather than n messages sent up front: fauxqs's
// receive costs grow with the number of visible messages (measured: its
// CPU per 1,000 messages received and deleted by the bare loop is 31 ms
// from a backlog of 20,000 and 90 ms from one of 200,000), so a large
// backlog makes the emulator the limit of every consumer alike and hides
// the consumer's own cost. Topping the queue up keeps the emulator's cost
// per message constant and the run as long as n requires. The feeder runs
// in this process, outside the consumer's rusage, the same for every
// consumer.
func (h *harness) drain(ctx context.Context, d *drain, queueName string, startConsumer func(queue string) (*proc, error), started ...func()) error {
	queue, err := createQueue(ctx, h.sqs, queueName)
	if err != nil {
		return err
	}
	bodies, _, _ := workload(h.o, h.ids, d.n)
	depth := min(h.o.depth, d.n)
	progress("%s: sending the first %d of %d messages", d.name, depth, d.n)
	if d.prefill, err = timed(func() error { return sendAll(ctx, h.sqs, queue, bodies[:depth], h.o.sendConcurrency) }); err != nil {
		return fmt.Errorf("%s: send: %w", d.name, err)
	}
	f := &feeder{depth: depth}
	f.acked.Store(int64(depth))
	fq0, self0 := procCPU(h.fauxqs.cmd.Process.Pid), selfCPU()
	begin := time.Now()
	p, err := startConsumer(queue)
	if err != nil {
		return err
	}
	for _, fn := range started {
		fn()
	}
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fed := make(chan error, 1)
	go func() { fed <- f.run(fctx, h.sqs, queue, bodies[depth:], h.o.sendConcurrency) }()
	d.samples, d.depths, d.peakInFlight, err = h.sample(fctx, queue, d.n, begin, p, f, fed)
	d.fauxqsCPU, d.harnessCPU = procCPU(h.fauxqs.cmd.Process.Pid)-fq0, selfCPU()-self0
	if err != nil {
		cancel(err)
		return fmt.Errorf("%s: %w; last log lines:\n%s", d.name, err, p.tail(20))
	}
	return nil
}

// feeder sends messages while fewer than depth are visible (by the last
// sample, plus what it has started sending since).
type feeder struct {
	depth           int
	acked           atomic.Int64 // messages SendMessageBatch confirmed
	started         atomic.Int64 // messages whose SendMessageBatch began
	lastVisible     atomic.Int64 // visible at the last sample
	startedAtSample atomic.Int64 // started when that sample was taken
}

func (f *feeder) room(k int) bool {
	queued := f.lastVisible.Load() + f.started.Load() - f.startedAtSample.Load()
	return queued+int64(k) <= int64(f.depth)
}

func (f *feeder) run(ctx context.Context, c *sqs.Client, queue string, bodies []string, concurrency int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	f.lastVisible.Store(int64(f.depth))
	batches := make(chan []string)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for b := range batches {
				if err := sendBatch(ctx, c, queue, b); err != nil {
					cancel(err)
				}
				f.acked.Add(int64(len(b)))
			}
		})
	}
feed:
	for i := 0; i < len(bodies); i += batchSize {
		b := bodies[i:min(i+batchSize, len(bodies))]
		for !f.room(len(b)) {
			select {
			case <-ctx.Done():
				break feed
			case <-time.After(2 * time.Millisecond):
			}
		}
		f.started.Add(int64(len(b)))
		select {
		case batches <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(batches)
	wg.Wait()
	return context.Cause(ctx)
}

// sample reads the queue's depth every -sample until all n messages were
// sent and none is left (deleted = confirmed sent − visible − in flight),
// and returns the samples (offsets from begin), the visible count of each,
// and the most messages seen in flight. It fails when p exits first, the
// feeder fails, or ctx ends.
func (h *harness) sample(ctx context.Context, queue string, n int, begin time.Time, p *proc, f *feeder, fed <-chan error) ([]sample, []int, int, error) {
	tick := time.NewTicker(h.o.sampleEvery)
	defer tick.Stop()
	samples, depths := make([]sample, 0, 1024), make([]int, 0, 1024)
	peak := 0
	lastReport := begin
	feeding := true
	for {
		exited := p.exited() // before the read: a clean exit is seen with its final depth
		if feeding {
			select {
			case err := <-fed:
				if err != nil {
					return samples, depths, peak, fmt.Errorf("feeder: %w", err)
				}
				feeding = false
			default:
			}
		}
		acked, started := f.acked.Load(), f.started.Load()
		visible, inFlight, err := queueDepth(ctx, h.sqs, queue)
		if err != nil {
			return samples, depths, peak, err
		}
		f.lastVisible.Store(int64(visible))
		f.startedAtSample.Store(started)
		now := time.Since(begin)
		samples = append(samples, sample{at: now, deleted: max(int(acked)-visible-inFlight, 0)})
		depths = append(depths, visible)
		peak = max(peak, inFlight)
		if !feeding && visible == 0 && inFlight == 0 {
			return samples, depths, peak, nil
		}
		if exited {
			return samples, depths, peak, fmt.Errorf("%s exited (%s) with %d visible, %d in flight", p.name, p.cmd.ProcessState, visible, inFlight)
		}
		if time.Since(lastReport) >= 5*time.Second {
			lastReport = time.Now()
			progress("%s: %s, %d of %d sent, %d visible, %d in flight", p.name, now.Round(time.Second), acked, n, visible, inFlight)
		}
		select {
		case <-ctx.Done():
			return samples, depths, peak, fmt.Errorf("queue not drained (%d visible, %d in flight): %w", visible, inFlight, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rusage returns an exited process's user+system time and peak RSS (KiB).
func rusage(p *proc) (time.Duration, int64) {
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Maxrss // KiB on Linux
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports (the kernel fixes it for user space).
const clockTicks = 100

// procCPU returns a running process's user+system time so far from
// /proc/PID/stat (fields 14 and 15), or 0 when unreadable.
func procCPU(pid int) time.Duration {
	d, _ := procStatCPU(pid)
	return d
}

func procStatCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime+stime from a /proc/PID/stat line. The command
// name (field 2) is in parentheses and may hold spaces, so fields are
// counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no ')'")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("/proc stat: too few fields")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}
