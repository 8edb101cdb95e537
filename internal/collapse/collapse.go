// Package collapse reduces a set of CloudFront invalidation paths until it
// fits the in-progress headroom a distribution has left, by replacing
// directories with wildcards. It is a pure function of its inputs: no clock,
// no I/O, no AWS types.
//
// # Why
//
// CloudFront allows per distribution at most 3,000 file paths and,
// independently, 15 wildcard paths in progress (CloudFront Developer Guide,
// "Concurrent invalidation request maximum"). A batch that does not fit the
// room left is either held (the caller's job) or reduced: `D/*` invalidates
// everything under `D/` at the price of one wildcard slot and one billed
// path, but it also drops objects that did not change. The reduction should
// therefore stay as deep in the tree as the headroom allows.
//
// # Paths
//
// Inputs are normalized CloudFront paths (see internal/paths): they start
// with "/", may end in "*" (a wildcard: `X*` covers every path starting with
// X) and may carry a "?query". Items that do not start with "/" — cache tags
// ("#tag") — are never collapsed and never cover anything; they take a file
// slot (a wildcard slot if one ends in "*", which valid tags never do).
//
// The directory of a path is its prefix up to and including the last "/"
// before any "?":
//
//	/blog/post.html?x=1  →  /blog/
//	/blog/               →  /blog/   (the directory's own index object)
//	/blog/index.html     →  /blog/
//	/img/*               →  /img/    (climbing goes on to its parent, /)
//	/                    →  /
//
// Replacing directory D by the wildcard `D*` covers every path whose
// directory is D or below it, existing wildcards included.
package collapse

import (
	"cmp"
	"container/heap"
	"slices"
	"strings"

	"github.com/acme/cf-invalidator/internal/paths"
)

// Headroom is what may still be submitted for a distribution now.
type Headroom struct{ Files, Wildcards int }

// Policy limits what Fit may replace.
type Policy struct {
	// Never forbids new wildcards: what does not fit is for the caller to
	// hold. Dropping paths already covered by a wildcard of the same input
	// is still done (it invalidates nothing more).
	Never bool
	// MinPathsPerDir: only replace a directory holding at least this many
	// paths, counted over its whole subtree (0 or less = 2, so that a
	// single path is never traded for a wildcard).
	MinPathsPerDir int
	// MinDepth is origin protection: no new wildcard may cover a directory
	// shallower than this. The root "/" has depth 0, "/blog/" 1,
	// "/blog/2024/" 2. 0 allows "/*"; 1 allows "/blog/*" but never "/*".
	// A broad wildcard drops every cached object under it, and a CMS that
	// sent "/*" bursts took its own origin down under the refill; how broad
	// the worker may go is the operator's choice. Force obeys it too.
	MinDepth int
}

// Result is a reduction of the input.
type Result struct {
	// Paths is sorted and free of duplicates. It covers every input path;
	// when Fits is true it also fits the headroom (files ≤ Files, wildcards
	// ≤ Wildcards).
	Paths []string
	// Replaced maps each input path that is not in Paths to the wildcard in
	// Paths that now covers it. Paths kept as they are are absent. It may be
	// nil when nothing was replaced.
	Replaced map[string]string
	// Fits is false when even the coarsest reduction the policy allows does
	// not fit the headroom; the caller holds the batch. Paths is then the
	// input without duplicates and without the paths the input's own
	// wildcards cover (Replaced says by which).
	Fits bool
}

// defaultMinPathsPerDir is Policy.MinPathsPerDir's zero value.
const defaultMinPathsPerDir = 2

