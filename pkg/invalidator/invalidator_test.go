package invalidator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/message"
)

// fakeSQS records SendMessageBatch calls; fail decides per call and entry
// whether SQS reports it failed (nil: every entry succeeds).
type fakeSQS struct {
	mu    sync.Mutex
	calls []*sqs.SendMessageBatchInput
	fail  func(call int, body string) *types.BatchResultErrorEntry
	err   func(call int) error
	next  int
}

func (f *fakeSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := len(f.calls)
	f.calls = append(f.calls, in)
	if f.err != nil {
		if err := f.err(call); err != nil {
			return nil, err
		}
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if f.fail != nil {
			if fe := f.fail(call, aws.ToString(e.MessageBody)); fe != nil {
				fe.Id = e.Id
				out.Failed = append(out.Failed, *fe)
				continue
			}
		}
		f.next++
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String(fmt.Sprintf("msg-%d", f.next))})
	}
	return out, nil
}

func manyPaths(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s/%05d.html", prefix, i)
	}
	return out
}

// decodeAll decodes bodies as the worker does and returns every item, in
// order, failing on any rejection.
func decodeAll(t *testing.T, bodies [][]byte, max int) []string {
	t.Helper()
	dec, err := message.NewDecoder(message.Options{
		Distributions:      []message.Distribution{{ID: "EDFDVBD6EXAMPLE", Aliases: []string{"www"}}},
		MaxPathsPerMessage: max,
	})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for i, b := range bodies {
		got, err := dec.Decode(b)
		if err != nil || len(got.Rejected) > 0 || len(got.Targets) != 1 {
			t.Fatalf("message %d refused by the worker's decoder: %v %+v", i, err, got.Rejected)
		}
		all = append(all, got.Targets[0].Paths...)
	}
	return all
}

