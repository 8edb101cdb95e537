package cfsim_test

// The conformance test sends the same requests, through the Go SDK and
// through the aws cli, to moto_server and to the simulator, and compares
// everything the API model defines where moto has an opinion.
//
// Where moto (5.2.x) differs from CloudFront, and so from the simulator,
// the difference is asserted explicitly, so a moto upgrade that changes it
// fails here and this list gets updated:
//
//  1. Status is "COMPLETED" (capitals) and final at once; CloudFront says
//     "InProgress", then "Completed". Clients must compare without case.
//  2. CreateInvalidation answers 201 like CloudFront. (DESIGN.md says moto
//     answers 200; moto 5.2.1 does not, so this test pins 201.)
//  3. ListInvalidations lists oldest first; CloudFront lists newest first.
//  4. ListInvalidations has no <Marker>, always says MaxItems 100 and is
//     never truncated: MaxItems and Marker are ignored (no pagination).
//  5. ListInvalidations of an unknown distribution is an empty 200 list,
//     not NoSuchDistribution (Get and Create do answer NoSuchDistribution).
//  6. A reused CallerReference always creates a new invalidation, whether
//     the paths are the same or not (no idempotency, no conflict error).
//  7. No limits and no validation: more than 15 wildcards in one batch,
//     a Quantity that does not match the items (moto recounts), and paths
//     not starting with '/' are all accepted.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// peer is one server under comparison.
type peer struct {
	name     string
	endpoint string
	sdk      *cloudfront.Client
}

// view is what both clients show of one invalidation.
type view struct {
	Location, ID, Status, Ref string
	Quantity                  int32
	Items                     []string
	Created                   time.Time
}

func TestConformanceWithMoto(t *testing.T) {
	moto := testenv.Moto(t)
	motoSDK := sdkClient(moto.Endpoint, func(o *cloudfront.Options) { o.Retryer = aws.NopRetryer{} })
	dist := createMotoDistribution(t, motoSDK)
	hs := httptest.NewServer(cfsim.New(cfsim.Options{Distributions: []string{dist}})) // completes at once, like moto
	t.Cleanup(hs.Close)
	peers := []peer{
		{"moto", moto.Endpoint, motoSDK},
		{"cfsim", hs.URL, sdkClient(hs.URL, func(o *cloudfront.Options) { o.Retryer = aws.NopRetryer{} })},
	}
	ids := map[string][]string{} // per peer, in creation order

	t.Run("create and get via SDK", func(t *testing.T) {
		for _, p := range peers {
			v := sdkCreateGet(t, p, dist, "conf-sdk", "/index.html", "/img/*")
			ids[p.name] = append(ids[p.name], v.ID)
		}
	})
	t.Run("create, get and list via cli", func(t *testing.T) {
		var shapes [][]string
		for _, p := range peers {
			v, shape := cliCreateGetList(t, p, dist, "conf-cli", "/cli.html", "/cli/*")
			ids[p.name] = append(ids[p.name], v.ID)
			shapes = append(shapes, shape)
		}
		if !slices.Equal(shapes[0], shapes[1]) {
			t.Errorf("the cli shows different fields:\nmoto  %v\ncfsim %v", shapes[0], shapes[1])
		}
	})
	t.Run("list", func(t *testing.T) { checkList(t, peers, dist, ids) })
	t.Run("list pagination", func(t *testing.T) { checkPagination(t, peers, dist) })
	t.Run("unknown ids", func(t *testing.T) { checkUnknownIDs(t, peers, dist) })
	t.Run("caller reference reuse", func(t *testing.T) { checkReuse(t, peers, dist) })
	t.Run("limits and validation", func(t *testing.T) { checkLimits(t, peers, dist) })
}

// createMotoDistribution creates the smallest distribution moto accepts:
// one custom origin and a default cache behavior (the SDK requires
// CallerReference, Comment, Enabled, Origins and DefaultCacheBehavior).
func createMotoDistribution(t *testing.T, c *cloudfront.Client) string {
	t.Helper()
	out, err := c.CreateDistribution(context.Background(), &cloudfront.CreateDistributionInput{
		DistributionConfig: &types.DistributionConfig{
			CallerReference: aws.String("cfsim-conformance"),
			Comment:         aws.String(""),
			Enabled:         aws.Bool(true),
			Origins: &types.Origins{Quantity: aws.Int32(1), Items: []types.Origin{{
				Id:         aws.String("origin"),
				DomainName: aws.String("origin.example.com"),
				CustomOriginConfig: &types.CustomOriginConfig{
					HTTPPort: aws.Int32(80), HTTPSPort: aws.Int32(443),
					OriginProtocolPolicy: types.OriginProtocolPolicyHttpsOnly,
				},
			}}},
			DefaultCacheBehavior: &types.DefaultCacheBehavior{
				TargetOriginId:       aws.String("origin"),
				ViewerProtocolPolicy: types.ViewerProtocolPolicyAllowAll,
			},
		},
	})
	if err != nil {
		t.Fatalf("moto CreateDistribution: %v", err)
	}
	return aws.ToString(out.Distribution.Id)
}

