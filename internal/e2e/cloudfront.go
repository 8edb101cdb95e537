package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/acme/cf-invalidator/internal/testenv"
)

// CreateDistribution creates the smallest distribution moto accepts (one
// custom origin) with CallerReference ref and returns its id.
func CreateDistribution(t testing.TB, c *cloudfront.Client, ref string) string {
	t.Helper()
	return createDistribution(t, c, ref, "", cftypes.Origin{
		Id:         aws.String("origin"),
		DomainName: aws.String("origin.example.com"),
		CustomOriginConfig: &cftypes.CustomOriginConfig{
			HTTPPort: aws.Int32(80), HTTPSPort: aws.Int32(443),
			OriginProtocolPolicy: cftypes.OriginProtocolPolicyHttpsOnly,
		},
	}, cftypes.ViewerProtocolPolicyAllowAll)
}

// CreateS3Distribution creates a moto distribution (CallerReference ref)
// whose origin is bucket (an S3 origin) with originPath ("" or "/site") and
// returns its id.
func CreateS3Distribution(t testing.TB, c *cloudfront.Client, ref, bucket, originPath string) string {
	t.Helper()
	return createDistribution(t, c, ref, "origin s3://"+bucket+originPath, cftypes.Origin{
		Id:             aws.String("s3-" + bucket),
		DomainName:     aws.String(bucket + ".s3." + testenv.Region + ".amazonaws.com"),
		OriginPath:     aws.String(originPath),
		S3OriginConfig: &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String("")},
	}, cftypes.ViewerProtocolPolicyRedirectToHttps)
}

func createDistribution(t testing.TB, c *cloudfront.Client, ref, comment string, origin cftypes.Origin, viewer cftypes.ViewerProtocolPolicy) string {
	t.Helper()
	out, err := c.CreateDistribution(context.Background(), &cloudfront.CreateDistributionInput{
		DistributionConfig: &cftypes.DistributionConfig{
			CallerReference:      aws.String(ref),
			Comment:              aws.String(comment),
			Enabled:              aws.Bool(true),
			Origins:              &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{origin}},
			DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{TargetOriginId: origin.Id, ViewerProtocolPolicy: viewer},
		},
	})
	if err != nil {
		t.Fatalf("CreateDistribution %s (origin %s): %v", ref, aws.ToString(origin.DomainName), err)
	}
	return aws.ToString(out.Distribution.Id)
}

// Invalidation is one accepted invalidation, from the simulator's audit
// ([FromAudit]) or from CloudFront's API ([ListInvalidations]).
type Invalidation struct {
	Dist, ID string
	// Tenant is the distribution tenant it was created for (the
	// simulator's audit), "" for the distribution's own; Dist is then the
	// tenant's distribution, whose in-progress limits it counts against.
	Tenant  string
	Status  string    // as CloudFront shows it; "" from the audit
	Created time.Time // CloudFront's CreateTime: when it was accepted
	Items   []string  // paths and #tags
}

// Target is what the invalidation was created for: its tenant, else its
// distribution. Messages are justified, covered and grouped by target.
func (inv Invalidation) Target() string {
	if inv.Tenant != "" {
		return inv.Tenant
	}
	return inv.Dist
}

// ListInvalidations returns every invalidation of distID with its items
// and CreateTime, through ListInvalidations (all pages) and GetInvalidation.
func ListInvalidations(t testing.TB, c *cloudfront.Client, distID string) []Invalidation {
	t.Helper()
	ctx := context.Background()
	var out []Invalidation
	p := cloudfront.NewListInvalidationsPaginator(c, &cloudfront.ListInvalidationsInput{DistributionId: aws.String(distID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListInvalidations %s: %v", distID, err)
		}
		if page.InvalidationList == nil {
			break
		}
		for _, s := range page.InvalidationList.Items {
			g, err := c.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(distID), Id: s.Id})
			if err != nil {
				t.Fatalf("GetInvalidation %s %s: %v", distID, aws.ToString(s.Id), err)
			}
			inv := Invalidation{Dist: distID, ID: aws.ToString(g.Invalidation.Id), Status: aws.ToString(g.Invalidation.Status),
				Created: aws.ToTime(g.Invalidation.CreateTime)}
			if b := g.Invalidation.InvalidationBatch; b != nil && b.Paths != nil {
				inv.Items = b.Paths.Items
			}
			out = append(out, inv)
		}
	}
	return out
}

