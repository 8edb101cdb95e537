package cfview

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// fakeSource is a distribution's invalidations in memory, newest last.
type fakeSource struct {
	mu    sync.Mutex
	all   []Detail
	lists int
	gets  map[string]int
	fail  error
}

func (f *fakeSource) add(d Detail) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.all = append(f.all, d)
}

func (f *fakeSource) complete(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.all {
		if f.all[i].ID == id {
			f.all[i].Status = "Completed"
		}
	}
}

func (f *fakeSource) List(_ context.Context, marker string, maxItems int32) ([]Summary, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if f.fail != nil {
		return nil, "", f.fail
	}
	start := len(f.all) - 1
	if marker != "" {
		start = slices.IndexFunc(f.all, func(d Detail) bool { return d.ID == marker }) - 1
	}
	var page []Summary
	for i := start; i >= 0 && len(page) < int(maxItems); i-- {
		page = append(page, f.all[i].Summary)
	}
	next := ""
	if len(page) > 0 && start-len(page) >= 0 {
		next = page[len(page)-1].ID
	}
	return page, next, nil
}

func (f *fakeSource) Get(_ context.Context, id string) (Detail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gets == nil {
		f.gets = map[string]int{}
	}
	f.gets[id]++
	for _, d := range f.all {
		if d.ID == id {
			return d, nil
		}
	}
	return Detail{}, fmt.Errorf("no such invalidation %s", id)
}

func (f *fakeSource) counts() (lists int, gets map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := map[string]int{}
	for k, v := range f.gets {
		g[k] = v
	}
	return f.lists, g
}

func detail(id string, created time.Time, status, ref string, items ...string) Detail {
	return Detail{Summary: Summary{ID: id, Created: created, Status: status}, Reference: ref, Items: items}
}

type recorder struct {
	mu        sync.Mutex
	seen      []Invalidation
	completed []Invalidation
}

func (r *recorder) onInv(inv Invalidation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, inv)
}

func (r *recorder) onDone(inv Invalidation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.completed = append(r.completed, inv)
}

func (r *recorder) ids() (seen, done []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, i := range r.seen {
		seen = append(seen, i.ID)
	}
	for _, i := range r.completed {
		done = append(done, i.ID)
	}
	return seen, done
}

func newTestView(src Source, rec *recorder, o Options) *View {
	o.Sources = map[string]Source{"E1": src}
	o.FleetReference = func(ref string) bool { return strings.HasPrefix(ref, "cfinv1-") }
	if rec != nil {
		o.OnInvalidation, o.OnCompleted = rec.onInv, rec.onDone
	}
	return New(o)
}

func TestRefreshFetchesEachNewInvalidationOnceAndClassifies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		src := &fakeSource{}
		src.add(detail("I1", now.Add(-time.Minute), "Completed", "cfinv1-abc", "/a", "#Brand:Acme"))
		src.add(detail("I2", now.Add(-30*time.Second), "InProgress", "console-123", "/img/*", "/b"))
		rec := &recorder{}
		v := newTestView(src, rec, Options{})
		if err := v.Fresh(context.Background(), "E1", time.Second); err != nil {
			t.Fatal(err)
		}
		if err := v.Fresh(context.Background(), "E1", time.Second); err != nil {
			t.Fatal(err)
		}
		lists, gets := src.counts()
		if lists != 1 || gets["I1"] != 1 || gets["I2"] != 1 {
			t.Fatalf("lists %d gets %v: want one list (the view is fresh) and one Get per id", lists, gets)
		}
		recs := v.Recorded("E1")
		if len(recs) != 2 || recs[0].ID != "I2" || recs[0].Origin != OriginOther || recs[1].Origin != OriginFleet {
			t.Fatalf("recorded %+v", recs)
		}
		if !slices.Equal(recs[1].Items, []string{"/a", "#brand:acme"}) {
			t.Fatalf("items not canonical: %q", recs[1].Items)
		}
		if seen, _ := rec.ids(); !slices.Equal(seen, []string{"I2", "I1"}) {
			t.Fatalf("OnInvalidation got %q", seen)
		}
		if f, w := v.InProgress("E1"); f != 1 || w != 1 {
			t.Fatalf("in progress %d files %d wildcards, want I2's 1 and 1", f, w)
		}
		time.Sleep(2 * time.Second)
		src.complete("I2")
		if err := v.Fresh(context.Background(), "E1", time.Second); err != nil {
			t.Fatal(err)
		}
		if _, done := rec.ids(); !slices.Equal(done, []string{"I2"}) {
			t.Fatalf("OnCompleted got %q", done)
		}
		if f, w := v.InProgress("E1"); f != 0 || w != 0 {
			t.Fatalf("in progress after completion: %d %d", f, w)
		}
		if _, gets := src.counts(); gets["I2"] != 1 {
			t.Fatalf("I2 fetched %d times; its items never change", gets["I2"])
		}
	})
}

