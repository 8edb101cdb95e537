package cfsim_test

import (
	"context"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/acme/cf-invalidator/internal/cfsim"
)

var invIDPattern = regexp.MustCompile(`^I[A-Z0-9]{13}$`)

// TestCreateGetList walks one invalidation through the three operations
// and checks every field the model defines.
func TestCreateGetList(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}, CompleteAfter: time.Minute})
	out, err := create(c, "E1", "ref-1", "/index.html", "/img/*")
	if err != nil {
		t.Fatal(err)
	}
	if got := statusOf(t, out.ResultMetadata); got != 201 {
		t.Fatalf("create: HTTP %d, want 201", got)
	}
	inv := out.Invalidation
	id := aws.ToString(inv.Id)
	if !invIDPattern.MatchString(id) {
		t.Fatalf("id %q not shaped like CloudFront's", id)
	}
	wantLoc := "https://cloudfront.amazonaws.com/2020-05-31/distribution/E1/invalidation/" + id
	if got := aws.ToString(out.Location); got != wantLoc {
		t.Fatalf("Location %q, want %q", got, wantLoc)
	}
	if reqID, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); reqID == "" {
		t.Fatal("no x-amzn-RequestId")
	}
	checkInvalidation(t, inv, id, cfsim.StatusInProgress, "ref-1", "/index.html", "/img/*")

	got, err := get(c, "E1", id)
	if err != nil {
		t.Fatal(err)
	}
	checkInvalidation(t, got.Invalidation, id, cfsim.StatusInProgress, "ref-1", "/index.html", "/img/*")

	l, err := list(c, "E1", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	il := l.InvalidationList
	if aws.ToInt32(il.Quantity) != 1 || len(il.Items) != 1 || aws.ToBool(il.IsTruncated) ||
		aws.ToInt32(il.MaxItems) != cfsim.DefaultMaxItems || il.Marker == nil || il.NextMarker != nil {
		t.Fatalf("list envelope: %+v", il)
	}
	sum := il.Items[0]
	if aws.ToString(sum.Id) != id || aws.ToString(sum.Status) != cfsim.StatusInProgress || !aws.ToTime(sum.CreateTime).Equal(t0) {
		t.Fatalf("summary: %+v", sum)
	}
}

func checkInvalidation(t *testing.T, inv *types.Invalidation, id, status, ref string, paths ...string) {
	t.Helper()
	if aws.ToString(inv.Id) != id || aws.ToString(inv.Status) != status {
		t.Fatalf("invalidation %s/%s, want %s/%s", aws.ToString(inv.Id), aws.ToString(inv.Status), id, status)
	}
	if !aws.ToTime(inv.CreateTime).Equal(t0) {
		t.Fatalf("CreateTime %v, want %v", aws.ToTime(inv.CreateTime), t0)
	}
	b := inv.InvalidationBatch
	if aws.ToString(b.CallerReference) != ref || aws.ToInt32(b.Paths.Quantity) != int32(len(paths)) || !slices.Equal(b.Paths.Items, paths) {
		t.Fatalf("batch %s %d %v, want %s %v", aws.ToString(b.CallerReference), aws.ToInt32(b.Paths.Quantity), b.Paths.Items, ref, paths)
	}
}

// TestStatusFollowsClock: InProgress until CreateTime+CompleteAfter, then
// Completed (capital C only), in Get and List alike.
func TestStatusFollowsClock(t *testing.T) {
	_, c, clk := sim(t, cfsim.Options{Distributions: []string{"E1"}, CompleteAfter: 15 * time.Second})
	id := aws.ToString(mustCreate(t, c, "E1", "r", "/a").Id)
	for _, step := range []struct {
		advance time.Duration
		want    string
	}{
		{0, "InProgress"},
		{15*time.Second - time.Millisecond, "InProgress"},
		{time.Millisecond, "Completed"},
	} {
		clk.Advance(step.advance)
		g, err := get(c, "E1", id)
		if err != nil {
			t.Fatal(err)
		}
		l, err := list(c, "E1", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(g.Invalidation.Status) != step.want || aws.ToString(l.InvalidationList.Items[0].Status) != step.want {
			t.Fatalf("at +%v: get %s, list %s, want %s", clk.Now().Sub(t0), aws.ToString(g.Invalidation.Status),
				aws.ToString(l.InvalidationList.Items[0].Status), step.want)
		}
	}
}

// TestCompleteAfterZero: CompleteAfter 0 completes at once, like moto.
func TestCompleteAfterZero(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}})
	if st := aws.ToString(mustCreate(t, c, "E1", "r", "/a").Status); st != cfsim.StatusCompleted {
		t.Fatalf("status %s, want Completed", st)
	}
}

