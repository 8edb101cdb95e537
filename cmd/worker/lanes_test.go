package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// The live lane under a bulk backlog (issue 10): a bulk queue holds 5,000
// distinct paths for one distribution (collapse never), far more than
// CloudFront's 3,000 in progress, and the simulator completes each
// invalidation only after 20 s, so the backlog drains in three rounds of at
// most 2,150 paths (2,900 headroom less the 750 bulk work leaves to live
// work). Live publishes arriving on the live queue meanwhile must not wait
// for those rounds.
const (
	laneDist         = "ELANES00000001"
	laneComplete     = 20 * time.Second
	laneBulkMessages = 500
	lanePathsPerMsg  = 10
	laneLiveMessages = 5
	laneLiveWindow   = 2 * time.Second
	// laneBulkWindow: bulk work is treated as live once it has waited 10
	// bulk windows (internal/worker, bulkAging); 8 s keeps the whole drain
	// (about 50 s) below that, so what is measured is the live-first rule
	// and not the anti-starvation one.
	laneBulkWindow = 8 * time.Second
	// laneLiveSlack: a live message is accepted within its window plus this
	// of being sent (receive, flush jitter, a view refresh, the request).
	laneLiveSlack = 5 * time.Second
	// laneMaxHeld per queue: the bulk consumer is held at it for most of the
	// drain (2,000 of the 5,000 paths), the live one still receives.
	laneMaxHeld = 200
	// laneReceiveBound: a live message is received within this of being sent.
	laneReceiveBound = 2 * time.Second
	// laneTightBulk: each live message is sent while at least this many
	// bulk paths are in progress (of the 2,900 the worker uses), so what
	// is left for it is the live share, not headroom bulk work left over.
	laneTightBulk = 1500
)

