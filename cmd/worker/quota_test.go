package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/status"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// The quota burst of issue 3: 4,100 unique paths for one distribution in 410
// messages of 10, against the CloudFront simulator with CloudFront's real
// limits (3,000 file / 15 wildcard paths in progress), 15 s completion,
// Throttling above 2 requests/s (burst 2) and 10% 503s.
const (
	quotaDist          = "EQUOTABURST001"
	quotaMessages      = 410
	quotaPathsPerMsg   = 10
	quotaCompleteAfter = 15 * time.Second
	// quotaBudget bounds each run: the workers' drain and the
	// one-request-per-message baseline.
	quotaBudget = 4 * time.Minute
	// quotaMaxRefusals: TooManyInvalidationsInProgress refusals tolerated per
	// worker run. Two workers see the room through the view (view_max_age
	// 1 s), so one may submit into room the other has just taken; each such
	// race costs one refusal and a short backoff. More than a handful would
	// mean the accounting is not working.
	quotaMaxRefusals = 6
)

func quotaSimOptions(audit *testenv.SyncBuffer) cfsim.Options {
	o := cfsim.Options{
		Distributions: []string{quotaDist},
		CompleteAfter: quotaCompleteAfter,
		ThrottleRate:  2, ThrottleBurst: 2,
		ErrorRate: 0.1,
	}
	if audit != nil {
		o.AuditLog = audit
	}
	return o
}

// quotaBurst is the burst: 410 publish events of 10 paths each over a
// realistic tree, every path distinct. Like a real CMS publish, each event
// touches several parts of the site — a blog post's page, its images,
// thumbnail, API document, feed, tag and author pages; a product's pages,
// images, API documents; a photo gallery — so a message's paths lie far
// apart in sorted order, and any request the worker splits to fit the quota
// splits messages too.
func quotaBurst(dist string) []e2e.Msg {
	var ms []e2e.Msg
	for i := range quotaMessages {
		n, mm := i/3, 1+(i/3)%12
		var paths []string
		add := func(format string, args ...any) { paths = append(paths, fmt.Sprintf(format, args...)) }
		switch i % 3 {
		case 0: // a blog post
			add("/blog/2024/%02d/post-%d.html", mm, n)
			add("/blog/2024/%02d/post-%d/comments.html", mm, n)
			add("/img/blog/2024/%02d/post-%d-hero.jpg", mm, n)
			add("/img/blog/2024/%02d/post-%d-1.jpg", mm, n)
			add("/img/thumbs/blog/post-%d.jpg", n)
			add("/api/posts/%d.json", n)
			add("/feeds/posts/%d.xml", n)
			add("/tags/tag-%d/post-%d.html", n%40, n)
			add("/authors/author-%d/post-%d.html", n%15, n)
			add("/amp/blog/2024/%02d/post-%d.html", mm, n)
		case 1: // a product
			k := n % 25
			add("/products/cat-%d/item-%d.html", k, n)
			add("/products/cat-%d/item-%d/reviews.html", k, n)
			add("/products/cat-%d/item-%d/specs.html", k, n)
			add("/img/products/cat-%d/item-%d-1.jpg", k, n)
			add("/img/products/cat-%d/item-%d-2.jpg", k, n)
			add("/img/thumbs/products/item-%d.jpg", n)
			add("/api/products/%d.json", n)
			add("/api/prices/%d.json", n)
			add("/compare/item-%d.html", n)
			add("/amp/products/cat-%d/item-%d.html", k, n)
		case 2: // a photo gallery
			add("/gallery/2024/%02d/set-%d.html", mm, n)
			for j := 1; j <= 5; j++ {
				add("/img/gallery/2024/%02d/set-%d-%d.jpg", mm, n, j)
			}
			add("/img/thumbs/gallery/set-%d.jpg", n)
			add("/api/gallery/%d.json", n)
			add("/feeds/gallery/%d.xml", n)
			add("/amp/gallery/2024/%02d/set-%d.html", mm, n)
		}
		ms = append(ms, e2e.Plain(dist, paths...))
	}
	return ms
}

// quotaRow is one line of the comparison table.
type quotaRow struct {
	name          string
	requests      int // CreateInvalidation HTTP requests the simulator answered, retries included
	invalidations int // created (billed) invalidations
	billed        int // paths billed
	refusals      int // TooManyInvalidationsInProgress answers
	throttles     int // Throttling answers
	unavailable   int // injected 503s on CreateInvalidation
	listGet       int // ListInvalidations + GetInvalidation requests
	wall          time.Duration
	done, total   int // messages fully accepted (worker: deleted) / sent
}