// TestListPagination: newest first, MaxItems pages, Marker echoed,
// NextMarker the last id of a truncated page, through the SDK's paginator.
func TestListPagination(t *testing.T) {
	_, c, clk := sim(t, cfsim.Options{Distributions: []string{"E1"}})
	var created []string
	for i := range 5 {
		created = append(created, aws.ToString(mustCreate(t, c, "E1", string(rune('a'+i)), "/p").Id))
		clk.Advance(time.Second)
	}
	newestFirst := slices.Clone(created)
	slices.Reverse(newestFirst)

	p := cloudfront.NewListInvalidationsPaginator(c, &cloudfront.ListInvalidationsInput{
		DistributionId: aws.String("E1"), MaxItems: aws.Int32(2),
	})
	var seen []string
	var sizes []int
	marker := ""
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		il := page.InvalidationList
		checkPage(t, il, marker)
		sizes = append(sizes, len(il.Items))
		for _, s := range il.Items {
			seen = append(seen, aws.ToString(s.Id))
		}
		marker = aws.ToString(il.NextMarker)
	}
	if !slices.Equal(seen, newestFirst) || !slices.Equal(sizes, []int{2, 2, 1}) {
		t.Fatalf("pages %v of %v, want %v in pages [2 2 1]", sizes, seen, newestFirst)
	}

	full, err := list(c, "E1", "", 5)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToBool(full.InvalidationList.IsTruncated) || full.InvalidationList.NextMarker != nil {
		t.Fatalf("an exactly full page is not truncated: %+v", full.InvalidationList)
	}
}

func checkPage(t *testing.T, il *types.InvalidationList, marker string) {
	t.Helper()
	n := len(il.Items)
	if aws.ToString(il.Marker) != marker || aws.ToInt32(il.MaxItems) != 2 || aws.ToInt32(il.Quantity) != int32(n) {
		t.Fatalf("page envelope %+v after marker %q", il, marker)
	}
	if aws.ToBool(il.IsTruncated) != (il.NextMarker != nil) {
		t.Fatalf("IsTruncated %v but NextMarker %v", aws.ToBool(il.IsTruncated), il.NextMarker)
	}
	if il.NextMarker != nil && aws.ToString(il.NextMarker) != aws.ToString(il.Items[n-1].Id) {
		t.Fatalf("NextMarker %s is not the page's last id", aws.ToString(il.NextMarker))
	}
}

// TestListArguments: a Marker naming no invalidation and MaxItems 0 are
// InvalidArgument (ListInvalidations' modelled errors include it).
func TestListArguments(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}})
	mustCreate(t, c, "E1", "r", "/a")
	_, err := list(c, "E1", "INOSUCHMARKER", 0)
	wantTyped[*types.InvalidArgument](t, err, 400)
	_, err = c.ListInvalidations(context.Background(), &cloudfront.ListInvalidationsInput{
		DistributionId: aws.String("E1"), MaxItems: aws.Int32(0),
	})
	wantTyped[*types.InvalidArgument](t, err, 400)
}

// TestEmptyList: no invalidations yet is Quantity 0 without Items.
func TestEmptyList(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}})
	l, err := list(c, "E1", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if il := l.InvalidationList; aws.ToInt32(il.Quantity) != 0 || len(il.Items) != 0 || aws.ToBool(il.IsTruncated) {
		t.Fatalf("empty list: %+v", il)
	}
}