// TestLaneLiveUnderBulkBacklog runs one worker on two queues
// (queues: [{lane: live}, {lane: bulk}]). The bulk backlog is queued first;
// once the bulk lane is blocked on the in-progress quota and its consumer
// holds max_held messages, five live messages are sent one after another
// (each at least 4 s after the previous was accepted, and while at least
// 1,500 bulk paths are in progress), each with paths of its own.
// Checked: every live message is received within 2 s and accepted (an
// invalidation covering it created) within its window plus 5 s of being
// sent, while the bulk backlog is still draining under a full quota; the
// bulk backlog still finishes; every delete is justified; no accepted batch
// broke the in-progress limits, none was refused, none holds a wildcard.
func TestLaneLiveUnderBulkBacklog(t *testing.T) {
	start := time.Now()
	fq := testenv.Fauxqs(t)
	sq := e2e.SQSClient(fq.Endpoint)
	liveQ, liveDLQ := e2e.CreateQueues(t, sq, "lanes-live", 5, 30*time.Second)
	bulkQ, bulkDLQ := e2e.CreateQueues(t, sq, "lanes-bulk", 5, 30*time.Second)
	audit := &testenv.SyncBuffer{}
	sim := e2e.StartSim(t, cfsim.Options{Distributions: []string{laneDist}, CompleteAfter: laneComplete, AuditLog: audit})

	var bulkMs []e2e.Msg
	for i := range laneBulkMessages {
		var ps []string
		for j := range lanePathsPerMsg {
			ps = append(ps, fmt.Sprintf("/archive/%03d/page-%02d.html", i, j))
		}
		bulkMs = append(bulkMs, e2e.Plain(laneDist, ps...))
	}
	wants := e2e.SendMessages(t, sq, bulkQ, bulkMs)
	bulkIDs := map[string]bool{}
	for id := range wants {
		bulkIDs[id] = true
	}

	proxy := e2e.NewSQSProxy(t, fq.Endpoint, e2e.ProxyOptions{})
	w := e2e.StartWorker(t, e2e.Config{
		Queues:  []e2e.Queue{{URL: liveQ, Lane: "live"}, {URL: bulkQ, Lane: "bulk"}},
		Window:  laneLiveWindow.String(),
		Lanes:   &e2e.Lanes{Bulk: &e2e.Lane{Window: laneBulkWindow.String()}},
		MaxHeld: laneMaxHeld, Visibility: "30s", Grace: "10s", ViewMaxAge: "1s", ViewRefresh: "1s",
		Distributions: []e2e.Dist{{ID: laneDist, Collapse: "never"}},
	}, proxy.URL, sim.URL)

	// The bulk lane is blocked on the quota and its consumer is full.
	e2e.Poll(t, 60*time.Second, 200*time.Millisecond, "bulk work held for quota while the bulk consumer holds max_held", func() (bool, string) {
		held := w.Metric(t, `invalidator_paths_held_total{reason="quota"}`)
		bq := e2e.QueueStatus(t, w.Status(t), bulkQ)
		return held > 0 && bq.Held == laneMaxHeld, fmt.Sprintf("paths held for quota %v, bulk consumer holds %d", held, bq.Held)
	})

	type liveSend struct {
		msg       e2e.Msg
		id        string
		sent      time.Time // just before SendMessage
		accepted  time.Time // the covering invalidation's creation
		bulkHeld  int       // messages the bulk consumer held at the send
		bulkPaths int       // bulk paths in progress at the simulator at the send
		bulkLeft  int       // bulk messages not deleted yet at the send
	}
	bulkLeft := func() int {
		n := laneBulkMessages
		for id := range proxy.Snapshot().DeletedAt {
			if bulkIDs[id] {
				n--
			}
		}
		return n
	}
	var sends []liveSend
	for i := range laneLiveMessages {
		if i > 0 {
			time.Sleep(4 * time.Second)
		}
		var ps []string
		for j := range lanePathsPerMsg {
			ps = append(ps, fmt.Sprintf("/news/live-%d/item-%02d.html", i, j))
		}
		s := liveSend{msg: e2e.Plain(laneDist, ps...)}
		// Sent only while the quota is tight: bulk rounds take 2,150 paths,
		// but between one round's completion and the next submission (a
		// view refresh) little is in progress.
		e2e.Poll(t, laneComplete+10*time.Second, 100*time.Millisecond, fmt.Sprintf("a bulk round in progress before live message %d", i+1), func() (bool, string) {
			s.bulkPaths, s.bulkLeft = bulkInProgress(sim.Accepted(), time.Now()), bulkLeft()
			return s.bulkPaths >= laneTightBulk && s.bulkLeft > 0,
				fmt.Sprintf("%d bulk paths in progress, %d bulk messages left", s.bulkPaths, s.bulkLeft)
		})
		s.bulkHeld = e2e.QueueStatus(t, w.Status(t), bulkQ).Held
		s.sent = time.Now()
		s.id = e2e.SendBody(t, sq, liveQ, s.msg.Body)
		wants[s.id] = e2e.Want{Dist: laneDist, Items: s.msg.Items}
		e2e.Poll(t, laneLiveWindow+laneLiveSlack+10*time.Second, 100*time.Millisecond, fmt.Sprintf("live message %d covered", i+1), func() (bool, string) {
			s.accepted = e2e.CoveredAt([]e2e.Msg{s.msg}, sim.Accepted())[0]
			return !s.accepted.IsZero(), "not covered yet"
		})
		sends = append(sends, s)
	}

	// The bulk backlog finishes too, every message deleted.
	rec := proxy.WaitDeleted(wants, 3*time.Minute)
	invs := e2e.ParseAudit(t, audit, sim.Server)
	e2e.CheckDeletesJustified(t, rec, wants, invs)
	e2e.CheckInProgressLimits(t, invs, laneComplete)
	all := slices.Clone(bulkMs)
	for _, s := range sends {
		all = append(all, s.msg)
	}
	e2e.CheckCoverage(t, all, invs)

	var maxDelay time.Duration
	var lines []string
	for i, s := range sends {
		delay := s.accepted.Sub(s.sent)
		recv := rec.ReceivedAt[s.id].Sub(s.sent)
		maxDelay = max(maxDelay, delay)
		lines = append(lines, fmt.Sprintf("live %d: sent %s, received after %s, accepted after %s; at the send the bulk consumer held %d, %d bulk paths were in progress, %d bulk messages were left",
			i+1, s.sent.Sub(start).Round(100*time.Millisecond), recv.Round(time.Millisecond), delay.Round(time.Millisecond), s.bulkHeld, s.bulkPaths, s.bulkLeft))
		if bound := laneLiveWindow + laneLiveSlack; delay > bound {
			t.Errorf("live message %d accepted %s after it was sent, want within its window plus %s (%s)", i+1, delay, laneLiveSlack, bound)
		}
		if _, ok := rec.ReceivedAt[s.id]; !ok || recv > laneReceiveBound {
			t.Errorf("live message %d received %s after it was sent (seen by the proxy: %v), want within %s while the bulk consumer holds %d",
				i+1, recv, ok, laneReceiveBound, s.bulkHeld)
		}
	}
	t.Logf("live lane under a bulk backlog (%d bulk paths, %s completion):\n  %s\n  max live delay %s (bound %s)",
		laneBulkMessages*lanePathsPerMsg, laneComplete, strings.Join(lines, "\n  "), maxDelay.Round(time.Millisecond), laneLiveWindow+laneLiveSlack)
	if sends[0].bulkHeld != laneMaxHeld {
		t.Errorf("the bulk consumer held %d messages when the first live one was sent, want max_held %d", sends[0].bulkHeld, laneMaxHeld)
	}

	// The quota was the bottleneck: the backlog took more than one
	// completion period, nothing was refused, and collapse never held.
	var bulkInvs []e2e.Invalidation
	for _, inv := range invs {
		if strings.HasPrefix(inv.Items[0], "/archive/") {
			bulkInvs = append(bulkInvs, inv)
		}
		for _, p := range inv.Items {
			if strings.HasSuffix(p, "*") {
				t.Errorf("collapse never: invalidation %s holds wildcard %q", inv.ID, p)
			}
		}
	}
	// Bulk work may take 2,150 paths a round (2,900 of headroom less the
	// 750 left to live work), so its 5,000 paths need three rounds: two
	// completion periods at least.
	if span := bulkInvs[len(bulkInvs)-1].Created.Sub(bulkInvs[0].Created); span < 2*laneComplete {
		t.Errorf("the bulk invalidations span %s, want at least %s: at 2,150 paths a round the bulk lane took more than its share", span, 2*laneComplete)
	}
	st := sim.Stats()
	if n := st.Requests["CreateInvalidation"]["TooManyInvalidationsInProgress"]; n > 0 {
		t.Errorf("the simulator refused %d requests with TooManyInvalidationsInProgress, want none from one worker", n)
	}
	for _, dlq := range []string{liveDLQ, bulkDLQ} {
		e2e.NoMoreDLQ(t, sq, dlq)
	}
	t.Logf("%d invalidations (%d bulk), simulator outcomes %v; bulk drained %s after the first receive; test took %s",
		len(invs), len(bulkInvs), st.Requests["CreateInvalidation"], rec.LastDelete.Sub(rec.FirstReceive).Round(100*time.Millisecond),
		time.Since(start).Round(time.Second))
	w.Stop(t, 20*time.Second)
}

// bulkInProgress sums the file paths of the /archive/ invalidations still
// in progress at now (created within the completion time).
func bulkInProgress(invs []e2e.Invalidation, now time.Time) int {
	n := 0
	for _, inv := range invs {
		if now.Sub(inv.Created) < laneComplete && len(inv.Items) > 0 && strings.HasPrefix(inv.Items[0], "/archive/") {
			n += len(inv.Items)
		}
	}
	return n
}