func TestPacksIntoFewestMessagesByItemCount(t *testing.T) {
	paths := manyPaths(25000, "/p")
	c := New(nil, "q")
	bodies, err := c.Bodies(Request{Distribution: "www", Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 3 { // ceil(25,000 / 10,000)
		t.Fatalf("%d messages, want 3", len(bodies))
	}
	got := decodeAll(t, bodies, DefaultMaxItemsPerMessage)
	if strings.Join(got, "\n") != strings.Join(paths, "\n") {
		t.Fatalf("decoded %d paths, want the %d sent, in order", len(got), len(paths))
	}
}

func TestPacksIntoFewestMessagesByBytes(t *testing.T) {
	const limit = 8 << 10
	long := manyPaths(500, "/"+strings.Repeat("x", 90)) // ~105 bytes each in JSON
	c := New(nil, "q", WithMaxMessageBytes(limit))
	bodies, err := c.Bodies(Request{Distribution: "EDFDVBD6EXAMPLE", Paths: long, Tags: []string{"#t1", "t2"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range bodies {
		if len(b) > limit {
			t.Fatalf("message %d is %d bytes, over the limit of %d", i, len(b), limit)
		}
		var m v1Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if i+1 < len(bodies) {
			// Greedy and full: the next message's first item would not have fit.
			var next v1Message
			_ = json.Unmarshal(bodies[i+1], &next)
			it := item{value: first(next.Paths, next.Tags), tag: len(next.Paths) == 0}
			if len(b)+addedLen(m, it) <= limit {
				t.Fatalf("message %d (%d bytes) had room for %q", i, len(b), it.value)
			}
		}
	}
	got := decodeAll(t, bodies, 0)
	if len(got) != 502 || got[500] != "#t1" || got[501] != "#t2" {
		t.Fatalf("decoded %d items, last %q", len(got), got[len(got)-2:])
	}
}

func first(a, b []string) string {
	if len(a) > 0 {
		return a[0]
	}
	return b[0]
}

func TestComputedSizeIsExact(t *testing.T) {
	// Characters JSON escapes: the size accounting must match the encoder.
	odd := []string{`/a"b`, `/back\slash`, "/tab\there", "/ctl\x01", "/<html>&", "/ünï", "https://h/ok"}
	m := v1Message{Version: 1, Distribution: "www"}
	size := jsonLen(m)
	for _, p := range odd {
		size += addedLen(m, item{value: p})
		m.Paths = append(m.Paths, p)
	}
	size += addedLen(m, item{value: "x", tag: true})
	m.Tags = append(m.Tags, "x")
	if got := len(encode(m)); got != size {
		t.Fatalf("computed %d bytes, encoded %d: %s", size, got, encode(m))
	}
}

func TestMaxItemsOption(t *testing.T) {
	bodies, err := New(nil, "q", WithMaxItemsPerMessage(7)).Bodies(Request{Distribution: "www", Paths: manyPaths(20, "/a")})
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 3 {
		t.Fatalf("%d messages, want 3 (7+7+6)", len(bodies))
	}
	decodeAll(t, bodies, 7)
}

func TestDuplicatesDropped(t *testing.T) {
	bodies, err := New(nil, "q").Bodies(Request{Distribution: "www", Paths: []string{"/a", " /a ", "/b", "/a"}, Tags: []string{"x", "#x"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"distribution":"www","paths":["/a","/b"],"tags":["x"]}`
	if len(bodies) != 1 || string(bodies[0]) != want {
		t.Fatalf("bodies %q, want [%s]", bodies, want)
	}
}

func TestValidationSendsNothing(t *testing.T) {
	f := &fakeSQS{}
	c := New(f, "q")
	for _, r := range []Request{
		{Distribution: "", Paths: []string{"/a"}},
		{Distribution: "www"},
		{Distribution: "www", Paths: []string{"/ok", "relative", "#tag", ""}},
		{Distribution: "www", Paths: []string{"/" + strings.Repeat("a", MaxPathLen)}},
		{Distribution: "www", Paths: []string{"/bad\xffutf8"}},
		{Distribution: "www", Tags: []string{"a,b"}},
		{Distribution: "www", Tags: []string{strings.Repeat("t", MaxTagLen+1)}},
	} {
		ids, err := c.Send(context.Background(), r)
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ids) > 0 {
			t.Errorf("%+v: ids %v, err %v; want a *ValidationError", r, ids, err)
		}
	}
	if len(f.calls) > 0 {
		t.Fatalf("%d SendMessageBatch calls for invalid requests", len(f.calls))
	}
	_, err := c.Send(context.Background(), Request{Distribution: "www", Paths: []string{"/ok", "relative", "ftp://x/y"}})
	if err == nil || !strings.Contains(err.Error(), `"relative"`) || !strings.Contains(err.Error(), `"ftp://x/y"`) {
		t.Fatalf("error %v should name both bad paths", err)
	}
}

func TestBatchesRespectEntryAndByteLimits(t *testing.T) {
	// 25 messages of about 200 KB: at most 5 fit in one 1 MiB batch.
	// (Paths this long are refused by Bodies, so send bodies directly to
	// test the batching alone.)
	f := &fakeSQS{}
	c := New(f, "q")
	bodies := make([][]byte, 25)
	for i := range bodies {
		bodies[i] = encode(v1Message{Version: 1, Distribution: "www", Paths: []string{fmt.Sprintf("/%02d/%s", i, strings.Repeat("p", 200<<10))}})
	}
	ids, err := c.send(context.Background(), bodies)
	if err != nil || len(ids) != 25 {
		t.Fatalf("ids %d, err %v", len(ids), err)
	}
	if len(f.calls) != 5 {
		t.Fatalf("%d calls, want 5 batches of 5", len(f.calls))
	}
	for i, in := range f.calls {
		total := 0
		for _, e := range in.Entries {
			total += len(aws.ToString(e.MessageBody))
		}
		if len(in.Entries) > MaxBatchEntries || total > SQSMaxMessageBytes {
			t.Fatalf("call %d: %d entries, %d bytes", i, len(in.Entries), total)
		}
	}
	// Small messages: 10 to a batch.
	f2 := &fakeSQS{}
	if _, err := New(f2, "q", WithMaxItemsPerMessage(1)).Invalidate(context.Background(), "www", manyPaths(25, "/s")...); err != nil {
		t.Fatal(err)
	}
	if len(f2.calls) != 3 || len(f2.calls[0].Entries) != 10 {
		t.Fatalf("%d calls, first with %d entries; want 3 calls, 10 entries first", len(f2.calls), len(f2.calls[0].Entries))
	}
}

func TestFailedEntriesRetried(t *testing.T) {
	f := &fakeSQS{fail: func(call int, body string) *types.BatchResultErrorEntry {
		if call == 0 && strings.Contains(body, "/a/00003.html") {
			return &types.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("try again")}
		}
		return nil
	}}
	c := New(f, "q", WithMaxItemsPerMessage(1))
	c.backoff = 0
	ids, err := c.Invalidate(context.Background(), "www", manyPaths(5, "/a")...)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 5 || len(f.calls) != 2 || len(f.calls[1].Entries) != 1 {
		t.Fatalf("ids %v, %d calls; want 5 ids, the failed entry sent again alone", ids, len(f.calls))
	}
	if ids[3] != "msg-5" { // ids come back in message order, the retried one last sent
		t.Fatalf("ids %v: want message 3's id from the retry", ids)
	}
}

func TestFailuresReported(t *testing.T) {
	f := &fakeSQS{fail: func(call int, body string) *types.BatchResultErrorEntry {
		switch {
		case strings.Contains(body, "/a/00001.html"):
			return &types.BatchResultErrorEntry{Code: aws.String("InvalidParameterValue"), Message: aws.String("too long"), SenderFault: true}
		case strings.Contains(body, "/a/00002.html"):
			return &types.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("again")}
		}
		return nil
	}}
	c := New(f, "q", WithMaxItemsPerMessage(1), WithAttempts(2))
	c.backoff = 0
	ids, err := c.Invalidate(context.Background(), "www", manyPaths(4, "/a")...)
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("err %v, want *SendError", err)
	}
	if len(ids) != 2 || len(se.Failed) != 2 {
		t.Fatalf("ids %v, failed %+v", ids, se.Failed)
	}
	byIndex := map[int]FailedMessage{}
	for _, fm := range se.Failed {
		byIndex[fm.Index] = fm
	}
	if fm := byIndex[1]; !fm.SenderFault || fm.Code != "InvalidParameterValue" || fm.First != "/a/00001.html" {
		t.Errorf("message 1: %+v", fm)
	}
	if fm := byIndex[2]; fm.SenderFault || fm.Code != "InternalError" {
		t.Errorf("message 2: %+v", fm)
	}
	// Sender faults are not retried; the other failure is tried twice.
	if len(f.calls) != 2 || len(f.calls[1].Entries) != 1 {
		t.Fatalf("%d calls", len(f.calls))
	}
	for _, want := range []string{"2 message(s) not sent", "InvalidParameterValue", `"/a/00002.html"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestWholeCallFailureStopsAndNamesTheRest(t *testing.T) {
	f := &fakeSQS{err: func(call int) error {
		if call == 1 {
			return errors.New("connection reset")
		}
		return nil
	}}
	ids, err := New(f, "q", WithMaxItemsPerMessage(1)).Invalidate(context.Background(), "www", manyPaths(25, "/a")...)
	var se *SendError
	if !errors.As(err, &se) || len(ids) != 10 || len(se.Failed) != 15 {
		t.Fatalf("ids %d, err %v", len(ids), err)
	}
	if len(f.calls) != 2 {
		t.Fatalf("%d calls after a failed call; want no more", len(f.calls))
	}
	if se.Failed[0].Code != "RequestFailed" || se.Failed[len(se.Failed)-1].Code != "NotAttempted" {
		t.Fatalf("failed %+v", se.Failed)
	}
	if se.Err == nil || !strings.Contains(se.Err.Error(), "connection reset") {
		t.Fatalf("SendError.Err = %v", se.Err)
	}
}

func TestCanceledContextUnwraps(t *testing.T) {
	f := &fakeSQS{fail: func(int, string) *types.BatchResultErrorEntry {
		return &types.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("again")}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New(f, "q").Invalidate(ctx, "www", "/a")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want one that is context.Canceled", err)
	}
}

func TestIDsAreStrings(t *testing.T) {
	// Entry ids must be unique per batch and match [A-Za-z0-9_-]{1,80}.
	f := &fakeSQS{}
	if _, err := New(f, "q", WithMaxItemsPerMessage(1)).Invalidate(context.Background(), "www", manyPaths(12, "/a")...); err != nil {
		t.Fatal(err)
	}
	for _, in := range f.calls {
		seen := map[string]bool{}
		for _, e := range in.Entries {
			id := aws.ToString(e.Id)
			if _, err := strconv.Atoi(id); err != nil || seen[id] {
				t.Fatalf("entry id %q", id)
			}
			seen[id] = true
		}
	}
}

// TestTenantRequests: a tenant named by id or alias is sent as
// "distribution_tenant_id", packed like any request, and decodes to that
// tenant of its multi-tenant distribution.
func TestTenantRequests(t *testing.T) {
	const tenant = "dt_2wjDZi3hD1ivOXf6rpZJO1AB"
	dec, err := message.NewDecoder(message.Options{
		Distributions: []message.Distribution{{ID: "EDFDVBD6EXAMPLE", Aliases: []string{"www"}}},
		Tenants:       []message.Tenant{{ID: tenant, Aliases: []string{"customer-a"}, Distribution: "E3MULTITENANT"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	bodies, err := New(nil, "q", WithMaxItemsPerMessage(2)).Bodies(Request{Tenant: " " + tenant + " ", Paths: []string{"/a", "/b", "/c"}, Tags: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"version":1,"distribution_tenant_id":"dt_2wjDZi3hD1ivOXf6rpZJO1AB","paths":["/a","/b"]}`,
		`{"version":1,"distribution_tenant_id":"dt_2wjDZi3hD1ivOXf6rpZJO1AB","paths":["/c"],"tags":["t"]}`,
	}
	if len(bodies) != len(want) {
		t.Fatalf("bodies %q, want %q", bodies, want)
	}
	for i, b := range bodies {
		if string(b) != want[i] {
			t.Errorf("body %d = %s, want %s", i, b, want[i])
		}
		got, err := dec.Decode(b)
		if err != nil || len(got.Targets) != 1 || got.Targets[0].TenantID != tenant || got.Targets[0].DistributionID != "E3MULTITENANT" {
			t.Errorf("body %d decodes to %+v, %v; want tenant %s", i, got, err, tenant)
		}
	}

	f := &fakeSQS{}
	ids, err := New(f, "q").InvalidateTenant(context.Background(), "customer-a", "/x")
	if err != nil || len(ids) != 1 || len(f.calls) != 1 {
		t.Fatalf("InvalidateTenant: ids %v, err %v, %d calls", ids, err, len(f.calls))
	}
	body := aws.ToString(f.calls[0].Entries[0].MessageBody)
	if body != `{"version":1,"distribution_tenant_id":"customer-a","paths":["/x"]}` {
		t.Fatalf("sent %s", body)
	}
	if got, err := dec.Decode([]byte(body)); err != nil || got.Targets[0].TenantID != tenant {
		t.Fatalf("alias body decodes to %+v, %v", got, err)
	}
	// A distribution's name sent as a tenant is refused by the worker: the
	// client leaves that to it (it cannot know the worker's config).
	if _, err := dec.Decode([]byte(`{"version":1,"distribution_tenant_id":"www","paths":["/x"]}`)); err == nil {
		t.Fatal("the worker accepted a distribution's alias as a tenant")
	}
}

func TestTenantValidation(t *testing.T) {
	for _, tc := range []struct {
		r    Request
		want string
	}{
		{Request{Paths: []string{"/a"}}, "no distribution and no tenant"},
		{Request{Tenant: "  ", Paths: []string{"/a"}}, "no distribution and no tenant"},
		{Request{Distribution: "www", Tenant: "customer-a", Paths: []string{"/a"}}, "both a distribution and a tenant"},
		{Request{Tenant: "customer-a"}, "no paths and no tags"},
	} {
		_, err := New(nil, "q").Bodies(tc.r)
		var ve *ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want a *ValidationError with %q", tc.r, err, tc.want)
		}
	}
}