func TestOwnSubmissionsAreNeverFetched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{}
		rec := &recorder{}
		v := newTestView(src, rec, Options{})
		created := time.Now()
		v.Submitted(Invalidation{Target: "E1", ID: "I9", Created: created, Status: "InProgress", Items: []string{"/x", "/y/*"}, Messages: 3})
		if f, w := v.InProgress("E1"); f != 1 || w != 1 {
			t.Fatalf("own submission not counted at once: %d %d", f, w)
		}
		src.add(detail("I9", created, "InProgress", "cfinv1-x", "/x", "/y/*"))
		time.Sleep(time.Second)
		if err := v.Fresh(context.Background(), "E1", 0); err != nil {
			t.Fatal(err)
		}
		if _, gets := src.counts(); gets["I9"] != 0 {
			t.Fatalf("own invalidation fetched")
		}
		if seen, _ := rec.ids(); len(seen) != 0 {
			t.Fatalf("own invalidation reported as someone else's: %q", seen)
		}
		if r := v.Recorded("E1"); len(r) != 1 || r[0].Origin != OriginOwn || r[0].Messages != 3 {
			t.Fatalf("recorded %+v", r)
		}
		// moto answers COMPLETED at once: completion is reported at once.
		v.Submitted(Invalidation{Target: "E1", ID: "I10", Status: "COMPLETED", Items: []string{"/z"}})
		if _, done := rec.ids(); !slices.Equal(done, []string{"I10"}) {
			t.Fatalf("completed own not reported: %q", done)
		}
	})
}

func TestRefreshPagesOnlyWhileNewOrInProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		src := &fakeSource{}
		for i := range 450 {
			src.add(detail(fmt.Sprintf("I%03d", i), now.Add(time.Duration(i-450)*time.Second), "Completed", "", "/p"))
		}
		v := newTestView(src, nil, Options{MaxPages: 3})
		if err := v.Fresh(context.Background(), "E1", 0); err != nil {
			t.Fatal(err)
		}
		if lists, _ := src.counts(); lists != 3 {
			t.Fatalf("first refresh listed %d pages, want the bound of 3", lists)
		}
		src.add(detail("NEW", now, "InProgress", "", "/q"))
		time.Sleep(time.Second)
		if err := v.Fresh(context.Background(), "E1", 0); err != nil {
			t.Fatal(err)
		}
		// Page 1 holds NEW and 99 known completed ones: NEW is new, so one
		// more page is read; that page has nothing new: stop.
		if lists, _ := src.counts(); lists != 5 {
			t.Fatalf("second refresh listed %d pages in all, want 2 more", lists)
		}
	})
}

func TestFreshSharesOneRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{}
		src.add(detail("I1", time.Now(), "InProgress", "", "/a"))
		v := newTestView(src, nil, Options{})
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if err := v.Fresh(context.Background(), "E1", time.Second); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if lists, gets := src.counts(); lists != 1 || gets["I1"] != 1 {
			t.Fatalf("5 concurrent Fresh: %d lists, %v gets", lists, gets)
		}
	})
}