// Fit reduces paths until they fit room, as far as p allows.
//
// If the input (without duplicates) already fits it is returned unchanged,
// sorted. Otherwise paths covered by a wildcard of the input are dropped
// first, which costs nothing; if that is not enough, directories are
// replaced by wildcards.
//
// # Algorithm: top-down refinement, shallowest first
//
// A reduction is an antichain of directories in the tree of the input's
// directories (no chosen directory lies under another), each sent as `D*`;
// every other path is sent as it is. Fit searches that space from the
// coarse end:
//
//  1. Start from the coarsest reduction, "/*" plus the cache tags. If the
//     policy forbids it or it does not fit (no wildcard room, or more tags
//     than file room), nothing fits: Fits is false.
//  2. Repeatedly take the collapsed directory that is shallowest (then holds
//     the fewest paths) and try to open it: replace `D*` by D's own paths,
//     sent as they are, and one wildcard per subdirectory. A subdirectory is
//     sent as it is instead when the policy forbids replacing it (fewer than
//     MinPathsPerDir paths) or it holds a single wildcard; and while the
//     wildcards do not fit, the subdirectories holding the fewest files are
//     sent as they are rather than as wildcards. If the opened form fits the
//     room left it is kept and its new wildcards join the candidates.
//  3. A directory that needed more file room stays collapsed for good (the
//     files in use only grow); one that needed more wildcard room is tried
//     again whenever a later opening frees a wildcard slot. The search ends
//     when no candidate can be opened.
//
// Every intermediate state fits, so the search ends at a fitting state
// where no single collapsed directory can be opened within the room left;
// in particular "/*" is the result only when nothing without it fits. The
// choice inside one opening is exact: with the files each subdirectory's
// wildcard would save known, sending the fewest files for the wildcards that
// must be saved is optimal. What is greedy is the order across directories.
// Shallower first, because the path list carries no object counts and depth
// is the one size signal it has: a wildcard higher up is taken to drop more
// unchanged objects than the deeper ones that could replace it. Among
// directories of one depth, fewest paths first: they are the cheapest to
// open, and a wildcard over a directory where few paths changed is the one
// that drops the most unchanged objects per changed one.
//
// The opposite direction — collapse the fullest deepest directories, climb
// and merge wildcards until the result fits — reaches the same kind of
// antichain, but overshoots the wildcard room on its way up and picks merges
// from local counts; refining from the top keeps every step inside the room.
// At most room.Wildcards directories are collapsed at any time, so the
// bookkeeping is small; the cost is O(n log n) in the number of paths
// (sorting dominates).
func Fit(paths []string, room Headroom, p Policy) Result {
	minPaths := p.MinPathsPerDir
	if minPaths <= 0 {
		minPaths = defaultMinPathsPerDir
	}
	return fit(paths, room, !p.Never, minPaths, max(p.MinDepth, 0))
}

// Force is Fit for a batch that has waited too long: it ignores the policy
// (Never and MinPathsPerDir) and collapses as far as needed, "/*" last, so
// that whatever fits at all is submitted. A single path may become the
// wildcard of its directory when only wildcard room is left. Fits is false
// only when nothing can fit: no wildcard room and too many files, or more
// cache tags than file room. minDepth is the policy's MinDepth: origin
// protection holds even for a batch that waited too long.
func Force(paths []string, room Headroom, minDepth int) Result {
	return fit(paths, room, true, 1, max(minDepth, 0))
}

func fit(in []string, room Headroom, collapse bool, minPaths, minDepth int) Result {
	uniq := slices.Clone(in)
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)
	if fits(count(uniq), room) {
		return Result{Paths: uniq, Fits: true}
	}
	kept, covered := dropCovered(uniq)
	if fits(count(kept), room) || !collapse {
		return Result{Paths: kept, Replaced: covered, Fits: fits(count(kept), room)}
	}
	t := buildTree(kept)
	if !t.refine(room, minPaths, minDepth) {
		return Result{Paths: kept, Replaced: covered, Fits: false}
	}
	return Result{Paths: t.emit(), Replaced: t.replaced(uniq, covered), Fits: true}
}

// counts are a set's file and wildcard slots.
type counts struct{ files, wildcards int }

func fits(c counts, room Headroom) bool {
	return c.files <= room.Files && c.wildcards <= room.Wildcards
}

