package collapse

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestDirOf(t *testing.T) {
	for in, want := range map[string]string{
		"/blog/post.html?x=1":  "/blog/",
		"/blog/":               "/blog/",
		"/blog/index.html":     "/blog/",
		"/img/*":               "/img/",
		"/img/a*":              "/img/",
		"/":                    "/",
		"/*":                   "/",
		"/search?q=a/b":        "/",
		"/a/b?next=/c/d/e.htm": "/a/",
	} {
		if got := dirOf(in); got != want {
			t.Errorf("dirOf(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"/": "", "/a/": "/", "/a/b/": "/a/"} {
		if got := parentOf(in); got != want {
			t.Errorf("parentOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       []string
		room     Headroom
		policy   Policy
		force    bool
		want     []string
		replaced map[string]string // nil: expect none
		fits     bool
	}{
		{
			name: "already fits: unchanged, sorted, duplicates dropped",
			in:   []string{"/b", "/a/*", "/a/x", "/b"},
			room: Headroom{2, 1},
			want: []string{"/a/*", "/a/x", "/b"},
			fits: true,
		},
		{
			name: "root files collapse to /*",
			in:   []string{"/", "/index.html", "/about.html"},
			room: Headroom{1, 1},
			want: []string{"/*"},
			replaced: map[string]string{
				"/": "/*", "/index.html": "/*", "/about.html": "/*",
			},
			fits: true,
		},
		{
			name: "trailing slash is the directory's own object",
			in:   []string{"/blog/", "/blog/a.html", "/blog/b.html", "/c.html"},
			room: Headroom{1, 1},
			want: []string{"/blog/*", "/c.html"},
			replaced: map[string]string{
				"/blog/": "/blog/*", "/blog/a.html": "/blog/*", "/blog/b.html": "/blog/*",
			},
			fits: true,
		},
		{
			name: "query strings: directory ends before the ?",
			in:   []string{"/search?q=a/b", "/search?q=c", "/p/x?y=1", "/p/x?y=2", "/p/z"},
			room: Headroom{2, 1},
			want: []string{"/p/*", "/search?q=a/b", "/search?q=c"},
			replaced: map[string]string{
				"/p/x?y=1": "/p/*", "/p/x?y=2": "/p/*", "/p/z": "/p/*",
			},
			fits: true,
		},
		{
			name: "index.html and the deepest directory that fits",
			in:   []string{"/docs/index.html", "/docs/", "/docs/guide/index.html", "/docs/guide/", "/docs/guide/a.html"},
			room: Headroom{2, 1},
			want: []string{"/docs/", "/docs/guide/*", "/docs/index.html"},
			replaced: map[string]string{
				"/docs/guide/index.html": "/docs/guide/*", "/docs/guide/": "/docs/guide/*", "/docs/guide/a.html": "/docs/guide/*",
			},
			fits: true,
		},
		{
			name: "existing wildcards cover their paths and are kept",
			in:   []string{"/img/*", "/img/a.png", "/img/b/c.png", "/css/a.css", "/css/b.css"},
			room: Headroom{1, 2},
			want: []string{"/css/*", "/img/*"},
			replaced: map[string]string{
				"/img/a.png": "/img/*", "/img/b/c.png": "/img/*", "/css/a.css": "/css/*", "/css/b.css": "/css/*",
			},
			fits: true,
		},
		{
			name: "covered paths dropped for free when that is enough",
			in:   []string{"/img/*", "/img/a.png", "/img/b.png", "/x"},
			room: Headroom{1, 1},
			want: []string{"/img/*", "/x"},
			replaced: map[string]string{
				"/img/a.png": "/img/*", "/img/b.png": "/img/*",
			},
			fits: true,
		},
		{
			name: "prefix wildcard covers a subdirectory",
			in:   []string{"/img/a*", "/img/abc/x.png", "/img/b.png", "/z", "/y"},
			room: Headroom{2, 1},
			want: []string{"/img/*", "/y", "/z"},
			replaced: map[string]string{
				"/img/a*": "/img/*", "/img/abc/x.png": "/img/*", "/img/b.png": "/img/*",
			},
			fits: true,
		},
		{
			name: "wildcards over their room merge into the parent",
			in:   []string{"/a/x/*", "/a/y/*", "/a/z/*", "/b.html"},
			room: Headroom{5, 2},
			want: []string{"/a/*", "/b.html"},
			replaced: map[string]string{
				"/a/x/*": "/a/*", "/a/y/*": "/a/*", "/a/z/*": "/a/*",
			},
			fits: true,
		},
		{
			name: "tags are never collapsed and count as files",
			in:   []string{"#product-1", "#product-2", "/p/1", "/p/2", "/p/3"},
			room: Headroom{2, 1},
			want: []string{"#product-1", "#product-2", "/p/*"},
			replaced: map[string]string{
				"/p/1": "/p/*", "/p/2": "/p/*", "/p/3": "/p/*",
			},
			fits: true,
		},
		{
			name: "more tags than file room: nothing fits",
			in:   []string{"#a", "#b", "/p/1", "/p/2"},
			room: Headroom{1, 5},
			want: []string{"#a", "#b", "/p/1", "/p/2"},
			fits: false,
		},
		{
			name: "wildcard room 0: files that fit are kept",
			in:   []string{"/a/1", "/a/2", "/b"},
			room: Headroom{3, 0},
			want: []string{"/a/1", "/a/2", "/b"},
			fits: true,
		},
		{
			name: "wildcard room 0: too many files cannot fit",
			in:   []string{"/a/1", "/a/2", "/b"},
			room: Headroom{2, 0},
			want: []string{"/a/1", "/a/2", "/b"},
			fits: false,
		},
		{
			name: "wildcard room 0: a wildcard cannot fit",
			in:   []string{"/a/*"},
			room: Headroom{5, 0},
			want: []string{"/a/*"},
			fits: false,
		},
		{
			name: "file room 0: only wildcards",
			in:   []string{"/a/1", "/a/2", "/b/1", "/b/2"},
			room: Headroom{0, 2},
			want: []string{"/a/*", "/b/*"},
			replaced: map[string]string{
				"/a/1": "/a/*", "/a/2": "/a/*", "/b/1": "/b/*", "/b/2": "/b/*",
			},
			fits: true,
		},
		{
			name: "file room 0 and one wildcard: /*",
			in:   []string{"/a/1", "/a/2", "/b/1", "/b/2"},
			room: Headroom{0, 1},
			want: []string{"/*"},
			replaced: map[string]string{
				"/a/1": "/*", "/a/2": "/*", "/b/1": "/*", "/b/2": "/*",
			},
			fits: true,
		},
		{
			name: "deep directory preferred over a shallow one",
			in:   []string{"/a/b/c/1", "/a/b/c/2", "/a/b/c/3", "/a/b/c/4", "/a/b/c/5", "/x/1"},
			room: Headroom{1, 1},
			want: []string{"/a/b/c/*", "/x/1"},
			replaced: map[string]string{
				"/a/b/c/1": "/a/b/c/*", "/a/b/c/2": "/a/b/c/*", "/a/b/c/3": "/a/b/c/*",
				"/a/b/c/4": "/a/b/c/*", "/a/b/c/5": "/a/b/c/*",
			},
			fits: true,
		},
		{
			name: "small directories are sent as files, the big one as a wildcard",
			in: append(seq("/a/b/c/d/", 30),
				slices.Concat(seq("/e/0/", 2), seq("/e/1/", 2), seq("/e/2/", 2), seq("/e/3/", 2), seq("/e/4/", 2),
					seq("/e/5/", 2), seq("/e/6/", 2), seq("/e/7/", 2), seq("/e/8/", 2), seq("/e/9/", 2))...),
			room:     Headroom{25, 3},
			want:     slices.Concat([]string{"/a/b/c/d/*"}, seq("/e/0/", 2), seq("/e/1/", 2), seq("/e/2/", 2), seq("/e/3/", 2), seq("/e/4/", 2), seq("/e/5/", 2), seq("/e/6/", 2), seq("/e/7/", 2), seq("/e/8/", 2), seq("/e/9/", 2)),
			replaced: replacedBy("/a/b/c/d/*", seq("/a/b/c/d/", 30)),
			fits:     true,
		},
		{
			// /b/ cannot open while /a/y/* holds a slot; opening /a/y/
			// frees it and /b/ is tried again.
			name: "a directory blocked for wildcards is retried when a deeper opening frees one",
			in:   slices.Concat(seq("/a/x/", 2), seq("/a/y/", 2), seq("/b/p/", 3), seq("/b/q/", 3)),
			room: Headroom{4, 2},
			want: slices.Concat(seq("/a/x/", 2), seq("/a/y/", 2), []string{"/b/p/*", "/b/q/*"}),
			replaced: map[string]string{
				"/b/p/0": "/b/p/*", "/b/p/1": "/b/p/*", "/b/p/2": "/b/p/*",
				"/b/q/0": "/b/q/*", "/b/q/1": "/b/q/*", "/b/q/2": "/b/q/*",
			},
			fits: true,
		},
		{
			name:   "Never: held, not collapsed",
			in:     []string{"/a/1", "/a/2", "/a/3"},
			room:   Headroom{2, 5},
			policy: Policy{Never: true},
			want:   []string{"/a/1", "/a/2", "/a/3"},
			fits:   false,
		},
		{
			name:     "Never still drops what the input's wildcards cover",
			in:       []string{"/a/*", "/a/1"},
			room:     Headroom{0, 1},
			policy:   Policy{Never: true},
			want:     []string{"/a/*"},
			replaced: map[string]string{"/a/1": "/a/*"},
			fits:     true,
		},
		{
			name: "default MinPathsPerDir: a single path is not traded for a wildcard",
			in:   []string{"/a/b.html"},
			room: Headroom{0, 5},
			want: []string{"/a/b.html"},
			fits: false,
		},
		{
			name:   "MinPathsPerDir 3: smaller directories sent as files",
			in:     []string{"/a/1", "/a/2", "/b/1", "/b/2", "/b/3", "/c/1"},
			room:   Headroom{3, 1},
			policy: Policy{MinPathsPerDir: 3},
			want:   []string{"/a/1", "/a/2", "/b/*", "/c/1"},
			replaced: map[string]string{
				"/b/1": "/b/*", "/b/2": "/b/*", "/b/3": "/b/*",
			},
			fits: true,
		},
		{
			name:     "MinPathsPerDir 4: only the root holds enough",
			in:       []string{"/a/1", "/a/2", "/b/1", "/b/2", "/b/3", "/c/1"},
			room:     Headroom{3, 1},
			policy:   Policy{MinPathsPerDir: 4},
			want:     []string{"/*"},
			replaced: replacedBy("/*", []string{"/a/1", "/a/2", "/b/1", "/b/2", "/b/3", "/c/1"}),
			fits:     true,
		},
		{
			name:   "MinPathsPerDir above the input: nothing may be replaced",
			in:     []string{"/a/1", "/a/2", "/b/1", "/b/2", "/b/3", "/c/1"},
			room:   Headroom{3, 1},
			policy: Policy{MinPathsPerDir: 7},
			want:   []string{"/a/1", "/a/2", "/b/1", "/b/2", "/b/3", "/c/1"},
			fits:   false,
		},
		{
			name:     "Force: a single path becomes its directory's wildcard",
			in:       []string{"/a/b.html"},
			room:     Headroom{0, 5},
			force:    true,
			want:     []string{"/a/*"},
			replaced: map[string]string{"/a/b.html": "/a/*"},
			fits:     true,
		},
		{
			name:     "Force ignores MinPathsPerDir and Never and reaches /*",
			in:       []string{"/a/1", "/a/2", "/b/1", "/b/2", "/c/d/e/f"},
			room:     Headroom{0, 1},
			force:    true,
			want:     []string{"/*"},
			replaced: replacedBy("/*", []string{"/a/1", "/a/2", "/b/1", "/b/2", "/c/d/e/f"}),
			fits:     true,
		},
		{
			name:  "Force with no wildcard room cannot shrink files",
			in:    []string{"/a/1", "/a/2"},
			room:  Headroom{1, 0},
			force: true,
			want:  []string{"/a/1", "/a/2"},
			fits:  false,
		},
		{
			name:     "Force keeps tags",
			in:       []string{"#t", "/a/1", "/b/1"},
			room:     Headroom{1, 1},
			force:    true,
			want:     []string{"#t", "/*"},
			replaced: map[string]string{"/a/1": "/*", "/b/1": "/*"},
			fits:     true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got Result
			if tc.force {
				got = Force(tc.in, tc.room, 0)
			} else {
				got = Fit(tc.in, tc.room, tc.policy)
			}
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got.Paths, want) {
				t.Errorf("Paths = %q, want %q", got.Paths, want)
			}
			if got.Fits != tc.fits {
				t.Errorf("Fits = %v, want %v", got.Fits, tc.fits)
			}
			if len(got.Replaced) != 0 || len(tc.replaced) != 0 {
				if !maps.Equal(got.Replaced, tc.replaced) {
					t.Errorf("Replaced = %v, want %v", got.Replaced, tc.replaced)
				}
			}
			checkInvariants(t, tc.in, tc.room, got)
		})
	}
}

// seq returns dir+"0" … dir+(n-1).
func seq(dir string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", dir, i)
	}
	return out
}

func replacedBy(w string, paths []string) map[string]string {
	m := map[string]string{}
	for _, p := range paths {
		m[p] = w
	}
	return m
}

// covers reports whether out path o covers input path p.
func covers(o, p string) bool {
	if o == p {
		return true
	}
	return isPath(o) && isWildcard(o) && isPath(p) && strings.HasPrefix(p, o[:len(o)-1])
}

// checkInvariants asserts what every Result promises.
func checkInvariants(t *testing.T, in []string, room Headroom, r Result) {
	t.Helper()
	if !slices.IsSorted(r.Paths) || len(slices.Compact(slices.Clone(r.Paths))) != len(r.Paths) {
		t.Fatalf("Paths not sorted and unique: %q", r.Paths)
	}
	if r.Fits && !fits(count(r.Paths), room) {
		t.Fatalf("Fits but %+v does not fit %+v: %q", count(r.Paths), room, r.Paths)
	}
	for _, p := range in {
		_, kept := slices.BinarySearch(r.Paths, p)
		w, replaced := r.Replaced[p]
		switch {
		case kept && replaced:
			t.Fatalf("%q both kept and replaced by %q", p, w)
		case !kept && !replaced:
			t.Fatalf("%q neither kept nor replaced: %q", p, r.Paths)
		case replaced:
			if _, ok := slices.BinarySearch(r.Paths, w); !ok || !covers(w, p) {
				t.Fatalf("%q replaced by %q, which is not in Paths or does not cover it", p, w)
			}
		}
	}
	for p := range r.Replaced {
		if !slices.Contains(in, p) {
			t.Fatalf("Replaced holds %q, which is not an input", p)
		}
	}
}

// TestFitProperties checks the invariants on random inputs, and against an
// exhaustive search on small trees that Fits is false only when nothing fits
// and that "/*" is chosen only when no finer reduction fits.
func TestFitProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		in := randomPaths(rng, 1+rng.IntN(14))
		room := Headroom{Files: rng.IntN(8), Wildcards: rng.IntN(4)}
		policy := Policy{Never: rng.IntN(8) == 0, MinPathsPerDir: rng.IntN(4)}
		force := rng.IntN(4) == 0
		var r Result
		if force {
			r = Force(in, room, 0)
		} else {
			r = Fit(in, room, policy)
		}
		name := fmt.Sprintf("case %d: Fit(%q, %+v, %+v) force=%v → %q fits=%v", i, in, room, policy, force, r.Paths, r.Fits)
		t.Run("", func(t *testing.T) {
			checkInvariants(t, in, room, r)
			minPaths := policy.MinPathsPerDir
			if minPaths <= 0 {
				minPaths = defaultMinPathsPerDir
			}
			if force {
				minPaths = 1
			}
			canCollapse := force || !policy.Never
			anyFit, fineFit := bruteForce(in, room, canCollapse, minPaths)
			if anyFit != r.Fits {
				t.Fatalf("%s: exhaustive search says fits=%v", name, anyFit)
			}
			if slices.Contains(r.Paths, "/*") && !slices.Contains(in, "/*") && fineFit {
				t.Fatalf("%s: chose /* but a reduction without it fits", name)
			}
		})
	}
}