func sdkCreateGet(t *testing.T, p peer, dist, ref string, paths ...string) view {
	t.Helper()
	before := time.Now()
	out, err := create(p.sdk, dist, ref, paths...)
	if err != nil {
		t.Fatalf("%s: create: %v", p.name, err)
	}
	if got := statusOf(t, out.ResultMetadata); got != 201 { // moto difference 2: 201, not 200
		t.Errorf("%s: create answered HTTP %d, want 201", p.name, got)
	}
	v := sdkView(out.Location, out.Invalidation)
	checkView(t, p, v, dist, ref, before, paths)
	g, err := get(p.sdk, dist, v.ID)
	if err != nil {
		t.Fatalf("%s: get: %v", p.name, err)
	}
	gv := sdkView(out.Location, g.Invalidation)
	if !sameView(gv, v) {
		t.Errorf("%s: get shows %+v, create showed %+v", p.name, gv, v)
	}
	return v
}

func sdkView(loc *string, inv *types.Invalidation) view {
	b := inv.InvalidationBatch
	return view{
		Location: aws.ToString(loc), ID: aws.ToString(inv.Id), Status: aws.ToString(inv.Status),
		Ref: aws.ToString(b.CallerReference), Quantity: aws.ToInt32(b.Paths.Quantity), Items: b.Paths.Items,
		Created: aws.ToTime(inv.CreateTime),
	}
}

func sameView(a, b view) bool {
	return a.ID == b.ID && a.Status == b.Status && a.Ref == b.Ref && a.Quantity == b.Quantity &&
		slices.Equal(a.Items, b.Items) && a.Created.Equal(b.Created)
}

// checkView compares what both peers must agree on, and pins the status
// spelling of each (moto difference 1).
func checkView(t *testing.T, p peer, v view, dist, ref string, before time.Time, paths []string) {
	t.Helper()
	loc := regexp.MustCompile(`^https://cloudfront\.amazonaws\.com/2020-05-31/distribution/` + dist + `/invalidation/([A-Z0-9]+)$`)
	if m := loc.FindStringSubmatch(v.Location); m == nil || m[1] != v.ID {
		t.Errorf("%s: Location %q does not name invalidation %q", p.name, v.Location, v.ID)
	}
	if v.Ref != ref || v.Quantity != int32(len(paths)) || !slices.Equal(v.Items, paths) {
		t.Errorf("%s: batch %s %d %v, want %s %d %v", p.name, v.Ref, v.Quantity, v.Items, ref, len(paths), paths)
	}
	if v.Created.Before(before.Add(-time.Second)) || v.Created.After(time.Now().Add(time.Second)) {
		t.Errorf("%s: CreateTime %v is not now", p.name, v.Created)
	}
	want := map[string]string{"moto": "COMPLETED", "cfsim": cfsim.StatusCompleted}[p.name]
	if !strings.EqualFold(v.Status, "completed") || v.Status != want {
		t.Errorf("%s: Status %q, want %q", p.name, v.Status, want)
	}
}

// cli runs the aws cli against p and decodes its JSON output.
func cli(t *testing.T, p peer, args ...string) map[string]any {
	t.Helper()
	var out map[string]any
	raw := testenv.AWSCLI(t, p.endpoint, append([]string{"cloudfront"}, args...)...)
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("%s: aws %v: %v\n%s", p.name, args, err, raw)
	}
	return out
}

