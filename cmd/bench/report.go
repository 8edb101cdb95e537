package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"time"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

func (r result) print(w io.Writer) {
	o := r.o
	emulator := "fauxqs"
	if o.fauxqsInflightFix {
		emulator = "fauxqs (-fauxqs-inflight-fix: no walk over in-flight messages on each receive)"
	}
	fmt.Fprintf(w, "\ncf-invalidator bench: %s + cfsim on loopback, %d CPUs, load average %s at the start, %s at the end, %s in all\n",
		emulator, runtime.NumCPU(), r.load[0], r.load[1], r.took.Round(time.Second))
	fmt.Fprintf(w, "workload: %d distribution(s), %d path(s) a message from %d posts each, every %d-th message a duplicate; %d pollers\n",
		o.distributions, o.pathsPerMessage, o.postsPerDist, o.dupEvery, o.pollers)
	r.printThroughput(w)
	r.printLatency(w)
	r.printMemory(w)
	fmt.Fprintf(w, "\nreproduce: make build && %s\n", o.reproduce())
	fmt.Fprintln(w, "targets: worker/bare >= 0.90, cpu ratio <= 1.30, latency p99 <= window + 1 s, <= 1024 bytes per held message")
	fmt.Fprintln(w)
	if r.bare != nil && r.worker != nil {
		fmt.Fprintf(w, "cpu ratio: %.2f\n", float64(r.worker.cpuPer1k())/float64(r.bare.cpuPer1k()))
	}
	if r.latency != nil {
		fmt.Fprintf(w, "latency p99: %.2f s (window %s)\n", r.latency.stats.p99.Seconds(), o.window)
	}
	if r.memory != nil {
		fmt.Fprintf(w, "bytes per held message: %.0f\n", r.memory.perMessageRSS())
	}
	if r.bare != nil && r.worker != nil {
		fmt.Fprintf(w, "worker/bare ratio: %.2f\n", r.worker.mid.rate()/r.bare.mid.rate())
	}
}

