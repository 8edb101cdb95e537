package worker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"

	"github.com/acme/cf-invalidator/internal/cfview"
	"github.com/acme/cf-invalidator/internal/collapse"
	"github.com/acme/cf-invalidator/internal/consumer"
	"github.com/acme/cf-invalidator/internal/cost"
	"github.com/acme/cf-invalidator/internal/invalidate"
	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/policy"
	"github.com/acme/cf-invalidator/internal/retry"
	"github.com/acme/cf-invalidator/internal/status"
)

type fakeQueue struct {
	mu        sync.Mutex
	deleted   map[string]time.Time
	dead      map[string]consumer.Rejection
	parts     []consumer.Rejection
	abandoned []string
	held      map[string]*consumer.Message // every message handed to the worker
}

func newFakeQueue() *fakeQueue {
	return &fakeQueue{deleted: map[string]time.Time{}, dead: map[string]consumer.Rejection{}, held: map[string]*consumer.Message{}}
}

func (q *fakeQueue) Message(id string) (*consumer.Message, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	m, ok := q.held[id]
	return m, ok
}

func (q *fakeQueue) Delete(ids ...string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, id := range ids {
		if _, twice := q.deleted[id]; twice {
			panic("message deleted twice: " + id)
		}
		q.deleted[id] = time.Now()
	}
}

func (q *fakeQueue) DeadLetter(_ context.Context, m *consumer.Message, r consumer.Rejection) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dead[m.ID] = r
	return nil
}

func (q *fakeQueue) DeadLetterPart(_ context.Context, _ *consumer.Message, r consumer.Rejection) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.parts = append(q.parts, r)
	return nil
}

func (q *fakeQueue) Abandon(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.abandoned = append(q.abandoned, id)
}

func (q *fakeQueue) deletedAt(id string) (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	t, ok := q.deleted[id]
	return t, ok
}

func (q *fakeQueue) deadOf(id string) (consumer.Rejection, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r, ok := q.dead[id]
	return r, ok
}

type call struct {
	at  time.Time
	req invalidate.Request
	ref string
}

// fakeCF answers each call with the next scripted error (nil = accept).
type fakeCF struct {
	mu     sync.Mutex
	script func(n int, r invalidate.Request) error
	calls  []call
}

func (f *fakeCF) Submit(_ context.Context, r invalidate.Request) (invalidate.Result, error) {
	f.mu.Lock()
	n := len(f.calls)
	ref := invalidate.CallerReference(r.Distribution, r.MessageIDs, r.Paths, r.SentBound)
	f.calls = append(f.calls, call{time.Now(), r, ref})
	script := f.script
	f.mu.Unlock()
	if script != nil {
		if err := script(n, r); err != nil {
			return invalidate.Result{}, err
		}
	}
	return invalidate.Result{ID: fmt.Sprintf("I%d", n), Status: "InProgress", Reference: ref, CreatedAt: time.Now()}, nil
}

func (f *fakeCF) get() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakeView is CloudFront's view in memory. onFresh runs on every Fresh: a
// test puts a replica's invalidation there.
type fakeView struct {
	mu        sync.Mutex
	recs      map[string][]cfview.Invalidation
	inFiles   int
	spend     cfview.Spend   // every target's month, plus paths
	paths     map[string]int // per target: paths of what was submitted
	onFresh   func(target string)
	freshes   int
	active    map[string]bool
	submitted int
}

func newFakeView() *fakeView {
	return &fakeView{recs: map[string][]cfview.Invalidation{}, active: map[string]bool{},
		spend: cfview.Spend{Listed: true}, paths: map[string]int{}}
}

func (v *fakeView) Run(ctx context.Context) { <-ctx.Done() }
func (v *fakeView) Ensure(string) bool      { return true }
func (v *fakeView) Fresh(_ context.Context, target string, _ time.Duration) error {
	v.mu.Lock()
	v.freshes++
	f := v.onFresh
	v.mu.Unlock()
	if f != nil {
		f(target)
	}
	return nil
}
func (v *fakeView) Submitted(inv cfview.Invalidation) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.submitted++
	inv.Origin = cfview.OriginOwn
	v.recs[inv.Target] = append(v.recs[inv.Target], inv)
	v.paths[inv.Target] += len(inv.Items)
	return true
}
func (v *fakeView) InProgress(string) (int, int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.inFiles, 0
}
func (v *fakeView) Spend(t string) cfview.Spend {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.spend
	s.Paths += v.paths[t]
	return s
}
func (v *fakeView) SetActive(t string, a bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.active[t] = a
}
func (v *fakeView) Age(string) (time.Duration, error, bool) { return 0, nil, true }
func (v *fakeView) Recent(t string, n, _ int) []cfview.Invalidation {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.recs[t])
}
func (v *fakeView) Targets() []string { return []string{"E1", "E2"} }