func count(paths []string) counts {
	var c counts
	for _, p := range paths {
		if isWildcard(p) {
			c.wildcards++
		} else {
			c.files++
		}
	}
	return c
}

// isWildcard: the paths package classifies items for the whole worker.
var isWildcard = paths.IsWildcard

// isPath tells paths from cache tags and anything else that is not a path.
func isPath(p string) bool { return strings.HasPrefix(p, "/") }

// dirOf returns p's directory: up to and including the last "/" before any
// "?". p must start with "/".
func dirOf(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p[:strings.LastIndexByte(p, '/')+1]
}

// parentOf returns the directory above dir ("" for the root).
func parentOf(dir string) string {
	if dir == "/" {
		return ""
	}
	return dir[:strings.LastIndexByte(dir[:len(dir)-1], '/')+1]
}

// dropCovered removes the paths (sorted, unique) that a wildcard of the same
// set covers, and says which wildcard covers each; it is free: nothing more
// is invalidated. Cache tags never cover and are never covered.
func dropCovered(sorted []string) ([]string, map[string]string) {
	prefixes := map[string]struct{}{}
	var lengths []int
	for _, p := range sorted {
		if isPath(p) && isWildcard(p) {
			prefixes[p[:len(p)-1]] = struct{}{}
			lengths = append(lengths, len(p)-1)
		}
	}
	if len(prefixes) == 0 {
		return sorted, nil
	}
	slices.Sort(lengths)
	lengths = slices.Compact(lengths)
	kept := make([]string, 0, len(sorted))
	var covered map[string]string
	for _, p := range sorted {
		if w, ok := widestCover(p, prefixes, lengths); ok {
			if covered == nil {
				covered = map[string]string{}
			}
			covered[p] = w
			continue
		}
		kept = append(kept, p)
	}
	return kept, covered
}

// widestCover returns the shortest wildcard of the set that covers p,
// other than p itself; the shortest is the one that survives dropCovered.
func widestCover(p string, prefixes map[string]struct{}, lengths []int) (string, bool) {
	if !isPath(p) {
		return "", false
	}
	for _, n := range lengths {
		if n > len(p) || (n == len(p)-1 && isWildcard(p)) {
			break
		}
		if _, ok := prefixes[p[:n]]; ok {
			return p[:n] + "*", true
		}
	}
	return "", false
}

// A node is a directory of the tree built from the input.
type node struct {
	dir      string
	wildcard string // dir+"*"
	depth    int
	parent   *node
	children []*node
	files    []string // paths whose directory this is, sent as files
	wilds    []string // wildcards whose directory this is, other than dir+"*"
	self     bool     // the input holds dir+"*" (then nothing else lies below)
	total    counts   // over the whole subtree, self included
	state    state
}

type state uint8

const (
	untouched state = iota // below a collapsed node, or not yet reached
	collapsed              // sent as dir+"*"
	opened                 // its own paths sent, children decided one by one
	listed                 // the whole subtree sent as it is
)

func (n *node) size() int { return n.total.files + n.total.wildcards }

// tree is the input's directory tree plus the items that are not paths.
type tree struct {
	root   *node
	byDir  map[string]*node
	others []string // cache tags and anything else that is not a path
	extra  counts   // their slots
	used   counts   // slots the current reduction takes
}

func buildTree(paths []string) *tree {
	t := &tree{byDir: map[string]*node{}}
	t.root = t.node("/")
	n := t.root
	for _, p := range paths {
		if !isPath(p) {
			t.others = append(t.others, p)
			continue
		}
		if d := dirOf(p); d != n.dir { // sorted input: same-directory paths mostly follow each other
			n = t.node(d)
		}
		switch {
		case p == n.wildcard:
			n.self = true
		case isWildcard(p):
			n.wilds = append(n.wilds, p)
		default:
			n.files = append(n.files, p)
		}
	}
	t.extra = count(t.others)
	t.sum(t.root)
	return t
}

