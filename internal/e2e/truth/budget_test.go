package truth

import (
	"fmt"
	"maps"
	"syscall"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/e2e"
)

// Issue 7's budget across restarts: no free tier, a $1.00 budget (200 paths
// at $0.005), pause_when_over_budget, and three waves of 300 distinct paths
// (30 messages of 10) with a new process for each wave.
const (
	budgetDist       = "EBUDGETWAVES01"
	budgetUSD        = 1.00
	budgetPaths      = 200
	budgetWaves      = 3
	budgetPerWave    = 30
	budgetPerMessage = 10
	// budgetStateOver is invalidator_budget_state's "over".
	budgetStateOver = 2
)

// TestBudgetHoldsAcrossRestarts: each wave's process rebuilds the month
// from CloudFront's history, so the budget the first one spent is spent for
// the next ones too. Two ways to end a process: SIGTERM (held messages are
// released) and kill -9 (they come back after the visibility timeout).
// Checked: CloudFront never bills more than the budget, the processes after
// the first bill nothing, every delete is justified, and every message not
// deleted is still on the queue.
func TestBudgetHoldsAcrossRestarts(t *testing.T) {
	for _, how := range []string{"sigterm", "kill"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			budgetWavesRun(t, how)
		})
	}
}

func budgetWavesRun(t *testing.T, how string) {
	e := newEnv(t, "budget-"+how, 100, 10*time.Second, e2e.ProxyOptions{},
		cfsim.Options{Distributions: []string{budgetDist}, CompleteAfter: time.Second})
	cfg := e2e.Config{Window: "1s", Visibility: "10s", Grace: "5s",
		FreePathsPerMonth: ptr(0), MonthlyBudgetUSD: budgetUSD, PauseWhenOverBudget: true,
		// Collapse would fit 300 paths in one wildcard: a budget test needs
		// every path billed as sent.
		Distributions: []e2e.Dist{{ID: budgetDist, Collapse: "never"}}}
	wants := e2e.Wants{}
	billedAfter := make([]int, budgetWaves)
	for wave := range budgetWaves {
		var ms []e2e.Msg
		for i := range budgetPerWave {
			var ps []string
			for j := range budgetPerMessage {
				ps = append(ps, fmt.Sprintf("/wave-%d/msg-%02d/p%d.html", wave, i, j))
			}
			ms = append(ms, e2e.Plain(budgetDist, ps...))
		}
		sent := e2e.SendMessages(t, e.sq, e.queue, ms)
		maps.Copy(wants, sent)
		received := func() int { // deliveries of this wave's messages so far
			n := 0
			rec := e.proxy.Snapshot()
			for id := range sent {
				n += rec.ReceivedBy[id]
			}
			return n
		}
		before := received()
		w := e.start(t, 1, cfg)[0]
		state := e2e.Series("invalidator_budget_state", "distribution", budgetDist)
		// Settled down: the month is known and over budget, and the process
		// has received every message of its wave; then two more windows in
		// which it could (wrongly) spend.
		e2e.Poll(t, 30*time.Second, 100*time.Millisecond, fmt.Sprintf("wave %d: over budget with every message received", wave+1), func() (bool, string) {
			st, got := w.Metric(t, state), received()-before
			return st == budgetStateOver && got >= budgetPerWave, fmt.Sprintf("budget state %v, %d of %d received", st, got, budgetPerWave)
		})
		time.Sleep(2500 * time.Millisecond)
		switch how {
		case "sigterm":
			w.Stop(t, 20*time.Second)
		case "kill":
			if err := syscall.Kill(-w.Cmd.Process.Pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill -9 %s: %v", w.Name, err)
			}
			w.Wait(10 * time.Second)
		}
		billedAfter[wave] = billed(e.sim.Accepted())
		t.Logf("%s wave %d: %d paths billed in all", how, wave+1, billedAfter[wave])
	}
	invs := e.sim.Accepted()
	total := billed(invs)
	if total > budgetPaths {
		t.Errorf("CloudFront billed %d paths over three processes, over the budget's %d", total, budgetPaths)
	}
	if billedAfter[0] < budgetPaths-budgetPerMessage {
		t.Errorf("the first process billed %d paths, want the budget's %d less at most one message's %d", billedAfter[0], budgetPaths, budgetPerMessage)
	}
	if total != billedAfter[0] {
		t.Errorf("the processes after the first billed %d more paths (after each wave: %v): the month was spent", total-billedAfter[0], billedAfter)
	}
	// Nothing lost: what was deleted was covered first, and the rest is
	// still on the queue (or on its way back from a killed process).
	rec := e.proxy.Snapshot()
	deleted := e2e.Wants{}
	for id, w := range wants {
		if len(rec.DeletedAt[id]) > 0 {
			deleted[id] = w
		}
	}
	e2e.CheckDeletesJustified(t, rec, deleted, invs)
	left := len(wants) - len(deleted)
	e2e.Poll(t, 20*time.Second, 200*time.Millisecond, "every message not deleted back on the queue", func() (bool, string) {
		v, nv := e2e.QueueCounts(t, e.sq, e.queue)
		return v+nv == left, fmt.Sprintf("%d visible + %d in flight, want %d", v, nv, left)
	})
	e2e.NoMoreDLQ(t, e.sq, e.dlq)
	t.Logf("%s: budget %d paths; billed %d in %d invalidations (after each wave: %v); %d of %d messages deleted, %d still on the queue",
		how, budgetPaths, total, len(invs), billedAfter, len(deleted), len(wants), left)
}
