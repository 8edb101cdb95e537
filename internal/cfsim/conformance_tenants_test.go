package cfsim_test

// The tenant conformance test. moto has no distribution tenants, so there
// is no second server to compare with: instead the simulator's answers to
// CreateInvalidationForDistributionTenant,
// GetInvalidationForDistributionTenant and
// ListInvalidationsForDistributionTenant are pinned to what the real
// clients make of them — the Go SDK's deserializers
// (aws-sdk-go-v2/service/cloudfront v1.73.0: fields, the Location header,
// typed errors) and the aws cli (1.45, botocore 1.43: the JSON it prints,
// its paginator, the error codes and operation names it reports) — over
// real HTTP. The wire shapes follow the API model (botocore cloudfront
// 2020-05-31 service-2.json) and the cli's own example output for
// create-invalidation-for-distribution-tenant.

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/testenv"
)

const tenantDenied = "dt_2wjDZi3hD1ivOXf6rpZJO1DD"

func TestTenantConformance(t *testing.T) {
	clk := newClock()
	o := tenantOptions()
	o.Denied = []string{tenantDenied}
	o.CompleteAfter, o.MaxFilePaths, o.Now = time.Minute, 5, clk.Now
	hs := httptest.NewServer(cfsim.New(o))
	t.Cleanup(hs.Close)
	p := peer{name: "cfsim", endpoint: hs.URL, sdk: sdkClient(hs.URL, func(o *cloudfront.Options) { o.Retryer = aws.NopRetryer{} })}

	t.Run("sdk create, get, list", func(t *testing.T) { tenantSDKRoundTrip(t, p, clk) })
	t.Run("cli create, get, list", func(t *testing.T) { tenantCLIRoundTrip(t, p, clk) })
	t.Run("sdk errors", func(t *testing.T) { tenantSDKErrors(t, p, clk) })
	t.Run("cli errors", func(t *testing.T) { tenantCLIErrors(t, p, clk) })
}

