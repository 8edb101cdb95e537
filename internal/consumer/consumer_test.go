package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// fakeSQS is an in-memory queue behind the consumer's sqsAPI. Time comes from
// the synctest bubble, so long polls and heartbeats run on fake time.
type fakeSQS struct {
	mu        sync.Mutex
	queue     []types.Message
	receives  int
	recvErr   error
	extends   []time.Time     // one per ChangeMessageVisibilityBatch call with timeout > 0
	releases  []int32         // visibility values set to 0
	deleted   []string        // receipt handles
	failOnce  map[string]bool // receipt handles whose first delete entry fails (receiver fault)
	sent      []*sqs.SendMessageInput
	redrive   string
	deleteErr error
	batches   []int // entries of each DeleteMessageBatch call
}

var _ sqsAPI = (*fakeSQS)(nil)

func (f *fakeSQS) add(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("m%d", len(f.queue)+f.receives*100+i)
		f.queue = append(f.queue, types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String("{}")})
	}
}

func (f *fakeSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	f.receives++
	if f.recvErr != nil {
		err := f.recvErr
		f.mu.Unlock()
		return nil, err
	}
	n := min(int(in.MaxNumberOfMessages), len(f.queue))
	msgs := f.queue[:n]
	f.queue = f.queue[n:]
	f.mu.Unlock()
	if n == 0 { // long poll: nothing arrives in these tests while waiting
		select {
		case <-time.After(time.Duration(in.WaitTimeSeconds) * time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &sqs.ReceiveMessageOutput{Messages: msgs}, nil
}

func (f *fakeSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deleteErr != nil {
		err := f.deleteErr
		f.deleteErr = nil
		return nil, err
	}
	f.batches = append(f.batches, len(in.Entries))
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		rh := aws.ToString(e.ReceiptHandle)
		if f.failOnce[rh] {
			delete(f.failOnce, rh)
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), SenderFault: false})
			continue
		}
		f.deleted = append(f.deleted, rh)
		out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (f *fakeSQS) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	extend := false
	for _, e := range in.Entries {
		if e.VisibilityTimeout == 0 {
			f.releases = append(f.releases, 0)
		} else {
			extend = true
		}
		out.Successful = append(out.Successful, types.ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
	}
	if extend {
		f.extends = append(f.extends, time.Now())
	}
	return out, nil
}

func (f *fakeSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, in)
	return &sqs.SendMessageOutput{MessageId: aws.String("dlq-1")}, nil
}

func (f *fakeSQS) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	attrs := map[string]string{}
	if f.redrive != "" {
		attrs["RedrivePolicy"] = f.redrive
	}
	return &sqs.GetQueueAttributesOutput{Attributes: attrs}, nil
}

func (f *fakeSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String("https://sqs.example/" + aws.ToString(in.QueueOwnerAWSAccountId) + "/" + aws.ToString(in.QueueName))}, nil
}

func (f *fakeSQS) snapshot() (receives int, extends []time.Time, deleted []string, releases int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.receives, append([]time.Time(nil), f.extends...), append([]string(nil), f.deleted...), len(f.releases)
}

// collect is a handler that records what it is given.
type collect struct {
	mu   sync.Mutex
	msgs []*Message
}

func (c *collect) handle(_ context.Context, ms []*Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, ms...)
}

func (c *collect) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func start(t *testing.T, f *fakeSQS, o Options, h Handler) (*Consumer, context.CancelFunc, context.CancelFunc) {
	t.Helper()
	if o.QueueURL == "" {
		o.QueueURL = "https://sqs.example/123/q"
	}
	if o.Pollers == 0 {
		o.Pollers = 1
	}
	if o.MaxHeld == 0 {
		o.MaxHeld = 100
	}
	if o.Visibility == 0 {
		o.Visibility = 60 * time.Second
	}
	c := New(f, o)
	recv, cancelRecv := context.WithCancel(context.Background())
	bg, cancelBg := context.WithCancel(context.Background())
	c.Start(recv, bg, h)
	return c, cancelRecv, cancelBg
}

func stop(c *Consumer, cancelRecv, cancelBg context.CancelFunc) {
	cancelRecv()
	c.WaitPollers()
	cancelBg()
	c.WaitBackground()
}