// node returns dir's node, creating it and its ancestors.
func (t *tree) node(dir string) *node {
	if n, ok := t.byDir[dir]; ok {
		return n
	}
	n := &node{dir: dir, wildcard: dir + "*", depth: strings.Count(dir, "/") - 1}
	t.byDir[dir] = n
	if up := parentOf(dir); up != "" {
		n.parent = t.node(up)
		n.parent.children = append(n.parent.children, n)
	}
	return n
}

func (t *tree) sum(n *node) counts {
	c := counts{files: len(n.files), wildcards: len(n.wilds)}
	if n.self {
		c.wildcards++
	}
	for _, ch := range n.children {
		s := t.sum(ch)
		c.files += s.files
		c.wildcards += s.wildcards
	}
	n.total = c
	return c
}

// refine runs the top-down search; false if not even the coarsest
// reduction allowed ("/*", or the directories at minDepth) fits.
func (t *tree) refine(room Headroom, minPaths, minDepth int) bool {
	f := &frontier{}
	if minDepth == 0 {
		if t.root.size() < minPaths {
			return false
		}
		t.root.state = collapsed
		t.used = counts{files: t.extra.files, wildcards: t.extra.wildcards + 1}
		*f = append(*f, t.root)
	} else {
		t.used = t.extra
		*f = t.floor(t.root, minPaths, minDepth, nil)
	}
	if !fits(t.used, room) {
		return false
	}
	heap.Init(f)
	// Every collapsed directory holds a wildcard slot, so the frontier and
	// the blocked list stay within room.Wildcards entries.
	var blocked []*node
	for f.Len() > 0 {
		n := heap.Pop(f).(*node)
		before := t.used.wildcards
		children, out := t.open(n, room, minPaths)
		switch out {
		case openOK:
			for _, c := range children {
				heap.Push(f, c)
			}
			if t.used.wildcards < before { // room for the blocked ones
				for _, b := range blocked {
					heap.Push(f, b)
				}
				blocked = blocked[:0]
			}
		case openNeedsWildcards:
			blocked = append(blocked, n)
		case openNeverFits:
		}
	}
	return true
}

// floor opens every directory shallower than minDepth, whatever the room:
// their own paths are sent as they are, and each subdirectory at minDepth
// starts collapsed (or listed, if too small to collapse). It returns the
// collapsed ones.
func (t *tree) floor(n *node, minPaths, minDepth int, out []*node) []*node {
	if n.self { // an input wildcard this broad is the producer's, sent as it is
		n.state = listed
		t.used.wildcards += n.total.wildcards
		t.used.files += n.total.files
		return out
	}
	n.state = opened
	t.used.files += len(n.files)
	t.used.wildcards += len(n.wilds)
	for _, ch := range n.children {
		switch {
		case ch.depth < minDepth:
			out = t.floor(ch, minPaths, minDepth, out)
		case ch.size() < minPaths || (ch.total.files == 0 && ch.total.wildcards == 1):
			ch.state = listed
			t.used.files += ch.total.files
			t.used.wildcards += ch.total.wildcards
		default:
			ch.state = collapsed
			t.used.wildcards++
			out = append(out, ch)
		}
	}
	return out
}

// frontier is a heap of collapsed directories, shallowest first, then
// those holding the fewest paths.
type frontier []*node

func (f frontier) Len() int { return len(f) }
func (f frontier) Less(i, j int) bool {
	a, b := f[i], f[j]
	return cmp.Or(cmp.Compare(a.depth, b.depth), cmp.Compare(a.size(), b.size()), strings.Compare(a.dir, b.dir)) < 0
}
func (f frontier) Swap(i, j int) { f[i], f[j] = f[j], f[i] }
func (f *frontier) Push(x any)   { *f = append(*f, x.(*node)) }
func (f *frontier) Pop() any {
	old := *f
	n := old[len(old)-1]
	*f = old[:len(old)-1]
	return n
}

// openOutcome says how an attempt to open a collapsed directory went.
type openOutcome uint8