// tenantSDKRoundTrip: what the SDK's deserializers read from a tenant's
// invalidation: 201, Location, Id, Status, CreateTime, the batch; Get and
// List agree; Completed after CompleteAfter.
func tenantSDKRoundTrip(t *testing.T, p peer, clk *clock) {
	out, err := tcreate(p.sdk, tenantA, "conf-sdk", "/index.html", "/img/*", "#tag")
	if err != nil {
		t.Fatal(err)
	}
	if got := statusOf(t, out.ResultMetadata); got != 201 {
		t.Errorf("create answered HTTP %d, want 201", got)
	}
	v := sdkView(out.Location, out.Invalidation)
	checkTenantView(t, v, tenantA, "conf-sdk", cfsim.StatusInProgress, clk.Now(), "/index.html", "/img/*", "#tag")

	g, err := tget(p.sdk, tenantA, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if gv := sdkView(out.Location, g.Invalidation); !sameView(gv, v) {
		t.Errorf("get shows %+v, create showed %+v", gv, v)
	}
	l, err := tlist(p.sdk, tenantA, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	il := l.InvalidationList
	if len(il.Items) != 1 || aws.ToString(il.Items[0].Id) != v.ID || aws.ToString(il.Items[0].Status) != cfsim.StatusInProgress ||
		!aws.ToTime(il.Items[0].CreateTime).Equal(v.Created) || aws.ToInt32(il.Quantity) != 1 || aws.ToInt32(il.MaxItems) != 100 ||
		aws.ToBool(il.IsTruncated) || il.NextMarker != nil || il.Marker == nil {
		t.Errorf("list %+v", il)
	}

	clk.Advance(time.Minute)
	g, err = tget(p.sdk, tenantA, v.ID)
	if err != nil || aws.ToString(g.Invalidation.Status) != cfsim.StatusCompleted {
		t.Errorf("after CompleteAfter: %v %v, want Completed", g, err)
	}
}

// checkTenantView: the Location names the tenant and the id; the rest is
// the batch as sent, created now.
func checkTenantView(t *testing.T, v view, tenant, ref, status string, now time.Time, paths ...string) {
	t.Helper()
	if m := tenantLocation.FindStringSubmatch(v.Location); m == nil || m[1] != tenant || m[2] != v.ID {
		t.Errorf("Location %q does not name tenant %s's invalidation %q", v.Location, tenant, v.ID)
	}
	if !invIDPattern.MatchString(v.ID) || v.Status != status || !v.Created.Equal(now) {
		t.Errorf("Id %q Status %q CreateTime %v, want a CloudFront-shaped id, %s, %v", v.ID, v.Status, v.Created, status, now)
	}
	if v.Ref != ref || v.Quantity != int32(len(paths)) || !slices.Equal(v.Items, paths) {
		t.Errorf("batch %s %d %v, want %s %d %v", v.Ref, v.Quantity, v.Items, ref, len(paths), paths)
	}
}

// tenantCLIRoundTrip: what the aws cli prints for the three tenant
// commands: exactly the model's fields, and its paginator follows
// NextMarker (the tenant paginator has no more_results key, so it stops
// only when NextMarker is absent).
func tenantCLIRoundTrip(t *testing.T, p peer, clk *clock) {
	var created []string
	for _, ref := range []string{"conf-cli-1", "conf-cli-2", "conf-cli-3"} {
		batch, _ := json.Marshal(map[string]any{"Paths": map[string]any{"Quantity": 2, "Items": []string{"/" + ref, "/" + ref + "/*"}}, "CallerReference": ref})
		out := cli(t, p, "create-invalidation-for-distribution-tenant", "--id", tenantB, "--invalidation-batch", string(batch))
		wantKeys(t, "create", out, "Location", "Invalidation", "Invalidation.Id", "Invalidation.Status", "Invalidation.CreateTime",
			"Invalidation.InvalidationBatch", "Invalidation.InvalidationBatch.CallerReference", "Invalidation.InvalidationBatch.Paths",
			"Invalidation.InvalidationBatch.Paths.Quantity", "Invalidation.InvalidationBatch.Paths.Items")
		v := cliView(t, out["Location"], out["Invalidation"])
		checkTenantView(t, v, tenantB, ref, cfsim.StatusInProgress, clk.Now(), "/"+ref, "/"+ref+"/*")
		created = append(created, v.ID)

		g := cli(t, p, "get-invalidation-for-distribution-tenant", "--distribution-tenant-id", tenantB, "--id", v.ID)
		if gv := cliView(t, out["Location"], g["Invalidation"]); !sameView(gv, v) {
			t.Errorf("cli get shows %+v, create showed %+v", gv, v)
		}
		clk.Advance(time.Second)
	}
	slices.Reverse(created) // newest first

	for _, pageSize := range []string{"1", "2", "100"} {
		l := cli(t, p, "list-invalidations-for-distribution-tenant", "--id", tenantB, "--page-size", pageSize)
		wantKeys(t, "list", l, "InvalidationList", "InvalidationList.Items", "InvalidationList.Items.[].Id",
			"InvalidationList.Items.[].CreateTime", "InvalidationList.Items.[].Status")
		var doc struct {
			InvalidationList struct {
				Items []struct{ Id, Status, CreateTime string }
			}
		}
		raw, _ := json.Marshal(l)
		_ = json.Unmarshal(raw, &doc)
		var got []string
		for _, it := range doc.InvalidationList.Items {
			got = append(got, it.Id)
			if it.Status != cfsim.StatusInProgress {
				t.Errorf("list item %s status %q", it.Id, it.Status)
			}
		}
		if !slices.Equal(got, created) {
			t.Errorf("cli list --page-size %s shows %v, want %v", pageSize, got, created)
		}
	}
	// --max-items stops the cli's paginator early and prints a NextToken.
	l := cli(t, p, "list-invalidations-for-distribution-tenant", "--id", tenantB, "--max-items", "2")
	if _, ok := l["NextToken"]; !ok {
		t.Errorf("cli list --max-items 2 of 3 prints no NextToken: %v", l)
	}
}

// wantKeys asserts the cli printed exactly these keys (dotted paths).
func wantKeys(t *testing.T, what string, out map[string]any, keys ...string) {
	t.Helper()
	got := jsonKeys(out, "")
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("cli %s prints keys %v, want %v", what, got, keys)
	}
}

// tenantSDKErrors: every error the model gives the tenant operations, as
// the SDK's typed error with the modelled status, plus the unmodelled
// conflict as a GenericAPIError.
func tenantSDKErrors(t *testing.T, p peer, clk *clock) {
	c := p.sdk
	_, err := tcreate(c, "dt_nosuch", "r", "/a")
	wantTyped[*types.EntityNotFound](t, err, 404)
	_, err = tget(c, "dt_nosuch", "I2JGL2F1ZAA426")
	wantTyped[*types.EntityNotFound](t, err, 404)
	_, err = tlist(c, "dt_nosuch", "", 0)
	wantTyped[*types.EntityNotFound](t, err, 404)
	_, err = tget(c, tenantA, "I2JGL2F1ZAA426")
	wantTyped[*types.NoSuchInvalidation](t, err, 404)
	for _, err := range []error{
		func() error { _, err := tcreate(c, tenantDenied, "r", "/a"); return err }(),
		func() error { _, err := tget(c, tenantDenied, "I1"); return err }(),
		func() error { _, err := tlist(c, tenantDenied, "", 0); return err }(),
	} {
		wantTyped[*types.AccessDenied](t, err, 403)
	}

	_, err = tcreate(c, tenantA, "too-large", paths("f", 6, false)...) // MaxFilePaths 5
	wantTyped[*types.BatchTooLarge](t, err, 413)
	in := tenantCreateInput(tenantA, "quantity", "/q1", "/q2")
	in.InvalidationBatch.Paths.Quantity = aws.Int32(3)
	_, err = c.CreateInvalidationForDistributionTenant(context.Background(), in)
	wantTyped[*types.InconsistentQuantities](t, err, 400)
	_, err = tcreate(c, tenantA, "bad-path", "no-slash")
	wantTyped[*types.InvalidArgument](t, err, 400)
	_, err = tlist(c, tenantA, "INOSUCHMARKER0", 0)
	wantTyped[*types.InvalidArgument](t, err, 400)

	mustTCreate(t, c, tenantA, "conf-reuse", "/r")
	_, err = tcreate(c, tenantA, "conf-reuse", "/other")
	wantCode(t, err, "InvalidationBatchAlreadyExists", 409)
	wantTyped[*smithy.GenericAPIError](t, err, 409)

	// The parent distribution E1 and its tenants share one pool: the parent
	// fills the file limit, so a tenant's next path is refused.
	clk.Advance(time.Minute)
	mustCreate(t, c, "E1", "conf-fill", paths("fill", 5, false)...)
	_, err = tcreate(c, tenantB, "conf-over", "/one-more")
	wantTyped[*types.TooManyInvalidationsInProgress](t, err, 400)
	mustTCreate(t, c, tenantC, "conf-other-pool", "/fine") // E2's tenant is not held
	clk.Advance(time.Minute)
}

// tenantCLIErrors: the cli reports each error code under the tenant
// operation's name.
func tenantCLIErrors(t *testing.T, p peer, clk *clock) {
	mustCreate(t, p.sdk, "E1", "conf-cli-fill", paths("cli-fill", 5, false)...)
	batch := func(ref string, paths ...string) string {
		b, _ := json.Marshal(map[string]any{"Paths": map[string]any{"Quantity": len(paths), "Items": paths}, "CallerReference": ref})
		return string(b)
	}
	const (
		create = "CreateInvalidationForDistributionTenant"
		get    = "GetInvalidationForDistributionTenant"
		list   = "ListInvalidationsForDistributionTenant"
	)
	for _, tc := range []struct {
		args     []string
		code, op string
	}{
		{[]string{"create-invalidation-for-distribution-tenant", "--id", "dt_nosuch", "--invalidation-batch", batch("r", "/a")}, "EntityNotFound", create},
		{[]string{"get-invalidation-for-distribution-tenant", "--distribution-tenant-id", "dt_nosuch", "--id", "I1"}, "EntityNotFound", get},
		{[]string{"list-invalidations-for-distribution-tenant", "--id", "dt_nosuch"}, "EntityNotFound", list},
		{[]string{"get-invalidation-for-distribution-tenant", "--distribution-tenant-id", tenantA, "--id", "I2JGL2F1ZAA426"}, "NoSuchInvalidation", get},
		{[]string{"list-invalidations-for-distribution-tenant", "--id", tenantDenied}, "AccessDenied", list},
		{[]string{"create-invalidation-for-distribution-tenant", "--id", tenantA, "--invalidation-batch", batch("cli-over", "/one-more")}, "TooManyInvalidationsInProgress", create},
		{[]string{"create-invalidation-for-distribution-tenant", "--id", tenantA, "--invalidation-batch", batch("cli-large", paths("l", 6, false)...)}, "BatchTooLarge", create},
		{[]string{"create-invalidation-for-distribution-tenant", "--id", tenantA, "--invalidation-batch", batch("conf-reuse", "/cli-other")}, "InvalidationBatchAlreadyExists", create},
		{[]string{"create-invalidation-for-distribution-tenant", "--id", tenantA, "--invalidation-batch", batch("cli-path", "no-slash")}, "InvalidArgument", create},
	} {
		code, op := cliErrorOp(t, p, tc.args...)
		if code != tc.code || op != tc.op {
			t.Errorf("aws %v: (%s) from %s, want (%s) from %s", tc.args[0], code, op, tc.code, tc.op)
		}
	}
	clk.Advance(time.Minute)
}

// cliErrorOp runs the aws cli expecting a service error and returns its
// code and the operation the cli names.
func cliErrorOp(t *testing.T, p peer, args ...string) (code, op string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := append([]string{"--endpoint-url", p.endpoint, "--output", "json", "cloudfront"}, args...)
	cmd := exec.CommandContext(ctx, "aws", argv...)
	cmd.Env = append(os.Environ(), testenv.AWSEnv("", "")...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("aws %v succeeded, want an error:\n%s", args, out)
	}
	m := regexp.MustCompile(`An error occurred \((\w+)\) when calling the (\w+) operation`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("aws %v: no service error in:\n%s", args, out)
	}
	return string(m[1]), string(m[2])
}
