package coalesce

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestReduce(t *testing.T) {
	tests := []struct {
		name      string
		in        []string
		survivors []string
		covered   map[string]string
	}{
		{"duplicates dropped", []string{"/a", "/b", "/a"}, []string{"/a", "/b"}, map[string]string{}},
		{"dir wildcard covers files under it", []string{"/docs/a.html", "/docs/*", "/docs/img/x.png", "/doc.html"},
			[]string{"/doc.html", "/docs/*"}, map[string]string{"/docs/a.html": "/docs/*", "/docs/img/x.png": "/docs/*"}},
		{"root wildcard covers all", []string{"/a", "/b/*", "/*", "/c?x=1"},
			[]string{"/*"}, map[string]string{"/a": "/*", "/b/*": "/*", "/c?x=1": "/*"}},
		{"wildcard covers nested wildcard", []string{"/docs/*", "/docs/img/*"},
			[]string{"/docs/*"}, map[string]string{"/docs/img/*": "/docs/*"}},
		{"shortest wildcard wins", []string{"/d*", "/docs/*", "/docs/a"},
			[]string{"/d*"}, map[string]string{"/docs/*": "/d*", "/docs/a": "/d*"}},
		{"sibling is not covered", []string{"/docs/*", "/docs2/a", "/doc"},
			[]string{"/doc", "/docs/*", "/docs2/a"}, map[string]string{}},
		{"wildcard does not cover itself", []string{"/docs/*", "/docs/*"}, []string{"/docs/*"}, map[string]string{}},
		{"directory path covered by its wildcard", []string{"/docs/", "/docs/*"},
			[]string{"/docs/*"}, map[string]string{"/docs/": "/docs/*"}},
		{"query string covered by prefix", []string{"/p?id=1", "/p*"}, []string{"/p*"}, map[string]string{"/p?id=1": "/p*"}},
		{"case sensitive", []string{"/Docs/a", "/docs/*"}, []string{"/Docs/a", "/docs/*"}, map[string]string{}},
		{"tags never covered", []string{"#product-42", "/*"}, []string{"#product-42", "/*"}, map[string]string{}},
		{"percent-encoded stays distinct", []string{"/a%20b", "/a b*"}, []string{"/a b*", "/a%20b"}, map[string]string{}},
		{"empty", nil, nil, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := Reduce(tt.in)
			if !slices.Equal(s, tt.survivors) {
				t.Errorf("survivors = %q, want %q", s, tt.survivors)
			}
			if !reflect.DeepEqual(c, tt.covered) {
				t.Errorf("covered = %v, want %v", c, tt.covered)
			}
		})
	}
}

func TestPlanChunksWithinLimits(t *testing.T) {
	owners := map[string][]int{}
	msgs := []string{"m0", "m1", "m2"}
	for i := range 7000 {
		owners[fmt.Sprintf("/f/%05d", i)] = []int{i % 2}
	}
	for i := range 20 {
		owners[fmt.Sprintf("/w%02d/*", i)] = []int{2}
	}
	reqs := plan("E1", owners, msgs, 3000, 15)
	total := 0
	for _, r := range reqs {
		if r.Files() > 3000 || r.Wildcards() > 15 {
			t.Fatalf("request over limits: %d files %d wildcards", r.Files(), r.Wildcards())
		}
		if !slices.IsSorted(r.Paths) || !slices.IsSorted(r.Messages) {
			t.Fatalf("request not sorted")
		}
		// Its messages are exactly its paths' owners, each once, though
		// m0 and m1 own paths in every file request.
		var owners []string
		for _, o := range r.owners {
			owners = append(owners, o...)
		}
		slices.Sort(owners)
		if owners = slices.Compact(owners); !slices.Equal(owners, r.Messages) {
			t.Fatalf("request messages %v, its paths' owners %v", r.Messages, owners)
		}
		total += len(r.Paths)
	}
	if total != 7020 {
		t.Fatalf("paths across requests = %d, want 7020", total)
	}
	// 7000 files need 3 requests; 20 wildcards need 2; placed by first owner
	// so m2's wildcards share the last file chunk where they fit.
	if len(reqs) != 4 {
		t.Fatalf("requests = %d, want 4", len(reqs))
	}
}

func TestPlanOwnersFollowSubsumption(t *testing.T) {
	owners := map[string][]int{"/docs/a": {0}, "/docs/*": {1}, "/x": {2}}
	reqs := plan("E1", owners, []string{"m0", "m1", "m2"}, 3000, 15)
	if len(reqs) != 1 {
		t.Fatalf("requests = %d", len(reqs))
	}
	r := reqs[0]
	if !slices.Equal(r.Paths, []string{"/docs/*", "/x"}) || !slices.Equal(r.Messages, []string{"m0", "m1", "m2"}) {
		t.Fatalf("got %q %q", r.Paths, r.Messages)
	}
	if !slices.Equal(r.owners[0], []string{"m0", "m1"}) {
		t.Fatalf("owners of /docs/* = %q, want m0 and m1", r.owners[0])
	}
}

func TestSplitGivesEachMessageItsPaths(t *testing.T) {
	owners := map[string][]int{"/docs/a": {0}, "/docs/*": {1}, "/x": {2}, "/y": {0, 2}}
	r := plan("E1", owners, []string{"m0", "m1", "m2"}, 3000, 15)[0]
	got := r.Split()
	want := map[string][]string{"m0": {"/docs/*", "/y"}, "m1": {"/docs/*"}, "m2": {"/x", "/y"}}
	if len(got) != 3 {
		t.Fatalf("split into %d", len(got))
	}
	for _, s := range got {
		if len(s.Messages) != 1 || !slices.Equal(s.Paths, want[s.Messages[0]]) {
			t.Errorf("split %q: paths %q, want %q", s.Messages, s.Paths, want[s.Messages[0]])
		}
	}
}

