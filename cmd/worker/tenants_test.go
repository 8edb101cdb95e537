package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/status"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// Distribution tenants end to end (issue 10): one multi-tenant distribution
// with two tenants in the simulator, a third tenant configured but absent
// from CloudFront.
const (
	tenantDist     = "ETENANTS000001"
	tenantA        = "dt_2wjDZi3hD1ivOXf6rpZJO1AA"
	tenantB        = "dt_2wjDZi3hD1ivOXf6rpZJO1BB"
	tenantGone     = "dt_2wjDZi3hD1ivOXf6rpZJOGONE"
	tenantComplete = 10 * time.Second
	// tenantFill: file paths the distribution's own invalidation holds when
	// the tenant's batch comes, of the 2,900 the worker uses (3,000 less
	// quota_reserve_files 100).
	tenantFill       = 2800
	tenantBatchPaths = 300
	// tenantFreed: once the distribution's invalidation completes, the
	// tenant's held paths go out within this (view_refresh 1 s, the 1 s
	// recheck, view_max_age 1 s, slack for a loaded machine).
	tenantFreed = 5 * time.Second
)

// tenantBody is a v1 message naming a tenant by "distribution_tenant_id"
// (its id or an alias) or, with byName, by "distribution" (an alias).
func tenantBody(byName bool, name string, paths ...string) string {
	key := "distribution_tenant_id"
	if byName {
		key = "distribution"
	}
	b, err := json.Marshal(map[string]any{key: name, "paths": paths})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func tenantMsg(tenant string, byName bool, name string, paths ...string) e2e.Msg {
	return e2e.Msg{Dist: tenantDist, Tenant: tenant, Body: tenantBody(byName, name, paths...), Items: paths}
}

// TestTenants runs one worker (queues: list form, the queue's own
// dead_letter_queue_url) with tenants: [{id, aliases, distribution}].
//
// Phase 1: messages for tenant A by id, by alias under "distribution" and
// by alias under "distribution_tenant_id"; for tenant B by alias and id;
// for the distribution itself by id and alias (several of them ask for the
// same /index.html); and one for the absent tenant. Checked: one
// invalidation per target, each created through the API of its kind
// (CreateInvalidationForDistributionTenant for a tenant, the audit naming
// the tenant) and holding exactly the union of its messages' items;
// every delete justified by the message's own target's invalidations; the
// absent tenant's message dead-lettered with reason
// cloudfront_EntityNotFound to the configured DLQ.
//
// Phase 2, the shared limit: the distribution's own invalidation of 2,800
// paths is in progress when tenant A's batch of 300 comes. The tenant's
// paths count against the distribution's 3,000, so the worker submits what
// fits and holds the rest until the distribution's invalidation completes
// (collapse never): never a TooManyInvalidationsInProgress.
func TestTenants(t *testing.T) {
	start := time.Now()
	fq := testenv.Fauxqs(t)
	sq := e2e.SQSClient(fq.Endpoint)
	queue := e2e.CreateQueue(t, sq, "tenants", nil)
	// What the test receives from the DLQ stays invisible to the end
	// (NoMoreDLQ then sees only new copies): longer than the whole test.
	dlq := e2e.CreateQueue(t, sq, "tenants-dlq", map[string]string{"VisibilityTimeout": "600"})
	audit := &testenv.SyncBuffer{}
	sim := e2e.StartSim(t, cfsim.Options{Distributions: []string{tenantDist},
		Tenants:       map[string]string{tenantA: tenantDist, tenantB: tenantDist},
		CompleteAfter: tenantComplete, AuditLog: audit})

	ms := []e2e.Msg{
		tenantMsg(tenantA, false, tenantA, "/index.html", "/a/1.html"),
		tenantMsg(tenantA, false, tenantA, "/a/2.html"),
		tenantMsg(tenantA, true, "shop-a", "/index.html", "/a/3.html"),
		tenantMsg(tenantA, false, "shop-a", "/a/4.html"),
		tenantMsg(tenantB, true, "shop-b", "/index.html", "/b/1.html"),
		tenantMsg(tenantB, false, tenantB, "/b/2.html"),
		e2e.Plain(tenantDist, "/index.html", "/main/1.html"),
		{Dist: tenantDist, Body: e2e.V1(true, "main", "/main/2.html"), Items: []string{"/main/2.html"}},
	}
	wants := e2e.SendMessages(t, sq, queue, ms)
	goneBody := tenantBody(false, tenantGone, "/gone/1.html")
	goneID := e2e.SendBody(t, sq, queue, goneBody)
	wants[goneID] = e2e.Want{DeadLettered: true}

	proxy := e2e.NewSQSProxy(t, fq.Endpoint, e2e.ProxyOptions{})
	w := e2e.StartWorker(t, e2e.Config{
		Queues: []e2e.Queue{{URL: queue, DLQURL: dlq}},
		Window: "2s", Visibility: "30s", Grace: "10s", MaxBackoff: "2s", ViewMaxAge: "1s", ViewRefresh: "1s",
		Distributions: []e2e.Dist{{ID: tenantDist, Aliases: []string{"main"}, Collapse: "never"}},
		Tenants: []e2e.Tenant{
			{ID: tenantA, Aliases: []string{"shop-a"}, Distribution: tenantDist},
			{ID: tenantB, Aliases: []string{"shop-b"}, Distribution: tenantDist},
			{ID: tenantGone, Aliases: []string{"shop-gone"}, Distribution: tenantDist},
		},
	}, proxy.URL, sim.URL)

	// Phase 1.
	got := e2e.ReceiveAll(t, sq, dlq, 1, 20*time.Second)
	if len(got) != 1 {
		t.Fatalf("%d messages in the DLQ, want the absent tenant's", len(got))
	}
	if d := got[0]; d.Body != goneBody || d.SourceID() != goneID || d.ReasonCode != "cloudfront_EntityNotFound" || !strings.Contains(d.Reason, tenantGone) {
		t.Errorf("DLQ message: body %s, source %q, reason_code %q, reason %q; want the absent tenant's message (%s), cloudfront_EntityNotFound, naming %s",
			d.Body, d.SourceID(), d.ReasonCode, d.Reason, goneID, tenantGone)
	}
	rec := proxy.WaitDeleted(wants, 20*time.Second)
	invs := sim.Accepted()
	e2e.CheckDeletesJustified(t, rec, wants, invs, got...)
	byTarget := e2e.ByDist(invs)
	for target, items := range e2e.WantByDist(ms) {
		tinvs := byTarget[target]
		if len(tinvs) != 1 {
			t.Errorf("%s: %d invalidations, want one for its %d messages' items", target, len(tinvs), len(items))
			continue
		}
		inv := tinvs[0]
		slices.Sort(items)
		if got := slices.Sorted(slices.Values(inv.Items)); !slices.Equal(got, items) {
			t.Errorf("%s: invalidation %s holds %q, want exactly %q", target, inv.ID, got, items)
		}
		if wantTenant := target != tenantDist; (inv.Tenant != "") != wantTenant || inv.Dist != tenantDist {
			t.Errorf("%s: invalidation %s audited as distribution %q tenant %q", target, inv.ID, inv.Dist, inv.Tenant)
		}
	}
	if len(byTarget) != 3 {
		t.Errorf("invalidations for %d targets, want 3 (the distribution and two tenants): %v", len(byTarget), e2e.Union(invs))
	}
	st := sim.Stats()
	create, tenantCreate := st.Requests["CreateInvalidation"], st.Requests["CreateInvalidationForDistributionTenant"]
	if create["Created"] != 1 || tenantCreate["Created"] != 2 || tenantCreate["EntityNotFound"] < 1 {
		t.Errorf("simulator CreateInvalidation %v, …ForDistributionTenant %v: want 1 distribution and 2 tenant invalidations created, the absent tenant answered EntityNotFound",
			create, tenantCreate)
	}
	m := w.Metrics(t)
	if got := m[`invalidator_messages_dead_lettered_total{reason="cloudfront_EntityNotFound"}`]; got != 1 {
		t.Errorf(`dead_lettered_total{reason="cloudfront_EntityNotFound"} = %v, want 1`, got)
	}
	if st := w.Status(t); !slices.ContainsFunc(st.Distributions, func(d status.Distribution) bool {
		return d.ID == tenantA && d.Kind == "tenant" && d.Parent == tenantDist
	}) {
		t.Errorf("the status page does not show %s as a tenant of %s", tenantA, tenantDist)
	}
	t.Logf("phase 1: %d invalidations, %d deletes; simulator %v / %v; %s", len(invs), len(rec.DeletedAt), create, tenantCreate, time.Since(start).Round(100*time.Millisecond))

	// Phase 2: the distribution fills its in-progress allowance, then the
	// tenant's batch comes.
	var fill []string
	for i := range tenantFill {
		fill = append(fill, fmt.Sprintf("/catalog/%04d.html", i))
	}
	fillMsg := e2e.Plain(tenantDist, fill...)
	fillID := e2e.SendBody(t, sq, queue, fillMsg.Body)
	wants[fillID] = e2e.Want{Dist: tenantDist, Items: fill}
	var fillInv e2e.Invalidation
	e2e.Poll(t, 20*time.Second, 100*time.Millisecond, "the distribution's 2,800 paths accepted", func() (bool, string) {
		for _, inv := range sim.Accepted() {
			if inv.Tenant == "" && len(inv.Items) == tenantFill {
				fillInv = inv
				return true, ""
			}
		}
		return false, "not yet"
	})
	var batch []string
	for i := range tenantBatchPaths {
		batch = append(batch, fmt.Sprintf("/shop/item-%03d.html", i))
	}
	batchMsg := tenantMsg(tenantA, false, tenantA, batch...)
	batchSent := time.Now()
	batchID := e2e.SendBody(t, sq, queue, batchMsg.Body)
	wants[batchID] = e2e.Want{Dist: tenantDist, Tenant: tenantA, Items: batch}
	rec = proxy.WaitDeleted(wants, 60*time.Second)
	invs = e2e.ParseAudit(t, audit, sim.Server)
	e2e.CheckDeletesJustified(t, rec, wants, invs, got...)
	e2e.CheckInProgressLimits(t, invs, tenantComplete)
	e2e.CheckCoverage(t, append(ms, fillMsg, batchMsg), invs)

	var parts []e2e.Invalidation // the tenant's invalidations for the batch
	for _, inv := range invs {
		if inv.Tenant == tenantA && inv.Created.After(batchSent) {
			parts = append(parts, inv)
		}
	}
	var sizes []int
	for _, p := range parts {
		sizes = append(sizes, len(p.Items))
	}
	t.Logf("phase 2: the distribution's %d paths accepted %s (completes %s after the tenant's send); the tenant's %d paths went out in %d invalidations of %v paths, created %v after its send",
		tenantFill, fillInv.ID, fillInv.Created.Add(tenantComplete).Sub(batchSent).Round(100*time.Millisecond),
		tenantBatchPaths, len(parts), sizes, createdAfter(parts, batchSent))
	switch {
	case len(parts) < 2:
		t.Errorf("the tenant's %d paths went out in %d invalidation(s) %v while the distribution had %d in progress: the tenant did not share the distribution's limit",
			tenantBatchPaths, len(parts), sizes, tenantFill)
	case len(parts[0].Items) > 3000-100-tenantFill:
		t.Errorf("the tenant's first invalidation holds %d paths, more than the %d the distribution's in-progress paths left",
			len(parts[0].Items), 3000-100-tenantFill)
	case parts[len(parts)-1].Created.Before(fillInv.Created.Add(tenantComplete)):
		t.Errorf("the tenant's last invalidation was created %s, before the distribution's %s completed (%s)",
			parts[len(parts)-1].Created.Format(time.StampMilli), fillInv.ID, fillInv.Created.Add(tenantComplete).Format(time.StampMilli))
	case parts[len(parts)-1].Created.After(fillInv.Created.Add(tenantComplete + tenantFreed)):
		// The room came back when the distribution's invalidation completed:
		// the rest must follow within a recheck and a view refresh, not
		// when the distribution's idle view happens to be listed again.
		t.Errorf("the tenant's last invalidation was created %s after the distribution's %s completed, want within %s",
			parts[len(parts)-1].Created.Sub(fillInv.Created.Add(tenantComplete)).Round(time.Millisecond), fillInv.ID, tenantFreed)
	}
	st = sim.Stats()
	for op, outcomes := range st.Requests {
		if n := outcomes["TooManyInvalidationsInProgress"]; n > 0 {
			t.Errorf("the simulator answered %s with TooManyInvalidationsInProgress %d times, want never", op, n)
		}
	}
	if held := w.Metric(t, `invalidator_paths_held_total{reason="quota"}`); held == 0 {
		t.Errorf("no path was held for quota: the shared limit was not exercised")
	}
	e2e.NoMoreDLQ(t, sq, dlq)
	t.Logf("simulator %v; test took %s", st.Requests, time.Since(start).Round(time.Second))
	w.Stop(t, 20*time.Second)
}

// createdAfter is each invalidation's creation, after t.
func createdAfter(invs []e2e.Invalidation, t time.Time) []time.Duration {
	var out []time.Duration
	for _, inv := range invs {
		out = append(out, inv.Created.Sub(t).Round(100*time.Millisecond))
	}
	return out
}
