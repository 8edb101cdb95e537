package quota_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/quota"
	"github.com/acme/cf-invalidator/internal/testenv"
)

const dist = "EDFDVBD6EXAMPLE"

// clock is the fake clock shared by the simulator and the tracker.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a simulator on a real HTTP server, a real SDK client pointed at
// it (retries off: every answer reaches the tracker) and the fake clock.
type env struct {
	sim    *cfsim.Server
	client *cloudfront.Client
	clk    *clock
	refs   int
}

func newEnv(t *testing.T, o cfsim.Options) *env {
	t.Helper()
	clk := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	if o.Distributions == nil && o.Denied == nil {
		o.Distributions = []string{dist}
	}
	o.Now = clk.Now
	sim := cfsim.New(o)
	hs := httptest.NewServer(sim)
	t.Cleanup(hs.Close)
	client := cloudfront.NewFromConfig(testenv.AWSConfig(), func(co *cloudfront.Options) {
		co.BaseEndpoint = aws.String(hs.URL)
		co.Retryer = aws.NopRetryer{}
	})
	return &env{sim: sim, client: client, clk: clk}
}

func (e *env) tracker(o quota.Options) *quota.Tracker {
	o.Now = e.clk.Now
	return quota.New(e.client, o)
}

// create makes an invalidation directly on the simulator, as another
// replica or a person would, and returns its id.
func (e *env) create(t *testing.T, paths ...string) string {
	t.Helper()
	e.refs++
	out, err := e.client.CreateInvalidation(context.Background(), &cloudfront.CreateInvalidationInput{
		DistributionId: aws.String(dist),
		InvalidationBatch: &types.InvalidationBatch{
			CallerReference: aws.String(fmt.Sprintf("ref-%d", e.refs)),
			Paths:           &types.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths},
		},
	})
	if err != nil {
		t.Fatalf("CreateInvalidation: %v", err)
	}
	return aws.ToString(out.Invalidation.Id)
}

// calls counts the simulator's successful answers to op.
func (e *env) calls(op string) int { return e.sim.Stats().Requests[op]["OK"] }

func files(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("/%s/%d.html", prefix, i)
	}
	return out
}

func wildcards(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("/%s/%d/*", prefix, i)
	}
	return out
}

func wantHeadroom(t *testing.T, tr *quota.Tracker, want quota.Headroom) {
	t.Helper()
	got, err := tr.Headroom(context.Background(), dist)
	if err != nil {
		t.Fatalf("Headroom: %v", err)
	}
	if got != want {
		t.Fatalf("Headroom = %+v, want %+v", got, want)
	}
}

// full is the headroom with nothing in progress and the default reserve.
var full = quota.Headroom{Files: 3000 - 100, Wildcards: 15 - 2}

func TestHeadroomDropsAfterSubmissions(t *testing.T) {
	e := newEnv(t, cfsim.Options{CompleteAfter: 10 * time.Minute})
	tr := e.tracker(quota.Options{})
	wantHeadroom(t, tr, full)

	paths := append(files("a", 3), "/img/*", "#tag")
	id := e.create(t, paths...)
	tr.Submitted(dist, id, paths, e.clk.Now())
	// Counted at once, within the TTL: no new list.
	wantHeadroom(t, tr, quota.Headroom{Files: 2900 - 4, Wildcards: 13 - 1})
	if n := e.calls("ListInvalidations"); n != 1 {
		t.Fatalf("ListInvalidations called %d times, want 1", n)
	}
	// Listed by CloudFront and own: counted once; own paths need no Get.
	e.clk.Advance(quota.DefaultTTL)
	wantHeadroom(t, tr, quota.Headroom{Files: 2900 - 4, Wildcards: 13 - 1})
	if n := e.calls("GetInvalidation"); n != 0 {
		t.Fatalf("GetInvalidation called %d times for an own submission", n)
	}
	if f, w := tr.InProgress(dist); f != 4 || w != 1 {
		t.Fatalf("InProgress = %d, %d; want 4, 1", f, w)
	}
}

func TestOwnSubmissionCountsBeforeTheListShowsIt(t *testing.T) {
	e := newEnv(t, cfsim.Options{})
	tr := e.tracker(quota.Options{})
	// Not on the simulator at all: CloudFront's list lags behind.
	tr.Submitted(dist, "ILAGGING", files("a", 10), e.clk.Now())
	wantHeadroom(t, tr, quota.Headroom{Files: 2890, Wildcards: 13})
	e.clk.Advance(quota.DefaultAssumeCompleteAfter - time.Second)
	wantHeadroom(t, tr, quota.Headroom{Files: 2890, Wildcards: 13})
	e.clk.Advance(time.Second)
	wantHeadroom(t, tr, full)
}

