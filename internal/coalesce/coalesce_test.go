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

// recorder collects flushed batches with the time they arrived.
type recorder struct {
	mu      sync.Mutex
	batches []Batch
}

func (r *recorder) flush(b Batch) { r.mu.Lock(); r.batches = append(r.batches, b); r.mu.Unlock() }
func (r *recorder) get() []Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

func TestWindowFlushesOncePerGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		c := New(Options{Window: 10 * time.Second, Flush: rec.flush})
		start := time.Now()
		c.Add("E1", "m1", []string{"/a"})
		time.Sleep(4 * time.Second)
		c.Add("E1", "m2", []string{"/b", "/a"})
		c.Add("E2", "m3", []string{"/c"})
		time.Sleep(5*time.Second + 999*time.Millisecond)
		synctest.Wait()
		if n := len(rec.get()); n != 0 {
			t.Fatalf("flushed %d batches before the window ended", n)
		}
		time.Sleep(time.Millisecond) // E1's window ends at start+10s
		synctest.Wait()
		got := rec.get()
		if len(got) != 1 || got[0].Distribution != "E1" {
			t.Fatalf("batches at 10s = %+v", got)
		}
		b := got[0]
		if !b.Opened.Equal(start) || b.Flushed.Sub(start) != 10*time.Second {
			t.Fatalf("opened %v flushed %v", b.Opened.Sub(start), b.Flushed.Sub(start))
		}
		if len(b.Requests) != 1 || !slices.Equal(b.Requests[0].Paths, []string{"/a", "/b"}) ||
			!slices.Equal(b.Requests[0].Messages, []string{"m1", "m2"}) {
			t.Fatalf("request = %+v", b.Requests)
		}
		if b.Tokens["m1"] != 1 || b.Tokens["m2"] != 1 {
			t.Fatalf("tokens = %v", b.Tokens)
		}
		time.Sleep(4 * time.Second) // E2 opened at 4s, flushes at 14s
		synctest.Wait()
		if got := rec.get(); len(got) != 2 || got[1].Distribution != "E2" {
			t.Fatalf("E2 not flushed at 14s: %+v", got)
		}
		if g, p := c.Pending(); g != 0 || p != 0 {
			t.Fatalf("pending %d groups %d paths after flush", g, p)
		}
	})
}

func TestAddDuringFlushJoinsNextBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c *Coalescer
		rec := &recorder{}
		added := false
		c = New(Options{Window: time.Second, Flush: func(b Batch) {
			rec.flush(b)
			if !added { // a message arriving while the flush is under way
				added = true
				go c.Add("E1", "late", []string{"/late"})
			}
		}})
		c.Add("E1", "m1", []string{"/a"})
		time.Sleep(time.Second)
		synctest.Wait()
		if got := rec.get(); len(got) != 1 || slices.Contains(got[0].Requests[0].Paths, "/late") {
			t.Fatalf("first batch = %+v", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		got := rec.get()
		if len(got) != 2 || !slices.Equal(got[1].Requests[0].Paths, []string{"/late"}) {
			t.Fatalf("late path not in its own next batch: %+v", got)
		}
	})
}

func TestFullGroupFlushesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		c := New(Options{Window: time.Minute, MaxFiles: 5, MaxWildcards: 2, Flush: rec.flush})
		c.Add("E1", "m1", []string{"/1", "/2", "/3", "/4"})
		if len(rec.get()) != 0 {
			t.Fatal("flushed before full")
		}
		c.Add("E1", "m2", []string{"/5"})
		if got := rec.get(); len(got) != 1 || len(got[0].Requests[0].Paths) != 5 {
			t.Fatalf("full group not flushed at once: %+v", got)
		}
		c.Add("E1", "m3", []string{"/a/*", "/b/*"}) // wildcard limit
		if got := rec.get(); len(got) != 2 {
			t.Fatalf("wildcard-full group not flushed: %d batches", len(got))
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if n := len(rec.get()); n != 2 {
			t.Fatalf("stale timers flushed again: %d batches", n)
		}
	})
}

func TestRequeueMergesNewerPathsAndWaitsForBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		c := New(Options{Window: 2 * time.Second, Flush: rec.flush})
		c.Add("E1", "m1", []string{"/docs/a", "/docs/*"})
		c.Add("E1", "m2", []string{"/x"})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		first := rec.get()[0].Requests[0]
		// CloudFront refused it for quota: hold 30s and merge what comes.
		c.Requeue(first, time.Now().Add(30*time.Second))
		c.Add("E1", "m3", []string{"/y"})
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if n := len(rec.get()); n != 1 {
			t.Fatalf("requeued batch flushed during backoff (%d batches)", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		got := rec.get()
		if len(got) != 2 {
			t.Fatalf("requeued batch not flushed after backoff: %d", len(got))
		}
		r := got[1].Requests[0]
		if !slices.Equal(r.Paths, []string{"/docs/*", "/x", "/y"}) || !slices.Equal(r.Messages, []string{"m1", "m2", "m3"}) {
			t.Fatalf("merged request = %q %q", r.Paths, r.Messages)
		}
		if !reflect.DeepEqual(got[1].Tokens, map[string]int{"m1": 1, "m2": 1, "m3": 1}) {
			t.Fatalf("tokens = %v", got[1].Tokens)
		}
	})
}

func TestFlushAllIgnoresWindowAndBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		c := New(Options{Window: time.Hour, Flush: rec.flush})
		c.Add("E1", "m1", []string{"/a"})
		c.Requeue(Request{Distribution: "E2", Paths: []string{"/b"}, owners: [][]string{{"m2"}}}, time.Now().Add(time.Hour))
		if n := c.FlushAll(); n != 2 {
			t.Fatalf("FlushAll = %d", n)
		}
		c.Close()
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if n := len(rec.get()); n != 2 {
			t.Fatalf("batches = %d, want 2", n)
		}
	})
}

func TestTokensCountEveryAdd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		c := New(Options{Window: time.Second, Flush: rec.flush})
		c.Add("E1", "m1", []string{"/a"})
		c.Add("E1", "m1", []string{"/b"}) // same message, second target part
		c.Add("E1", "m2", nil)
		time.Sleep(time.Second)
		synctest.Wait()
		b := rec.get()[0]
		if b.Tokens["m1"] != 2 || b.Tokens["m2"] != 1 {
			t.Fatalf("tokens = %v", b.Tokens)
		}
	})
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
