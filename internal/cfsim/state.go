package cfsim

import (
	"crypto/rand"
	"slices"
	"time"
)

// invalidation is one accepted batch.
type invalidation struct {
	id        string
	ref       string
	paths     []string // as sent, in order
	files     int      // paths not ending in '*' (cache tags included)
	wildcards int      // paths ending in '*'
	created   time.Time
	doneAt    time.Time // Completed from this instant on
}

func (inv *invalidation) status(now time.Time) string {
	if now.Before(inv.doneAt) {
		return StatusInProgress
	}
	return StatusCompleted
}

// limits bound what a distribution accepts.
type limits struct {
	files, wildcards int
	completeAfter    time.Duration
}

// distribution holds one distribution's invalidations.
type distribution struct {
	id     string
	all    []*invalidation // creation order; List shows it reversed
	byID   map[string]*invalidation
	byRef  map[string]*invalidation // CallerReference → invalidation
	active []*invalidation          // InProgress at last look; pruned lazily
}

func newDistribution(id string) *distribution {
	return &distribution{
		id:    id,
		byID:  make(map[string]*invalidation),
		byRef: make(map[string]*invalidation),
	}
}

// admit applies CreateInvalidation's rules to a valid batch, in this order:
// CallerReference reuse, the batch's own size, then the in-progress limits.
func (d *distribution) admit(b batch, now time.Time, lim limits, conflictAsInvalidArgument bool) (*invalidation, bool, *apiError) {
	if prev, ok := d.byRef[b.ref]; ok {
		if samePathSet(prev.paths, b.paths) {
			return prev, true, nil
		}
		return nil, false, conflictError(conflictAsInvalidArgument)
	}
	if aerr := checkBatchSize(b, lim); aerr != nil {
		return nil, false, aerr
	}
	files, wildcards := d.inProgress(now)
	if files+b.files > lim.files || wildcards+b.wildcards > lim.wildcards {
		return nil, false, errTooManyInvalidations(files, wildcards, b, lim)
	}
	return d.add(b, now, lim.completeAfter), false, nil
}

// checkBatchSize rejects a batch that could never be accepted, even by a
// distribution with nothing in progress. The guide's example ("one
// invalidation request for up to 3,000 files") makes the in-progress limits
// the limits of a single batch too; the model's error for a batch over them
// is BatchTooLarge (413, "Invalidation batch specified is too large").
func checkBatchSize(b batch, lim limits) *apiError {
	if b.files > lim.files || b.wildcards > lim.wildcards {
		return errBatchTooLargeFor(b, lim)
	}
	return nil
}

// inProgress sums the paths of the invalidations still InProgress at now.
func (d *distribution) inProgress(now time.Time) (files, wildcards int) {
	d.active = slices.DeleteFunc(d.active, func(inv *invalidation) bool {
		return inv.status(now) == StatusCompleted
	})
	for _, inv := range d.active {
		files += inv.files
		wildcards += inv.wildcards
	}
	return files, wildcards
}

func (d *distribution) add(b batch, now time.Time, completeAfter time.Duration) *invalidation {
	inv := &invalidation{
		id:        d.newID(),
		ref:       b.ref,
		paths:     b.paths,
		files:     b.files,
		wildcards: b.wildcards,
		created:   now,
		doneAt:    now.Add(completeAfter),
	}
	d.all = append(d.all, inv)
	d.byID[inv.id] = inv
	d.byRef[inv.ref] = inv
	if inv.status(now) == StatusInProgress {
		d.active = append(d.active, inv)
	}
	return inv
}

// complete makes every invalidation InProgress at now Completed now and
// returns how many it changed.
func (d *distribution) complete(now time.Time) int {
	n := 0
	for _, inv := range d.active {
		if inv.status(now) == StatusInProgress {
			inv.doneAt = now
			n++
		}
	}
	d.active = d.active[:0]
	return n
}

// page returns up to maxItems invalidations, newest first, starting after
// the one whose id is marker ("the ID of the last invalidation batch on
// that page", API model), and the NextMarker when more remain.
func (d *distribution) page(marker string, maxItems int) ([]*invalidation, string, *apiError) {
	start := len(d.all) - 1 // index into d.all of the first item on the page
	if marker != "" {
		i := slices.IndexFunc(d.all, func(inv *invalidation) bool { return inv.id == marker })
		if i < 0 {
			return nil, "", errInvalidArgument("Marker " + marker + " names no invalidation of distribution " + d.id)
		}
		start = i - 1
	}
	var page []*invalidation
	for i := start; i >= 0 && len(page) < maxItems; i-- {
		page = append(page, d.all[i])
	}
	next := ""
	if len(page) > 0 && start-len(page) >= 0 {
		next = page[len(page)-1].id
	}
	return page, next, nil
}

// newID returns an unused invalidation id shaped like CloudFront's: 'I' and
// 13 more upper-case letters and digits.
func (d *distribution) newID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for {
		b := make([]byte, 14)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		for i := range b {
			b[i] = alphabet[int(b[i])%len(alphabet)]
		}
		b[0] = 'I'
		if _, taken := d.byID[string(b)]; !taken {
			return string(b)
		}
	}
}

// samePathSet compares two batches' paths as sets: CloudFront returns the
// earlier invalidation when "the rest of the request is the same"; the
// order of the items is not part of the request's meaning.
func samePathSet(a, b []string) bool {
	return slices.Equal(sortedSet(a), sortedSet(b))
}

func sortedSet(p []string) []string {
	s := slices.Clone(p)
	slices.Sort(s)
	return slices.Compact(s)
}
