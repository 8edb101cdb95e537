package cfview

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

// Summary is one entry of a ListInvalidations page.
type Summary struct {
	ID      string
	Created time.Time
	Status  string
}

// Detail is what GetInvalidation says of one invalidation; none of it
// changes but Status.
type Detail struct {
	Summary
	Reference string
	Items     []string // as CloudFront stores them
}

// Source reads one target's invalidations: a distribution's, or (later) a
// distribution tenant's.
type Source interface {
	// List returns one page, newest first, after marker ("" = the first).
	List(ctx context.Context, marker string, maxItems int32) (page []Summary, next string, err error)
	// Get returns one invalidation.
	Get(ctx context.Context, id string) (Detail, error)
}

// DistributionAPI is the part of the CloudFront client a distribution's
// Source uses.
type DistributionAPI interface {
	ListInvalidations(context.Context, *cloudfront.ListInvalidationsInput, ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsOutput, error)
	GetInvalidation(context.Context, *cloudfront.GetInvalidationInput, ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error)
}

var _ DistributionAPI = (*cloudfront.Client)(nil)

// Distribution returns the Source of distribution id.
func Distribution(api DistributionAPI, id string) Source { return distSource{api, id} }

type distSource struct {
	api DistributionAPI
	id  string
}

func (s distSource) List(ctx context.Context, marker string, maxItems int32) ([]Summary, string, error) {
	in := &cloudfront.ListInvalidationsInput{DistributionId: aws.String(s.id), MaxItems: aws.Int32(maxItems)}
	if marker != "" {
		in.Marker = aws.String(marker)
	}
	out, err := s.api.ListInvalidations(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("cloudfront ListInvalidations %s: %w", s.id, err)
	}
	return summaries(out.InvalidationList)
}

// summaries reads one page of a list answer.
func summaries(l *types.InvalidationList) ([]Summary, string, error) {
	if l == nil {
		return nil, "", nil
	}
	page := make([]Summary, 0, len(l.Items))
	for _, it := range l.Items {
		if id := aws.ToString(it.Id); id != "" {
			page = append(page, Summary{ID: id, Created: aws.ToTime(it.CreateTime), Status: aws.ToString(it.Status)})
		}
	}
	next := ""
	if aws.ToBool(l.IsTruncated) {
		next = aws.ToString(l.NextMarker)
	}
	return page, next, nil
}

func (s distSource) Get(ctx context.Context, id string) (Detail, error) {
	out, err := s.api.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(s.id), Id: aws.String(id)})
	if err != nil {
		return Detail{}, fmt.Errorf("cloudfront GetInvalidation %s %s: %w", s.id, id, err)
	}
	return detailOf(out.Invalidation, "GetInvalidation "+s.id+" "+id)
}

func detailOf(inv *types.Invalidation, what string) (Detail, error) {
	if inv == nil || inv.InvalidationBatch == nil || inv.InvalidationBatch.Paths == nil {
		return Detail{}, fmt.Errorf("cloudfront %s: %w", what, errNoPaths)
	}
	return Detail{
		Summary:   Summary{ID: aws.ToString(inv.Id), Created: aws.ToTime(inv.CreateTime), Status: aws.ToString(inv.Status)},
		Reference: aws.ToString(inv.InvalidationBatch.CallerReference),
		Items:     inv.InvalidationBatch.Paths.Items,
	}, nil
}

var errNoPaths = errors.New("answer holds no paths")

// TenantAPI is the part of the CloudFront client a distribution tenant's
// Source uses.
type TenantAPI interface {
	ListInvalidationsForDistributionTenant(context.Context, *cloudfront.ListInvalidationsForDistributionTenantInput,
		...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsForDistributionTenantOutput, error)
	GetInvalidationForDistributionTenant(context.Context, *cloudfront.GetInvalidationForDistributionTenantInput,
		...func(*cloudfront.Options)) (*cloudfront.GetInvalidationForDistributionTenantOutput, error)
}

var _ TenantAPI = (*cloudfront.Client)(nil)

// Tenant returns the Source of distribution tenant id: its own
// invalidations (…ForDistributionTenant), not its distribution's.
func Tenant(api TenantAPI, id string) Source { return tenantSource{api, id} }

type tenantSource struct {
	api TenantAPI
	id  string
}

func (s tenantSource) List(ctx context.Context, marker string, maxItems int32) ([]Summary, string, error) {
	in := &cloudfront.ListInvalidationsForDistributionTenantInput{Id: aws.String(s.id), MaxItems: aws.Int32(maxItems)}
	if marker != "" {
		in.Marker = aws.String(marker)
	}
	out, err := s.api.ListInvalidationsForDistributionTenant(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("cloudfront ListInvalidationsForDistributionTenant %s: %w", s.id, err)
	}
	return summaries(out.InvalidationList)
}

func (s tenantSource) Get(ctx context.Context, id string) (Detail, error) {
	out, err := s.api.GetInvalidationForDistributionTenant(ctx, &cloudfront.GetInvalidationForDistributionTenantInput{
		DistributionTenantId: aws.String(s.id), Id: aws.String(id)})
	if err != nil {
		return Detail{}, fmt.Errorf("cloudfront GetInvalidationForDistributionTenant %s %s: %w", s.id, id, err)
	}
	return detailOf(out.Invalidation, "GetInvalidationForDistributionTenant "+s.id+" "+id)
}