func TestTakeKeepsOwners(t *testing.T) {
	owners := map[string][]int{"/a": {0}, "/b": {1}, "/c": {0, 1}, "/w1/*": {2}, "/w2/*": {2}}
	r := plan("E1", owners, []string{"m0", "m1", "m2"}, 3000, 15)[0]
	head, rest := r.Take(2, 1)
	if head.Files() != 2 || head.Wildcards() != 1 || len(rest.Paths) != 2 {
		t.Fatalf("head %q rest %q", head.Paths, rest.Paths)
	}
	if len(head.Paths)+len(rest.Paths) != len(r.Paths) {
		t.Fatal("paths lost in Take")
	}
	for _, part := range []Request{head, rest} {
		for i, p := range part.Paths {
			if len(part.owners[i]) == 0 {
				t.Fatalf("%s lost its owners", p)
			}
		}
	}
	if !slices.Equal(head.Messages, []string{"m0", "m1", "m2"}) || !slices.Equal(rest.Messages, []string{"m0", "m1", "m2"}) {
		t.Fatalf("messages head %q rest %q", head.Messages, rest.Messages)
	}
}

func TestReplaceMovesOwnersToWildcards(t *testing.T) {
	owners := map[string][]int{"/d/a": {0}, "/d/b": {1}, "/x": {2}}
	r := plan("E1", owners, []string{"m0", "m1", "m2"}, 3000, 15)[0]
	got := r.Replace([]string{"/x", "/d/*"}, map[string]string{"/d/a": "/d/*", "/d/b": "/d/*"})
	if !slices.Equal(got.Paths, []string{"/d/*", "/x"}) || !slices.Equal(got.owners[0], []string{"m0", "m1"}) ||
		!slices.Equal(got.Messages, []string{"m0", "m1", "m2"}) {
		t.Fatalf("replaced %q owners %q messages %q", got.Paths, got.owners, got.Messages)
	}
}

// flushes records scheduler flushes with their time.
type flushes struct {
	mu  sync.Mutex
	got []string
	at  []time.Time
}

func (f *flushes) flush(target string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, target)
	f.at = append(f.at, time.Now())
}

func (f *flushes) all() ([]string, []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got), slices.Clone(f.at)
}

func TestSchedulerFlushesAtDuePlusJitterOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flushes{}
		s := NewScheduler(SchedulerOptions{Jitter: time.Second, Rand: func() float64 { return 0.25 }, Flush: f.flush})
		defer s.Close()
		start := time.Now()
		s.Arm("E1", start.Add(10*time.Second))
		s.Arm("E1", start.Add(12*time.Second)) // later: ignored
		s.Arm("E2", start.Add(time.Second))
		time.Sleep(time.Minute)
		synctest.Wait()
		got, at := f.all()
		if !slices.Equal(got, []string{"E2", "E1"}) {
			t.Fatalf("flushed %q", got)
		}
		if at[0].Sub(start) != 1250*time.Millisecond || at[1].Sub(start) != 10250*time.Millisecond {
			t.Fatalf("flushed at %v and %v after start, want due + 0.25 s of jitter", at[0].Sub(start), at[1].Sub(start))
		}
	})
}

func TestSchedulerEarlierArmWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flushes{}
		s := NewScheduler(SchedulerOptions{Flush: f.flush})
		defer s.Close()
		start := time.Now()
		s.Arm("E1", start.Add(10*time.Second))
		s.Arm("E1", start.Add(3*time.Second))
		time.Sleep(time.Minute)
		synctest.Wait()
		_, at := f.all()
		if len(at) != 1 || at[0].Sub(start) != 3*time.Second {
			t.Fatalf("flushes at %v, want one after 3 s", at)
		}
	})
}

func TestSchedulerNoOverlapAndArmDuringFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		running, overlaps, n := 0, 0, 0
		var s *Scheduler
		s = NewScheduler(SchedulerOptions{Flush: func(string) {
			mu.Lock()
			running++
			if running > 1 {
				overlaps++
			}
			n++
			first := n == 1
			mu.Unlock()
			if first {
				s.Arm("E1", time.Now()) // re-armed while running: runs after this one
				time.Sleep(5 * time.Second)
			}
			mu.Lock()
			running--
			mu.Unlock()
		}})
		defer s.Close()
		s.Arm("E1", time.Now())
		time.Sleep(time.Minute)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if n != 2 || overlaps != 0 {
			t.Fatalf("flushes %d (want 2), overlapping %d", n, overlaps)
		}
	})
}

func TestSchedulerCloseStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flushes{}
		s := NewScheduler(SchedulerOptions{Flush: f.flush})
		s.Arm("E1", time.Now().Add(time.Second))
		s.Close()
		s.Arm("E2", time.Now())
		time.Sleep(time.Minute)
		synctest.Wait()
		if got, _ := f.all(); len(got) != 0 {
			t.Fatalf("flushed after Close: %q", got)
		}
	})
}

func TestPlanFromItemsAndOwners(t *testing.T) {
	reqs := Plan("E1", []string{"/docs/*", "/docs/a", "/x"}, [][]string{{"m1"}, {"m0"}, {"m2"}}, 0, 0)
	if len(reqs) != 1 || !slices.Equal(reqs[0].Paths, []string{"/docs/*", "/x"}) ||
		!slices.Equal(reqs[0].Messages, []string{"m0", "m1", "m2"}) || !slices.Equal(reqs[0].owners[0], []string{"m0", "m1"}) {
		t.Fatalf("plan %+v", reqs)
	}
}