func rowFromStats(name string, st cfsim.Stats) quotaRow {
	r := quotaRow{name: name, invalidations: st.Invalidations, billed: st.PathsBilled}
	for _, n := range st.Requests["CreateInvalidation"] {
		r.requests += n
	}
	c := st.Requests["CreateInvalidation"]
	r.refusals, r.throttles, r.unavailable = c["TooManyInvalidationsInProgress"], c["Throttling"], c["ServiceUnavailable"]
	for _, op := range []string{"ListInvalidations", "GetInvalidation"} {
		for _, n := range st.Requests[op] {
			r.listGet += n
		}
	}
	return r
}

func (r quotaRow) line() string {
	done := ""
	if r.done < r.total {
		done = fmt.Sprintf(" (only %d of %d messages accepted)", r.done, r.total)
	}
	return fmt.Sprintf("| %-36s | %8d | %13d | %12d | %14d | %9d | %4d | %13d | %9s |%s",
		r.name, r.requests, r.invalidations, r.billed, r.refusals, r.throttles, r.unavailable, r.listGet,
		r.wall.Round(100*time.Millisecond), done)
}

// TestQuotaBurst: the burst of issue 3 through two worker processes on one
// queue, once with collapse auto and once with collapse never (the
// quota path: what does not fit the 2,900-path headroom waits for
// completions), and the same burst sent one request per message as the
// baseline. Checked for both worker runs: the queue drains, every path is
// covered by accepted invalidations, every message is deleted and each
// delete is justified by invalidations created between its send and the
// delete (the simulator's audit log against the deletes an SQS recording
// proxy saw: e2e.CheckDeletesJustified), no accepted batch broke the
// in-progress limits, nothing is dead-lettered, the workers' billed-path
// metrics add up to what the simulator billed, and both workers exit 0 on
// SIGTERM. The table of numbers is logged at the end.
//
// The baseline is bounded by the simulator's 2 requests/s: 410 requests take
// at least 205 s. It runs concurrently with the two worker runs (it has its
// own simulator); by default on the first 40 messages so `make test` stays
// short, on all 410 with QUOTA_BASELINE_MESSAGES=410 (`make quota-report`).
func TestQuotaBurst(t *testing.T) {
	testStart := time.Now()
	fq := testenv.Fauxqs(t)
	ms := quotaBurst(quotaDist)
	if n := len(e2e.WantByDist(ms)[quotaDist]); n != quotaMessages*quotaPathsPerMsg {
		t.Fatalf("burst has %d unique paths, want %d", n, quotaMessages*quotaPathsPerMsg)
	}

	// The baseline, in the background on its own simulator.
	seedCtx, cancelSeed := context.WithCancel(context.Background())
	defer cancelSeed()
	seedSim := e2e.StartSim(t, quotaSimOptions(nil))
	seedMs := ms[:baselineMessages(t, len(ms))]
	seedDone := make(chan seedResult, 1)
	go func() { seedDone <- sendOnePerMessage(seedCtx, seedSim.URL, seedMs, quotaBudget, 2) }()

	var rows []quotaRow
	for _, collapse := range []string{"auto", "never"} {
		t.Run("collapse="+collapse, func(t *testing.T) {
			start := time.Now()
			row := runQuotaWorkers(t, fq, collapse, ms)
			rows = append(rows, row)
			t.Logf("collapse=%s: subtest took %s", collapse, time.Since(start).Round(time.Second))
		})
	}

	seed := <-seedDone
	row := rowFromStats(fmt.Sprintf("one request per message, %d msgs", len(seedMs)), seedSim.Stats())
	row.wall, row.done, row.total = seed.wall, seed.done, len(seedMs)
	rows = append(rows, row)
	checkSeed(t, seedSim.Server, seedMs, seed)

	var b strings.Builder
	fmt.Fprintf(&b, "quota burst: %d messages × %d paths = %d unique paths, 1 distribution; simulator: %s completion, "+
		"Throttling above 2 req/s (burst 2), 10%% 503s, 3,000 file / 15 wildcard paths in progress\n",
		quotaMessages, quotaPathsPerMsg, quotaMessages*quotaPathsPerMsg, quotaCompleteAfter)
	b.WriteString("| run                                  | requests | invalidations | billed paths | quota refusals | throttles | 503s | List+Get calls | wall time |\n")
	b.WriteString("|--------------------------------------|---------:|--------------:|-------------:|---------------:|----------:|-----:|---------------:|----------:|\n")
	for _, r := range rows {
		b.WriteString(r.line() + "\n")
	}
	fmt.Fprintf(&b, "(requests = CreateInvalidation HTTP requests incl. SDK retries; worker wall time = first ReceiveMessage to last delete; "+
		"baseline wall time = first request to last acceptance; baseline SDK give-ups retried after 1 s: %d)\n", seed.gaveUp)
	fmt.Fprintf(&b, "TestQuotaBurst took %s", time.Since(testStart).Round(time.Second))
	t.Log("\n" + b.String())
}

