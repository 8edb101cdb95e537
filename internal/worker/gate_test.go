package worker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/acme/cf-invalidator/internal/consumer"
)

// fakeQuota hands out a fixed room per distribution and records submissions.
type fakeQuota struct {
	mu        sync.Mutex
	room      Room
	submitted []string
}

func (q *fakeQuota) Room(context.Context, string) (Room, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.room, nil
}

func (q *fakeQuota) Submitted(dist, id string, paths []string, _ time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.submitted = append(q.submitted, fmt.Sprintf("%s/%s:%d", dist, id, len(paths)))
	q.room.Files -= len(paths)
}

func (q *fakeQuota) set(r Room) { q.mu.Lock(); q.room = r; q.mu.Unlock() }

// dirReducer collapses every path to "/<first segment>/*" when allowed.
type dirReducer struct {
	mu     sync.Mutex
	allow  bool
	forced []bool
	rooms  []Room
}

func (d *dirReducer) Reduce(_ string, paths []string, room Room, force bool) ([]string, map[string]string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forced = append(d.forced, force)
	d.rooms = append(d.rooms, room)
	if !d.allow && !force {
		return nil, nil, false
	}
	replaced := map[string]string{}
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		seg := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 2)[0]
		w := "/" + seg + "/*"
		replaced[p] = w
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out, replaced, len(out) <= room.Wildcards
}

type fakeBudget struct {
	mu    sync.Mutex
	state BudgetState
	paths int
}

func (b *fakeBudget) Record(_ string, n int) { b.mu.Lock(); b.paths += n; b.mu.Unlock() }
func (b *fakeBudget) State(string) BudgetState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

type fakeWatcher struct {
	mu  sync.Mutex
	ids []string
}

func (f *fakeWatcher) Watch(_, id, _ string, _ []string, _ int, _ time.Time) {
	f.mu.Lock()
	f.ids = append(f.ids, id)
	f.mu.Unlock()
}

func manyPaths(prefix string, n int) []string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = fmt.Sprintf("%s/%03d.html", prefix, i)
	}
	return ps
}

func TestQuotaSubmitsWhatFitsAndHoldsTheRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, cf := newFakeQueue(), &fakeCF{}
		quota := &fakeQuota{room: Room{Files: 30, Wildcards: 2}}
		w := newWorker(t, q, cf)
		w.opts.Gate = GateOptions{Quota: quota, Recheck: 10 * time.Second}
		var msgs []*consumer.Message
		for i := range 5 {
			msgs = append(msgs, msg(fmt.Sprintf("m%d", i), v1("E1", manyPaths(fmt.Sprintf("/s%d", i), 10)...)))
		}
		w.Handle(context.Background(), msgs)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		calls := cf.get()
		if len(calls) != 1 || len(calls[0].req.Paths) != 30 {
			t.Fatalf("first submission: %d calls, want one of 30 paths (the room)", len(calls))
		}
		deleted := 0
		for _, m := range msgs {
			if _, ok := q.deletedAt(m.ID); ok {
				deleted++
			}
		}
		if deleted != 3 {
			t.Fatalf("deleted %d, want the 3 messages whose paths all went out", deleted)
		}
		// Completions free the room; the held rest goes at the next recheck.
		quota.set(Room{Files: 3000, Wildcards: 15})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if calls = cf.get(); len(calls) != 2 || len(calls[1].req.Paths) != 20 {
			t.Fatalf("after room freed: %d calls", len(calls))
		}
		for _, m := range msgs {
			if _, ok := q.deletedAt(m.ID); !ok {
				t.Fatalf("%s not deleted", m.ID)
			}
		}
		if len(quota.submitted) != 2 {
			t.Fatalf("quota told of %d submissions", len(quota.submitted))
		}
	})
}

func TestCollapseFitsTheRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, cf := newFakeQueue(), &fakeCF{}
		red := &dirReducer{allow: true}
		watch := &fakeWatcher{}
		w := newWorker(t, q, cf)
		w.opts.Gate = GateOptions{Quota: &fakeQuota{room: Room{Files: 5, Wildcards: 3}}, Reducer: red, Watcher: watch}
		w.Handle(context.Background(), []*consumer.Message{
			msg("a", v1("E1", manyPaths("/blog", 20)...)), msg("b", v1("E1", manyPaths("/shop", 20)...)),
		})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		calls := cf.get()
		if len(calls) != 1 || strings.Join(calls[0].req.Paths, ",") != "/blog/*,/shop/*" {
			t.Fatalf("calls %+v", calls)
		}
		for _, id := range []string{"a", "b"} {
			if _, ok := q.deletedAt(id); !ok {
				t.Fatalf("%s not deleted after the collapsed request was accepted", id)
			}
		}
		if len(watch.ids) != 1 {
			t.Fatal("accepted invalidation not watched to completion")
		}
	})
}