// TestHeartbeatCadence: with a 60 s visibility the heartbeat wakes every
// 10 s and extends a message once it has less than 30 s left — the first
// tick that sees that is at 40 s (20 s before expiry) — so a message held
// for 5 minutes is extended at 40 s and then every 40 s: exactly 7
// extensions, each 20 s before expiry.
func TestHeartbeatCadence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{}
		f.add(3)
		col := &collect{}
		c, cr, cb := start(t, f, Options{}, col.handle)
		start := time.Now()
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		_, extends, _, _ := f.snapshot()
		if len(extends) != 7 {
			t.Fatalf("extensions in 5 min = %d, want 7", len(extends))
		}
		if got := extends[0].Sub(start); got != 40*time.Second {
			t.Fatalf("first extension at %v, want 40s", got)
		}
		for i := 1; i < len(extends); i++ {
			if d := extends[i].Sub(extends[i-1]); d != 40*time.Second {
				t.Fatalf("extension %d came %v after the previous, want 40s", i, d)
			}
		}
		if c.Held() != 3 {
			t.Fatalf("held = %d", c.Held())
		}
		stop(c, cr, cb)
	})
}

// TestHoldStopsBeforeTwelveHours: SQS refuses to extend past 12 h from
// receipt, so the consumer stops extending just before that.
func TestHoldStopsBeforeTwelveHours(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{}
		f.add(1)
		c, cr, cb := start(t, f, Options{Visibility: time.Hour}, (&collect{}).handle)
		start := time.Now()
		time.Sleep(13 * time.Hour)
		synctest.Wait()
		_, extends, _, _ := f.snapshot()
		last := extends[len(extends)-1].Sub(start)
		if last >= MaxVisibility-holdMargin {
			t.Fatalf("extended at %v, past the 12 h cap minus margin", last)
		}
		if last < 11*time.Hour {
			t.Fatalf("stopped extending at %v, too early", last)
		}
		stop(c, cr, cb)
	})
}

func TestMaxHeldPausesReceiving(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{}
		f.add(50)
		col := &collect{}
		c, cr, cb := start(t, f, Options{MaxHeld: 25, Pollers: 3}, col.handle)
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := col.count(); n != 25 {
			t.Fatalf("received %d with max_held 25", n)
		}
		col.mu.Lock()
		first := col.msgs[0].ID
		col.mu.Unlock()
		c.Delete(first) // room for exactly one more
		time.Sleep(time.Second)
		synctest.Wait()
		if n := col.count(); n != 26 {
			t.Fatalf("after one delete received %d, want 26", n)
		}
		if h := c.Held(); h != 25 {
			t.Fatalf("held = %d, want 25", h)
		}
		stop(c, cr, cb)
	})
}

func TestReceiveErrorsBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{recvErr: errors.New("connection refused")}
		c, cr, cb := start(t, f, Options{}, (&collect{}).handle)
		time.Sleep(time.Minute)
		synctest.Wait()
		receives, _, _, _ := f.snapshot()
		// Backoff 1 s doubling to 30 s, never below 0.5 s: at most a handful
		// of calls a minute, never a hot loop.
		if receives < 3 || receives > 12 {
			t.Fatalf("receive calls in a failing minute = %d, want 3..12", receives)
		}
		select {
		case <-c.Ready():
			t.Fatal("ready without a successful receive")
		default:
		}
		f.mu.Lock()
		f.recvErr = nil
		f.mu.Unlock()
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case <-c.Ready():
		default:
			t.Fatal("not ready after receives succeed")
		}
		stop(c, cr, cb)
	})
}

func TestDeleteBatchesAndRetriesFailedEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{failOnce: map[string]bool{"rh-m3": true}}
		f.add(12)
		col := &collect{}
		c, cr, cb := start(t, f, Options{}, col.handle)
		time.Sleep(time.Second)
		synctest.Wait()
		for _, m := range col.msgs {
			c.Delete(m.ID)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		_, _, deleted, _ := f.snapshot()
		if len(deleted) != 12 || c.Held() != 0 {
			t.Fatalf("deleted %d (held %d), want all 12 after the failed entry's retry", len(deleted), c.Held())
		}
		if v := testCounter(c.m.Deleted); v != 12 {
			t.Fatalf("deleted metric = %v", v)
		}
		stop(c, cr, cb)
	})
}

// TestDeleteWaveGoesOutInFullBatches: 25 ids settled at once (an accepted
// invalidation) go out as DeleteMessageBatch calls of 10, 10 and 5; an id
// the consumer does not hold is ignored.
func TestDeleteWaveGoesOutInFullBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{}
		f.add(25)
		col := &collect{}
		c, cr, cb := start(t, f, Options{Pollers: 2}, col.handle)
		time.Sleep(time.Second)
		synctest.Wait()
		ids := []string{"not-held"}
		for _, m := range col.msgs {
			ids = append(ids, m.ID)
		}
		if len(ids) != 26 {
			t.Fatalf("received %d, want 25", len(ids)-1)
		}
		c.Delete(ids...)
		synctest.Wait()
		f.mu.Lock()
		batches := slices.Clone(f.batches)
		f.mu.Unlock()
		slices.Sort(batches)
		if !slices.Equal(batches, []int{5, 10, 10}) || c.Held() != 0 {
			t.Fatalf("DeleteMessageBatch entries per call %v (held %d), want [5 10 10] and nothing held", batches, c.Held())
		}
		stop(c, cr, cb)
	})
}

