package main

// An SQS recording reverse proxy for the integration tests: the workers talk
// to it (AWS_ENDPOINT_URL_SQS) and it forwards every call to the emulator,
// reading the AWS JSON protocol on the way (X-Amz-Target
// AmazonSQS.<Operation>, JSON request and response bodies). From
// ReceiveMessage answers it learns receipt handle → MessageId; from
// DeleteMessageBatch / DeleteMessage requests whose answer says they
// succeeded it records when each MessageId was deleted. The time recorded is
// when the delete request reached the proxy, so it is never later than the
// moment SQS actually deleted the message: a conservative bound for
// "deleted only after CloudFront accepted".

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sqsCall is what the proxy learnt from a request before forwarding it.
type sqsCall struct {
	op       string
	at       time.Time         // when the request reached the proxy
	receipts map[string]string // DeleteMessageBatch entry Id → receipt handle ("" key for DeleteMessage)
}

type sqsCallKey struct{}

// sqsRecorder is the proxy's record; safe for concurrent use.
type sqsRecorder struct {
	URL string // what AWS_ENDPOINT_URL_SQS should be

	mu            sync.Mutex
	ops           map[string]int         // operation → requests
	receiptToID   map[string]string      // receipt handle → MessageId
	receivedBy    map[string]int         // MessageId → deliveries seen
	deletedAt     map[string][]time.Time // MessageId → times of successful deletes
	firstReceive  time.Time              // first ReceiveMessage request
	lastDelete    time.Time              // latest successful delete
	unknownDelete int                    // successful deletes naming a receipt handle never received
	failedDelete  int                    // entries DeleteMessageBatch reported Failed
	problems      []string               // bodies the proxy could not read
	proxyErrors   []string               // forwarding errors other than a cancelled request
}

// newSQSProxy starts the recording proxy in front of the SQS endpoint
// target; it is closed at test cleanup.
func newSQSProxy(t *testing.T, target string) *sqsRecorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("sqs proxy target %q: %v", target, err)
	}
	rec := &sqsRecorder{
		ops: map[string]int{}, receiptToID: map[string]string{}, receivedBy: map[string]int{},
		deletedAt: map[string][]time.Time{},
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// Let the proxy's transport negotiate (and undo) compression so
			// that ModifyResponse reads plain JSON.
			pr.Out.Header.Del("Accept-Encoding")
		},
		ModifyResponse: rec.response,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) && r.Context().Err() == nil {
				rec.mu.Lock()
				rec.proxyErrors = append(rec.proxyErrors, err.Error())
				rec.mu.Unlock()
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call, err := rec.request(r)
		if err != nil {
			rec.problem("request %s: %v", call.op, err)
		}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sqsCallKey{}, call)))
	}))
	t.Cleanup(hs.Close)
	rec.URL = hs.URL
	return rec
}

func (rec *sqsRecorder) problem(format string, args ...any) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.problems = append(rec.problems, fmt.Sprintf(format, args...))
}

// request reads what matters of a request and puts its body back.
func (rec *sqsRecorder) request(r *http.Request) (*sqsCall, error) {
	call := &sqsCall{op: strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS."), at: time.Now()}
	if call.op == "" {
		call.op = "(no X-Amz-Target)"
	}
	rec.mu.Lock()
	rec.ops[call.op]++
	if call.op == "ReceiveMessage" && rec.firstReceive.IsZero() {
		rec.firstReceive = call.at
	}
	rec.mu.Unlock()
	if call.op != "DeleteMessageBatch" && call.op != "DeleteMessage" {
		return call, nil
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return call, err
	}
	var in struct {
		ReceiptHandle string
		Entries       []struct{ Id, ReceiptHandle string }
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return call, fmt.Errorf("%w: %.200s", err, body)
	}
	call.receipts = map[string]string{}
	if call.op == "DeleteMessage" {
		call.receipts[""] = in.ReceiptHandle
	}
	for _, e := range in.Entries {
		call.receipts[e.Id] = e.ReceiptHandle
	}
	return call, nil
}

// response records what a ReceiveMessage or a delete answered.
func (rec *sqsRecorder) response(resp *http.Response) error {
	call, _ := resp.Request.Context().Value(sqsCallKey{}).(*sqsCall)
	if call == nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	switch call.op {
	case "ReceiveMessage", "DeleteMessageBatch", "DeleteMessage":
	default:
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	if err != nil {
		rec.problem("response %s: %v", call.op, err)
		return nil
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	switch call.op {
	case "ReceiveMessage":
		var out struct {
			Messages []struct{ MessageId, ReceiptHandle string }
		}
		if err := json.Unmarshal(body, &out); err != nil {
			rec.problems = append(rec.problems, fmt.Sprintf("ReceiveMessage response: %v: %.200s", err, body))
			return nil
		}
		for _, m := range out.Messages {
			rec.receiptToID[m.ReceiptHandle] = m.MessageId
			rec.receivedBy[m.MessageId]++
		}
	case "DeleteMessage":
		rec.deletedLocked(call.receipts[""], call.at)
	case "DeleteMessageBatch":
		var out struct {
			Successful []struct{ Id string }
			Failed     []struct{ Id string }
		}
		if err := json.Unmarshal(body, &out); err != nil {
			rec.problems = append(rec.problems, fmt.Sprintf("DeleteMessageBatch response: %v: %.200s", err, body))
			return nil
		}
		rec.failedDelete += len(out.Failed)
		for _, s := range out.Successful {
			receipt, ok := call.receipts[s.Id]
			if !ok {
				rec.problems = append(rec.problems, fmt.Sprintf("DeleteMessageBatch: Successful entry %q was not in the request", s.Id))
				continue
			}
			rec.deletedLocked(receipt, call.at)
		}
	}
	return nil
}

func (rec *sqsRecorder) deletedLocked(receipt string, at time.Time) {
	id, ok := rec.receiptToID[receipt]
	if !ok {
		rec.unknownDelete++
		return
	}
	rec.deletedAt[id] = append(rec.deletedAt[id], at)
	if at.After(rec.lastDelete) {
		rec.lastDelete = at
	}
}

// sqsRecord is a snapshot of the recorder.
type sqsRecord struct {
	Ops           map[string]int
	ReceivedBy    map[string]int
	DeletedAt     map[string][]time.Time
	FirstReceive  time.Time
	LastDelete    time.Time
	UnknownDelete int
	FailedDelete  int
	Problems      []string
	ProxyErrors   []string
}

func (rec *sqsRecorder) snapshot() sqsRecord {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	s := sqsRecord{
		Ops: map[string]int{}, ReceivedBy: map[string]int{}, DeletedAt: map[string][]time.Time{},
		FirstReceive: rec.firstReceive, LastDelete: rec.lastDelete,
		UnknownDelete: rec.unknownDelete, FailedDelete: rec.failedDelete,
		Problems: slices.Clone(rec.problems), ProxyErrors: slices.Clone(rec.proxyErrors),
	}
	for k, v := range rec.ops {
		s.Ops[k] = v
	}
	for k, v := range rec.receivedBy {
		s.ReceivedBy[k] = v
	}
	for k, v := range rec.deletedAt {
		s.DeletedAt[k] = slices.Clone(v)
	}
	return s
}

// deletedCount is how many distinct messages were deleted so far.
func (rec *sqsRecorder) deletedCount() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.deletedAt)
}