const (
	openOK             openOutcome = iota
	openNeedsWildcards             // may fit once other openings free wildcard slots
	openNeverFits                  // too many files: the files in use only grow
)

// open replaces n's wildcard by its content if that fits, and returns the
// children left collapsed.
func (t *tree) open(n *node, room Headroom, minPaths int) ([]*node, openOutcome) {
	if n.self {
		return nil, openNeverFits // n's wildcard is an input path: nothing finer exists
	}
	use := counts{
		files:     t.used.files + len(n.files),
		wildcards: t.used.wildcards + len(n.wilds) - 1,
	}
	var wild, list []*node
	for _, ch := range n.children {
		switch {
		case ch.size() < minPaths || (ch.total.files == 0 && ch.total.wildcards == 1):
			list = append(list, ch)
			use.files += ch.total.files
			use.wildcards += ch.total.wildcards
		default:
			wild = append(wild, ch)
			use.wildcards++
		}
	}
	if use.files > room.Files {
		return nil, openNeverFits
	}
	if use.wildcards > room.Wildcards {
		// Send the subdirectories with the fewest files as they are: each
		// saves one wildcard for the fewest file slots. Those holding
		// wildcards themselves would save none.
		slices.SortStableFunc(wild, func(a, b *node) int {
			return cmp.Or(cmp.Compare(a.total.wildcards, b.total.wildcards), cmp.Compare(a.total.files, b.total.files))
		})
		i := 0
		for ; i < len(wild) && use.wildcards > room.Wildcards && wild[i].total.wildcards == 0; i++ {
			use.files += wild[i].total.files
			use.wildcards--
		}
		if use.files > room.Files || use.wildcards > room.Wildcards {
			return nil, openNeedsWildcards
		}
		list = append(list, wild[:i]...)
		wild = wild[i:]
	}
	t.used = use
	n.state = opened
	for _, ch := range list {
		ch.state = listed
	}
	for _, ch := range wild {
		ch.state = collapsed
	}
	return wild, openOK
}

// emit returns the reduction's paths, sorted.
func (t *tree) emit() []string {
	out := slices.Clone(t.others)
	var walk func(n *node, all bool)
	walk = func(n *node, all bool) {
		if !all && n.state == collapsed {
			out = append(out, n.wildcard)
			return
		}
		all = all || n.state == listed
		if n.self {
			out = append(out, n.wildcard)
		}
		out = append(out, n.files...)
		out = append(out, n.wilds...)
		for _, ch := range n.children {
			walk(ch, all)
		}
	}
	walk(t.root, false)
	slices.Sort(out)
	return out
}

// replaced maps every input path (unique) that the reduction does not send
// as it is to the wildcard that covers it: the collapsed directory above it,
// else the input wildcard that dropCovered found (covered), which is sent as
// it is unless a collapsed directory lies above it — and then above p too.
func (t *tree) replaced(in []string, covered map[string]string) map[string]string {
	m := make(map[string]string, len(in))
	var lastDir, lastW string // sorted input: same-directory paths mostly follow each other
	var lastOK bool
	for _, p := range in {
		w, ok := "", false
		if isPath(p) {
			if d := dirOf(p); d == lastDir {
				w, ok = lastW, lastOK
			} else {
				w, ok = t.collapsedAbove(d)
				lastDir, lastW, lastOK = d, w, ok
			}
		}
		if ok {
			if w != p {
				m[p] = w
			}
		} else if w, ok := covered[p]; ok {
			m[p] = w
		}
	}
	return m
}

// collapsedAbove returns the wildcard of the collapsed directory at or
// above directory d, if any. Directories of paths dropped by dropCovered may
// have no node: climb to one.
func (t *tree) collapsedAbove(d string) (string, bool) {
	n, ok := t.byDir[d]
	for !ok && d != "/" {
		d = parentOf(d)
		n, ok = t.byDir[d]
	}
	for ; n != nil; n = n.parent {
		if n.state == collapsed {
			return n.wildcard, true
		}
	}
	return "", false
}