// TestDeleteQueueLetsALargeArrayGo: once a wave larger than
// maxIdleDeleteQueue is deleted, the queue's array is let go (the GC would
// scan it on every cycle); a small one is kept for reuse.
func TestDeleteQueueLetsALargeArrayGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, n := range []int{20, 2 * maxIdleDeleteQueue} {
			f := &fakeSQS{}
			f.add(n)
			col := &collect{}
			c, cr, cb := start(t, f, Options{Pollers: 2, MaxHeld: n}, col.handle)
			time.Sleep(time.Minute)
			synctest.Wait()
			ids := make([]string, 0, n)
			for _, m := range col.msgs {
				ids = append(ids, m.ID)
			}
			c.Delete(ids...)
			synctest.Wait()
			c.mu.Lock()
			kept := cap(c.toDelete)
			c.mu.Unlock()
			if c.Held() != 0 || len(ids) != n {
				t.Fatalf("n=%d: received %d, still held %d", n, len(ids), c.Held())
			}
			if big := n > maxIdleDeleteQueue; big != (kept == 0) {
				t.Fatalf("n=%d: the empty queue keeps an array of %d", n, kept)
			}
			stop(c, cr, cb)
		}
	})
}

// TestDeleteQueueInterleaved: deletes queued while batches are being taken
// come out once each, oldest first, and the array stays bounded by what is
// queued (sent ones are moved out of the way), not by every delete so far.
func TestDeleteQueueInterleaved(t *testing.T) {
	c := New(&fakeSQS{}, Options{MaxHeld: 10})
	var want, got []string
	for i := range 3000 {
		// 7 queued each time, a batch of 10 taken two times in three: the
		// queue grows by one every three rounds and is never empty.
		var ids []string
		for j := range 7 {
			id := fmt.Sprintf("m%d-%d", i, j)
			c.held[id] = &entry{}
			ids = append(ids, id)
		}
		c.Delete(ids...)
		want = append(want, ids...)
		if i%3 != 0 {
			got = append(got, c.nextDeletes()...)
		}
		if queued := len(c.toDelete) - c.deleteHead; len(c.toDelete) > 2*queued+2*MaxBatch {
			t.Fatalf("after round %d: array of %d for %d queued", i, len(c.toDelete), queued)
		}
	}
	for ids := c.nextDeletes(); len(ids) > 0; ids = c.nextDeletes() {
		got = append(got, ids...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("took %d ids (first %v), want the %d in order", len(got), got[:min(5, len(got))], len(want))
	}
	if len(c.toDelete) != 0 || c.deleteHead != 0 {
		t.Fatalf("empty queue has %d (head %d)", len(c.toDelete), c.deleteHead)
	}
}

func TestDuplicateDeliveryRefreshesReceipt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{}
		f.add(1)
		col := &collect{}
		c, cr, cb := start(t, f, Options{}, col.handle)
		time.Sleep(time.Second)
		f.mu.Lock()
		f.queue = append(f.queue, types.Message{MessageId: aws.String("m0"), ReceiptHandle: aws.String("rh-new"), Body: aws.String("{}")})
		f.mu.Unlock()
		time.Sleep(25 * time.Second) // the idle long poll returns, the next receive gets the duplicate
		synctest.Wait()
		if n := col.count(); n != 1 {
			t.Fatalf("handler saw %d messages, want the duplicate suppressed", n)
		}
		c.Delete("m0")
		time.Sleep(time.Second)
		synctest.Wait()
		_, _, deleted, _ := f.snapshot()
		if len(deleted) != 1 || deleted[0] != "rh-new" {
			t.Fatalf("deleted with %q, want the newest receipt handle", deleted)
		}
		stop(c, cr, cb)
	})
}

func TestReleaseAllMakesHeldVisible(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{}
		f.add(23)
		c, cr, cb := start(t, f, Options{}, (&collect{}).handle)
		time.Sleep(time.Second)
		synctest.Wait()
		cr()
		c.WaitPollers()
		cb()
		c.WaitBackground()
		if n := c.ReleaseAll(context.Background()); n != 23 {
			t.Fatalf("released %d", n)
		}
		_, _, _, releases := f.snapshot()
		if releases != 23 || c.Held() != 0 {
			t.Fatalf("visibility-0 entries %d, held %d", releases, c.Held())
		}
	})
}

func TestDeadLetterFromRedrivePolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{redrive: `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:inv-dlq","maxReceiveCount":"5"}`}
		f.add(1)
		col := &collect{}
		c, cr, cb := start(t, f, Options{}, col.handle)
		time.Sleep(time.Second)
		synctest.Wait()
		m := col.msgs[0]
		m.Attributes = map[string]types.MessageAttributeValue{"producer": {DataType: aws.String("String"), StringValue: aws.String("cms")}}
		if err := c.DeadLetter(context.Background(), m, Rejection{Code: "malformed_body", Reason: "not JSON"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		f.mu.Lock()
		sent := f.sent
		f.mu.Unlock()
		if len(sent) != 1 || aws.ToString(sent[0].QueueUrl) != "https://sqs.example/123456789012/inv-dlq" {
			t.Fatalf("sent %+v", sent)
		}
		a := sent[0].MessageAttributes
		if aws.ToString(a[AttrReasonCode].StringValue) != "malformed_body" || aws.ToString(a[AttrReason].StringValue) != "not JSON" ||
			aws.ToString(a[AttrSourceMessageID].StringValue) != m.ID || aws.ToString(a["producer"].StringValue) != "cms" {
			t.Fatalf("attributes %+v", a)
		}
		if aws.ToString(sent[0].MessageBody) != "{}" {
			t.Fatalf("body %q, want the original", aws.ToString(sent[0].MessageBody))
		}
		_, _, deleted, _ := f.snapshot()
		if len(deleted) != 1 {
			t.Fatalf("original not deleted after dead-lettering: %v", deleted)
		}
		stop(c, cr, cb)
	})
}

func TestNoDLQLeavesPoisonOnQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{}
		f.add(1)
		col := &collect{}
		c, cr, cb := start(t, f, Options{}, col.handle)
		time.Sleep(time.Second)
		synctest.Wait()
		err := c.DeadLetter(context.Background(), col.msgs[0], Rejection{Code: "malformed_body", Reason: "x"})
		if !errors.Is(err, ErrNoDLQ) {
			t.Fatalf("err = %v, want ErrNoDLQ", err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		_, _, deleted, _ := f.snapshot()
		if len(deleted) != 0 || c.Held() != 0 {
			t.Fatalf("deleted %v held %d: poison must be left on the queue, not held", deleted, c.Held())
		}
		if v := testCounter(c.m.PoisonKept.WithLabelValues("malformed_body")); v != 1 {
			t.Fatalf("poison kept metric = %v", v)
		}
		stop(c, cr, cb)
	})
}

// slowPoll is a queue whose first long poll is under way when the consumer
// stops receiving, and then returns messages (as SQS does for a poll whose
// client went away).
type slowPoll struct {
	*fakeSQS
	arrive chan struct{}
	calls  int
}

func (s *slowPoll) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, o ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	select {
	case <-s.arrive:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.fakeSQS.ReceiveMessage(ctx, in, o...)
}

// TestStopReceivingLetsThePollFinishAndReleases: a long poll under way at
// shutdown is not cancelled (SQS would still deliver to it); what it brings
// back is made visible again at once and never handled.
func TestStopReceivingLetsThePollFinishAndReleases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &slowPoll{fakeSQS: &fakeSQS{}, arrive: make(chan struct{})}
		col := &collect{}
		c := New(f, Options{QueueURL: "q", Pollers: 1, MaxHeld: 100, Visibility: time.Minute})
		recv, cancelRecv := context.WithCancel(context.Background())
		defer cancelRecv()
		bg, cancelBg := context.WithCancel(context.Background())
		c.Start(recv, bg, col.handle)
		synctest.Wait() // the poll is under way
		c.StopReceiving()
		if c.WaitPollersFor(time.Second) {
			t.Fatal("StopReceiving cancelled the poll under way")
		}
		f.add(4)
		close(f.arrive)
		if !c.WaitPollersFor(time.Second) {
			t.Fatal("poller did not return after its poll finished")
		}
		if col.count() != 0 {
			t.Fatalf("handled %d messages received while stopping", col.count())
		}
		if _, _, _, releases := f.snapshot(); releases != 4 || c.Held() != 0 {
			t.Fatalf("released %d, held %d; want all 4 released at once", releases, c.Held())
		}
		if f.calls != 1 {
			t.Fatalf("receive calls = %d, want no new poll after StopReceiving", f.calls)
		}
		cancelBg()
		c.WaitBackground()
	})
}
