package main

// Memory per held message. The worker runs with a window longer than the
// phase (-hold-window, 10m) so nothing flushes: every message it receives
// stays in the consumer's ledger and an open batch. Its VmRSS is read
// before the messages are sent and once it holds all of them, each time
// right after a forced garbage collection (net/http/pprof's heap?gc=1 runs
// runtime.GC, which also finishes sweeping). That removes the garbage of
// the moment but not the runtime's headroom: Go keeps freed heap mapped
// until its background scavenger returns it, and with GOGC=100 the heap may
// reach twice the live size between collections, so RSS growth is what an
// operator provisions for, and the live heap after the collection
// (go_memstats_heap_alloc_bytes) is the floor. Both are shown; the key line
// is RSS, as asked. The worker runs with default runtime settings (no
// GOGC/GOMEMLIMIT/GODEBUG): the number is meant for production sizing.
//
// visibility_timeout is set to the window, so the heartbeat (which extends
// a message once less than half of its visibility is left) stays idle while
// we measure: its transient batches would be noise, not held memory.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// memoryResult is the memory phase's outcome.
type memoryResult struct {
	hold                  int
	window                time.Duration
	rssBefore, rssAfter   int64 // bytes
	heapBefore, heapAfter float64
	heldMetric            float64 // invalidator_messages_held at the end; -1 when absent
	receiveTook           time.Duration
	peakRSSKiB            int64
}

func (m *memoryResult) perMessageRSS() float64 {
	return float64(m.rssAfter-m.rssBefore) / float64(m.hold)
}

func (m *memoryResult) perMessageHeap() float64 {
	return (m.heapAfter - m.heapBefore) / float64(m.hold)
}

func (h *harness) memoryPhase(ctx context.Context) (*memoryResult, error) {
	const name = "worker-memory"
	o := h.o
	mr := &memoryResult{hold: o.hold, window: o.holdWindow, heldMetric: -1}
	queue, err := createQueue(ctx, h.sqs, "bench-memory")
	if err != nil {
		return nil, err
	}
	// Only ever killed: its 100,000 messages are of no further use.
	defer func() {
		_, _ = h.sqs.DeleteQueue(context.WithoutCancel(ctx), &sqs.DeleteQueueInput{QueueUrl: aws.String(queue)})
	}()
	w, port, err := h.startWorker(ctx, name, queue, h.sqsURL,
		"INVALIDATOR_WINDOW="+o.holdWindow.String(),
		"INVALIDATOR_VISIBILITY_TIMEOUT="+o.holdWindow.String(),
		"INVALIDATOR_DEBUG_PPROF=true",
		"INVALIDATOR_DISTRIBUTIONS="+distributionsJSON(h.holdIDs))
	if err != nil {
		return nil, err
	}
	defer w.kill()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	pid := w.cmd.Process.Pid
	// Let start-up finish (the pollers' first long polls, the DLQ lookup).
	if !sleep(ctx, time.Second) {
		return nil, ctx.Err()
	}
	if mr.rssBefore, mr.heapBefore, err = settledMemory(ctx, base, pid, ""); err != nil {
		return nil, fmt.Errorf("%s: before: %w", name, err)
	}
	wo := o
	wo.postsPerDist = o.holdPosts
	bodies, _, _ := workload(wo, h.holdIDs, o.hold)
	begin := time.Now()
	progress("memory: sending %d messages", o.hold)
	if err := sendAll(ctx, h.sqs, queue, bodies, o.sendConcurrency); err != nil {
		return nil, fmt.Errorf("%s: send: %w", name, err)
	}
	progress("memory: waiting for the worker to hold %d messages (window %s)", o.hold, o.holdWindow)
	var visible, inFlight int
	err = waitFor(ctx, 3*time.Minute, func() bool {
		visible, inFlight, err = queueDepth(ctx, h.sqs, queue)
		return err == nil && visible == 0 && inFlight == o.hold
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %d visible, %d in flight, want 0 and %d: %w; last log lines:\n%s",
			name, visible, inFlight, o.hold, err, w.tail(20))
	}
	mr.receiveTook = time.Since(begin)
	// The worker may still be decoding the last batches it received.
	_ = waitFor(ctx, 10*time.Second, func() bool {
		v, err := scrape(ctx, base+"/metrics", "invalidator_messages_held")
		mr.heldMetric = v
		if err != nil {
			mr.heldMetric = -1
			return true
		}
		return int(v) >= o.hold
	})
	if !sleep(ctx, time.Second) {
		return nil, ctx.Err()
	}
	if mr.rssAfter, mr.heapAfter, err = settledMemory(ctx, base, pid, o.heapProfile); err != nil {
		return nil, fmt.Errorf("%s: after: %w", name, err)
	}
	w.kill()
	_, mr.peakRSSKiB = rusage(w)
	return mr, nil
}

// settledMemory forces a GC in the worker, then returns its VmRSS and live
// heap; the heap profile that came with the GC is written to profilePath
// unless that is "".
func settledMemory(ctx context.Context, base string, pid int, profilePath string) (rss int64, heap float64, err error) {
	if err := forceGC(ctx, base, profilePath); err != nil {
		return 0, 0, err
	}
	if rss, err = vmRSS(pid); err != nil {
		return 0, 0, err
	}
	heap, err = scrape(ctx, base+"/metrics", "go_memstats_heap_alloc_bytes")
	return rss, heap, err
}

// forceGC asks the worker's debug_pprof for a heap profile with gc=1,
// which runs runtime.GC first, and writes the profile to profilePath
// unless that is "".
func forceGC(ctx context.Context, base, profilePath string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("force GC: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("force GC: %s: HTTP %s (does the worker honour debug_pprof?)", req.URL, resp.Status)
	}
	if profilePath == "" {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	f, err := os.Create(profilePath)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// vmRSS returns a process's resident set size from /proc/PID/status.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmRSS(f)
}

// parseVmRSS reads the "VmRSS:  1234 kB" line of a /proc/PID/status.
func parseVmRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unreadable VmRSS line %q", sc.Text())
		}
		kib, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS: %w", err)
		}
		return kib * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmRSS line")
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}