type fixture struct {
	q  *fakeQueue
	cf *fakeCF
	v  *fakeView
	w  *Worker
}

func newFixture(t *testing.T, tweak func(*Options)) *fixture {
	t.Helper()
	dec, err := message.NewDecoder(message.Options{Distributions: []message.Distribution{
		{ID: "E1", Aliases: []string{"www"}}, {ID: "E2"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{q: newFakeQueue(), cf: &fakeCF{}, v: newFakeView()}
	o := Options{
		Window: 10 * time.Second, Skew: time.Second, SubmitConcurrency: 2, Recheck: 5 * time.Second,
		Backoff: retry.Backoff{Base: time.Second, Max: 8 * time.Second, Rand: func() float64 { return 0.5 }},
		Gate:    policy.New(policy.Options{}),
	}
	if tweak != nil {
		tweak(&o)
	}
	f.w = New(f.q, f.cf, dec, f.v, o)
	t.Cleanup(f.w.sched.Close)
	return f
}

func msg(id, body string) *consumer.Message {
	return &consumer.Message{ID: id, Body: body, SentMs: time.Now().UnixMilli()}
}

func v1(dist string, paths ...string) string {
	return fmt.Sprintf(`{"distribution_id":%q,"paths":["%s"]}`, dist, strings.Join(paths, `","`))
}

func (f *fixture) handle(ms ...*consumer.Message) {
	f.q.mu.Lock()
	for _, m := range ms {
		f.q.held[m.ID] = m
	}
	f.q.mu.Unlock()
	f.w.Handle(context.Background(), ms)
}

func TestBurstCoalescesPerDistribution(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		start := time.Now()
		var batch []*consumer.Message
		for i := range 30 {
			dist := []string{"E1", "E2"}[i%2]
			batch = append(batch, msg(fmt.Sprintf("m%02d", i), v1(dist, fmt.Sprintf("/p/%d.html", i), "/shared.css")))
		}
		batch = append(batch, msg("alias", `{"distribution":"www","paths":["/p/*"]}`))
		f.handle(batch...)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		calls := f.cf.get()
		if len(calls) != 2 {
			t.Fatalf("requests = %d, want one per distribution", len(calls))
		}
		for _, c := range calls {
			if c.at.Sub(start) != 10*time.Second {
				t.Fatalf("submitted at %v, want at the window's end", c.at.Sub(start))
			}
			if c.req.Distribution == "E1" && !slices.Equal(c.req.Paths, []string{"/p/*", "/shared.css"}) {
				t.Fatalf("E1 paths %q: the wildcard should cover the files", c.req.Paths)
			}
		}
		for _, m := range batch {
			if _, ok := f.q.deletedAt(m.ID); !ok {
				t.Fatalf("%s not deleted after acceptance", m.ID)
			}
		}
		if f.w.Pending() != 0 {
			t.Fatalf("pending = %d", f.w.Pending())
		}
	})
}

func TestNothingIsDeletedBeforeAcceptance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		release := make(chan struct{})
		f.cf.script = func(int, invalidate.Request) error { <-release; return nil }
		f.handle(msg("m", v1("E1", "/a")))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if _, ok := f.q.deletedAt("m"); ok {
			t.Fatal("deleted while CreateInvalidation was under way")
		}
		close(release)
		synctest.Wait()
		if _, ok := f.q.deletedAt("m"); !ok {
			t.Fatal("not deleted after acceptance")
		}
	})
}

