package coalesce

import (
	"slices"
	"strings"

	"github.com/acme/cf-invalidator/internal/paths"
)

// CloudFront limits that bound one request. A distribution may have at most
// 3,000 file paths and, independently, 15 wildcard paths in progress
// (CloudFront Developer Guide, "Concurrent invalidation request maximum");
// a single request can therefore never usefully carry more than that.
const (
	MaxFilePathsPerRequest = 3000
	MaxWildcardsPerRequest = 15
)

// Request is one CreateInvalidation call's worth of paths.
type Request struct {
	Distribution string
	// Paths are sorted, unique, and none is covered by a wildcard in the
	// same batch.
	Paths []string
	// Messages are the sorted IDs of the messages whose paths this request
	// covers (in full or in part).
	Messages []string

	// owners[i] lists the messages that want Paths[i] or a path it covers;
	// kept so that a request can be split per message (Split), cut (Take,
	// Halve) or reduced (Replace) and still say which messages it serves.
	owners [][]string
}

// Wildcards counts the wildcard paths in r.
func (r Request) Wildcards() int {
	n := 0
	for _, p := range r.Paths {
		if isWildcard(p) {
			n++
		}
	}
	return n
}

// Files counts the non-wildcard items in r (file paths and cache tags).
func (r Request) Files() int { return len(r.Paths) - r.Wildcards() }

// Items are classified by the paths package, the one place that knows a
// wildcard (ends in "*") from a cache tag ("#tag", which never ends in "*").
var (
	isWildcard = paths.IsWildcard
	isTag      = paths.IsTag
)

// Reduce drops every path covered by a wildcard of the same set and returns
// the survivors, sorted. covered maps each dropped path to the surviving
// wildcard that covers it. `/docs/*` covers `/docs/a.html`, `/docs/img/*`
// and `/docs/*` itself is not covered by anything shorter unless a shorter
// wildcard prefix such as `/*` or `/do*` is present. Cache tags (`#tag`) are
// never covered and never cover.
func Reduce(paths []string) (survivors []string, covered map[string]string) {
	prefixes := map[string]struct{}{}
	var lengths []int
	for _, p := range paths {
		if isWildcard(p) {
			pre := p[:len(p)-1]
			if _, ok := prefixes[pre]; !ok {
				prefixes[pre] = struct{}{}
				lengths = append(lengths, len(pre))
			}
		}
	}
	slices.Sort(lengths)
	lengths = slices.Compact(lengths)
	covered = map[string]string{}
	for _, p := range paths {
		if w, ok := coveringWildcard(p, prefixes, lengths); ok {
			covered[p] = w
		} else {
			survivors = append(survivors, p)
		}
	}
	slices.Sort(survivors)
	return slices.Compact(survivors), covered
}

// coveringWildcard returns the shortest wildcard that covers p, if any. The
// shortest is itself uncovered, so it is the one that survives.
func coveringWildcard(p string, prefixes map[string]struct{}, lengths []int) (string, bool) {
	if isTag(p) {
		return "", false
	}
	limit := len(p) // a file path may be covered by a prefix as long as itself
	if isWildcard(p) {
		limit = len(p) - 1 // a wildcard only by a strictly shorter prefix
	}
	for _, n := range lengths {
		if n > limit || (n == limit && isWildcard(p)) {
			break
		}
		if _, ok := prefixes[p[:n]]; ok {
			return p[:n] + "*", true
		}
	}
	return "", false
}

// Plan turns a flush's items and the ids of the messages wanting each
// (owners[i] for items[i]) into requests within the per-request limits
// (maxFiles, maxWild; zero means MaxFilePathsPerRequest and
// MaxWildcardsPerRequest). Items a wildcard among them covers are dropped
// (Reduce), their owners moving to the wildcard.
func Plan(target string, items []string, owners [][]string, maxFiles, maxWild int) []Request {
	if maxFiles <= 0 {
		maxFiles = MaxFilePathsPerRequest
	}
	if maxWild <= 0 {
		maxWild = MaxWildcardsPerRequest
	}
	idx := map[string]int{}
	var msgs []string
	byPath := make(map[string][]int, len(items))
	n := 0
	for _, os := range owners {
		n += len(os)
	}
	buf := make([]int, 0, n) // every item's owner indices, one allocation
	for i, p := range items {
		start := len(buf)
		for _, m := range owners[i] {
			j, ok := idx[m]
			if !ok {
				j = len(msgs)
				idx[m] = j
				msgs = append(msgs, m)
			}
			buf = append(buf, j)
		}
		byPath[p] = buf[start:len(buf):len(buf)] // full: an append copies
	}
	return plan(target, byPath, msgs, maxFiles, maxWild)
}