func TestManualInvalidationsCount(t *testing.T) {
	e := newEnv(t, cfsim.Options{CompleteAfter: 10 * time.Minute})
	tr := e.tracker(quota.Options{})
	e.create(t, files("manual", 50)...)
	e.create(t, wildcards("manual", 2)...)
	wantHeadroom(t, tr, quota.Headroom{Files: 2850, Wildcards: 11})
	if n := e.calls("GetInvalidation"); n != 2 {
		t.Fatalf("GetInvalidation called %d times, want 2", n)
	}
	// Paths are cached by id: the next scan lists but does not get again.
	e.clk.Advance(quota.DefaultTTL)
	e.create(t, "/one-more")
	wantHeadroom(t, tr, quota.Headroom{Files: 2849, Wildcards: 11})
	if n := e.calls("GetInvalidation"); n != 3 {
		t.Fatalf("GetInvalidation called %d times, want 3", n)
	}
	if n := e.calls("ListInvalidations"); n != 2 {
		t.Fatalf("ListInvalidations called %d times, want 2", n)
	}
}

func TestCompletionFreesRoom(t *testing.T) {
	const completeAfter = 5 * time.Minute
	e := newEnv(t, cfsim.Options{CompleteAfter: completeAfter})
	tr := e.tracker(quota.Options{})
	paths := append(files("a", 100), wildcards("a", 5)...)
	id := e.create(t, paths...)
	tr.Submitted(dist, id, paths, e.clk.Now())
	e.create(t, files("manual", 20)...)
	wantHeadroom(t, tr, quota.Headroom{Files: 2780, Wildcards: 8})

	e.clk.Advance(completeAfter - time.Second) // past the TTL, not yet complete
	wantHeadroom(t, tr, quota.Headroom{Files: 2780, Wildcards: 8})
	e.clk.Advance(quota.DefaultTTL) // complete, and the view is stale
	wantHeadroom(t, tr, full)
	if f, w := tr.InProgress(dist); f != 0 || w != 0 {
		t.Fatalf("InProgress = %d, %d after completion", f, w)
	}
}

func TestCompletedFreesRoomAtOnce(t *testing.T) {
	e := newEnv(t, cfsim.Options{CompleteAfter: time.Hour})
	tr := e.tracker(quota.Options{})
	paths := wildcards("a", 3)
	id := e.create(t, paths...)
	tr.Submitted(dist, id, paths, e.clk.Now())
	wantHeadroom(t, tr, quota.Headroom{Files: 2900, Wildcards: 10})
	tr.Completed(dist, id) // the worker saw it complete; the view still lists it
	wantHeadroom(t, tr, full)
}

func TestViewIsCachedForTTL(t *testing.T) {
	e := newEnv(t, cfsim.Options{CompleteAfter: time.Hour})
	tr := e.tracker(quota.Options{TTL: 30 * time.Second})
	wantHeadroom(t, tr, full)
	e.create(t, "/manual")
	e.clk.Advance(30*time.Second - time.Nanosecond)
	wantHeadroom(t, tr, full) // the view is still trusted
	if n := e.calls("ListInvalidations"); n != 1 {
		t.Fatalf("ListInvalidations called %d times within the TTL, want 1", n)
	}
	e.clk.Advance(time.Nanosecond)
	wantHeadroom(t, tr, quota.Headroom{Files: 2899, Wildcards: 13})
	if n := e.calls("ListInvalidations"); n != 2 {
		t.Fatalf("ListInvalidations called %d times, want 2", n)
	}
}

func TestReserve(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfsim.Options{CompleteAfter: time.Hour})
	wantHeadroom(t, e.tracker(quota.Options{ReserveFiles: 10, ReserveWildcards: -1}),
		quota.Headroom{Files: 2990, Wildcards: 15})
	wantHeadroom(t, e.tracker(quota.Options{MaxFiles: 500, MaxWildcards: 5, ReserveFiles: -1, ReserveWildcards: 1}),
		quota.Headroom{Files: 500, Wildcards: 4})

	// Others filled the distribution into the reserve: no room, never negative.
	e.create(t, files("manual", 2950)...)
	e.create(t, wildcards("manual", 14)...)
	wantHeadroom(t, e.tracker(quota.Options{}), quota.Headroom{})
}