func (r result) printThroughput(w io.Writer) {
	o := r.o
	var ds []*drain
	for _, d := range []*drain{r.bare, r.held, r.worker} {
		if d != nil {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return
	}
	fmt.Fprintf(w, "\n1. throughput: %d messages each, about %d kept visible until all are sent; rate between the samples at %.0f%% and %.0f%%\n"+
		"   of deletes (queue depth every %s); each consumer a process of its own\n\n",
		o.n, o.depth, o.rateFrom*100, o.rateTo*100, o.sampleEvery)
	row := func(name string, f func(d *drain) string) {
		fmt.Fprintf(w, "  %-34s", name)
		for _, d := range ds {
			fmt.Fprintf(w, " %16s", f(d))
		}
		fmt.Fprintln(w)
	}
	row("", func(d *drain) string { return d.name })
	row("deletes", func(d *drain) string {
		if d.window == 0 {
			return "at once"
		}
		return "after window " + d.window.String()
	})
	row("msgs/s, middle of the drain", func(d *drain) string { return fmt.Sprintf("%.0f", d.mid.rate()) })
	row("  middle from → to", func(d *drain) string {
		return fmt.Sprintf("%.1f→%.1fs", d.mid.first.at.Seconds(), d.mid.last.at.Seconds())
	})
	row("  visible during it (min–max)", func(d *drain) string { return fmt.Sprintf("%d–%d", d.midDepth[0], d.midDepth[1]) })
	row("msgs/s, whole drain", func(d *drain) string { return fmt.Sprintf("%.0f", rate(d.n, d.elapsed)) })
	row("drain (start → queue empty)", func(d *drain) string { return secs(d.elapsed) })
	row("first delete seen", func(d *drain) string { return secs(d.firstDelete) })
	row("peak in flight (sampled)", func(d *drain) string { return strconv.Itoa(d.peakInFlight) })
	row("consumer CPU (user+sys, rusage)", func(d *drain) string { return secs(d.cpu) })
	row("consumer CPU per 1k messages", func(d *drain) string { return ms(d.cpuPer1k()) })
	row("consumer peak RSS", func(d *drain) string { return fmt.Sprintf("%.1f MiB", float64(d.maxRSSKiB)/1024) })
	row("fauxqs CPU per 1k messages", func(d *drain) string { return ms(d.fauxqsCPU * 1000 / time.Duration(d.n)) })
	row("fauxqs busy (of one core)", func(d *drain) string {
		return fmt.Sprintf("%.0f%%", 100*d.fauxqsCPU.Seconds()/d.elapsed.Seconds())
	})
	row("harness CPU (feeder, sampler)", func(d *drain) string { return secs(d.harnessCPU) })
	row("(first -depth sent, not measured)", func(d *drain) string { return secs(d.prefill) })
	for _, d := range ds {
		if d.starved() {
			fmt.Fprintf(w, "  WARNING: %s: the queue ran dry during the middle span: that rate is the feeder's, not the consumer's (raise -depth)\n", d.name)
		}
	}
	if wd := r.worker; wd != nil {
		c := r.cf
		fmt.Fprintf(w, "\n  worker: %.0f deleted by its own metric; %d paths in the messages, %d distinct; "+
			"%d CreateInvalidation requests, %d invalidations, %d paths billed\n",
			wd.deletedMetric, c.pathsSent, c.distinctPaths, c.createCalls, c.invalidations, c.pathsBilled)
	}
}

func (r result) printLatency(w io.Writer) {
	l := r.latency
	if l == nil {
		return
	}
	fmt.Fprintf(w, "\n2. latency: open-loop producer, %d msgs/s for %s (%d messages, at worst %s behind schedule); window %s;\n"+
		"   per message from SentTimestamp to the DeleteMessageBatch answer that deleted it (recording SQS proxy)\n\n",
		l.rate, l.duration, l.sent, ms(l.maxLag), r.o.window)
	fmt.Fprintf(w, "  %-34s %16d\n", "messages deleted", l.stats.n)
	fmt.Fprintf(w, "  %-34s %16s\n", "p50", secs(l.stats.p50))
	fmt.Fprintf(w, "  %-34s %16s\n", "p99", secs(l.stats.p99))
	fmt.Fprintf(w, "  %-34s %16s\n", "max", secs(l.stats.max))
	switch {
	case l.histErr != "":
		fmt.Fprintf(w, "  %-34s %16s\n", "worker's "+ageMetric, "n/a: "+l.histErr)
	default:
		p99 := "≤ +Inf"
		if !math.IsInf(l.histP99, 1) {
			p99 = fmt.Sprintf("≤ %gs", l.histP99)
		}
		fmt.Fprintf(w, "  %-34s %16s\n", "worker's histogram: count", fmt.Sprintf("%.0f", l.histCount))
		fmt.Fprintf(w, "  %-34s %16s\n", "worker's histogram: p99 bucket", p99)
	}
	per1k := func(op string) float64 { return float64(l.ops[op]) * 1000 / float64(max(l.stats.n, 1)) }
	fmt.Fprintf(w, "  %-34s %16s\n", "SQS calls per 1k messages", fmt.Sprintf("%.0f recv, %.0f del", per1k("ReceiveMessage"), per1k("DeleteMessageBatch")))
	fmt.Fprintf(w, "  %-34s %16s\n", "worker CPU per 1k messages", ms(l.cpu*1000/time.Duration(max(l.sent, 1))))
	if c := per1k("ChangeMessageVisibilityBatch"); c > 0 {
		fmt.Fprintf(w, "  %-34s %16.0f\n", "  visibility changes per 1k", c)
	}
	if l.noSentTS > 0 || l.missing > 0 {
		fmt.Fprintf(w, "  note: %d received without SentTimestamp (producer's send time used), %d with no send time at all (left out)\n",
			l.noSentTS, l.missing)
	}
	for _, p := range l.problems {
		fmt.Fprintf(w, "  proxy could not read: %s\n", p)
	}
}

func (r result) printMemory(w io.Writer) {
	m := r.memory
	if m == nil {
		return
	}
	mib := func(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
	fmt.Fprintf(w, "\n3. memory: the worker holds %d messages in open batches (window %s); each reading after a forced GC\n\n", m.hold, m.window)
	fmt.Fprintf(w, "  %-34s %16s %16s\n", "", "VmRSS", "live heap")
	fmt.Fprintf(w, "  %-34s %16s %16s\n", "before", mib(float64(m.rssBefore)), mib(m.heapBefore))
	fmt.Fprintf(w, "  %-34s %16s %16s\n", "holding", mib(float64(m.rssAfter)), mib(m.heapAfter))
	fmt.Fprintf(w, "  %-34s %16.0f %16.0f\n", "bytes per held message", m.perMessageRSS(), m.perMessageHeap())
	held := "n/a"
	if m.heldMetric >= 0 {
		held = fmt.Sprintf("%.0f", m.heldMetric)
	}
	fmt.Fprintf(w, "  %-34s %16s\n", "invalidator_messages_held", held)
	fmt.Fprintf(w, "  %-34s %16s\n", "peak RSS", mib(float64(m.peakRSSKiB)*1024))
	fmt.Fprintf(w, "  %-34s %16s\n", "send + receive", secs(m.receiveTook))
}
