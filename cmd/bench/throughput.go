package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// drain is one consumer draining a backlog.
type drain struct {
	name          string
	n             int
	hold          time.Duration // the held loop's delete delay
	send          time.Duration // filling the queue (not measured)
	samples       []sample
	elapsed       time.Duration // consumer start → the first sample with all n deleted
	firstDelete   time.Duration // consumer start → the first sample with any deleted
	mid           span
	peakInFlight  int
	cpu           time.Duration // the consumer process's user+system time, start to exit
	maxRSSKiB     int64
	fauxqsCPU     time.Duration // fauxqs's user+system time from the consumer's start to the drain's end
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
	return nil
}

// bareDrain fills a queue and drains it with the bare loop in a child
// process (hold > 0: the held variant).
func (h *harness) bareDrain(ctx context.Context, name, queueName string, hold time.Duration) (*drain, error) {
	d := &drain{name: name, n: h.o.n, hold: hold}
	bodies, _, _ := workload(h.o, h.ids, h.o.n)
	queue, took, err := h.fill(ctx, name, queueName, bodies)
	if err != nil {
		return nil, err
	}
	d.send = took
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	profile := ""
	if hold == 0 {
		profile = h.o.bareCPUProfile
	}
	progress("%s: %d pollers receiving and deleting (delete delay %s)", name, h.o.pollers, hold)
	fq0 := procCPU(h.fauxqs.cmd.Process.Pid)
	begin := time.Now()
	child, err := start(name, filepath.Join(h.dir, strings.ReplaceAll(name, " ", "-")+".log"), nil,
		append([]string{exe}, bareChildArgs(h.sqsURL, queue, h.o.n, h.o.pollers, hold, profile)...)...)
	if err != nil {
		return nil, err
	}
	h.cleanups = append(h.cleanups, child.kill)
	d.samples, d.peakInFlight, err = sampleDrain(ctx, h.sqs, queue, d.n, h.o.sampleEvery, begin, child)
	d.fauxqsCPU = procCPU(h.fauxqs.cmd.Process.Pid) - fq0
	if err != nil {
		return nil, fmt.Errorf("%s: %w; last log lines:\n%s", name, err, child.tail(10))
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

// workerDrain fills a queue and drains it with the worker.
func (h *harness) workerDrain(ctx context.Context, cf *cfStats) (*drain, error) {
	const name = "worker"
	d := &drain{name: name, n: h.o.n}
	var bodies []string
	bodies, cf.pathsSent, cf.distinctPaths = workload(h.o, h.ids, h.o.n)
	queue, took, err := h.fill(ctx, name, "bench-worker", bodies)
	if err != nil {
		return nil, err
	}
	d.send = took
	progress("worker: running %s (pollers %d, window %s)", h.workerBin, h.o.pollers, h.o.window)
	fq0 := procCPU(h.fauxqs.cmd.Process.Pid)
	begin := time.Now()
	w, port, err := h.startWorker(ctx, name, queue, h.sqsURL,
		"INVALIDATOR_DEBUG_PPROF="+strconv.FormatBool(h.o.cpuProfile != ""))
	if err != nil {
		return nil, err
	}
	profiled := make(chan error, 1)
	if h.o.cpuProfile != "" {
		go func() { profiled <- profile(ctx, port, h.o.cpuProfileSeconds, h.o.cpuProfile) }()
	} else {
		profiled <- nil
	}
	d.samples, d.peakInFlight, err = sampleDrain(ctx, h.sqs, queue, d.n, h.o.sampleEvery, begin, w)
	d.fauxqsCPU = procCPU(h.fauxqs.cmd.Process.Pid) - fq0
	if err != nil {
		return nil, fmt.Errorf("worker: %w; last log lines:\n%s", err, w.tail(20))
	}
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	if d.deletedMetric, err = waitDeletedMetric(ctx, metrics, float64(d.n)); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	if err := <-profiled; err != nil {
		return nil, fmt.Errorf("worker: cpu profile: %w", err)
	}
	if err := h.stopWorker(ctx, w); err != nil {
		return nil, err
	}
	d.cpu, d.maxRSSKiB = rusage(w)
	return d, d.finish(h.o)
}

// sampleDrain reads the queue's depth every `every` until all n messages
// are deleted (deleted = n − visible − in flight), and returns the samples
// (offsets from begin) and the most messages seen in flight. It fails when
// p exits first or ctx ends.
func sampleDrain(ctx context.Context, c *sqs.Client, queue string, n int, every time.Duration, begin time.Time, p *proc) ([]sample, int, error) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	samples := make([]sample, 0, 1024)
	peak := 0
	lastReport := begin
	for {
		exited := p.exited() // before the read: a clean exit is seen with its final depth
		visible, inFlight, err := queueDepth(ctx, c, queue)
		if err != nil {
			return samples, peak, err
		}
		now := time.Since(begin)
		samples = append(samples, sample{at: now, deleted: n - visible - inFlight})
		peak = max(peak, inFlight)
		if visible == 0 && inFlight == 0 {
			return samples, peak, nil
		}
		if exited {
			return samples, peak, fmt.Errorf("%s exited (%s) with %d visible, %d in flight", p.name, p.cmd.ProcessState, visible, inFlight)
		}
		if now-lastReport.Sub(begin) >= 5*time.Second {
			lastReport = time.Now()
			progress("%s: %s, %d visible, %d in flight", p.name, now.Round(time.Second), visible, inFlight)
		}
		select {
		case <-ctx.Done():
			return samples, peak, fmt.Errorf("queue not drained (%d visible, %d in flight): %w", visible, inFlight, ctx.Err())
		case <-tick.C:
		}
	}
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