func TestListErrorFallsBackToOwnSubmissions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    cfsim.Options
		code string
	}{
		{"AccessDenied", cfsim.Options{Denied: []string{dist}}, "AccessDenied"},
		{"ServiceUnavailable", cfsim.Options{Distributions: []string{dist}, ErrorRate: 1}, "ServiceUnavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.o)
			tr := e.tracker(quota.Options{})
			tr.Submitted(dist, "IOWN", append(files("a", 7), "/b/*"), e.clk.Now())
			h, err := tr.Headroom(context.Background(), dist)
			if ae, ok := errors.AsType[smithy.APIError](err); !ok || ae.ErrorCode() != tc.code {
				t.Fatalf("Headroom error = %v, want API error %s", err, tc.code)
			}
			if want := (quota.Headroom{Files: 2893, Wildcards: 12}); h != want {
				t.Fatalf("Headroom = %+v, want %+v from own submissions", h, want)
			}
			// Without CloudFront's view, own submissions are assumed
			// complete after AssumeCompleteAfter.
			e.clk.Advance(quota.DefaultAssumeCompleteAfter)
			h, err = tr.Headroom(context.Background(), dist)
			if err == nil || h != full {
				t.Fatalf("Headroom = %+v, %v; want %+v and an error", h, err, full)
			}
		})
	}
}

func TestErrorDropsTheView(t *testing.T) {
	e := newEnv(t, cfsim.Options{CompleteAfter: time.Hour})
	e.create(t, files("manual", 30)...)
	tr := e.tracker(quota.Options{})
	wantHeadroom(t, tr, quota.Headroom{Files: 2870, Wildcards: 13})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.clk.Advance(quota.DefaultTTL)
	h, err := tr.Headroom(ctx, dist)
	if !errors.Is(err, context.Canceled) || h != full {
		t.Fatalf("Headroom = %+v, %v; want %+v (own only) and context.Canceled", h, err, full)
	}
	wantHeadroom(t, tr, quota.Headroom{Files: 2870, Wildcards: 13})
}

func TestScanPagesThroughInProgress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfsim.Options{CompleteAfter: time.Hour})
	for i := range 150 {
		e.create(t, fmt.Sprintf("/p/%d", i))
	}
	wantHeadroom(t, e.tracker(quota.Options{}), quota.Headroom{Files: 2750, Wildcards: 13})
	if n := e.calls("ListInvalidations"); n != 2 {
		t.Fatalf("ListInvalidations called %d times, want 2 pages", n)
	}
}

func TestScanStopsAtAPageWithoutInProgress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfsim.Options{CompleteAfter: time.Minute})
	for i := range 250 {
		e.create(t, fmt.Sprintf("/p/%d", i))
	}
	e.clk.Advance(time.Minute)
	wantHeadroom(t, e.tracker(quota.Options{}), full)
	if n := e.calls("ListInvalidations"); n != 1 {
		t.Fatalf("ListInvalidations called %d times, want 1", n)
	}
	if n := e.calls("GetInvalidation"); n != 0 {
		t.Fatalf("GetInvalidation called %d times for completed invalidations", n)
	}
}

func TestScanStopsAtTheHorizon(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfsim.Options{CompleteAfter: 3 * time.Hour})
	for i := range 150 {
		e.create(t, fmt.Sprintf("/old/%d", i))
	}
	e.clk.Advance(90 * time.Minute)
	e.create(t, "/new")
	// Page 1: the new one and 99 created 90 min ago, beyond ScanBack (1 h):
	// the scan stops there; the other 51 are not counted (documented bound).
	wantHeadroom(t, e.tracker(quota.Options{}), quota.Headroom{Files: 2800, Wildcards: 13})
	if n := e.calls("ListInvalidations"); n != 1 {
		t.Fatalf("ListInvalidations called %d times, want 1", n)
	}
}

func TestScanStopsAtMaxPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfsim.Options{CompleteAfter: time.Hour})
	for i := range 250 {
		e.create(t, fmt.Sprintf("/p/%d", i))
	}
	core, logs := observer.New(zap.WarnLevel)
	tr := e.tracker(quota.Options{MaxPages: 2, Logger: zap.New(core)})
	wantHeadroom(t, tr, quota.Headroom{Files: 2700, Wildcards: 13})
	if n := e.calls("ListInvalidations"); n != 2 {
		t.Fatalf("ListInvalidations called %d times, want 2", n)
	}
	if logs.Len() != 1 {
		t.Fatalf("want one warning about the scan bound, got %v", logs.All())
	}
}

