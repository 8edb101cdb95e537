package cfsim_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"

	"github.com/acme/cf-invalidator/internal/cfsim"
)

// The tenant ids below are shaped like those in AWS's examples
// ("dt_2wjDZi3hD1ivOXf6rpZJO1AB"); the simulator does not require the shape.
const (
	tenantA = "dt_2wjDZi3hD1ivOXf6rpZJO1AA"
	tenantB = "dt_2wjDZi3hD1ivOXf6rpZJO1BB"
	tenantC = "dt_2wjDZi3hD1ivOXf6rpZJO1CC" // of E2
)

// tenantOptions: E1 is a multi-tenant distribution with tenants A and B,
// E2 one with tenant C.
func tenantOptions() cfsim.Options {
	return cfsim.Options{
		Distributions: []string{"E1", "E2"},
		Tenants:       map[string]string{tenantA: "E1", tenantB: "E1", tenantC: "E2"},
	}
}

func tenantCreateInput(tenant, ref string, paths ...string) *cloudfront.CreateInvalidationForDistributionTenantInput {
	return &cloudfront.CreateInvalidationForDistributionTenantInput{
		Id: aws.String(tenant),
		InvalidationBatch: &types.InvalidationBatch{
			CallerReference: aws.String(ref),
			Paths:           &types.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths},
		},
	}
}

func tcreate(c *cloudfront.Client, tenant, ref string, paths ...string) (*cloudfront.CreateInvalidationForDistributionTenantOutput, error) {
	return c.CreateInvalidationForDistributionTenant(context.Background(), tenantCreateInput(tenant, ref, paths...))
}

func mustTCreate(t *testing.T, c *cloudfront.Client, tenant, ref string, paths ...string) *types.Invalidation {
	t.Helper()
	out, err := tcreate(c, tenant, ref, paths...)
	if err != nil {
		t.Fatalf("CreateInvalidationForDistributionTenant(%s, %s): %v", tenant, ref, err)
	}
	return out.Invalidation
}

func tget(c *cloudfront.Client, tenant, id string) (*cloudfront.GetInvalidationForDistributionTenantOutput, error) {
	return c.GetInvalidationForDistributionTenant(context.Background(), &cloudfront.GetInvalidationForDistributionTenantInput{
		DistributionTenantId: aws.String(tenant), Id: aws.String(id),
	})
}

func tlist(c *cloudfront.Client, tenant, marker string, maxItems int32) (*cloudfront.ListInvalidationsForDistributionTenantOutput, error) {
	in := &cloudfront.ListInvalidationsForDistributionTenantInput{Id: aws.String(tenant)}
	if marker != "" {
		in.Marker = aws.String(marker)
	}
	if maxItems > 0 {
		in.MaxItems = aws.Int32(maxItems)
	}
	return c.ListInvalidationsForDistributionTenant(context.Background(), in)
}