// cliError runs the aws cli expecting a service error and returns its code.
func cliError(t *testing.T, p peer, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := append([]string{"--endpoint-url", p.endpoint, "--output", "json", "cloudfront"}, args...)
	cmd := exec.CommandContext(ctx, "aws", argv...)
	cmd.Env = append(os.Environ(), testenv.AWSEnv("", "")...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("%s: aws %v succeeded, want an error:\n%s", p.name, args, out)
	}
	m := regexp.MustCompile(`An error occurred \((\w+)\)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("%s: aws %v: no service error in:\n%s", p.name, args, out)
	}
	return string(m[1])
}

// cliCreateGetList creates and gets an invalidation with the cli, and
// returns it with the fields the cli showed for create, get and list.
func cliCreateGetList(t *testing.T, p peer, dist, ref string, paths ...string) (view, []string) {
	t.Helper()
	before := time.Now()
	batch, _ := json.Marshal(map[string]any{"Paths": map[string]any{"Quantity": len(paths), "Items": paths}, "CallerReference": ref})
	out := cli(t, p, "create-invalidation", "--distribution-id", dist, "--invalidation-batch", string(batch))
	v := cliView(t, out["Location"], out["Invalidation"])
	checkView(t, p, v, dist, ref, before, paths)
	g := cli(t, p, "get-invalidation", "--distribution-id", dist, "--id", v.ID)
	if gv := cliView(t, out["Location"], g["Invalidation"]); !sameView(gv, v) {
		t.Errorf("%s: cli get shows %+v, create showed %+v", p.name, gv, v)
	}
	// The cli pages list-invalidations itself and shows only the items, so
	// moto's missing Marker (difference 4) does not show here.
	l := cli(t, p, "list-invalidations", "--distribution-id", dist)
	return v, slices.Concat(jsonKeys(out, "create."), jsonKeys(g, "get."), jsonKeys(l, "list."))
}

// cliView reads an Invalidation out of the cli's JSON (a round trip
// through JSON into the view keeps the comparison in one place).
func cliView(t *testing.T, loc, inv any) view {
	t.Helper()
	var doc struct {
		ID                string `json:"Id"`
		Status            string
		CreateTime        string
		InvalidationBatch struct {
			Paths struct {
				Quantity int32
				Items    []string
			}
			CallerReference string
		}
	}
	raw, _ := json.Marshal(inv)
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("cli invalidation %s: %v", raw, err)
	}
	created, err := time.Parse(time.RFC3339Nano, doc.CreateTime)
	if err != nil {
		t.Fatalf("cli CreateTime %q: %v", doc.CreateTime, err)
	}
	l, _ := loc.(string)
	b := doc.InvalidationBatch
	return view{Location: l, ID: doc.ID, Status: doc.Status, Ref: b.CallerReference,
		Quantity: b.Paths.Quantity, Items: b.Paths.Items, Created: created}
}

// jsonKeys lists the dotted paths of all object keys in v, sorted; array
// elements are folded into "[]".
func jsonKeys(v any, prefix string) []string {
	set := map[string]bool{}
	var walk func(any, string)
	walk = func(v any, prefix string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				set[prefix+k] = true
				walk(e, prefix+k+".")
			}
		case []any:
			for _, e := range x {
				walk(e, prefix+"[].")
			}
		}
	}
	walk(v, prefix)
	return slices.Sorted(maps.Keys(set))
}

// checkList: same invalidations and fields from both; the order and the
// Marker element differ (differences 3 and 4).
func checkList(t *testing.T, peers []peer, dist string, ids map[string][]string) {
	for _, p := range peers {
		l, err := list(p.sdk, dist, "", 0)
		if err != nil {
			t.Fatalf("%s: list: %v", p.name, err)
		}
		il := l.InvalidationList
		var got []string
		for _, s := range il.Items {
			got = append(got, aws.ToString(s.Id))
			if !strings.EqualFold(aws.ToString(s.Status), "completed") || aws.ToTime(s.CreateTime).IsZero() {
				t.Errorf("%s: summary %+v", p.name, s)
			}
		}
		want := slices.Clone(ids[p.name]) // oldest first: moto's order
		hasMarker := p.name == "cfsim"
		if p.name == "cfsim" {
			slices.Reverse(want) // newest first: CloudFront's order
		}
		if !slices.Equal(got, want) || aws.ToInt32(il.Quantity) != int32(len(want)) || aws.ToInt32(il.MaxItems) != 100 ||
			aws.ToBool(il.IsTruncated) || (il.Marker != nil) != hasMarker {
			t.Errorf("%s: list %v (Marker present %v, %+v), want %v (Marker present %v)", p.name, got, il.Marker != nil, il, want, hasMarker)
		}
	}
}

// checkPagination: the simulator pages by MaxItems; moto ignores it
// (difference 4).
func checkPagination(t *testing.T, peers []peer, dist string) {
	for _, p := range peers {
		l, err := list(p.sdk, dist, "", 1)
		if err != nil {
			t.Fatalf("%s: list: %v", p.name, err)
		}
		il := l.InvalidationList
		got := fmt.Sprintf("items=%d max=%d truncated=%v next=%v", len(il.Items), aws.ToInt32(il.MaxItems), aws.ToBool(il.IsTruncated), il.NextMarker != nil)
		want := map[string]string{
			"moto":  "items=2 max=100 truncated=false next=false",
			"cfsim": "items=1 max=1 truncated=true next=true",
		}[p.name]
		if got != want {
			t.Errorf("%s: MaxItems=1 gives %s, want %s", p.name, got, want)
		}
	}
}

// checkUnknownIDs: NoSuchDistribution and NoSuchInvalidation from both, via
// SDK and cli, except moto's List of an unknown distribution (difference 5).
func checkUnknownIDs(t *testing.T, peers []peer, dist string) {
	const noDist, noInv = "ENOSUCHDIST0", "INOSUCHINV000"
	for _, p := range peers {
		_, err := create(p.sdk, noDist, "r", "/a")
		wantTyped[*types.NoSuchDistribution](t, err, 404)
		_, err = get(p.sdk, noDist, noInv)
		wantTyped[*types.NoSuchDistribution](t, err, 404)
		_, err = get(p.sdk, dist, noInv)
		wantTyped[*types.NoSuchInvalidation](t, err, 404)
		if code := cliError(t, p, "get-invalidation", "--distribution-id", noDist, "--id", noInv); code != "NoSuchDistribution" {
			t.Errorf("%s: cli unknown distribution: %s", p.name, code)
		}
		if code := cliError(t, p, "get-invalidation", "--distribution-id", dist, "--id", noInv); code != "NoSuchInvalidation" {
			t.Errorf("%s: cli unknown invalidation: %s", p.name, code)
		}
		l, err := list(p.sdk, noDist, "", 0)
		switch p.name {
		case "moto":
			if err != nil || aws.ToInt32(l.InvalidationList.Quantity) != 0 {
				t.Errorf("moto: list of an unknown distribution: %v %v (expected an empty list)", l, err)
			}
		default:
			wantTyped[*types.NoSuchDistribution](t, err, 404)
		}
	}
}

// checkReuse: the simulator is idempotent per CallerReference and rejects
// other paths under it; moto creates anew every time (difference 6).
func checkReuse(t *testing.T, peers []peer, dist string) {
	for _, p := range peers {
		first := mustCreate(t, p.sdk, dist, "conf-reuse", "/r1", "/r2")
		again, err := create(p.sdk, dist, "conf-reuse", "/r1", "/r2")
		if err != nil {
			t.Fatalf("%s: same reference, same paths: %v", p.name, err)
		}
		same := aws.ToString(again.Invalidation.Id) == aws.ToString(first.Id)
		_, err = create(p.sdk, dist, "conf-reuse", "/other")
		switch p.name {
		case "moto":
			if same || err != nil {
				t.Errorf("moto: reuse returned the earlier invalidation (%v) or refused other paths (%v)", same, err)
			}
		default:
			if !same {
				t.Errorf("cfsim: reuse created a new invalidation")
			}
			wantCode(t, err, "InvalidationBatchAlreadyExists", 409)
		}
	}
}

// checkLimits: the simulator enforces the batch limit, Quantity and path
// rules; moto accepts it all (difference 7).
func checkLimits(t *testing.T, peers []peer, dist string) {
	mismatch := createInput(dist, "conf-quantity", "/q1", "/q2")
	mismatch.InvalidationBatch.Paths.Quantity = aws.Int32(3)
	for _, p := range peers {
		_, tooMany := create(p.sdk, dist, "conf-wild", paths("w", 16, true)...)
		out, badQuantity := p.sdk.CreateInvalidation(context.Background(), mismatch)
		_, badPath := create(p.sdk, dist, "conf-path", "no-slash")
		if p.name == "moto" {
			if tooMany != nil || badQuantity != nil || badPath != nil {
				t.Errorf("moto now enforces limits or validates: %v / %v / %v", tooMany, badQuantity, badPath)
			} else if q := aws.ToInt32(out.Invalidation.InvalidationBatch.Paths.Quantity); q != 2 {
				t.Errorf("moto: Quantity %d, expected it recounted to 2", q)
			}
			continue
		}
		wantTyped[*types.BatchTooLarge](t, tooMany, 413)
		wantTyped[*types.InconsistentQuantities](t, badQuantity, 400)
		wantTyped[*types.InvalidArgument](t, badPath, 400)
	}
}
