package worker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"

	"github.com/acme/cf-invalidator/internal/consumer"
	"github.com/acme/cf-invalidator/internal/invalidate"
	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/retry"
)

type fakeQueue struct {
	mu        sync.Mutex
	deleted   map[string]time.Time
	dead      map[string]consumer.Rejection
	parts     []consumer.Rejection
	abandoned []string
}

func newFakeQueue() *fakeQueue {
	return &fakeQueue{deleted: map[string]time.Time{}, dead: map[string]consumer.Rejection{}}
}

func (q *fakeQueue) Delete(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleted[id] = time.Now()
}

func (q *fakeQueue) DeadLetter(_ context.Context, m *consumer.Message, r consumer.Rejection) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dead[m.ID] = r
	return nil
}

func (q *fakeQueue) DeadLetterPart(_ context.Context, _ *consumer.Message, r consumer.Rejection) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.parts = append(q.parts, r)
	return nil
}

func (q *fakeQueue) Abandon(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.abandoned = append(q.abandoned, id)
}

func (q *fakeQueue) deletedAt(id string) (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	t, ok := q.deleted[id]
	return t, ok
}

type call struct {
	at  time.Time
	req invalidate.Request
	ref string
}

// fakeCF answers each call with the next scripted error (nil = accept).
type fakeCF struct {
	mu     sync.Mutex
	script func(n int, r invalidate.Request) error
	calls  []call
}

func (f *fakeCF) Submit(_ context.Context, r invalidate.Request) (invalidate.Result, error) {
	f.mu.Lock()
	n := len(f.calls)
	ref := invalidate.CallerReference(r.Distribution, r.MessageIDs, r.Paths)
	f.calls = append(f.calls, call{time.Now(), r, ref})
	script := f.script
	f.mu.Unlock()
	if script != nil {
		if err := script(n, r); err != nil {
			return invalidate.Result{}, err
		}
	}
	return invalidate.Result{ID: fmt.Sprintf("I%d", n), Status: "InProgress", Reference: ref}, nil
}

func (f *fakeCF) get() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func newWorker(t *testing.T, q *fakeQueue, cf *fakeCF) *Worker {
	t.Helper()
	dec, err := message.NewDecoder(message.Options{Distributions: []message.Distribution{
		{ID: "E1", Aliases: []string{"www"}}, {ID: "E2"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return New(q, cf, dec, Options{
		Window: 10 * time.Second, SubmitConcurrency: 2,
		Backoff: retry.Backoff{Base: time.Second, Max: 8 * time.Second, Rand: func() float64 { return 0.5 }},
	})
}

func msg(id, body string) *consumer.Message { return &consumer.Message{ID: id, Body: body} }

func v1(dist string, paths ...string) string {
	return fmt.Sprintf(`{"distribution_id":%q,"paths":["%s"]}`, dist, strings.Join(paths, `","`))
}

func TestBurstCoalescesPerDistribution(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, cf := newFakeQueue(), &fakeCF{}
		w := newWorker(t, q, cf)
		start := time.Now()
		var batch []*consumer.Message
		for i := range 30 {
			dist := []string{"E1", "E2"}[i%2]
			batch = append(batch, msg(fmt.Sprintf("m%02d", i), v1(dist, fmt.Sprintf("/p/%d.html", i), "/shared.css")))
		}
		batch = append(batch, msg("alias", `{"distribution":"www","paths":["/p/*"]}`))
		w.Handle(context.Background(), batch)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		calls := cf.get()
		if len(calls) != 2 {
			t.Fatalf("requests = %d, want one per distribution", len(calls))
		}
		for _, c := range calls {
			if c.at.Sub(start) != 10*time.Second {
				t.Fatalf("submitted at %v, want at the window's end", c.at.Sub(start))
			}
			if c.req.Distribution == "E1" && !slices.Equal(c.req.Paths, []string{"/p/*", "/shared.css"}) {
				t.Fatalf("E1 paths %q: the wildcard should cover the files", c.req.Paths)
			}
		}
		for _, m := range batch {
			if _, ok := q.deletedAt(m.ID); !ok {
				t.Fatalf("%s not deleted after acceptance", m.ID)
			}
		}
		if w.Pending() != 0 {
			t.Fatalf("pending = %d", w.Pending())
		}
	})
}

func TestDeleteWaitsForEveryChunk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		var mu sync.Mutex
		gate := map[int]bool{}
		cf := &fakeCF{script: func(n int, _ invalidate.Request) error {
			mu.Lock()
			defer mu.Unlock()
			if n == 1 && !gate[1] { // the second chunk fails once (transient)
				gate[1] = true
				return &smithy.GenericAPIError{Code: "ServiceUnavailable", Fault: smithy.FaultServer}
			}
			return nil
		}}
		w := newWorker(t, q, cf)
		paths := make([]string, 3500) // more than one request holds: 2 chunks
		for i := range paths {
			paths[i] = fmt.Sprintf("/f/%04d", i)
		}
		big, _ := message.NewDecoder(message.Options{Distributions: []message.Distribution{{ID: "E1"}}})
		w.dec = big
		w.Handle(context.Background(), []*consumer.Message{msg("big", v1("E1", paths...))})
		synctest.Wait() // full group: flushed at once
		calls := cf.get()
		if len(calls) < 2 {
			t.Fatalf("calls = %d, want 2 chunks", len(calls))
		}
		if _, ok := q.deletedAt("big"); ok {
			t.Fatal("deleted while one chunk was still failing")
		}
		time.Sleep(2 * time.Second) // backoff then retry
		synctest.Wait()
		calls = cf.get()
		if len(calls) != 3 || calls[2].ref != calls[1].ref {
			t.Fatalf("transient retry must resend the same request (same CallerReference): %d calls", len(calls))
		}
		if _, ok := q.deletedAt("big"); !ok {
			t.Fatal("not deleted after every chunk was accepted")
		}
	})
}