func TestUnsizedInProgressCountsAsLargestAndAssumedCompleteLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{}
		v := newTestView(src, nil, Options{AssumeCompleteAfter: 10 * time.Minute})
		// Listed, but the Get fails: size unknown.
		src.add(detail("I1", time.Now(), "InProgress", "", "/a"))
		src.mu.Lock()
		src.all[0].ID = "I1"
		src.mu.Unlock()
		v.mu.Lock()
		v.noteLocked(v.targets["E1"], Summary{ID: "I1", Created: time.Now(), Status: "InProgress"}, time.Now(), new([]event))
		v.targets["E1"].listed = time.Now()
		v.mu.Unlock()
		if f, w := v.InProgress("E1"); f != MaxFiles || w != MaxWildcards {
			t.Fatalf("unsized in-progress counted %d/%d, want the largest batch", f, w)
		}
		// Twenty minutes on, not listed by the latest refresh (the page
		// bound hides it): no longer counted.
		time.Sleep(20 * time.Minute)
		v.mu.Lock()
		v.targets["E1"].listed = time.Now()
		v.mu.Unlock()
		if f, w := v.InProgress("E1"); f != 0 || w != 0 {
			t.Fatalf("stale in-progress still counted: %d %d", f, w)
		}
	})
}

func TestMonthHistoryRebuildsSpend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// synctest's clock starts at 2000-01-01 00:00 UTC: move into the month.
		time.Sleep(10 * 24 * time.Hour)
		now := time.Now()
		src := &fakeSource{}
		src.add(detail("OLD", now.Add(-20*24*time.Hour), "Completed", "", "/last-month")) // December 1999
		for i := range 200 {                                                              // the last 200 hours, all in January
			src.add(detail(fmt.Sprintf("I%03d", i), now.Add(-time.Duration(200-i)*time.Hour), "Completed", "", "/a", "/b/*", "#t"))
		}
		v := newTestView(src, nil, Options{ReadRate: 1000, ReadBurst: 1000})
		if s := v.Spend("E1"); s.Listed {
			t.Fatalf("spend known before any listing: %+v", s)
		}
		if _, ok := v.Spend("E1").Upper(); ok {
			t.Fatalf("an upper bound before the history was listed")
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { v.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		time.Sleep(time.Second)
		synctest.Wait()
		s := v.Spend("E1")
		if !s.Known() || s.Paths != 200*3 {
			t.Fatalf("spend %+v, want 600 paths known", s)
		}
		if _, gets := src.counts(); gets["OLD"] != 0 {
			t.Fatalf("last month's invalidation fetched")
		}
	})
}

func TestTruncatedHistoryHasNoUpperBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(20 * 24 * time.Hour)
		src := &fakeSource{}
		for i := range 300 {
			src.add(detail(fmt.Sprintf("I%03d", i), time.Now().Add(-time.Duration(300-i)*time.Minute), "Completed", "", "/a"))
		}
		v := newTestView(src, nil, Options{HistoryPages: 2, ReadRate: 1000, ReadBurst: 1000})
		v.history(context.Background(), v.targets["E1"], v.log)
		s := v.Spend("E1")
		if !s.Truncated || s.Known() {
			t.Fatalf("spend %+v: want truncated", s)
		}
		if _, ok := s.Upper(); ok {
			t.Fatalf("a truncated history gave an upper bound")
		}
	})
}

func TestUpperBoundCountsUnsizedAsLargest(t *testing.T) {
	s := Spend{Listed: true, Paths: 10, Unsized: 2}
	if u, ok := s.Upper(); !ok || u != 10+2*(MaxFiles+MaxWildcards) {
		t.Fatalf("upper %d %v", u, ok)
	}
}

func TestCadenceActiveAndIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(24 * time.Hour)
		src := &fakeSource{}
		v := newTestView(src, nil, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { v.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		time.Sleep(10*time.Minute + time.Second)
		synctest.Wait()
		idle, _ := src.counts()
		v.SetActive("E1", true)
		time.Sleep(time.Minute) // active from the next active slot on (TestActivationCutsTheIdleWait)
		synctest.Wait()
		before, _ := src.counts()
		time.Sleep(time.Minute)
		synctest.Wait()
		after, _ := src.counts()
		// First refresh + history scan, then one a minute for 10 minutes.
		if idle != 12 {
			t.Fatalf("idle: %d lists in 10 min, want 12 (refresh, history, 10)", idle)
		}
		if after-before != 12 {
			t.Fatalf("active: %d lists a minute, want 12", after-before)
		}
	})
}