// FromCloudFront is every invalidation of the distributions, as
// [ListInvalidations] shows them: the accepted invalidations for
// [CheckDeletesJustified] against moto or any CloudFront.
func FromCloudFront(t testing.TB, c *cloudfront.Client, dists ...string) []Invalidation {
	t.Helper()
	var out []Invalidation
	for _, d := range dists {
		out = append(out, ListInvalidations(t, c, d)...)
	}
	return out
}

// Union is the items of invs, deduplicated and sorted.
func Union(invs []Invalidation) []string {
	var union []string
	for _, inv := range invs {
		for _, p := range inv.Items {
			if !slices.Contains(union, p) {
				union = append(union, p)
			}
		}
	}
	slices.Sort(union)
	return union
}

// Invalidated returns distID's invalidations and the union of their items.
func Invalidated(t testing.TB, c *cloudfront.Client, distID string) ([]Invalidation, []string) {
	t.Helper()
	invs := ListInvalidations(t, c, distID)
	return invs, Union(invs)
}

// WaitInvalidatedExactly waits until distID's invalidations cover want,
// then requires that they hold nothing else and that each passes
// [CheckRequestLimits]. It returns the invalidations.
func WaitInvalidatedExactly(t testing.TB, c *cloudfront.Client, distID string, want []string, within time.Duration) []Invalidation {
	t.Helper()
	Poll(t, within, 200*time.Millisecond, "invalidations of "+distID+" cover the expected paths", func() (bool, string) {
		_, union := Invalidated(t, c, distID)
		miss := Uncovered(want, union)
		return len(miss) == 0, fmt.Sprintf("missing %q; invalidated %q", miss, union)
	})
	invs, union := Invalidated(t, c, distID)
	var extra []string
	for _, p := range union {
		if !slices.Contains(want, p) {
			extra = append(extra, p)
		}
	}
	if len(extra) > 0 {
		t.Errorf("distribution %s: invalidated paths %q that no producer asked for (want exactly %q)", distID, extra, want)
	}
	CheckRequestLimits(t, invs)
	return invs
}

// CheckRequestLimits checks each invalidation against CloudFront's
// per-request limits (at most 3,000 paths, 15 of them wildcards) and that
// it shows as completed (moto completes at once).
func CheckRequestLimits(t testing.TB, invs []Invalidation) {
	t.Helper()
	for _, inv := range invs {
		wild := 0
		for _, p := range inv.Items {
			if strings.HasSuffix(p, "*") {
				wild++
			}
		}
		if len(inv.Items) > 3000 || wild > 15 {
			t.Errorf("invalidation %s: %d paths (%d wildcards): over CloudFront's 3,000 / 15", inv.ID, len(inv.Items), wild)
		}
		if !strings.EqualFold(inv.Status, "completed") {
			t.Errorf("invalidation %s: status %q, want Completed (moto: COMPLETED)", inv.ID, inv.Status)
		}
	}
}

// LogInvalidations logs invalidations, abridged.
func LogInvalidations(t testing.TB, what string, invs []Invalidation) {
	t.Helper()
	for _, inv := range invs {
		ps := inv.Items
		suffix := ""
		if len(ps) > 8 {
			ps, suffix = ps[:8], fmt.Sprintf(" … (%d paths)", len(inv.Items))
		}
		t.Logf("%s: invalidation %s %s: %q%s", what, inv.ID, inv.Status, ps, suffix)
	}
}

// ByDist groups invalidations by target ([Invalidation.Target]): by
// distribution, a tenant's apart from its distribution's.
func ByDist(invs []Invalidation) map[string][]Invalidation {
	out := map[string][]Invalidation{}
	for _, inv := range invs {
		out[inv.Target()] = append(out[inv.Target()], inv)
	}
	return out
}