func TestMaxHoldForcesReduction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, cf := newFakeQueue(), &fakeCF{}
		red := &dirReducer{allow: false} // policy: never collapse
		w := newWorker(t, q, cf)
		w.opts.Gate = GateOptions{Quota: &fakeQuota{room: Room{Files: 0, Wildcards: 1}}, Reducer: red,
			DefaultMaxHold: time.Minute, Recheck: 10 * time.Second}
		w.Handle(context.Background(), []*consumer.Message{msg("a", v1("E1", manyPaths("/blog", 4)...))})
		time.Sleep(50 * time.Second)
		synctest.Wait()
		if len(cf.get()) != 0 {
			t.Fatal("submitted before max_hold although the policy says never collapse")
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		calls := cf.get()
		if len(calls) != 1 || strings.Join(calls[0].req.Paths, ",") != "/blog/*" {
			t.Fatalf("after max_hold: %+v", calls)
		}
		if !red.forced[len(red.forced)-1] {
			t.Fatal("reduction after max_hold was not forced")
		}
	})
}

func TestPauseHoldsUntilResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, cf := newFakeQueue(), &fakeCF{}
		w := newWorker(t, q, cf)
		w.Pause("migration")
		w.Handle(context.Background(), []*consumer.Message{msg("a", v1("E1", "/x"))})
		time.Sleep(time.Minute)
		synctest.Wait()
		if len(cf.get()) != 0 {
			t.Fatal("submitted while paused")
		}
		if st := w.Status().(map[string]any); st["paused"] != true || st["pause_reason"] != "migration" {
			t.Fatalf("status %v", st)
		}
		w.Resume()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if len(cf.get()) != 1 {
			t.Fatal("not submitted after resume")
		}
		if _, ok := q.deletedAt("a"); !ok {
			t.Fatal("not deleted after resume")
		}
	})
}

func TestBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, cf := newFakeQueue(), &fakeCF{}
		b := &fakeBudget{state: OverBudget}
		red := &dirReducer{allow: true}
		w := newWorker(t, q, cf)
		w.opts.Gate = GateOptions{Budget: b, Reducer: red, PauseWhenOverBudget: true}
		w.Handle(context.Background(), []*consumer.Message{msg("a", v1("E1", manyPaths("/blog", 30)...))})
		time.Sleep(time.Minute)
		synctest.Wait()
		if len(cf.get()) != 0 {
			t.Fatal("spent over budget with pause_when_over_budget")
		}
		b.mu.Lock()
		b.state = NearBudget
		b.mu.Unlock()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		calls := cf.get()
		if len(calls) != 1 || strings.Join(calls[0].req.Paths, ",") != "/blog/*" {
			t.Fatalf("near budget should collapse hard: %+v", calls)
		}
		if last := red.rooms[len(red.rooms)-1]; last.Files != nearBudgetFiles {
			t.Fatalf("room near budget %+v, want files capped at %d", last, nearBudgetFiles)
		}
		if b.paths != 1 {
			t.Fatalf("budget recorded %d billed paths, want 1 (a wildcard)", b.paths)
		}
	})
}

// TestMessageSplitByTheRoomWaitsForBothParts: a message whose paths fall
// on both sides of the room's cut is deleted only after both parts were
// accepted.
func TestMessageSplitByTheRoomWaitsForBothParts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, cf := newFakeQueue(), &fakeCF{}
		quota := &fakeQuota{room: Room{Files: 25, Wildcards: 2}}
		w := newWorker(t, q, cf)
		w.opts.Gate = GateOptions{Quota: quota, Recheck: 10 * time.Second}
		w.Handle(context.Background(), []*consumer.Message{
			msg("m0", v1("E1", manyPaths("/s0", 10)...)), msg("m1", v1("E1", manyPaths("/s1", 10)...)),
			msg("m2", v1("E1", manyPaths("/s2", 10)...)),
		})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if calls := cf.get(); len(calls) != 1 || len(calls[0].req.Paths) != 25 {
			t.Fatalf("first submission %d calls", len(calls))
		}
		if _, ok := q.deletedAt("m2"); ok {
			t.Fatal("m2 deleted while 5 of its paths were still held")
		}
		if _, ok := q.deletedAt("m1"); !ok {
			t.Fatal("m1 not deleted although all its paths went out")
		}
		quota.set(Room{Files: 3000, Wildcards: 15})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if _, ok := q.deletedAt("m2"); !ok {
			t.Fatal("m2 not deleted after its held part was accepted")
		}
	})
}