// plan turns a group's paths and their owners into requests within the
// per-request limits. Survivors are placed in the order of the first message
// that owns them, so a message's paths stay together in one request where
// they can. The owners' slices are plan's: it sorts and compacts them in
// place (Plan builds them for it).
func plan(dist string, owners map[string][]int, msgs []string, maxFiles, maxWild int) []Request {
	all := make([]string, 0, len(owners))
	for p := range owners {
		all = append(all, p)
	}
	survivors, covered := Reduce(all)
	// A survivor keeps its own owners' slice; a wildcard that covers others
	// gets theirs appended, which copies (Plan's slices are full).
	merged := make(map[string][]int, len(survivors))
	for _, p := range survivors {
		merged[p] = owners[p]
	}
	for p, w := range covered {
		merged[w] = append(merged[w], owners[p]...)
	}
	type entry struct {
		path  string
		first int
	}
	order := make([]entry, 0, len(survivors))
	for _, p := range survivors {
		o := merged[p]
		slices.Sort(o)
		merged[p] = slices.Compact(o)
		order = append(order, entry{p, merged[p][0]})
	}
	slices.SortFunc(order, func(a, b entry) int {
		if a.first != b.first {
			return a.first - b.first
		}
		return strings.Compare(a.path, b.path)
	})
	var reqs []Request
	var cur []string
	files, wild := 0, 0
	seen := make([]int32, len(msgs)) // newRequest's marks, by message index
	emit := func() {
		if len(cur) > 0 {
			reqs = append(reqs, newRequest(dist, cur, merged, msgs, seen, int32(len(reqs))))
		}
		cur, files, wild = nil, 0, 0
	}
	for _, e := range order {
		w := isWildcard(e.path)
		if (w && wild+1 > maxWild) || (!w && files+1 > maxFiles) {
			emit()
		}
		cur = append(cur, e.path)
		if w {
			wild++
		} else {
			files++
		}
	}
	emit()
	return reqs
}

// newRequest makes the k-th request of a plan. seen holds a mark per
// message index, shared by the plan's requests: k+1 once listed in the k-th
// (a slice, not a map per request).
func newRequest(dist string, paths []string, merged map[string][]int, msgs []string, seen []int32, k int32) Request {
	slices.Sort(paths)
	r := Request{Distribution: dist, Paths: paths, owners: make([][]string, len(paths))}
	n := 0
	for _, p := range paths {
		n += len(merged[p])
	}
	buf := make([]string, 0, n) // every path's owners, one allocation
	for i, p := range paths {
		start := len(buf)
		for _, m := range merged[p] {
			buf = append(buf, msgs[m])
			if seen[m] != k+1 {
				seen[m] = k + 1
				r.Messages = append(r.Messages, msgs[m])
			}
		}
		r.owners[i] = buf[start:len(buf):len(buf)] // full: an append copies
		slices.Sort(r.owners[i])
	}
	slices.Sort(r.Messages)
	return r
}

// Split returns one request per message of r, each holding the paths that
// message needs (a wildcard that covered one of its paths counts). Used to
// isolate the message behind a request CloudFront refused as invalid, so only
// that message is dead-lettered.
func (r Request) Split() []Request {
	byMsg := map[string][]string{}
	for i, p := range r.Paths {
		for _, m := range r.owners[i] {
			byMsg[m] = append(byMsg[m], p)
		}
	}
	out := make([]Request, 0, len(byMsg))
	for _, m := range r.Messages {
		ps := byMsg[m]
		slices.Sort(ps)
		owners := make([][]string, len(ps))
		for i := range owners {
			owners[i] = []string{m}
		}
		out = append(out, Request{Distribution: r.Distribution, Paths: ps, Messages: []string{m}, owners: owners})
	}
	return out
}

// Take splits r into a head that fits maxFiles file paths and maxWild
// wildcards and the rest, keeping each path's owners. A message with paths
// on both sides is covered by both. Paths are taken in order.
func (r Request) Take(maxFiles, maxWild int) (head, rest Request) {
	head = Request{Distribution: r.Distribution}
	rest = Request{Distribution: r.Distribution}
	files, wild := 0, 0
	for i, p := range r.Paths {
		w := isWildcard(p)
		into := &rest
		if (w && wild < maxWild) || (!w && files < maxFiles) {
			into = &head
			if w {
				wild++
			} else {
				files++
			}
		}
		into.Paths = append(into.Paths, p)
		into.owners = append(into.owners, r.owners[i])
	}
	head.Messages, rest.Messages = ownersOf(head.owners), ownersOf(rest.owners)
	return head, rest
}

// Replace returns r with its paths replaced by a reduction of them: paths
// maps each replaced path to the wildcard now covering it (as
// collapse.Result.Replaced does). Owners move with their paths.
func (r Request) Replace(paths []string, replaced map[string]string) Request {
	idx := make(map[string]int, len(paths))
	out := Request{Distribution: r.Distribution, Paths: slices.Sorted(slices.Values(paths))}
	out.owners = make([][]string, len(out.Paths))
	for i, p := range out.Paths {
		idx[p] = i
	}
	for i, p := range r.Paths {
		to := p
		if w, ok := replaced[p]; ok {
			to = w
		}
		j, ok := idx[to]
		if !ok {
			continue // not in the reduction: the caller's reduction is wrong
		}
		out.owners[j] = append(out.owners[j], r.owners[i]...)
	}
	for j := range out.owners {
		slices.Sort(out.owners[j])
		out.owners[j] = slices.Compact(out.owners[j])
	}
	out.Messages = ownersOf(out.owners)
	return out
}

func ownersOf(owners [][]string) []string {
	var ms []string
	for _, o := range owners {
		ms = append(ms, o...)
	}
	slices.Sort(ms)
	return slices.Compact(ms)
}

// Halve splits r into two requests of about half its paths each, keeping
// owners. Used when CloudFront refuses a request as too large
// (BatchTooLarge): the size is the worker's choice, not the messages' fault.
func (r Request) Halve() (a, b Request) {
	mid := len(r.Paths) / 2
	a = Request{Distribution: r.Distribution, Paths: r.Paths[:mid:mid], owners: r.owners[:mid:mid]}
	b = Request{Distribution: r.Distribution, Paths: r.Paths[mid:], owners: r.owners[mid:]}
	a.Messages, b.Messages = ownersOf(a.owners), ownersOf(b.owners)
	return a, b
}