func TestConcurrentCallersShareOneScan(t *testing.T) {
	e := newEnv(t, cfsim.Options{CompleteAfter: time.Hour})
	e.create(t, files("manual", 10)...)
	tr := e.tracker(quota.Options{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			id := fmt.Sprintf("IOWN%d", i)
			tr.Submitted(dist, id, []string{"/x"}, time.Time{})
			if _, err := tr.Headroom(context.Background(), dist); err != nil {
				t.Errorf("Headroom: %v", err)
			}
			tr.InProgress(dist)
			tr.Completed(dist, id)
		})
	}
	wg.Wait()
	if n := e.calls("ListInvalidations"); n != 1 {
		t.Fatalf("ListInvalidations called %d times by concurrent callers, want 1", n)
	}
	wantHeadroom(t, tr, quota.Headroom{Files: 2890, Wildcards: 13})
}

// fakeAPI answers like moto: statuses in capitals. With release set, List
// waits for it and then fails with listErr if that is set.
type fakeAPI struct {
	items   []types.InvalidationSummary
	paths   map[string][]string
	release chan struct{}
	listErr error
	lists   atomic.Int32
	gets    int
}

func (f *fakeAPI) ListInvalidations(context.Context, *cloudfront.ListInvalidationsInput, ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsOutput, error) {
	f.lists.Add(1)
	if f.release != nil {
		<-f.release
	}
	if f.listErr != nil {
		return nil, f.listErr
	}
	return &cloudfront.ListInvalidationsOutput{InvalidationList: &types.InvalidationList{
		Items: f.items, IsTruncated: aws.Bool(false), Quantity: aws.Int32(int32(len(f.items))),
	}}, nil
}

func (f *fakeAPI) GetInvalidation(_ context.Context, in *cloudfront.GetInvalidationInput, _ ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error) {
	f.gets++
	p := f.paths[aws.ToString(in.Id)]
	return &cloudfront.GetInvalidationOutput{Invalidation: &types.Invalidation{
		Id: in.Id, Status: aws.String("INPROGRESS"),
		InvalidationBatch: &types.InvalidationBatch{Paths: &types.Paths{Items: p, Quantity: aws.Int32(int32(len(p)))}},
	}}, nil
}

func TestStatusesComparedWithoutCase(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	summary := func(id, status string) types.InvalidationSummary {
		return types.InvalidationSummary{Id: aws.String(id), Status: aws.String(status), CreateTime: aws.Time(now)}
	}
	api := &fakeAPI{
		items: []types.InvalidationSummary{summary("IDONE", "COMPLETED"), summary("IBUSY", "inprogress")},
		paths: map[string][]string{"IBUSY": {"/a", "/b*"}},
	}
	tr := quota.New(api, quota.Options{Now: func() time.Time { return now }})
	tr.Submitted(dist, "IDONE", files("a", 40), now) // CloudFront says it is done
	wantHeadroom(t, tr, quota.Headroom{Files: 2899, Wildcards: 12})
	if api.gets != 1 {
		t.Fatalf("GetInvalidation called %d times, want 1 (only the in-progress one)", api.gets)
	}
}

// TestWaitersShareTheScanUnderWay holds the first caller's scan open until
// every other caller is blocked waiting for it.
func TestWaitersShareTheScanUnderWay(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				api := &fakeAPI{release: make(chan struct{})}
				if fail {
					api.listErr = errors.New("boom")
				}
				tr := quota.New(api, quota.Options{})
				tr.Submitted(dist, "IOWN", []string{"/a/*"}, time.Time{})
				errs := make(chan error, 5)
				for range 5 {
					go func() {
						h, err := tr.Headroom(context.Background(), dist)
						if h != (quota.Headroom{Files: 2900, Wildcards: 12}) {
							t.Errorf("Headroom = %+v", h)
						}
						errs <- err
					}()
				}
				synctest.Wait() // one caller in List, four waiting for it
				if n := api.lists.Load(); n != 1 {
					t.Fatalf("ListInvalidations called %d times while one scan runs, want 1", n)
				}
				close(api.release)
				for range 5 {
					if err := <-errs; (err != nil) != fail {
						t.Errorf("Headroom error = %v, want error: %v", err, fail)
					}
				}
				if n := api.lists.Load(); n != 1 {
					t.Fatalf("ListInvalidations called %d times, want 1", n)
				}
			})
		})
	}
}

func TestWaiterGivesUpWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{release: make(chan struct{})}
		tr := quota.New(api, quota.Options{})
		go func() { _, _ = tr.Headroom(context.Background(), dist) }() // holds the scan open
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := tr.Headroom(ctx, dist)
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Headroom error = %v, want context.Canceled", err)
		}
		close(api.release)
	})
}