// randomPaths draws from a small tree so that directories share paths.
func randomPaths(rng *rand.Rand, n int) []string {
	dirs := []string{"/", "/a/", "/a/b/", "/a/b/c/", "/a/d/", "/e/", "/e/f/"}
	leaves := []string{"", "x", "y.html", "index.html", "z?q=1", "*", "x*", "?p=/a/b"}
	var out []string
	for range n {
		if rng.IntN(12) == 0 {
			out = append(out, fmt.Sprintf("#tag%d", rng.IntN(3)))
			continue
		}
		out = append(out, dirs[rng.IntN(len(dirs))]+leaves[rng.IntN(len(leaves))])
	}
	return out
}

// bruteForce tries every antichain of the input's directories (each
// holding at least minPaths paths after free drops) and reports whether
// any fits, and whether one without the root's wildcard fits.
func bruteForce(in []string, room Headroom, canCollapse bool, minPaths int) (anyFit, fineFit bool) {
	uniq := slices.Compact(slices.Sorted(slices.Values(in)))
	if fits(count(uniq), room) {
		return true, true
	}
	kept, _ := dropCovered(uniq)
	if fits(count(kept), room) {
		return true, true
	}
	if !canCollapse {
		return false, false
	}
	t := buildTree(kept)
	var dirs []string
	for d, n := range t.byDir {
		if n.size() >= minPaths {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	for mask := 1; mask < 1<<len(dirs); mask++ {
		var chosen []string
		for i, d := range dirs {
			if mask&(1<<i) != 0 {
				chosen = append(chosen, d)
			}
		}
		if !antichain(chosen) {
			continue
		}
		c := counts{wildcards: len(chosen)}
		for _, p := range kept {
			if isPath(p) && slices.ContainsFunc(chosen, func(d string) bool { return strings.HasPrefix(p, d) }) {
				continue
			}
			if isWildcard(p) {
				c.wildcards++
			} else {
				c.files++
			}
		}
		if fits(c, room) {
			anyFit = true
			if !slices.Contains(chosen, "/") {
				fineFit = true
			}
		}
	}
	return anyFit, fineFit
}

func antichain(dirs []string) bool {
	for i, a := range dirs {
		for j, b := range dirs {
			if i != j && strings.HasPrefix(b, a) {
				return false
			}
		}
	}
	return true
}

func TestFitDoesNotModifyInput(t *testing.T) {
	in := []string{"/b/2", "/b/1", "/a/2", "/a/1", "/a/1"}
	orig := slices.Clone(in)
	Fit(in, Headroom{1, 1}, Policy{})
	Force(in, Headroom{0, 1}, 0)
	if !slices.Equal(in, orig) {
		t.Fatalf("input changed: %q, was %q", in, orig)
	}
}

// benchPaths returns n paths shaped like a news site,
// /section-N/yyyy/mm/slug-K.html, with a few sections much busier than the
// rest (a bulk re-render of one archive plus the daily trickle elsewhere).
func benchPaths(n int, skewed bool) []string {
	rng := rand.New(rand.NewPCG(42, 7))
	out := make([]string, 0, n)
	for i := range n {
		section := rng.IntN(40)
		if skewed {
			// Zipf-like: section 0 holds most, then 1, 2, …
			section = int(rng.ExpFloat64() * 1.5)
		}
		year := 2015 + rng.IntN(11)
		month := 1 + rng.IntN(12)
		out = append(out, fmt.Sprintf("/section-%d/%d/%02d/slug-%d.html", section, year, month, i))
	}
	return out
}

// BenchmarkFit100k reduces 100,000 paths into what a distribution with
// nothing in progress offers after the reserve: 2,900 files, 13 wildcards.
func BenchmarkFit100k(b *testing.B) {
	room := Headroom{Files: 2900, Wildcards: 13}
	for _, bc := range []struct {
		name   string
		skewed bool
	}{{"uniform", false}, {"skewed", true}} {
		paths := benchPaths(100_000, bc.skewed)
		b.Run(bc.name, func(b *testing.B) {
			var r Result
			b.ReportAllocs()
			for b.Loop() {
				r = Fit(paths, room, Policy{})
			}
			if !r.Fits {
				b.Fatalf("does not fit")
			}
			c := count(r.Paths)
			b.ReportMetric(float64(len(paths))*float64(b.N)/b.Elapsed().Seconds(), "paths/s")
			b.ReportMetric(float64(c.files), "files")
			b.ReportMetric(float64(c.wildcards), "wildcards")
		})
	}
}

func TestMinDepthIsNeverCrossed(t *testing.T) {
	var in []string
	for i := range 40 {
		in = append(in, fmt.Sprintf("/a/%d.html", i), fmt.Sprintf("/b/x/%d.html", i), fmt.Sprintf("/b/y/%d.html", i))
	}
	in = append(in, "/index.html", "/feed.xml")
	tests := []struct {
		name     string
		room     Headroom
		minDepth int
		fits     bool
		want     []string // wildcards the result must hold
	}{
		{"depth 1 collapses top directories, never /*", Headroom{Files: 10, Wildcards: 2}, 1, true, []string{"/a/*", "/b/*"}},
		{"depth 1 with one wildcard slot cannot fit", Headroom{Files: 10, Wildcards: 1}, 1, false, nil},
		{"depth 0 may use /*", Headroom{Files: 10, Wildcards: 1}, 0, true, []string{"/*"}},
		{"depth 2 keeps /b/x/* and /b/y/*, lists /a/", Headroom{Files: 45, Wildcards: 5}, 2, true, []string{"/b/x/*", "/b/y/*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []Result{Fit(in, tt.room, Policy{MinDepth: tt.minDepth}), Force(in, tt.room, tt.minDepth)} {
				if r.Fits != tt.fits {
					t.Fatalf("fits = %v, want %v (%q)", r.Fits, tt.fits, r.Paths)
				}
				if !r.Fits {
					continue
				}
				for _, w := range tt.want {
					if !slices.Contains(r.Paths, w) {
						t.Errorf("result %q lacks %s", r.Paths, w)
					}
				}
				for _, p := range r.Paths {
					if strings.HasSuffix(p, "*") && strings.Count(p, "/")-1 < tt.minDepth {
						t.Errorf("wildcard %s is shallower than depth %d", p, tt.minDepth)
					}
				}
				checkCovers(t, in, r)
			}
		})
	}
}

// checkCovers: every input path is in the result or covered by the
// wildcard Replaced names, which is in the result.
func checkCovers(t *testing.T, in []string, r Result) {
	t.Helper()
	for _, p := range in {
		if slices.Contains(r.Paths, p) {
			continue
		}
		w, ok := r.Replaced[p]
		if !ok || !slices.Contains(r.Paths, w) || !strings.HasPrefix(p, strings.TrimSuffix(w, "*")) {
			t.Errorf("%s is neither sent nor covered (replaced by %q)", p, w)
		}
	}
}