func TestReplicaInvalidationSettlesAndIsNotPaidAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		// Sent 30 s ago (a backlog): a replica invalidated the shared pages
		// 5 s ago.
		sent := time.Now().Add(-30 * time.Second)
		m1 := &consumer.Message{ID: "m1", Body: v1("E1", "/home", "/post-1"), SentMs: sent.UnixMilli()}
		m2 := &consumer.Message{ID: "m2", Body: v1("E1", "/home"), SentMs: sent.UnixMilli()}
		f.v.onFresh = func(target string) {
			f.w.Observed(cfview.Invalidation{Target: target, ID: "R1", Created: time.Now().Add(-5 * time.Second),
				Items: []string{"/home", "/feed"}, Origin: cfview.OriginFleet})
		}
		f.handle(m1, m2)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if _, ok := f.q.deletedAt("m2"); !ok {
			t.Fatal("m2's only item is covered by the replica's invalidation: it should be deleted")
		}
		calls := f.cf.get()
		if len(calls) != 1 || !slices.Equal(calls[0].req.Paths, []string{"/post-1"}) {
			t.Fatalf("submitted %+v, want only what nobody covered", calls)
		}
		if _, ok := f.q.deletedAt("m1"); !ok {
			t.Fatal("m1 not deleted")
		}
	})
}

func TestArrivalAfterOwnInvalidationIsSettledAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		sent := time.Now().Add(-time.Minute) // a backlog drained over several windows
		f.handle(&consumer.Message{ID: "a", Body: v1("E1", "/x", "/y"), SentMs: sent.UnixMilli()})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if len(f.cf.get()) != 1 {
			t.Fatalf("calls %d", len(f.cf.get()))
		}
		f.handle(&consumer.Message{ID: "b", Body: v1("E1", "/y"), SentMs: sent.UnixMilli()})
		synctest.Wait()
		if _, ok := f.q.deletedAt("b"); !ok {
			t.Fatal("a message sent before an accepted invalidation covering it was not settled on arrival")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if len(f.cf.get()) != 1 {
			t.Fatalf("paid again: %d calls", len(f.cf.get()))
		}
	})
}

func TestDeleteWaitsForEveryChunk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Room for both chunks at once (with CloudFront's 3,000 the second
		// would rightly be collapsed into /f/*, covering all).
		f := newFixture(t, func(o *Options) { o.Limits = policy.Limits{Files: 10000} })
		var mu sync.Mutex
		failed := false
		f.cf.script = func(n int, _ invalidate.Request) error {
			mu.Lock()
			defer mu.Unlock()
			if n == 1 && !failed { // the second chunk fails once (transient)
				failed = true
				return &smithy.GenericAPIError{Code: "ServiceUnavailable", Fault: smithy.FaultServer}
			}
			return nil
		}
		paths := make([]string, 3500) // more than one request holds: 2 chunks
		for i := range paths {
			paths[i] = fmt.Sprintf("/f/%04d", i)
		}
		f.handle(msg("big", v1("E1", paths...)))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		calls := f.cf.get()
		if len(calls) < 2 {
			t.Fatalf("calls = %d, want 2 chunks", len(calls))
		}
		if _, ok := f.q.deletedAt("big"); ok {
			t.Fatal("deleted while one chunk was still failing")
		}
		time.Sleep(2 * time.Second) // backoff then retry
		synctest.Wait()
		calls = f.cf.get()
		if len(calls) != 3 || calls[2].ref != calls[1].ref {
			t.Fatalf("transient retry must resend the same request (same CallerReference): %d calls", len(calls))
		}
		if _, ok := f.q.deletedAt("big"); !ok {
			t.Fatal("not deleted after every chunk was accepted")
		}
	})
}

func TestQuotaRefusalBacksOffAndMergesNewerPaths(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		f.cf.script = func(n int, _ invalidate.Request) error {
			if n == 0 {
				return fmt.Errorf("cloudfront CreateInvalidation E1: %w", &cftypes.TooManyInvalidationsInProgress{Message: new(string)})
			}
			return nil
		}
		f.handle(msg("m1", v1("E1", "/a")))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if len(f.cf.get()) != 1 {
			t.Fatal("first request not sent")
		}
		f.handle(msg("m2", v1("E1", "/b")))
		time.Sleep(500 * time.Millisecond) // within the 0.75 s backoff
		synctest.Wait()
		if len(f.cf.get()) != 1 {
			t.Fatal("retried within the backoff")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		calls := f.cf.get()
		if len(calls) != 2 {
			t.Fatalf("calls = %d, want the retry after the backoff", len(calls))
		}
		if !slices.Equal(calls[1].req.Paths, []string{"/a", "/b"}) || !slices.Equal(calls[1].req.MessageIDs, []string{"m1", "m2"}) {
			t.Fatalf("retry %+v should merge the newer message", calls[1].req)
		}
		for _, id := range []string{"m1", "m2"} {
			if _, ok := f.q.deletedAt(id); !ok {
				t.Fatalf("%s not deleted after the merged retry was accepted", id)
			}
		}
	})
}

func TestNoHeadroomHoldsUntilRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, func(o *Options) {
			o.Gate = policy.New(policy.Options{Default: policy.Target{}})
		})
		f.v.inFiles = 3000 // CloudFront is full
		f.handle(msg("m", v1("E1", "/a")))
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if len(f.cf.get()) != 0 {
			t.Fatalf("submitted into a full quota")
		}
		f.v.mu.Lock()
		f.v.inFiles = 0
		f.v.mu.Unlock()
		time.Sleep(5 * time.Second) // the recheck
		synctest.Wait()
		if _, ok := f.q.deletedAt("m"); !ok || len(f.cf.get()) != 1 {
			t.Fatalf("not submitted once room freed: %d calls", len(f.cf.get()))
		}
	})
}

// TestAccountBudgetCountsRequestsUnderWay: two distributions flush at once
// under one account budget of 10 paths while CloudFront has not answered
// the first request yet. The second flush must count the first's 8 paths
// as spent: together they may not bill more than the budget.
func TestAccountBudgetCountsRequestsUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, func(o *Options) {
			o.Cost = cost.Options{FreePaths: -1, MonthlyBudgetUSD: 0.05} // 10 paths
			o.Gate = policy.New(policy.Options{PauseWhenOverBudget: true, Default: policy.Target{Collapse: collapse.Policy{Never: true}}})
		})
		release := make(chan struct{})
		f.cf.script = func(int, invalidate.Request) error { <-release; return nil }
		var ms []*consumer.Message
		for _, d := range []string{"E1", "E2"} {
			for i := range 8 {
				ms = append(ms, msg(fmt.Sprintf("%s-%d", d, i), v1(d, fmt.Sprintf("/%s/%d.html", d, i))))
			}
		}
		f.handle(ms...)
		time.Sleep(15 * time.Second) // both windows are over; the requests wait for an answer
		synctest.Wait()
		underWay := 0
		for _, c := range f.cf.get() {
			underWay += len(c.req.Paths)
		}
		close(release)
		time.Sleep(time.Minute)
		synctest.Wait()
		billed := 0
		for _, c := range f.cf.get() {
			billed += len(c.req.Paths)
		}
		if underWay > 10 || billed > 10 {
			t.Fatalf("%d paths were under way at once and %d billed in all, over a 10-path account budget", underWay, billed)
		}
		if billed < 8 {
			t.Fatalf("billed %d paths, want the first request's 8 at least", billed)
		}
	})
}

func TestBudgetHoldsWhatWouldCrossIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, func(o *Options) {
			o.Cost = cost.Options{FreePaths: -1, MonthlyBudgetUSD: 0.05} // 10 paths
			// collapse never: "/*" would cover all 15 for one billed path.
			o.Gate = policy.New(policy.Options{PauseWhenOverBudget: true, Default: policy.Target{Collapse: collapse.Policy{Never: true}}})
		})
		var ms []*consumer.Message
		for i := range 15 {
			ms = append(ms, msg(fmt.Sprintf("m%02d", i), v1("E1", fmt.Sprintf("/x%02d.html", i))))
		}
		f.handle(ms...)
		time.Sleep(time.Minute)
		synctest.Wait()
		billed := 0
		for _, c := range f.cf.get() {
			billed += len(c.req.Paths)
		}
		if billed > 10 {
			t.Fatalf("billed %d paths over a 10-path budget", billed)
		}
		if f.w.Pending() == 0 {
			t.Fatalf("everything settled: the budget should hold some")
		}
		// The month unknown: nothing at all.
		g := newFixture(t, func(o *Options) {
			o.Cost = cost.Options{FreePaths: -1, MonthlyBudgetUSD: 1}
			o.Gate = policy.New(policy.Options{PauseWhenOverBudget: true})
		})
		g.v.spend = cfview.Spend{}
		g.handle(msg("u", v1("E1", "/u")))
		time.Sleep(time.Minute)
		synctest.Wait()
		if len(g.cf.get()) != 0 {
			t.Fatalf("spent before the month's history was known")
		}
	})
}