// TestActivationCutsTheIdleWait: a target idle at its last refresh waits
// the idle interval (a minute) for the next. When the worker then holds
// messages for it (SetActive) or submits an invalidation to it, the active
// cadence applies at once, counted from the last refresh: completion
// tracking and the in-progress count (which a tenant's pool mates read)
// must not lag CloudFront by up to a minute.
func TestActivationCutsTheIdleWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{}
		rec := &recorder{}
		v := newTestView(src, rec, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { v.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		synctest.Wait() // first refresh and history: idle, next refresh in a minute
		start, _ := src.counts()

		// Active 2 s into the idle wait: the next refresh comes 5 s after
		// the last one, then every 5 s.
		time.Sleep(2 * time.Second)
		v.SetActive("E1", true)
		time.Sleep(3*time.Second - time.Millisecond)
		synctest.Wait()
		if n, _ := src.counts(); n != start {
			t.Fatalf("%d refreshes before the active interval passed, want none", n-start)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if n, _ := src.counts(); n != start+1 {
			t.Fatalf("%d refreshes 5 s after the last, want 1", n-start)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if n, _ := src.counts(); n != start+2 {
			t.Fatalf("%d refreshes 10 s after the last idle one, want 2", n-start)
		}

		// Idle again (at the next refresh the wait is a minute), then an own
		// invalidation: its completion is seen within the active interval.
		v.SetActive("E1", false)
		time.Sleep(5 * time.Second)
		synctest.Wait() // this refresh arms the idle wait
		created := time.Now()
		v.Submitted(Invalidation{Target: "E1", ID: "I1", Created: created, Status: "InProgress", Items: []string{"/a"}})
		src.add(detail("I1", created, "InProgress", "cfinv1-x", "/a"))
		time.Sleep(time.Second)
		src.complete("I1")
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if _, got := rec.ids(); !slices.Equal(got, []string{"I1"}) {
			t.Fatalf("completed own invalidation reported %q 5 s after the last refresh, want I1 (not after the idle minute)", got)
		}
		if f, _ := v.InProgress("E1"); f != 0 {
			t.Fatalf("%d files still counted in progress after the completion was listed", f)
		}
	})
}

func TestReadRateBoundsCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{}
		for i := range 40 {
			src.add(detail(fmt.Sprintf("I%02d", i), time.Now(), "InProgress", "", "/a"))
		}
		rec := &recorder{}
		v := newTestView(src, rec, Options{ReadRate: 5, ReadBurst: 1})
		start := time.Now()
		if err := v.Fresh(context.Background(), "E1", 0); err != nil {
			t.Fatal(err)
		}
		// The flush's refresh: 1 List + the 5 newest Gets at 5/s with a
		// burst of 1, 5 waits of 200 ms; the other 35 are left to the sizer.
		if took := time.Since(start); took != time.Second {
			t.Fatalf("a refresh meeting 40 new invalidations took %v, want 1 s (a List and 5 Gets at 5/s)", took)
		}
		if seen, _ := rec.ids(); len(seen) != inlineSizes {
			t.Fatalf("the refresh sized %d, want the %d newest", len(seen), inlineSizes)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go v.Run(ctx)
		// The sizer does the rest in the background, still within 5/s: 35
		// Gets (plus Run's own first List and its month's history) take at
		// least 7 s more.
		deadline := start.Add(30 * time.Second)
		for {
			time.Sleep(100 * time.Millisecond)
			if seen, _ := rec.ids(); len(seen) == 40 {
				break
			}
			if time.Now().After(deadline) {
				seen, _ := rec.ids()
				t.Fatalf("the sizer sized %d of 40 in 30 s", len(seen))
			}
		}
		if took := time.Since(start); took < 8*time.Second {
			t.Fatalf("41 calls took %v, want at least 8 s at 5/s", took)
		}
		cancel()
		synctest.Wait()
	})
}