// TestTenantCreateGetList walks a tenant's invalidation through the three
// tenant operations: 201 with the tenant's Location, then Get and List,
// counted under the model's operation names and audited with the tenant.
func TestTenantCreateGetList(t *testing.T) {
	s, c, _ := sim(t, func() cfsim.Options { o := tenantOptions(); o.CompleteAfter = time.Minute; return o }())
	out, err := tcreate(c, tenantA, "ref-1", "/index.html", "/img/*")
	if err != nil {
		t.Fatal(err)
	}
	if got := statusOf(t, out.ResultMetadata); got != 201 {
		t.Fatalf("create: HTTP %d, want 201", got)
	}
	id := aws.ToString(out.Invalidation.Id)
	if !invIDPattern.MatchString(id) {
		t.Fatalf("id %q not shaped like CloudFront's", id)
	}
	wantLoc := "https://cloudfront.amazonaws.com/2020-05-31/distribution-tenant/" + tenantA + "/invalidation/" + id
	if got := aws.ToString(out.Location); got != wantLoc {
		t.Fatalf("Location %q, want %q", got, wantLoc)
	}
	checkInvalidation(t, out.Invalidation, id, cfsim.StatusInProgress, "ref-1", "/index.html", "/img/*")

	g, err := tget(c, tenantA, id)
	if err != nil {
		t.Fatal(err)
	}
	checkInvalidation(t, g.Invalidation, id, cfsim.StatusInProgress, "ref-1", "/index.html", "/img/*")

	l, err := tlist(c, tenantA, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	il := l.InvalidationList
	if aws.ToInt32(il.Quantity) != 1 || len(il.Items) != 1 || aws.ToString(il.Items[0].Id) != id || aws.ToBool(il.IsTruncated) ||
		aws.ToInt32(il.MaxItems) != cfsim.DefaultMaxItems || il.Marker == nil || il.NextMarker != nil {
		t.Fatalf("list: %+v", il)
	}

	wantAudit := []cfsim.AuditEntry{{Time: t0, Distribution: "E1", Tenant: tenantA, ID: id, CallerReference: "ref-1", Paths: []string{"/index.html", "/img/*"}}}
	if got := s.Audit(); !reflect.DeepEqual(got, wantAudit) {
		t.Fatalf("audit %+v, want %+v", got, wantAudit)
	}
	st := s.Stats()
	want := map[string]map[string]int{
		"CreateInvalidationForDistributionTenant": {"Created": 1},
		"GetInvalidationForDistributionTenant":    {"OK": 1},
		"ListInvalidationsForDistributionTenant":  {"OK": 1},
	}
	if !reflect.DeepEqual(st.Requests, want) || st.Invalidations != 1 || st.PathsBilled != 2 || st.InProgress != 1 {
		t.Fatalf("stats %+v, want requests %v, 1 invalidation, 2 paths billed, 1 in progress", st, want)
	}
}

// TestTenantLimitsShared: a distribution and all its tenants share one pair
// of in-progress limits (the conservative reading: the guide states them
// per distribution and is silent on tenants); another multi-tenant
// distribution's tenants do not count.
func TestTenantLimitsShared(t *testing.T) {
	o := tenantOptions()
	o.CompleteAfter, o.MaxFilePaths, o.MaxWildcards = time.Minute, 10, 2
	s, c, clk := sim(t, o)
	mustCreate(t, c, "E1", "dist", paths("d", 4, false)...)
	mustTCreate(t, c, tenantA, "a", paths("a", 4, false)...)
	_, err := tcreate(c, tenantB, "b3", paths("b", 3, false)...) // 4 + 4 + 3 > 10
	tm := wantTyped[*types.TooManyInvalidationsInProgress](t, err, 400)
	if !strings.Contains(tm.ErrorMessage(), "In progress: 8 file paths (limit 10)") {
		t.Fatalf("message %q does not count the shared paths", tm.ErrorMessage())
	}
	mustTCreate(t, c, tenantB, "b2", paths("b", 2, false)...) // exactly 10
	_, err = create(c, "E1", "dist-more", "/x")               // the distribution's own are held too
	wantTyped[*types.TooManyInvalidationsInProgress](t, err, 400)

	mustTCreate(t, c, tenantA, "wa", "/w1*")
	mustCreate(t, c, "E1", "wd", "/w2*")
	_, err = tcreate(c, tenantB, "wb", "/w3*")
	wantTyped[*types.TooManyInvalidationsInProgress](t, err, 400)

	mustTCreate(t, c, tenantC, "c", append(paths("c", 10, false), "/c1*", "/c2*")...) // E2's pool is its own
	_, err = tcreate(c, tenantA, "too-large", paths("x", 11, false)...)               // never acceptable
	wantTyped[*types.BatchTooLarge](t, err, 413)
	if got := s.Stats().InProgress; got != 6 {
		t.Fatalf("InProgress %d, want 6", got)
	}

	clk.Advance(time.Minute) // everything completes: the shared limits are free again
	mustTCreate(t, c, tenantB, "b-after", append(paths("b", 10, false), "/b1*", "/b2*")...)
	_, err = create(c, "E1", "dist-after", "/x")
	wantTyped[*types.TooManyInvalidationsInProgress](t, err, 400)
	if n := s.CompleteAll(); n != 1 {
		t.Fatalf("CompleteAll = %d, want 1 (the tenant's)", n)
	}
	mustCreate(t, c, "E1", "dist-after", "/x")
}

// TestTenantEntityNotFound: every tenant operation answers an unknown
// tenant 404 EntityNotFound, the model's error for it, in exactly this
// document; the SDK makes it *types.EntityNotFound. A distribution id is no
// tenant id, nor the other way round.
func TestTenantEntityNotFound(t *testing.T) {
	o := tenantOptions()
	s := cfsim.New(o)
	hs := httptest.NewServer(s)
	defer hs.Close()
	const noSuch = "dt_nosuch"
	base := hs.URL + "/2020-05-31/distribution-tenant/" + noSuch + "/invalidation"
	batch := `<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><CallerReference>r</CallerReference>` +
		`<Paths><Quantity>1</Quantity><Items><Path>/a</Path></Items></Paths></InvalidationBatch>`
	for _, tc := range []struct{ method, url, body string }{
		{"POST", base, batch},
		{"GET", base + "/I2JGL2F1ZAA426", ""},
		{"GET", base + "?MaxItems=10", ""},
	} {
		req, err := http.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		reqID := resp.Header.Get("x-amzn-RequestId")
		want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Error><Type>Sender</Type>` +
			`<Code>EntityNotFound</Code><Message>The distribution tenant dt_nosuch was not found.</Message></Error>` +
			`<RequestId>` + reqID + `</RequestId></ErrorResponse>`
		if resp.StatusCode != 404 || reqID == "" || string(raw) != want || resp.Header.Get("Content-Type") != "text/xml" {
			t.Fatalf("%s %s: HTTP %d %q\n%s\nwant 404\n%s", req.Method, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), raw, want)
		}
	}

	c := sdkClient(hs.URL, func(o *cloudfront.Options) { o.Retryer = aws.NopRetryer{} })
	for _, id := range []string{noSuch, "E1"} {
		_, err := tcreate(c, id, "r", "/a")
		wantTyped[*types.EntityNotFound](t, err, 404)
		_, err = tget(c, id, "I2JGL2F1ZAA426")
		wantTyped[*types.EntityNotFound](t, err, 404)
		_, err = tlist(c, id, "", 0)
		wantTyped[*types.EntityNotFound](t, err, 404)
	}
	_, err := create(c, tenantA, "r", "/a")
	wantTyped[*types.NoSuchDistribution](t, err, 404)
	if st := s.Stats(); st.Requests["CreateInvalidationForDistributionTenant"]["EntityNotFound"] != 3 || st.Invalidations != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestTenantAccessDenied: a denied tenant id answers 403 AccessDenied
// naming the tenant's ARN, for all three operations.
func TestTenantAccessDenied(t *testing.T) {
	o := tenantOptions()
	o.Denied = []string{tenantB}
	_, c, _ := sim(t, o)
	for name, op := range map[string]func() error{
		"create": func() error { _, err := tcreate(c, tenantB, "r", "/a"); return err },
		"get":    func() error { _, err := tget(c, tenantB, "I1"); return err },
		"list":   func() error { _, err := tlist(c, tenantB, "", 0); return err },
	} {
		ad := wantTyped[*types.AccessDenied](t, op(), 403)
		if !strings.Contains(ad.ErrorMessage(), ":distribution-tenant/"+tenantB) {
			t.Errorf("%s: message %q names no tenant ARN", name, ad.ErrorMessage())
		}
	}
	mustTCreate(t, c, tenantA, "r", "/a") // the sibling is not denied
}

// TestTenantInvalidationsApart: an invalidation belongs to the resource it
// was created for: neither its parent distribution's endpoint nor a sibling
// tenant's finds it, and lists hold only their own. Ids are unique across
// all of them.
func TestTenantInvalidationsApart(t *testing.T) {
	_, c, _ := sim(t, tenantOptions())
	ta := aws.ToString(mustTCreate(t, c, tenantA, "r", "/a").Id)
	d := aws.ToString(mustCreate(t, c, "E1", "r", "/a").Id)
	_, err := get(c, "E1", ta)
	wantTyped[*types.NoSuchInvalidation](t, err, 404)
	_, err = tget(c, tenantA, d)
	wantTyped[*types.NoSuchInvalidation](t, err, 404)
	_, err = tget(c, tenantB, ta)
	wantTyped[*types.NoSuchInvalidation](t, err, 404)

	ids := map[string]bool{ta: true, d: true}
	for i := range 50 {
		for _, tenant := range []string{tenantA, tenantB, tenantC} {
			ids[aws.ToString(mustTCreate(t, c, tenant, "u"+string(rune('a'+i%26))+string(rune('0'+i/26)), "/u").Id)] = true
		}
		ids[aws.ToString(mustCreate(t, c, "E2", "u"+string(rune('a'+i%26))+string(rune('0'+i/26)), "/u").Id)] = true
	}
	if len(ids) != 2+4*50 {
		t.Fatalf("%d distinct ids for %d invalidations", len(ids), 2+4*50)
	}
	l, err := tlist(c, tenantA, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(l.InvalidationList.Items); n != 51 || aws.ToString(l.InvalidationList.Items[n-1].Id) != ta {
		t.Fatalf("tenant A lists %d items, want its 51 ending with %s", n, ta)
	}
}

// TestTenantCallerReference: reuse rules as for distributions, per tenant:
// same reference and paths is the earlier invalidation (not booked again),
// other paths the conflict error; the same reference on a sibling tenant or
// on the parent is a new invalidation.
func TestTenantCallerReference(t *testing.T) {
	s, c, _ := sim(t, tenantOptions())
	first := mustTCreate(t, c, tenantA, "ref", "/a", "/b")
	again, err := tcreate(c, tenantA, "ref", "/b", "/a")
	if err != nil || statusOf(t, again.ResultMetadata) != 201 || aws.ToString(again.Invalidation.Id) != aws.ToString(first.Id) {
		t.Fatalf("reuse: %v %+v", err, again)
	}
	_, err = tcreate(c, tenantA, "ref", "/a", "/c")
	wantCode(t, err, "InvalidationBatchAlreadyExists", 409)
	wantTyped[*smithy.GenericAPIError](t, err, 409)
	sib := mustTCreate(t, c, tenantB, "ref", "/a", "/c")
	dist := mustCreate(t, c, "E1", "ref", "/z")
	if aws.ToString(sib.Id) == aws.ToString(first.Id) || aws.ToString(dist.Id) == aws.ToString(first.Id) {
		t.Fatal("a reference on another resource returned tenant A's invalidation")
	}
	st := s.Stats()
	if len(s.Audit()) != 3 || st.PathsBilled != 5 || st.Requests["CreateInvalidationForDistributionTenant"]["Reused"] != 1 {
		t.Fatalf("stats %+v, audit %d lines", st, len(s.Audit()))
	}

	o := tenantOptions()
	o.ConflictAsInvalidArgument = true
	_, obs, _ := sim(t, o)
	mustTCreate(t, obs, tenantA, "ref", "/a")
	_, err = tcreate(obs, tenantA, "ref", "/b")
	wantTyped[*types.InvalidArgument](t, err, 400)
}

// TestTenantBatchValidation: the plain API's batch rules, with the tenant
// operation's typed errors.
func TestTenantBatchValidation(t *testing.T) {
	s, c, _ := sim(t, tenantOptions())
	in := tenantCreateInput(tenantA, "q", "/a", "/b")
	in.InvalidationBatch.Paths.Quantity = aws.Int32(3)
	_, err := c.CreateInvalidationForDistributionTenant(context.Background(), in)
	wantTyped[*types.InconsistentQuantities](t, err, 400)
	_, err = tcreate(c, tenantA, "p", "no-slash")
	wantTyped[*types.InvalidArgument](t, err, 400)
	_, err = tcreate(c, tenantA, "e")
	wantTyped[*types.InvalidArgument](t, err, 400)
	_, err = tcreate(c, tenantA, "w", paths("w", 16, true)...)
	wantTyped[*types.BatchTooLarge](t, err, 413)

	hs := httptest.NewServer(s)
	defer hs.Close()
	resp, err := http.Post(hs.URL+"/2020-05-31/distribution-tenant/"+tenantA+"/invalidation", "application/xml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if doc := readErrorDoc(t, resp); resp.StatusCode != 400 || doc.Code != "MissingBody" {
		t.Fatalf("no body: HTTP %d %+v", resp.StatusCode, doc)
	}
	if st := s.Stats(); st.Invalidations != 0 {
		t.Fatalf("invalid batches were booked: %+v", st)
	}
}

// TestTenantStatusFollowsClock: InProgress, then Completed, as for
// distributions.
func TestTenantStatusFollowsClock(t *testing.T) {
	o := tenantOptions()
	o.CompleteAfter = 15 * time.Second
	_, c, clk := sim(t, o)
	id := aws.ToString(mustTCreate(t, c, tenantA, "r", "/a").Id)
	for _, step := range []struct {
		advance time.Duration
		want    string
	}{{0, "InProgress"}, {15*time.Second - time.Millisecond, "InProgress"}, {time.Millisecond, "Completed"}} {
		clk.Advance(step.advance)
		g, err := tget(c, tenantA, id)
		if err != nil {
			t.Fatal(err)
		}
		l, err := tlist(c, tenantA, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(g.Invalidation.Status) != step.want || aws.ToString(l.InvalidationList.Items[0].Status) != step.want {
			t.Fatalf("at +%v: get %s, list %s, want %s", clk.Now().Sub(t0), aws.ToString(g.Invalidation.Status),
				aws.ToString(l.InvalidationList.Items[0].Status), step.want)
		}
	}
}

// TestTenantListPagination: newest first through the SDK's tenant
// paginator; a Marker naming none of the tenant's invalidations and
// MaxItems 0 are InvalidArgument (the operation models it).
func TestTenantListPagination(t *testing.T) {
	_, c, clk := sim(t, tenantOptions())
	var created []string
	for i := range 5 {
		created = append(created, aws.ToString(mustTCreate(t, c, tenantA, string(rune('a'+i)), "/p").Id))
		clk.Advance(time.Second)
	}
	parentID := aws.ToString(mustCreate(t, c, "E1", "d", "/p").Id)
	slices.Reverse(created)
	p := cloudfront.NewListInvalidationsForDistributionTenantPaginator(c, &cloudfront.ListInvalidationsForDistributionTenantInput{
		Id: aws.String(tenantA), MaxItems: aws.Int32(2),
	})
	var seen []string
	var sizes []int
	marker := ""
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkPage(t, page.InvalidationList, marker)
		sizes = append(sizes, len(page.InvalidationList.Items))
		for _, s := range page.InvalidationList.Items {
			seen = append(seen, aws.ToString(s.Id))
		}
		marker = aws.ToString(page.InvalidationList.NextMarker)
	}
	if !slices.Equal(seen, created) || !slices.Equal(sizes, []int{2, 2, 1}) {
		t.Fatalf("pages %v of %v, want %v in pages [2 2 1]", sizes, seen, created)
	}
	_, err := tlist(c, tenantA, parentID, 0)
	wantTyped[*types.InvalidArgument](t, err, 400)
	_, err = c.ListInvalidationsForDistributionTenant(context.Background(), &cloudfront.ListInvalidationsForDistributionTenantInput{
		Id: aws.String(tenantA), MaxItems: aws.Int32(0),
	})
	wantTyped[*types.InvalidArgument](t, err, 400)
}

// TestTenantThrottlingShared: distributions and tenants draw from one
// account-wide bucket; tenant reads are not throttled.
func TestTenantThrottlingShared(t *testing.T) {
	o := tenantOptions()
	o.ThrottleRate, o.ThrottleBurst = 1, 2
	s, c, clk := sim(t, o)
	mustCreate(t, c, "E1", "a", "/a")
	id := aws.ToString(mustTCreate(t, c, tenantA, "b", "/b").Id)
	_, err := tcreate(c, tenantC, "c", "/c")
	wantCode(t, err, "Throttling", 400)
	_, err = create(c, "E2", "c", "/c")
	wantCode(t, err, "Throttling", 400)
	if _, err := tget(c, tenantA, id); err != nil {
		t.Fatal(err)
	}
	if _, err := tlist(c, tenantA, "", 0); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	mustTCreate(t, c, tenantC, "c", "/c")
	if got := s.Stats().Requests["CreateInvalidationForDistributionTenant"]; got["Throttling"] != 1 || got["Created"] != 2 {
		t.Fatalf("tenant create outcomes %v", got)
	}
}

// TestTenantServiceUnavailable: ErrorRate faults hit the tenant operations
// too, drawn from the same generator, and the SDK retries them.
func TestTenantServiceUnavailable(t *testing.T) {
	o := tenantOptions()
	o.ErrorRate = 1
	s, c, _ := sim(t, o)
	_, err := tcreate(c, tenantA, "a", "/a")
	wantCode(t, err, "ServiceUnavailable", 503)
	_, err = tget(c, tenantA, "I1")
	wantCode(t, err, "ServiceUnavailable", 503)
	_, err = tlist(c, tenantA, "", 0)
	wantCode(t, err, "ServiceUnavailable", 503)

	hs := httptest.NewServer(s)
	defer hs.Close()
	_, err = retryingClient(hs.URL).CreateInvalidationForDistributionTenant(context.Background(), tenantCreateInput(tenantA, "a", "/a"))
	wantCode(t, err, "ServiceUnavailable", 503)
	if n := s.Stats().Requests["CreateInvalidationForDistributionTenant"]["ServiceUnavailable"]; n != 1+3 {
		t.Fatalf("503 answered %d times to tenant create, want 4 (1 + 3 attempts)", n)
	}

	const rate, n = 0.25, 200
	o = tenantOptions()
	o.ErrorRate, o.Rand = rate, rand.New(rand.NewPCG(3, 4))
	s, c, _ = sim(t, o)
	want, r := 0, rand.New(rand.NewPCG(3, 4))
	for range n {
		if r.Float64() < rate {
			want++
		}
	}
	for range n {
		_, _ = tlist(c, tenantA, "", 0)
	}
	if got := s.Stats().Requests["ListInvalidationsForDistributionTenant"]; got["ServiceUnavailable"] != want || got["OK"] != n-want {
		t.Fatalf("outcomes %v, want %d ServiceUnavailable of %d", got, want, n)
	}
}

// TestTenantLatency: the configured latency delays tenant requests exactly
// (fake time in a synctest bubble).
func TestTenantLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := tenantOptions()
		o.Latency = 250 * time.Millisecond
		s := cfsim.New(o)
		start := time.Now()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/2020-05-31/distribution-tenant/"+tenantA+"/invalidation", nil))
		if took := time.Since(start); took != 250*time.Millisecond || rec.Code != 200 {
			t.Fatalf("took %v, HTTP %d; want 250ms, 200", took, rec.Code)
		}
	})
}

// TestTenantOptionsValidate: tenants need an existing parent and an id the
// URI can carry within the API Reference's 1..64 characters; New panics on
// what Validate rejects.
func TestTenantOptionsValidate(t *testing.T) {
	if err := tenantOptions().Validate(); err != nil {
		t.Fatalf("valid options rejected: %v", err)
	}
	for name, tc := range map[string]struct {
		tenants map[string]string
		want    string
	}{
		"unknown parent":   {map[string]string{"dt_a": "E9"}, `parent distribution "E9" is not in Distributions`},
		"empty id":         {map[string]string{"": "E1"}, "want 1 to 64 characters"},
		"65 characters":    {map[string]string{"dt_" + strings.Repeat("x", 62): "E1"}, "want 1 to 64 characters"},
		"slash":            {map[string]string{"dt/a": "E1"}, "one URI path segment"},
		"space":            {map[string]string{"dt a": "E1"}, "one URI path segment"},
		"distribution id":  {map[string]string{"E1": "E1"}, "also a distribution id"},
		"denied parent":    {map[string]string{"dt_a": "ED"}, `parent distribution "ED"`},
		"two errors":       {map[string]string{"dt/a": "E9"}, `"dt/a": must be one URI path segment`},
		"two errors again": {map[string]string{"dt/a": "E9"}, `parent distribution "E9"`},
	} {
		t.Run(name, func(t *testing.T) {
			o := cfsim.Options{Distributions: []string{"E1"}, Denied: []string{"ED"}, Tenants: tc.tenants}
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want it to say %q", err, tc.want)
			}
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), tc.want) {
					t.Fatalf("New did not panic with %q: %v", tc.want, r)
				}
			}()
			cfsim.New(o)
		})
	}
	longest := cfsim.Options{Distributions: []string{"E1"}, Tenants: map[string]string{"dt_" + strings.Repeat("x", 61): "E1"}}
	if err := longest.Validate(); err != nil {
		t.Fatalf("a 64-character id rejected: %v", err)
	}
}

// TestTenantAuditLine: the audit line of a tenant's invalidation carries
// "tenant" and the parent as "distribution"; a distribution's line has no
// "tenant" key, as before tenants existed.
func TestTenantAuditLine(t *testing.T) {
	var log syncBuffer
	o := tenantOptions()
	o.AuditLog = &log
	_, c, _ := sim(t, o)
	ti := mustTCreate(t, c, tenantC, "t", "/t")
	di := mustCreate(t, c, "E1", "d", "/d")
	want := []map[string]any{
		{"time": t0.Format(time.RFC3339Nano), "distribution": "E2", "tenant": tenantC, "id": aws.ToString(ti.Id), "caller_reference": "t", "paths": []any{"/t"}},
		{"time": t0.Format(time.RFC3339Nano), "distribution": "E1", "id": aws.ToString(di.Id), "caller_reference": "d", "paths": []any{"/d"}},
	}
	if got := log.Lines(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("audit lines\n got %v\nwant %v", got, want)
	}
}

var tenantLocation = regexp.MustCompile(`^https://cloudfront\.amazonaws\.com/2020-05-31/distribution-tenant/(dt_[A-Za-z0-9]+)/invalidation/(I[A-Z0-9]{13})$`)