// runQuotaWorkers runs the burst through two workers with the given
// collapse policy and checks the outcome; it returns the run's numbers.
func runQuotaWorkers(t *testing.T, fq *testenv.Process, collapse string, ms []e2e.Msg) quotaRow {
	audit := &testenv.SyncBuffer{}
	sim := e2e.StartSim(t, quotaSimOptions(audit))
	sq := e2e.SQSClient(fq.Endpoint)
	queue, dlq := e2e.CreateQueues(t, sq, "quota-"+collapse, 5, 30*time.Second)
	wants := e2e.SendMessages(t, sq, queue, ms)
	proxy := e2e.NewSQSProxy(t, fq.Endpoint, e2e.ProxyOptions{})

	// max_held 300 of 410 messages: neither worker can take the whole burst,
	// so both share the distribution's quota whatever their start-up order.
	cfg := e2e.Config{QueueURL: queue, DLQURL: dlq, Window: "2s", Grace: "10s", Visibility: "30s",
		MaxHeld: 300, MaxBackoff: "10s", ViewMaxAge: "1s", ViewRefresh: "1s", MaxHold: "30m",
		Distributions: []e2e.Dist{{ID: quotaDist, Collapse: collapse}}}
	shot := os.Getenv(consoleScreenshotEnv)
	if shot != "" && collapse == "never" {
		cfg.AdminToken = "screenshot-token" // so the page shows its action controls
	}
	ws := e2e.StartWorkers(t, 2, cfg, proxy.URL, sim.URL)
	if shot != "" && collapse == "never" {
		screenshotQuotaBurst(t, ws, shot)
	}

	// The queue drains, and the proxy saw every message deleted.
	e2e.WaitDrained(t, sq, queue, quotaBudget)
	rec := proxy.WaitDeleted(wants, 15*time.Second)
	e2e.Poll(t, 15*time.Second, 100*time.Millisecond, "messages_deleted_total of both workers", func() (bool, string) {
		sum := 0.0
		for _, w := range ws {
			sum += w.Metric(t, "invalidator_messages_deleted_total")
		}
		return sum >= float64(len(ms)), strconv.FormatFloat(sum, 'f', -1, 64)
	})
	entries := e2e.ParseAudit(t, audit, sim.Server)
	st := sim.Stats()

	e2e.CheckCoverage(t, ms, entries)
	e2e.CheckDeletesJustified(t, rec, wants, entries)
	e2e.CheckInProgressLimits(t, entries, quotaCompleteAfter)

	// The workers' own view: both took part, billed paths add up.
	billed, accepted, refused, collapses, heldQuota := 0.0, 0.0, 0.0, 0.0, 0.0
	for i, w := range ws {
		m := w.Metrics(t)
		b := e2e.MetricSum(m, "invalidator_billed_paths_total")
		billed += b
		accepted += m[`invalidator_invalidation_requests_total{outcome="accepted"}`]
		refused += m[`invalidator_invalidation_requests_total{outcome="quota_exceeded"}`]
		collapses += e2e.MetricSum(m, "invalidator_collapses_total")
		heldQuota += m[`invalidator_paths_held_total{reason="quota"}`]
		del := m["invalidator_messages_deleted_total"]
		t.Logf("worker %d: deleted %v messages, billed %v paths, accepted %v, quota refused %v, transient %v, collapses %v, paths held for quota %v / refused %v, dead-lettered %v",
			i+1, del, b, m[`invalidator_invalidation_requests_total{outcome="accepted"}`],
			m[`invalidator_invalidation_requests_total{outcome="quota_exceeded"}`],
			m[`invalidator_invalidation_requests_total{outcome="transient_error"}`],
			e2e.MetricSum(m, "invalidator_collapses_total"), m[`invalidator_paths_held_total{reason="quota"}`],
			m[`invalidator_paths_held_total{reason="quota_refused"}`], e2e.MetricSum(m, "invalidator_messages_dead_lettered_total"))
		if del == 0 {
			t.Errorf("worker %d deleted no message: the two workers did not share the burst", i+1)
		}
		if got := e2e.MetricSum(m, "invalidator_messages_dead_lettered_total"); got != 0 {
			t.Errorf("worker %d dead-lettered %v messages", i+1, got)
		}
	}
	if int(billed) != st.PathsBilled {
		t.Errorf("invalidator_billed_paths_total summed over both workers = %v, the simulator billed %d paths", billed, st.PathsBilled)
	}
	if int(accepted) != st.Invalidations {
		t.Logf("note: the workers counted %v accepted requests, the simulator created %d invalidations (a reused CallerReference counts as accepted but bills nothing)",
			accepted, st.Invalidations)
	}

	row := rowFromStats(fmt.Sprintf("worker ×2, collapse %s", collapse), st)
	row.wall = rec.LastDelete.Sub(rec.FirstReceive)
	row.done, row.total = len(rec.DeletedAt), len(ms)
	t.Logf("simulator CreateInvalidation outcomes %v; List/Get %v/%v; SQS calls through the proxy %v; %d DeleteMessageBatch entries failed",
		st.Requests["CreateInvalidation"], st.Requests["ListInvalidations"], st.Requests["GetInvalidation"], rec.Ops, rec.FailedDelete)
	t.Logf("TooManyInvalidationsInProgress refusals: %d by the simulator, %v counted by the workers", row.refusals, refused)
	if row.refusals > quotaMaxRefusals {
		t.Errorf("the simulator refused %d requests with TooManyInvalidationsInProgress, want at most %d: the workers' quota accounting does not keep them under the limit",
			row.refusals, quotaMaxRefusals)
	}

	switch collapse {
	case "auto":
		if collapses == 0 {
			t.Errorf("collapse auto: %d paths against a %d-path headroom, yet no request was collapsed", len(ms)*quotaPathsPerMsg, 2900)
		}
	case "never":
		for _, e := range entries {
			for _, p := range e.Items {
				if strings.HasSuffix(p, "*") {
					t.Errorf("collapse never: invalidation %s holds wildcard %q", e.ID, p)
				}
			}
		}
		if heldQuota == 0 {
			t.Errorf("collapse never: no path was held for quota (invalidator_paths_held_total{reason=\"quota\"} = 0): the quota path was not exercised")
		}
		if span := entries[len(entries)-1].Created.Sub(entries[0].Created); span < quotaCompleteAfter {
			t.Errorf("collapse never: every invalidation was accepted within %s, less than the %s completion time; %d paths cannot fit at once",
				span, quotaCompleteAfter, len(ms)*quotaPathsPerMsg)
		}
	}

	if dl := e2e.ReceiveAll(t, sq, dlq, 1, time.Second); len(dl) > 0 {
		t.Errorf("DLQ got %d messages, want none; first: %s %s (%s)", len(dl), dl[0].ReasonCode, dl[0].Body, dl[0].Reason)
	}
	for i, w := range ws {
		if err := w.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("worker %d: SIGTERM: %v", i+1, err)
		}
	}
	for i, w := range ws {
		if code := w.Wait(30 * time.Second); code != 0 {
			t.Errorf("worker %d: exit code %d after SIGTERM, want 0", i+1, code)
		}
	}
	return row
}

