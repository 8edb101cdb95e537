package truth

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/e2e"
)

// The CMS-like publish stream of issue 7: 10 publishes a second for 24 s,
// each touching its own post and the listing pages every publish touches
// (home, blog index, page 2, feed, sitemap), one of 5 categories and one of
// 7 tags; window 4 s.
const (
	cmsDist     = "ECMSSTREAM0001"
	cmsRate     = 10 // publishes per second
	cmsDuration = 24 * time.Second
	cmsWindow   = 4 * time.Second
	// cmsMaxRatio: three replicas may bill at most this many times the
	// paths one worker bills on the same stream.
	cmsMaxRatio = 1.15
)

// cmsPublish is publish i's paths.
func cmsPublish(i int) []string {
	return []string{
		fmt.Sprintf("/blog/post-%04d.html", i),
		"/", "/blog/", "/blog/page/2/", "/feed.xml", "/sitemap.xml",
		fmt.Sprintf("/category/c%d/", i%5), fmt.Sprintf("/tag/t%d/", i%7),
	}
}

// cmsRun is what one run of the stream billed.
type cmsRun struct {
	replicas, messages, requests, paths, rebilled int
	drain                                         time.Duration // last send to last delete
}

// TestReplicasBillLikeOne runs the CMS-like stream against one worker and
// against several replicas on one queue (TRUTH_REPLICAS, default "1,3";
// "1,2,3,5" for the report), each on its own fauxqs and simulator, all at
// once. Checked: every delete justified from outside; three replicas bill
// at most 1.15× the paths one worker bills.
func TestReplicasBillLikeOne(t *testing.T) {
	counts := ints(t, "TRUTH_REPLICAS", "1,3")
	if !slices.Contains(counts, 1) {
		t.Fatalf("TRUTH_REPLICAS=%v: the ratio needs the one-worker run (1)", counts)
	}
	var mu sync.Mutex
	runs := map[int]cmsRun{}
	t.Run("runs", func(t *testing.T) {
		for _, n := range counts {
			t.Run(fmt.Sprintf("replicas=%d", n), func(t *testing.T) {
				t.Parallel()
				r := runCMS(t, n)
				mu.Lock()
				runs[n] = r
				mu.Unlock()
			})
		}
	})
	if t.Failed() {
		return
	}
	one := runs[1]
	var b strings.Builder
	fmt.Fprintf(&b, "CMS-like stream, %d publishes/s for %s, window %s:\n", cmsRate, cmsDuration, cmsWindow)
	fmt.Fprintf(&b, "  %-8s %8s %8s %8s %6s %9s %6s\n", "replicas", "messages", "requests", "paths", "ratio", "re-billed", "drain")
	for _, n := range counts {
		r := runs[n]
		ratio := float64(r.paths) / float64(one.paths)
		fmt.Fprintf(&b, "  %-8d %8d %8d %8d %6.3f %9d %6s\n", n, r.messages, r.requests, r.paths, ratio, r.rebilled, r.drain.Round(100*time.Millisecond))
		if n == 3 && ratio > cmsMaxRatio {
			t.Errorf("three replicas billed %d paths, %.3f× one worker's %d: want at most %.2f×", r.paths, ratio, one.paths, cmsMaxRatio)
		}
	}
	t.Log(b.String())
}

// runCMS sends the stream to n replicas and waits until every message is
// deleted.
func runCMS(t *testing.T, n int) cmsRun {
	e := newEnv(t, fmt.Sprintf("cms-%d", n), 5, 30*time.Second, e2e.ProxyOptions{},
		cfsim.Options{Distributions: []string{cmsDist}, CompleteAfter: 5 * time.Second})
	ws := e.start(t, n, e2e.Config{Window: cmsWindow.String(), Visibility: "30s", Grace: "10s",
		Distributions: []e2e.Dist{{ID: cmsDist}}})
	wants := e2e.Wants{}
	start := time.Now()
	total := int(cmsDuration.Seconds()) * cmsRate
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / cmsRate)); d > 0 {
			time.Sleep(d) // an open-loop producer: publish i goes out at its time
		}
		ps := cmsPublish(i)
		id := e2e.SendBody(t, e.sq, e.queue, e2e.V1(false, cmsDist, ps...))
		wants[id] = e2e.Want{Dist: cmsDist, Items: ps}
	}
	lastSend := time.Now()
	rec, invs, bl := e.finish(t, ws, wants, cmsWindow+60*time.Second)
	return cmsRun{replicas: n, messages: len(wants), requests: len(invs), paths: billed(invs), rebilled: bl.Rebilled,
		drain: rec.LastDelete.Sub(lastSend)}
}
