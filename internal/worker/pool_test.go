package worker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/acme/cf-invalidator/internal/collapse"
	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/policy"
	"github.com/acme/cf-invalidator/internal/retry"
)

// poolView is a fakeView whose in-progress paths are per target and whose
// Fresh of a target shows what a refresh would: the target's in-progress
// invalidations as CloudFront has them now (cf).
type poolView struct {
	*fakeView
	mu      sync.Mutex
	shown   map[string]int // in progress as the view last showed it
	cf      map[string]int // in progress at CloudFront
	freshOf map[string]int
}

func (v *poolView) Fresh(_ context.Context, target string, _ time.Duration) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.freshOf[target]++
	v.shown[target] = v.cf[target]
	return nil
}

func (v *poolView) InProgress(target string) (int, int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.shown[target], 0
}

// TestTenantFlushRefreshesItsDistributionsView: a tenant's paths count
// against its distribution's in-progress limits, so a tenant's flush must
// see the distribution's invalidations as fresh as its own. Here the view
// last showed 2,800 of the distribution's paths in progress; CloudFront
// has completed them since, but the distribution has no work of its own,
// so nothing else refreshes its view before the idle cadence (a minute).
// The tenant's 300 paths (collapse never) must go out whole at the end of
// the window, not 200 now and the rest a minute later.
func TestTenantFlushRefreshesItsDistributionsView(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dec, err := message.NewDecoder(message.Options{Distributions: []message.Distribution{{ID: "E1"}},
			Tenants: []message.Tenant{{ID: "dt_a", Distribution: "E1"}}})
		if err != nil {
			t.Fatal(err)
		}
		v := &poolView{fakeView: newFakeView(), shown: map[string]int{"E1": 2800}, cf: map[string]int{"E1": 0},
			freshOf: map[string]int{}}
		f := &fixture{q: newFakeQueue(), cf: &fakeCF{}, v: v.fakeView}
		f.w = New(f.q, f.cf, dec, v, Options{
			Window: 10 * time.Second, SubmitConcurrency: 2, Recheck: 5 * time.Second,
			Backoff: retry.Backoff{Base: time.Second, Max: 8 * time.Second, Rand: func() float64 { return 0.5 }},
			Gate:    policy.New(policy.Options{Default: policy.Target{Collapse: collapse.Policy{Never: true}}}),
			Tenants: map[string]string{"dt_a": "E1"},
		})
		t.Cleanup(f.w.sched.Close)
		paths := make([]string, 300)
		for i := range paths {
			paths[i] = fmt.Sprintf("/shop/item-%03d.html", i)
		}
		body := fmt.Sprintf(`{"distribution_tenant_id":"dt_a","paths":["%s"]}`, strings.Join(paths, `","`))
		f.handle(msg("m", body))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		calls := f.cf.get()
		if len(calls) != 1 || len(calls[0].req.Paths) != 300 || !calls[0].req.Tenant || calls[0].req.Distribution != "dt_a" {
			var sizes []int
			for _, c := range calls {
				sizes = append(sizes, len(c.req.Paths))
			}
			t.Fatalf("requests of %v paths at the window's end, want one of all 300 for tenant dt_a: the distribution's view was not refreshed (Fresh calls %v)",
				sizes, v.freshOf)
		}
		if v.freshOf["E1"] == 0 {
			t.Fatalf("the tenant's flush did not refresh E1's view (Fresh calls %v)", v.freshOf)
		}
		if _, ok := f.q.deletedAt("m"); !ok {
			t.Fatal("the message was not deleted after its invalidation was accepted")
		}
	})
}