func TestPermanentDeadLettersOnlyTheMessagesConcerned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		f.cf.script = func(_ int, r invalidate.Request) error {
			if r.Distribution == "E2" {
				return &cftypes.NoSuchDistribution{Message: new(string)}
			}
			return nil
		}
		f.handle(msg("good", v1("E1", "/a")), msg("gone1", v1("E2", "/b")), msg("gone2", v1("E2", "/c")))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if _, ok := f.q.deletedAt("good"); !ok {
			t.Fatal("good message not deleted")
		}
		for _, id := range []string{"gone1", "gone2"} {
			if r, ok := f.q.deadOf(id); !ok || r.Code != "cloudfront_NoSuchDistribution" || r.Reason == "" {
				t.Fatalf("%s dead-letter = %+v, %v", id, r, ok)
			}
		}
		if f.w.Pending() != 0 {
			t.Fatalf("pending %d", f.w.Pending())
		}
		snap := f.w.Snapshot(context.Background())
		if snap.DeadLettered.Total != 2 || snap.DeadLettered.ByReason[0].Code != "cloudfront_NoSuchDistribution" {
			t.Fatalf("status dead letters %+v", snap.DeadLettered)
		}
	})
}

func TestInvalidArgumentIsolatesTheCulprit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		f.cf.script = func(_ int, r invalidate.Request) error {
			if slices.Contains(r.Paths, "/bad") {
				return &cftypes.InvalidArgument{Message: new(string)}
			}
			return nil
		}
		f.handle(msg("ok1", v1("E1", "/a")), msg("bad", v1("E1", "/bad")), msg("ok2", v1("E1", "/c")))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if len(f.cf.get()) != 4 {
			t.Fatalf("calls = %d, want the batch and then one per message", len(f.cf.get()))
		}
		for _, id := range []string{"ok1", "ok2"} {
			if _, ok := f.q.deletedAt(id); !ok {
				t.Fatalf("%s not deleted", id)
			}
		}
		if r, ok := f.q.deadOf("bad"); !ok || r.Code != "cloudfront_InvalidArgument" {
			t.Fatalf("culprit dead-letter = %+v %v", r, ok)
		}
		if len(f.q.dead) != 1 {
			t.Fatalf("dead-lettered %d messages, want only the culprit", len(f.q.dead))
		}
	})
}

func TestBatchTooLargeIsHalvedNotDeadLettered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		f.cf.script = func(_ int, r invalidate.Request) error {
			if len(r.Paths) > 3 { // a CloudFront with a smaller batch limit than we assume
				return &cftypes.BatchTooLarge{Message: new(string)}
			}
			return nil
		}
		var ms []*consumer.Message
		for i := range 10 {
			ms = append(ms, msg(fmt.Sprintf("m%d", i), v1("E1", fmt.Sprintf("/p%d", i))))
		}
		f.handle(ms...)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if len(f.q.dead) != 0 {
			t.Fatalf("dead-lettered %d messages for the worker's own batch size", len(f.q.dead))
		}
		for _, m := range ms {
			if _, ok := f.q.deletedAt(m.ID); !ok {
				t.Fatalf("%s not deleted after the halves were accepted", m.ID)
			}
		}
	})
}

func TestPoisonAndPartialMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		f.handle(
			msg("junk", "not json"),
			msg("nodist", `{"paths":["/a"]}`),
			msg("stranger", v1("EOTHER", "/a")),
			msg("allbad", v1("E1", "no-slash")),
			msg("mixed", v1("E1", "/ok", "also bad")),
			msg("good", v1("E1", "/g")),
		)
		want := map[string]string{"junk": message.CodeMalformed, "nodist": message.CodeMissingDistribution,
			"stranger": message.CodeDistributionNotAllowed, "allbad": message.CodeInvalidPath}
		for id, code := range want {
			if r, _ := f.q.deadOf(id); r.Code != code || r.Reason == "" {
				t.Errorf("%s: dead-letter %+v, want code %s with a reason", id, r, code)
			}
		}
		if len(f.q.parts) != 1 || f.q.parts[0].Code != message.CodeInvalidPath || !strings.Contains(string(f.q.parts[0].Body), "also bad") {
			t.Fatalf("partial rejection = %+v", f.q.parts)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		calls := f.cf.get()
		if len(calls) != 1 || !slices.Equal(calls[0].req.Paths, []string{"/g", "/ok"}) {
			t.Fatalf("submitted %+v", calls)
		}
		for _, id := range []string{"mixed", "good"} {
			if _, ok := f.q.deletedAt(id); !ok {
				t.Fatalf("%s not deleted", id)
			}
		}
	})
}