// seedResult is the baseline's client-side account.
type seedResult struct {
	done    int           // messages accepted
	gaveUp  int           // calls that failed after the SDK's retries (not quota), retried after 1 s
	quota   int           // TooManyInvalidationsInProgress seen by the client
	wall    time.Duration // first request to last acceptance (the budget if not all were accepted)
	errCode map[string]int
}

// sendOnePerMessage is the seed's way: one CreateInvalidation per message
// with the message's paths, through the real SDK client and its standard
// retryer (Throttling and 5xx retried by the SDK, 3 attempts), from senders
// goroutines. TooManyInvalidationsInProgress — and any call the SDK gave up
// on — is retried blindly every second until the budget runs out. Each
// message has its own CallerReference, so a retry never bills twice.
func sendOnePerMessage(ctx context.Context, endpoint string, ms []e2e.Msg, budget time.Duration, senders int) seedResult {
	cf := e2e.CFClient(endpoint)
	start := time.Now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(budget))
	defer cancel()
	var (
		mu   sync.Mutex
		res  = seedResult{errCode: map[string]int{}}
		last time.Time
		next int
		wg   sync.WaitGroup
	)
	for range senders {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(ms) {
					return
				}
				for ctx.Err() == nil {
					_, err := cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
						DistributionId: aws.String(ms[i].Dist),
						InvalidationBatch: &cftypes.InvalidationBatch{
							CallerReference: aws.String(fmt.Sprintf("seed-%d", i)),
							Paths:           &cftypes.Paths{Quantity: aws.Int32(int32(len(ms[i].Items))), Items: ms[i].Items},
						},
					})
					mu.Lock()
					if err == nil {
						res.done++
						last = time.Now()
						mu.Unlock()
						break
					}
					if ctx.Err() != nil {
						mu.Unlock()
						return
					}
					if _, ok := errors.AsType[*cftypes.TooManyInvalidationsInProgress](err); ok {
						res.quota++
					} else {
						res.gaveUp++
						code := "other"
						if ae, ok := errors.AsType[smithy.APIError](err); ok {
							code = ae.ErrorCode()
						}
						res.errCode[code]++
					}
					mu.Unlock()
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Second):
					}
				}
			}
		})
	}
	wg.Wait()
	res.wall = time.Since(start) // cut short by the budget (or the test)
	if res.done == len(ms) {
		res.wall = last.Sub(start)
	}
	return res
}

