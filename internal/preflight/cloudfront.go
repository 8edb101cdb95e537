package preflight

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
)

// CheckDistribution proves that distribution d exists and that the
// credentials may read its invalidations: ListInvalidations with MaxItems 1
// (the quota view's call) answers NoSuchDistribution for an unknown id and
// AccessDenied without cloudfront:ListInvalidations on it. When it lists an
// invalidation, GetInvalidation of that one proves cloudfront:GetInvalidation
// too (completion tracking and the quota view use it); with none there is
// nothing to get, and that permission is reported as not checked.
func CheckDistribution(ctx context.Context, api CloudFrontAPI, d Distribution) []Result {
	arn := distributionARN(d.ID)
	out, err := api.ListInvalidations(ctx, &cloudfront.ListInvalidationsInput{DistributionId: aws.String(d.ID), MaxItems: aws.Int32(1)})
	if err != nil {
		return []Result{failure("distribution", d.ID, "cloudfront ListInvalidations", err, map[errKind]string{
			errNotFound: fmt.Sprintf("no distribution %s in the account of these credentials: fix %s "+
				"(or use the credentials of the account that owns it)", d.ID, d.Key),
			errDenied: "grant cloudfront:ListInvalidations, cloudfront:GetInvalidation and cloudfront:CreateInvalidation on " +
				arn + " (deploy/iam-policy.json, InvalidateAllowListedDistributions)",
		})}
	}
	var items []string
	if out.InvalidationList != nil {
		for _, s := range out.InvalidationList.Items {
			items = append(items, aws.ToString(s.Id))
		}
	}
	if len(items) == 0 {
		return []Result{
			{Name: "distribution", Target: d.ID, Status: Pass, Detail: "exists; invalidations readable (none yet)"},
			{Name: "distribution.get_invalidation", Target: d.ID, Status: Skip,
				Detail: "not checked: cloudfront:GetInvalidation needs an existing invalidation to read",
				Remedy: "grant cloudfront:GetInvalidation on " + arn + " (completion tracking and the quota view use it)"},
		}
	}
	rs := []Result{{Name: "distribution", Target: d.ID, Status: Pass, Detail: "exists; invalidations readable"}}
	if _, err := api.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(d.ID), Id: aws.String(items[0])}); err != nil {
		return append(rs, failure("distribution.get_invalidation", d.ID, "cloudfront GetInvalidation "+items[0], err, map[errKind]string{
			errDenied: "grant cloudfront:GetInvalidation on " + arn + " (completion tracking and the quota view use it)",
		}))
	}
	return append(rs, Result{Name: "distribution.get_invalidation", Target: d.ID, Status: Pass, Detail: "read invalidation " + items[0]})
}

// CheckTenant is CheckDistribution for a distribution tenant of a
// multi-tenant distribution: ListInvalidationsForDistributionTenant with
// MaxItems 1, where an unknown tenant is EntityNotFound.
func CheckTenant(ctx context.Context, api CloudFrontAPI, t Distribution) Result {
	_, err := api.ListInvalidationsForDistributionTenant(ctx, &cloudfront.ListInvalidationsForDistributionTenantInput{
		Id: aws.String(t.ID), MaxItems: aws.Int32(1)})
	if err != nil {
		return failure("tenant", t.ID, "cloudfront ListInvalidationsForDistributionTenant", err, map[errKind]string{
			errNotFound: fmt.Sprintf("no distribution tenant %s in the account of these credentials: fix %s", t.ID, t.Key),
			errDenied: "grant cloudfront:ListInvalidationsForDistributionTenant, cloudfront:GetInvalidationForDistributionTenant and " +
				"cloudfront:CreateInvalidationForDistributionTenant on arn:aws:cloudfront::ACCOUNT_ID:distribution-tenant/" + t.ID,
		})
	}
	return Result{Name: "tenant", Target: t.ID, Status: Pass, Detail: "exists; invalidations readable"}
}

// distributionsUnchecked are the lines for what no read-only call proves:
// creating invalidations, and what allow_all_distributions leaves open.
func distributionsUnchecked(p Plan) []Result {
	var rs []Result
	if ids := idsOf(p.Distributions); ids != "" {
		rs = append(rs, Result{Name: "distribution.create_invalidation", Target: ids, Status: Skip,
			Detail: "not checked: cloudfront:CreateInvalidation can only be tested by creating an invalidation (billed past 1,000 paths a month)",
			Remedy: "grant it on each arn:aws:cloudfront::ACCOUNT_ID:distribution/ID (deploy/iam-policy.json, InvalidateAllowListedDistributions)"})
	}
	if ids := idsOf(p.Tenants); ids != "" {
		rs = append(rs, Result{Name: "tenant.create_invalidation", Target: ids, Status: Skip,
			Detail: "not checked: cloudfront:CreateInvalidationForDistributionTenant can only be tested by creating an invalidation"})
	}
	if p.AllowAll {
		rs = append(rs, Result{Name: "distribution.allow_all", Status: Skip,
			Detail: "allow_all_distributions is on: messages may name any distribution, and only the listed ones were checked",
			Remedy: "list the distributions the worker serves under distributions to have each checked"})
	}
	return rs
}

func distributionARN(id string) string { return "arn:aws:cloudfront::ACCOUNT_ID:distribution/" + id }

func idsOf(ds []Distribution) string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return strings.Join(ids, ",")
}
