package cfsim_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/acme/cf-invalidator/internal/cfsim"
)

// TestInProgressLimitsDefault uses CloudFront's real limits: 3,000 file
// paths and, independently, 15 wildcard paths in progress per
// distribution. Both free up when the clock passes CompleteAfter.
func TestInProgressLimitsDefault(t *testing.T) {
	s, c, clk := sim(t, cfsim.Options{Distributions: []string{"E1", "E2"}, CompleteAfter: 10 * time.Minute})
	mustCreate(t, c, "E1", "files", paths("f", 3000, false)...)
	_, err := create(c, "E1", "one-more-file", "/extra")
	wantTyped[*types.TooManyInvalidationsInProgress](t, err, 400)

	mustCreate(t, c, "E1", "wild", paths("w", 15, true)...) // independent of the file limit
	_, err = create(c, "E1", "one-more-wildcard", "/extra*")
	wantTyped[*types.TooManyInvalidationsInProgress](t, err, 400)

	mustCreate(t, c, "E2", "other-dist", "/extra", "/extra*") // limits are per distribution
	if got := s.Stats().InProgress; got != 3 {
		t.Fatalf("InProgress %d, want 3", got)
	}

	clk.Advance(10*time.Minute - time.Second)
	_, err = create(c, "E1", "still-full", "/extra")
	wantTyped[*types.TooManyInvalidationsInProgress](t, err, 400)

	clk.Advance(time.Second)
	mustCreate(t, c, "E1", "after-completion", "/extra", "/extra*")
}

// TestInProgressLimitsAdd: batches add up against small configured limits;
// a batch that fits exactly is accepted.
func TestInProgressLimitsAdd(t *testing.T) {
	_, c, clk := sim(t, cfsim.Options{Distributions: []string{"E1"}, CompleteAfter: time.Minute, MaxFilePaths: 10, MaxWildcards: 2})
	mustCreate(t, c, "E1", "six", paths("a", 6, false)...)
	clk.Advance(30 * time.Second)
	_, err := create(c, "E1", "five", paths("b", 5, false)...)
	tm := wantTyped[*types.TooManyInvalidationsInProgress](t, err, 400)
	if tm.ErrorMessage() == "" {
		t.Fatal("empty message")
	}
	mustCreate(t, c, "E1", "four", paths("b", 4, false)...)
	mustCreate(t, c, "E1", "wild", "/x*", "/y*") // files are full, wildcards are not
	_, err = create(c, "E1", "file", "/q")
	wantTyped[*types.TooManyInvalidationsInProgress](t, err, 400)

	clk.Advance(30 * time.Second) // "six" completes; "four" and "wild" (4 files, 2 wildcards) remain
	mustCreate(t, c, "E1", "five-again", paths("c", 5, false)...)
	_, err = create(c, "E1", "w", "/w*")
	wantTyped[*types.TooManyInvalidationsInProgress](t, err, 400)
}

// TestBatchTooLarge: a single batch over the limits could never be
// accepted, so it is BatchTooLarge (413), not TooManyInvalidationsInProgress.
func TestBatchTooLarge(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}})
	_, err := create(c, "E1", "files", paths("f", 3001, false)...)
	wantTyped[*types.BatchTooLarge](t, err, 413)
	_, err = create(c, "E1", "wild", paths("w", 16, true)...)
	wantTyped[*types.BatchTooLarge](t, err, 413)
	mustCreate(t, c, "E1", "max", append(paths("f", 3000, false), paths("w", 15, true)...)...)
}

// TestBatchTooLargeConfigured: the batch limit follows the configured
// in-progress limit.
func TestBatchTooLargeConfigured(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}, MaxWildcards: 3})
	_, err := create(c, "E1", "wild", paths("w", 4, true)...)
	wantTyped[*types.BatchTooLarge](t, err, 413)
}

// TestCacheTagsCountAsFiles: '#' items are cache tags; they take no
// wildcard and count against the file-path limit.
func TestCacheTagsCountAsFiles(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}, CompleteAfter: time.Minute, MaxFilePaths: 2})
	mustCreate(t, c, "E1", "tags", "#product:tv", "#Brand:Example")
	_, err := create(c, "E1", "tag", "#more")
	wantTyped[*types.TooManyInvalidationsInProgress](t, err, 400)
	mustCreate(t, c, "E1", "wild", "/still-fine*")
}