// baselineMessages is how many messages the baseline sends:
// QUOTA_BASELINE_MESSAGES, default 40, at most all of them.
func baselineMessages(t *testing.T, all int) int {
	v := os.Getenv("QUOTA_BASELINE_MESSAGES")
	if v == "" {
		return min(40, all)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("QUOTA_BASELINE_MESSAGES=%q: want a positive number", v)
	}
	return min(n, all)
}

// checkSeed: the baseline's invalidations are one per message, 10 paths
// each, and cover what they were given.
func checkSeed(t *testing.T, sim *cfsim.Server, ms []e2e.Msg, res seedResult) {
	t.Helper()
	st := sim.Stats()
	if st.PathsBilled != st.Invalidations*quotaPathsPerMsg || st.Invalidations != res.done {
		t.Errorf("baseline: %d invalidations, %d billed paths, %d messages accepted; want one 10-path invalidation per accepted message",
			st.Invalidations, st.PathsBilled, res.done)
	}
	if res.done < len(ms) {
		t.Logf("baseline: only %d of %d messages accepted within %s", res.done, len(ms), quotaBudget)
	} else {
		e2e.CheckCoverage(t, ms, e2e.FromAudit(sim.Audit()))
	}
	t.Logf("baseline: simulator outcomes %v; client saw %d quota refusals, %d SDK give-ups %v", st.Requests["CreateInvalidation"],
		res.quota, res.gaveUp, res.errCode)
}

// consoleScreenshotEnv names a PNG file: with it set, TestQuotaBurst's
// collapse=never run takes a full-page screenshot of the first worker's
// console mid-burst (a relative path is taken from the repository root):
//
//	CONSOLE_SCREENSHOT=docs/console-quota-burst.png go test -run 'TestQuotaBurst/collapse=never' ./cmd/worker/
const consoleScreenshotEnv = "CONSOLE_SCREENSHOT"

// screenshotQuotaBurst waits until one of the workers holds part of the
// burst back for CloudFront's in-progress quota with most of the 3,000 file
// paths in progress (which of the two depends on who received first), then
// screenshots that worker's console into path.
func screenshotQuotaBurst(t *testing.T, ws []*e2e.Worker, path string) {
	t.Helper()
	if !filepath.IsAbs(path) {
		path = filepath.Join(testenv.RepoRoot(t), path)
	}
	var held *e2e.Worker
	e2e.Poll(t, quotaBudget, 250*time.Millisecond, "a worker holding the burst for quota with most of the quota in progress", func() (bool, string) {
		var states []string
		for _, w := range ws {
			for _, d := range w.Status(t).Distributions {
				if d.ID != quotaDist {
					continue
				}
				quota := slices.ContainsFunc(d.Waiting, func(x status.Wait) bool { return x.Code == "quota" })
				if quota && d.Quota.Files >= 2500 && d.Batch.Held > 0 {
					held = w
					return true, ""
				}
				states = append(states, fmt.Sprintf("%s: waiting %v, %d files in progress, %d messages held", w.Name, d.Waiting, d.Quota.Files, d.Batch.Held))
			}
		}
		return false, strings.Join(states, "; ")
	})
	tab := e2e.Browser(t)
	tab.Navigate(held.Base + "/")
	tab.WaitAttr("#live-state", "data-state", "ok")
	tab.WaitVisible(`[data-distribution="` + quotaDist + `"] [data-wait-code="quota"]`)
	png := tab.Screenshot()
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("writing the console screenshot: %v", err)
	}
	t.Logf("console screenshot of %s mid-burst (%d bytes) written to %s", held.Name, len(png), path)
}