func TestQuotaHoldsAndMergesNewerPaths(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		cf := &fakeCF{script: func(n int, _ invalidate.Request) error {
			if n == 0 {
				return fmt.Errorf("cloudfront CreateInvalidation E1: %w", &cftypes.TooManyInvalidationsInProgress{Message: new(string)})
			}
			return nil
		}}
		w := newWorker(t, q, cf)
		w.Handle(context.Background(), []*consumer.Message{msg("m1", v1("E1", "/a"))})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if len(cf.get()) != 1 {
			t.Fatal("first request not sent")
		}
		w.Handle(context.Background(), []*consumer.Message{msg("m2", v1("E1", "/b"))})
		// The requeued group flushes at the later of its window (10 s from
		// the refusal) and the backoff (0.75 s).
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if len(cf.get()) != 1 {
			t.Fatal("retried before the window of the requeued group ended")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		calls := cf.get()
		if len(calls) != 2 {
			t.Fatalf("calls = %d, want the retry after the backoff", len(calls))
		}
		if !slices.Equal(calls[1].req.Paths, []string{"/a", "/b"}) || !slices.Equal(calls[1].req.MessageIDs, []string{"m1", "m2"}) {
			t.Fatalf("retry %+v should merge the newer message", calls[1].req)
		}
		_, d1 := q.deletedAt("m1")
		_, d2 := q.deletedAt("m2")
		if !d1 || !d2 {
			t.Fatal("messages not deleted after the merged retry was accepted")
		}
	})
}

func TestPermanentDeadLettersOnlyTheMessagesConcerned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		cf := &fakeCF{script: func(_ int, r invalidate.Request) error {
			if r.Distribution == "E2" {
				return &cftypes.NoSuchDistribution{Message: new(string)}
			}
			return nil
		}}
		w := newWorker(t, q, cf)
		w.Handle(context.Background(), []*consumer.Message{
			msg("good", v1("E1", "/a")), msg("gone1", v1("E2", "/b")), msg("gone2", v1("E2", "/c")),
		})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if _, ok := q.deletedAt("good"); !ok {
			t.Fatal("good message not deleted")
		}
		for _, id := range []string{"gone1", "gone2"} {
			if r, ok := q.dead[id]; !ok || r.Code != "cloudfront_NoSuchDistribution" || r.Reason == "" {
				t.Fatalf("%s dead-letter = %+v, %v", id, r, ok)
			}
		}
		if w.Pending() != 0 {
			t.Fatalf("pending %d", w.Pending())
		}
	})
}

func TestInvalidArgumentIsolatesTheCulprit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		cf := &fakeCF{script: func(_ int, r invalidate.Request) error {
			if slices.Contains(r.Paths, "/bad") {
				return &cftypes.InvalidArgument{Message: new(string)}
			}
			return nil
		}}
		w := newWorker(t, q, cf)
		w.Handle(context.Background(), []*consumer.Message{msg("ok1", v1("E1", "/a")), msg("bad", v1("E1", "/bad")), msg("ok2", v1("E1", "/c"))})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if len(cf.get()) != 4 {
			t.Fatalf("calls = %d, want the batch and then one per message", len(cf.get()))
		}
		for _, id := range []string{"ok1", "ok2"} {
			if _, ok := q.deletedAt(id); !ok {
				t.Fatalf("%s not deleted", id)
			}
		}
		if r, ok := q.dead["bad"]; !ok || r.Code != "cloudfront_InvalidArgument" {
			t.Fatalf("culprit dead-letter = %+v %v", r, ok)
		}
		if len(q.dead) != 1 {
			t.Fatalf("dead-lettered %d messages, want only the culprit", len(q.dead))
		}
	})
}

func TestPoisonAndPartialMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, cf := newFakeQueue(), &fakeCF{}
		w := newWorker(t, q, cf)
		w.Handle(context.Background(), []*consumer.Message{
			msg("junk", "not json"),
			msg("nodist", `{"paths":["/a"]}`),
			msg("stranger", v1("EOTHER", "/a")),
			msg("allbad", v1("E1", "no-slash")),
			msg("mixed", v1("E1", "/ok", "also bad")),
			msg("good", v1("E1", "/g")),
		})
		want := map[string]string{"junk": message.CodeMalformed, "nodist": message.CodeMissingDistribution,
			"stranger": message.CodeDistributionNotAllowed, "allbad": message.CodeInvalidPath}
		for id, code := range want {
			if r := q.dead[id]; r.Code != code || r.Reason == "" {
				t.Errorf("%s: dead-letter %+v, want code %s with a reason", id, r, code)
			}
		}
		if len(q.parts) != 1 || q.parts[0].Code != message.CodeInvalidPath || !strings.Contains(string(q.parts[0].Body), "also bad") {
			t.Fatalf("partial rejection = %+v", q.parts)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		calls := cf.get()
		if len(calls) != 1 || !slices.Equal(calls[0].req.Paths, []string{"/g", "/ok"}) {
			t.Fatalf("submitted %+v", calls)
		}
		for _, id := range []string{"mixed", "good"} {
			if _, ok := q.deletedAt(id); !ok {
				t.Fatalf("%s not deleted", id)
			}
		}
	})
}

func TestMultiDistributionMessageWaitsForBoth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		release := make(chan struct{})
		cf := &fakeCF{script: func(_ int, r invalidate.Request) error {
			if r.Distribution == "E2" {
				<-release
			}
			return nil
		}}
		w := newWorker(t, q, cf)
		dec, err := message.NewDecoder(message.Options{Distributions: []message.Distribution{
			{ID: "E1", S3: []message.S3Source{{Bucket: "site"}}}, {ID: "E2", S3: []message.S3Source{{Bucket: "site"}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		w.dec = dec
		s3 := `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"site"},"object":{"key":"a.html"}}}]}`
		w.Handle(context.Background(), []*consumer.Message{msg("s3", s3)})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if _, ok := q.deletedAt("s3"); ok {
			t.Fatal("deleted before the second distribution accepted")
		}
		close(release)
		synctest.Wait()
		if _, ok := q.deletedAt("s3"); !ok {
			t.Fatal("not deleted after both accepted")
		}
	})
}

type lifecycle struct {
	q        *fakeQueue
	released int
}

func (l *lifecycle) StopReceiving()                    {}
func (l *lifecycle) WaitPollersFor(time.Duration) bool { return true }
func (l *lifecycle) WaitPollers()                      {}
func (l *lifecycle) WaitBackground()                   {}
func (l *lifecycle) Held() int                         { return 0 }
func (l *lifecycle) ReleaseAll(context.Context) int {
	l.released++
	return 0
}

func TestShutdownFlushesOpenBatchesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, cf := newFakeQueue(), &fakeCF{}
		w := newWorker(t, q, cf)
		w.Handle(context.Background(), []*consumer.Message{msg("m1", v1("E1", "/a")), msg("m2", v1("E2", "/b"))})
		start := time.Now()
		l := &lifecycle{q: q}
		w.Shutdown(l, 30*time.Second, func() {}, func() {})
		if time.Since(start) > time.Second {
			t.Fatalf("shutdown took %v with a healthy CloudFront", time.Since(start))
		}
		if len(cf.get()) != 2 {
			t.Fatalf("open batches not flushed: %d calls", len(cf.get()))
		}
		for _, id := range []string{"m1", "m2"} {
			if _, ok := q.deletedAt(id); !ok {
				t.Fatalf("%s not deleted before exit", id)
			}
		}
		if l.released != 2 {
			t.Fatal("ReleaseAll not called")
		}
	})
}

func TestShutdownGiveUpAfterGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		cf := &fakeCF{script: func(int, invalidate.Request) error {
			return &smithy.GenericAPIError{Code: "ServiceUnavailable", Fault: smithy.FaultServer}
		}}
		w := newWorker(t, q, cf)
		w.Handle(context.Background(), []*consumer.Message{msg("m1", v1("E1", "/a"))})
		start := time.Now()
		w.Shutdown(&lifecycle{q: q}, 5*time.Second, func() {}, func() {})
		if d := time.Since(start); d < 5*time.Second || d > 6*time.Second {
			t.Fatalf("shutdown took %v, want the 5 s grace", d)
		}
		if _, ok := q.deletedAt("m1"); ok {
			t.Fatal("deleted without acceptance")
		}
		if len(q.dead) != 0 {
			t.Fatal("transient failures must never dead-letter")
		}
	})
}

func TestBatchTooLargeIsHalvedNotDeadLettered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		cf := &fakeCF{script: func(_ int, r invalidate.Request) error {
			if len(r.Paths) > 3 { // a CloudFront with a smaller batch limit than we assume
				return &cftypes.BatchTooLarge{Message: new(string)}
			}
			return nil
		}}
		w := newWorker(t, q, cf)
		var msgs []*consumer.Message
		for i := range 10 {
			msgs = append(msgs, msg(fmt.Sprintf("m%d", i), v1("E1", fmt.Sprintf("/p%d", i))))
		}
		w.Handle(context.Background(), msgs)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if len(q.dead) != 0 {
			t.Fatalf("dead-lettered %d messages for the worker's own batch size", len(q.dead))
		}
		for _, m := range msgs {
			if _, ok := q.deletedAt(m.ID); !ok {
				t.Fatalf("%s not deleted after the halves were accepted", m.ID)
			}
		}
	})
}
