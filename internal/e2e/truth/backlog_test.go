package truth

import (
	"fmt"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/e2e"
)

// A backlog of issue 7: 1,500 messages over 300 distinct items, all sent
// before the worker starts, drained over many windows because the worker
// holds at most 100 messages at a time.
const (
	backlogDist     = "EBACKLOG000001"
	backlogMessages = 1500
	backlogDistinct = 300
	backlogPerMsg   = 3
	backlogMaxHeld  = 100
)

// TestBacklogBillsEachItemOnce: an invalidation created after every
// message of the backlog was sent covers each later-received message that
// wants its items, so those settle on arrival and only items never
// invalidated go out. Checked: CloudFront billed each distinct item exactly
// once (collapse never, so nothing is folded into a wildcard), nothing was
// re-billed, every delete is justified, and the drain took many windows.
func TestBacklogBillsEachItemOnce(t *testing.T) {
	e := newEnv(t, "backlog", 5, 30*time.Second, e2e.ProxyOptions{},
		cfsim.Options{Distributions: []string{backlogDist}, CompleteAfter: 2 * time.Second})
	var ms []e2e.Msg
	for i := range backlogMessages {
		// Three neighbouring items of the 300 (a sliding window: five
		// messages per step), so that each window of 100 messages wants
		// about 20 items no earlier window had and others that earlier
		// windows' invalidations cover.
		var ps []string
		for k := range backlogPerMsg {
			ps = append(ps, fmt.Sprintf("/catalog/item-%03d.html", (i/5+k)%backlogDistinct))
		}
		ms = append(ms, e2e.Plain(backlogDist, ps...))
	}
	wants := e2e.SendMessages(t, e.sq, e.queue, ms)
	distinct := len(e2e.WantByDist(ms)[backlogDist])
	if distinct != backlogDistinct {
		t.Fatalf("the backlog wants %d distinct items, want %d", distinct, backlogDistinct)
	}
	// "Sent before the worker starts": more than clock_skew_margin (1 s)
	// before it, so an invalidation created after the start covers them by
	// the clocks as well as for the messages it served.
	time.Sleep(1500 * time.Millisecond)
	w := e.start(t, 1, e2e.Config{Window: "1s", Visibility: "30s", Grace: "5s", MaxHeld: backlogMaxHeld,
		Distributions: []e2e.Dist{{ID: backlogDist, Collapse: "never"}}})[0]
	rec := e.proxy.WaitDeleted(wants, 2*time.Minute)
	settledArrival := w.Metric(t, e2e.Series("invalidator_messages_settled_total", "by", "arrival"))
	w.Stop(t, 20*time.Second)
	invs := e.sim.Accepted()
	e2e.CheckDeletesJustified(t, rec, wants, invs)
	e2e.CheckCoverage(t, ms, invs)
	bl := e2e.Rebilled(wants, rec.Sent, invs)
	if bl.Billed != distinct || bl.Rebilled != 0 {
		t.Errorf("billed %d paths for %d distinct items (%d re-billed, e.g. %q): want each billed once", bl.Billed, distinct, bl.Rebilled, bl.Examples)
	}
	if want := backlogMessages / backlogMaxHeld / 2; len(invs) < want {
		t.Errorf("%d invalidations, want at least %d: the backlog was not drained over many windows", len(invs), want)
	}
	t.Logf("backlog of %d messages over %d distinct items, max_held %d: billed %d paths in %d invalidations, re-billed %d; %v messages settled on arrival; drained in %s",
		backlogMessages, distinct, backlogMaxHeld, bl.Billed, len(invs), bl.Rebilled, settledArrival, rec.LastDelete.Sub(rec.FirstReceive).Round(100*time.Millisecond))
}