func TestMultiDistributionMessageWaitsForBoth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		release := make(chan struct{})
		f.cf.script = func(_ int, r invalidate.Request) error {
			if r.Distribution == "E2" {
				<-release
			}
			return nil
		}
		dec, err := message.NewDecoder(message.Options{Distributions: []message.Distribution{
			{ID: "E1", S3: []message.S3Source{{Bucket: "site"}}}, {ID: "E2", S3: []message.S3Source{{Bucket: "site"}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		f.w.dec = dec
		s3 := `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"site"},"object":{"key":"a.html"}}}]}`
		f.handle(msg("s3", s3))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if _, ok := f.q.deletedAt("s3"); ok {
			t.Fatal("deleted before the second distribution accepted")
		}
		close(release)
		synctest.Wait()
		if _, ok := f.q.deletedAt("s3"); !ok {
			t.Fatal("not deleted after both accepted")
		}
	})
}

func TestTagsDeduplicatedWithoutCase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		f.handle(msg("a", `{"distribution_id":"E1","tags":["Brand:Acme"]}`), msg("b", `{"distribution_id":"E1","paths":["#brand:acme"]}`))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		calls := f.cf.get()
		if len(calls) != 1 || !slices.Equal(calls[0].req.Paths, []string{"#brand:acme"}) {
			t.Fatalf("submitted %+v: one spelling, billed once", calls)
		}
	})
}

func TestPauseResumeAndFlushOneDistribution(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		if err := f.w.Pause("E1", "migration <b>now</b>", "tester"); err != nil {
			t.Fatal(err)
		}
		if err := f.w.Pause("ENOPE", "x", "tester"); err == nil {
			t.Fatal("pausing an unknown distribution succeeded")
		}
		f.handle(msg("m1", v1("E1", "/a")), msg("m2", v1("E2", "/b")))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		calls := f.cf.get()
		if len(calls) != 1 || calls[0].req.Distribution != "E2" {
			t.Fatalf("calls %+v: only E2 goes while E1 is paused", calls)
		}
		snap := f.w.Snapshot(context.Background())
		var e1 *struct{ waiting string }
		for _, d := range snap.Distributions {
			if d.ID == "E1" {
				if d.Paused == nil || d.Paused.Reason != "migration <b>now</b>" || len(d.Waiting) == 0 || d.Waiting[0].Code != policy.HeldPaused {
					t.Fatalf("E1 status %+v", d)
				}
				e1 = &struct{ waiting string }{d.Waiting[0].Text}
			}
		}
		if e1 == nil {
			t.Fatal("E1 missing from the snapshot")
		}
		if err := f.w.Resume("E1", "tester"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if _, ok := f.q.deletedAt("m1"); !ok {
			t.Fatal("m1 not submitted after resume")
		}
		// Flush: a young message goes now.
		f.handle(msg("m3", v1("E1", "/c")))
		if err := f.w.Flush("E1", "tester"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if _, ok := f.q.deletedAt("m3"); !ok {
			t.Fatal("flush did not submit the young message")
		}
		if acts := f.w.Snapshot(context.Background()).Actions; len(acts) != 3 || acts[0].Action != "flush" {
			t.Fatalf("actions %+v", acts)
		}
	})
}

type lifecycle struct {
	released int
}

func (l *lifecycle) Start(context.Context, context.Context, consumer.Handler) {}
func (l *lifecycle) Ready() <-chan struct{}                                   { return nil }
func (l *lifecycle) StopReceiving()                                           {}
func (l *lifecycle) WaitPollersFor(time.Duration) bool                        { return true }
func (l *lifecycle) WaitPollers()                                             {}
func (l *lifecycle) WaitBackground()                                          {}
func (l *lifecycle) Held() int                                                { return 0 }
func (l *lifecycle) ReleaseAll(context.Context) int {
	l.released++
	return 0
}

func TestShutdownFlushesOpenBatchesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		f.handle(msg("m1", v1("E1", "/a")), msg("m2", v1("E2", "/b")))
		start := time.Now()
		l := &lifecycle{}
		f.w.Shutdown(l, 30*time.Second, func() {}, func() {})
		if time.Since(start) > time.Second {
			t.Fatalf("shutdown took %v with a healthy CloudFront", time.Since(start))
		}
		if len(f.cf.get()) != 2 {
			t.Fatalf("open batches not flushed: %d calls", len(f.cf.get()))
		}
		for _, id := range []string{"m1", "m2"} {
			if _, ok := f.q.deletedAt(id); !ok {
				t.Fatalf("%s not deleted before exit", id)
			}
		}
		if l.released != 2 {
			t.Fatal("ReleaseAll not called")
		}
	})
}

func TestShutdownGivesUpAfterGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		f.cf.script = func(int, invalidate.Request) error {
			return &smithy.GenericAPIError{Code: "ServiceUnavailable", Fault: smithy.FaultServer}
		}
		f.handle(msg("m1", v1("E1", "/a")))
		start := time.Now()
		f.w.Shutdown(&lifecycle{}, 5*time.Second, func() {}, func() {})
		if d := time.Since(start); d < 5*time.Second || d > 6*time.Second {
			t.Fatalf("shutdown took %v, want the 5 s grace", d)
		}
		if _, ok := f.q.deletedAt("m1"); ok {
			t.Fatal("deleted without acceptance")
		}
		if len(f.q.dead) != 0 {
			t.Fatal("transient failures must never dead-letter")
		}
	})
}

func TestJitterDelaysFlushWithinBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, func(o *Options) { o.Jitter = time.Second })
		start := time.Now()
		f.handle(msg("m", v1("E1", "/a")))
		time.Sleep(12 * time.Second)
		synctest.Wait()
		calls := f.cf.get()
		if len(calls) != 1 {
			t.Fatalf("calls %d", len(calls))
		}
		if d := calls[0].at.Sub(start); d < 10*time.Second || d >= 11*time.Second {
			t.Fatalf("flushed after %v, want within [window, window+jitter)", d)
		}
	})
}

// TestTransientRetryLooksAgainFirst: CloudFront answers the first request
// with a 503; during the backoff a replica invalidates the shared page. The
// retry is a new flush with a fresh look, so it sends only the page nobody
// covered — a blind resend of the same request would pay for /home twice.
func TestTransientRetryLooksAgainFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		f.cf.script = func(n int, _ invalidate.Request) error {
			if n == 0 {
				return &smithy.GenericAPIError{Code: "ServiceUnavailable", Fault: smithy.FaultServer}
			}
			return nil
		}
		var mu sync.Mutex
		replicaAt := time.Time{}
		f.v.onFresh = func(target string) {
			mu.Lock()
			at := replicaAt
			mu.Unlock()
			if !at.IsZero() {
				f.w.Observed(cfview.Invalidation{Target: target, ID: "R1", Created: at, Items: []string{"/home"}, Origin: cfview.OriginFleet})
			}
		}
		m := &consumer.Message{ID: "m", Body: v1("E1", "/home", "/post-1"), SentMs: time.Now().UnixMilli()}
		f.handle(m)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if calls := f.cf.get(); len(calls) != 1 {
			t.Fatalf("calls at the window's end = %d, want 1", len(calls))
		}
		if ws := waitsOf(f.w.Snapshot(context.Background()), "E1"); len(ws) == 0 || ws[0].Code != "backoff" ||
			!strings.Contains(ws[0].Text, "ServiceUnavailable") {
			t.Fatalf("the status does not say why the work waits: %+v", ws)
		}
		mu.Lock()
		replicaAt = time.Now().Add(100 * time.Millisecond) // a replica's flush, during our backoff
		mu.Unlock()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		calls := f.cf.get()
		if len(calls) != 2 || !slices.Equal(calls[1].req.Paths, []string{"/post-1"}) {
			t.Fatalf("retry sent %+v, want only /post-1 (the replica covered /home)", calls[1:])
		}
		if _, ok := f.q.deletedAt("m"); !ok {
			t.Fatal("m not deleted after both its items were covered")
		}
	})
}

func waitsOf(s status.Snapshot, target string) []status.Wait {
	for _, d := range s.Distributions {
		if d.ID == target {
			return d.Waiting
		}
	}
	return nil
}
