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

// limits bound what a pool accepts.
type limits struct {
	files, wildcards int
	completeAfter    time.Duration
}

// pool is what one pair of in-progress limits covers: a distribution's own
// invalidations and those of every tenant of it. The Developer Guide
// ("Concurrent invalidation request maximum") states the limits "per
// distribution" and says nothing of distribution tenants; the simulator
// takes the conservative reading that a tenant's invalidations count
// against its parent multi-tenant distribution, together with the
// distribution's own and every sibling tenant's.
type pool struct {
	active []*invalidation // InProgress at last look; pruned lazily
}

// inProgress sums the paths of the invalidations still InProgress at now.
func (p *pool) inProgress(now time.Time) (files, wildcards int) {
	p.active = slices.DeleteFunc(p.active, func(inv *invalidation) bool {
		return inv.status(now) == StatusCompleted
	})
	for _, inv := range p.active {
		files += inv.files
		wildcards += inv.wildcards
	}
	return files, wildcards
}

// complete makes every invalidation InProgress at now Completed now and
// returns how many it changed.
func (p *pool) complete(now time.Time) int {
	n := 0
	for _, inv := range p.active {
		if inv.status(now) == StatusInProgress {
			inv.doneAt = now
			n++
		}
	}
	p.active = p.active[:0]
	return n
}

// kind is what a resource is: it names the URI segment, the ARN's resource
// type and the not-found error of the operations on it.
type kind int

const (
	kindDistribution kind = iota // /distribution/{Id}, NoSuchDistribution
	kindTenant                   // /distribution-tenant/{Id}, EntityNotFound
)

// segment is the resource's URI segment and ARN resource type.
func (k kind) segment() string {
	if k == kindTenant {
		return "distribution-tenant"
	}
	return "distribution"
}

// resource is a distribution or a distribution tenant: what invalidations
// are created for, fetched from and listed under. CallerReference reuse is
// per resource (the API model: "a previous invalidation batch for the same
// distribution"); the in-progress limits are per pool.
type resource struct {
	kind   kind
	id     string
	parent string // the multi-tenant distribution of a tenant; "" for a distribution
	pool   *pool
	all    []*invalidation // creation order; List shows it reversed
	byID   map[string]*invalidation
	byRef  map[string]*invalidation // CallerReference → invalidation
}

func newResource(k kind, id, parent string, p *pool) *resource {
	return &resource{
		kind:   k,
		id:     id,
		parent: parent,
		pool:   p,
		byID:   make(map[string]*invalidation),
		byRef:  make(map[string]*invalidation),
	}
}

// distributionID is the distribution the resource's invalidations clear:
// the distribution itself, or a tenant's parent.
func (r *resource) distributionID() string {
	if r.kind == kindTenant {
		return r.parent
	}
	return r.id
}

// admit applies CreateInvalidation's rules to a valid batch, in this order:
// CallerReference reuse, the batch's own size, then the in-progress limits
// of the resource's pool. newID returns an invalidation id unused anywhere.
func (r *resource) admit(b batch, now time.Time, lim limits, conflictAsInvalidArgument bool, newID func() string) (*invalidation, bool, *apiError) {
	if prev, ok := r.byRef[b.ref]; ok {
		if samePathSet(prev.paths, b.paths) {
			return prev, true, nil
		}
		return nil, false, conflictError(conflictAsInvalidArgument)
	}
	if aerr := checkBatchSize(b, lim); aerr != nil {
		return nil, false, aerr
	}
	files, wildcards := r.pool.inProgress(now)
	if files+b.files > lim.files || wildcards+b.wildcards > lim.wildcards {
		return nil, false, errTooManyInvalidations(files, wildcards, b, lim)
	}
	return r.add(newID(), b, now, lim.completeAfter), false, nil
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

func (r *resource) add(id string, b batch, now time.Time, completeAfter time.Duration) *invalidation {
	inv := &invalidation{
		id:        id,
		ref:       b.ref,
		paths:     b.paths,
		files:     b.files,
		wildcards: b.wildcards,
		created:   now,
		doneAt:    now.Add(completeAfter),
	}
	r.all = append(r.all, inv)
	r.byID[inv.id] = inv
	r.byRef[inv.ref] = inv
	if inv.status(now) == StatusInProgress {
		r.pool.active = append(r.pool.active, inv)
	}
	return inv
}

// page returns up to maxItems invalidations, newest first, starting after
// the one whose id is marker ("the ID of the last invalidation batch on
// that page", API model), and the NextMarker when more remain.
func (r *resource) page(marker string, maxItems int) ([]*invalidation, string, *apiError) {
	start := len(r.all) - 1 // index into r.all of the first item on the page
	if marker != "" {
		i := slices.IndexFunc(r.all, func(inv *invalidation) bool { return inv.id == marker })
		if i < 0 {
			return nil, "", errInvalidArgument("Marker " + marker + " names no invalidation of " + r.kind.segment() + " " + r.id)
		}
		start = i - 1
	}
	var page []*invalidation
	for i := start; i >= 0 && len(page) < maxItems; i-- {
		page = append(page, r.all[i])
	}
	next := ""
	if len(page) > 0 && start-len(page) >= 0 {
		next = page[len(page)-1].id
	}
	return page, next, nil
}

// newInvalidationID returns an id shaped like CloudFront's ('I' and 13 more
// upper-case letters and digits) that taken does not hold. The model gives
// ids no length (its example is IDFDVBD632BHDS5, the aws cli's tenant
// example I2JGL2F1ZAA426PGG0YLLKABC), so clients must not assume one.
func newInvalidationID(taken map[string]bool) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for {
		b := make([]byte, 14)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		for i := range b {
			b[i] = alphabet[int(b[i])%len(alphabet)]
		}
		b[0] = 'I'
		if !taken[string(b)] {
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