// The view against the CloudFront simulator through the real SDK client:
// listing, paging, sizing and completion on the wire.
func TestAgainstSimulator(t *testing.T) {
	sim := cfsim.New(cfsim.Options{Distributions: []string{"E1"}, CompleteAfter: time.Hour})
	hs := httptest.NewServer(sim)
	defer hs.Close()
	cf := cloudfront.NewFromConfig(testenv.AWSConfig(), func(o *cloudfront.Options) { o.BaseEndpoint = aws.String(hs.URL) })
	for i := range 130 {
		_, err := cf.CreateInvalidation(context.Background(), &cloudfront.CreateInvalidationInput{
			DistributionId: aws.String("E1"),
			InvalidationBatch: &cftypes.InvalidationBatch{CallerReference: aws.String(fmt.Sprintf("ref-%d", i)),
				Paths: &cftypes.Paths{Quantity: aws.Int32(2), Items: []string{fmt.Sprintf("/p/%d", i), "#Tag"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{}
	v := New(Options{Sources: map[string]Source{"E1": Distribution(cf, "E1")}, ReadRate: 1000, ReadBurst: 1000,
		OnInvalidation: rec.onInv, OnCompleted: rec.onDone})
	if err := v.Fresh(context.Background(), "E1", 0); err != nil {
		t.Fatal(err)
	}
	// A refresh sizes the newest few itself; until the sizer has done the
	// rest, each unsized one in progress counts as the largest possible.
	if f, _ := v.InProgress("E1"); f <= 260 {
		t.Fatalf("in progress %d files with %d unsized, want more than 260: an unsized invalidation counts as the largest", f, 130-inlineSizes)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go v.Run(ctx)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if seen, _ := rec.ids(); len(seen) == 130 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sizer did not size all 130 within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if f, w := v.InProgress("E1"); f != 260 || w != 0 {
		t.Fatalf("in progress %d/%d, want 260 files (130 × a path and a tag)", f, w)
	}
	if seen, _ := rec.ids(); len(seen) != 130 {
		t.Fatalf("sized %d of 130", len(seen))
	}
	if r := v.Recorded("E1"); !slices.Contains(r[0].Items, "#tag") || r[0].Origin != OriginOther {
		t.Fatalf("newest %+v", r[0])
	}
	sim.CompleteAll()
	if err := v.Fresh(context.Background(), "E1", 0); err != nil {
		t.Fatal(err)
	}
	if _, done := rec.ids(); len(done) != 130 {
		t.Fatalf("completions seen %d of 130", len(done))
	}
	if f, _ := v.InProgress("E1"); f != 0 {
		t.Fatalf("in progress after completion %d", f)
	}
}

// A distribution tenant's view reads the tenant's own invalidations
// through the …ForDistributionTenant operations, on the wire.
func TestTenantAgainstSimulator(t *testing.T) {
	sim := cfsim.New(cfsim.Options{Distributions: []string{"E1"}, Tenants: map[string]string{"dt_a": "E1"}, CompleteAfter: time.Hour})
	hs := httptest.NewServer(sim)
	defer hs.Close()
	cf := cloudfront.NewFromConfig(testenv.AWSConfig(), func(o *cloudfront.Options) { o.BaseEndpoint = aws.String(hs.URL) })
	ctx := context.Background()
	if _, err := cf.CreateInvalidationForDistributionTenant(ctx, &cloudfront.CreateInvalidationForDistributionTenantInput{
		Id: aws.String("dt_a"),
		InvalidationBatch: &cftypes.InvalidationBatch{CallerReference: aws.String("t1"),
			Paths: &cftypes.Paths{Quantity: aws.Int32(2), Items: []string{"/t/*", "#Brand"}}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: aws.String("E1"),
		InvalidationBatch: &cftypes.InvalidationBatch{CallerReference: aws.String("d1"),
			Paths: &cftypes.Paths{Quantity: aws.Int32(1), Items: []string{"/d"}}}}); err != nil {
		t.Fatal(err)
	}
	v := New(Options{Sources: map[string]Source{"dt_a": Tenant(cf, "dt_a"), "E1": Distribution(cf, "E1")}, ReadRate: 1000, ReadBurst: 1000})
	if err := v.Fresh(ctx, "dt_a", 0); err != nil {
		t.Fatal(err)
	}
	if err := v.Fresh(ctx, "E1", 0); err != nil {
		t.Fatal(err)
	}
	r := v.Recorded("dt_a")
	if len(r) != 1 || !slices.Equal(r[0].Items, []string{"/t/*", "#brand"}) {
		t.Fatalf("tenant's view %+v", r)
	}
	if f, w := v.InProgress("dt_a"); f != 1 || w != 1 {
		t.Fatalf("tenant in progress %d/%d", f, w)
	}
	if d := v.Recorded("E1"); len(d) != 1 || d[0].Items[0] != "/d" {
		t.Fatalf("distribution's view %+v: the tenant's invalidation is not the distribution's", d)
	}
}
