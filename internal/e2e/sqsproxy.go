package e2e

// An SQS recording reverse proxy: the workers talk to it
// (AWS_ENDPOINT_URL_SQS) and it forwards every call to the emulator,
// reading the AWS JSON protocol on the way (X-Amz-Target
// AmazonSQS.<Operation>, JSON request and response bodies). From
// ReceiveMessage answers it learns receipt handle → MessageId, and each
// MessageId's body and SentTimestamp (a system attribute the worker asks
// for: milliseconds since the epoch, as a string); from DeleteMessageBatch /
// DeleteMessage requests whose answer says they succeeded it records when
// each MessageId was deleted. The time recorded is when the delete request
// reached the proxy, so it is never later than the moment SQS actually
// deleted the message: a conservative bound for "deleted only after
// CloudFront accepted".

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ProxyOptions change how the proxy forwards.
type ProxyOptions struct {
	// Serial lets only one request other than ReceiveMessage (the long
	// polls) through at a time. For moto: moto 5.2.x rebuilds a queue's
	// message list in DeleteMessage (moto/sqs/models.py,
	// Queue.delete_message) without the queue's lock, so two
	// DeleteMessageBatch calls served at once by its threaded server can
	// lose a delete — moto answers Successful and the message comes back
	// after its visibility timeout, to be invalidated and deleted again.
	// Real SQS has no such race, and the worker runs several deleters at
	// once, so its moto tests set this.
	Serial bool
	// ErrorRate is the share of requests the proxy answers itself with a
	// 500 InternalError, without forwarding them: SQS's own 5xx, which the
	// SDK retries. Drawn from Rand (a fixed seed when nil).
	ErrorRate float64
	Rand      *rand.Rand
}

// sqsCall is what the proxy learnt from a request before forwarding it.
type sqsCall struct {
	op       string
	at       time.Time         // when the request reached the proxy
	receipts map[string]string // DeleteMessageBatch entry Id → receipt handle ("" key for DeleteMessage)
}

type sqsCallKey struct{}

// SQSProxy is the recording proxy; safe for concurrent use.
type SQSProxy struct {
	URL string // what AWS_ENDPOINT_URL_SQS should be

	mu            sync.Mutex
	ops           map[string]int         // operation → requests
	faults        map[string]int         // operation → requests answered 500 by the proxy
	receiptToID   map[string]string      // receipt handle → MessageId
	receivedBy    map[string]int         // MessageId → deliveries seen
	receivedAt    map[string]time.Time   // MessageId → when its first delivery's ReceiveMessage answered
	sent          map[string]time.Time   // MessageId → SentTimestamp
	bodies        map[string]string      // MessageId → body
	deletedAt     map[string][]time.Time // MessageId → times of successful deletes
	firstReceive  time.Time              // first ReceiveMessage request
	lastDelete    time.Time              // latest successful delete
	unknownDelete int                    // successful deletes naming a receipt handle never received
	failedDelete  int                    // entries DeleteMessageBatch reported Failed
	problems      []string               // bodies the proxy could not read
	proxyErrors   []string               // forwarding errors other than a cancelled request
}

// NewSQSProxy starts the recording proxy in front of the SQS endpoint
// target; it is closed at test cleanup.
func NewSQSProxy(t testing.TB, target string, o ProxyOptions) *SQSProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("sqs proxy target %q: %v", target, err)
	}
	p := &SQSProxy{
		ops: map[string]int{}, faults: map[string]int{}, receiptToID: map[string]string{}, receivedBy: map[string]int{}, receivedAt: map[string]time.Time{},
		sent: map[string]time.Time{}, bodies: map[string]string{}, deletedAt: map[string][]time.Time{},
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// Let the proxy's transport negotiate (and undo) compression so
			// that ModifyResponse reads plain JSON.
			pr.Out.Header.Del("Accept-Encoding")
		},
		ModifyResponse: p.response,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) && r.Context().Err() == nil {
				p.mu.Lock()
				p.proxyErrors = append(p.proxyErrors, err.Error())
				p.mu.Unlock()
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	var serial sync.Mutex
	rnd := o.Rand
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(1, 2))
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.ErrorRate > 0 && p.fault(r, rnd, o.ErrorRate) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Header().Set("x-amzn-query-error", "InternalError;Receiver")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"__type":"com.amazonaws.sqs#InternalError","message":"injected by the test proxy"}`)
			return
		}
		call, err := p.request(r)
		if err != nil {
			p.problem("request %s: %v", call.op, err)
		}
		if o.Serial && call.op != "ReceiveMessage" {
			serial.Lock()
			defer serial.Unlock()
		}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sqsCallKey{}, call)))
	}))
	t.Cleanup(hs.Close)
	p.URL = hs.URL
	return p
}

// operation is the SQS operation a request calls (its X-Amz-Target).
func operation(r *http.Request) string {
	if op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS."); op != "" {
		return op
	}
	return "(no X-Amz-Target)"
}

// fault draws whether to fail r and counts it.
func (p *SQSProxy) fault(r *http.Request, rnd *rand.Rand, rate float64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rnd.Float64() >= rate {
		return false
	}
	p.faults[operation(r)]++
	return true
}

func (p *SQSProxy) problem(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

// request reads what matters of a request and puts its body back.
func (p *SQSProxy) request(r *http.Request) (*sqsCall, error) {
	call := &sqsCall{op: operation(r), at: time.Now()}
	p.mu.Lock()
	p.ops[call.op]++
	if call.op == "ReceiveMessage" && p.firstReceive.IsZero() {
		p.firstReceive = call.at
	}
	p.mu.Unlock()
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
func (p *SQSProxy) response(resp *http.Response) error {
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
		p.problem("response %s: %v", call.op, err)
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch call.op {
	case "ReceiveMessage":
		var out struct {
			Messages []struct {
				MessageId, ReceiptHandle, Body string
				Attributes                     map[string]string
			}
		}
		if err := json.Unmarshal(body, &out); err != nil {
			p.problems = append(p.problems, fmt.Sprintf("ReceiveMessage response: %v: %.200s", err, body))
			return nil
		}
		now := time.Now()
		for _, m := range out.Messages {
			p.receiptToID[m.ReceiptHandle] = m.MessageId
			p.receivedBy[m.MessageId]++
			if _, ok := p.receivedAt[m.MessageId]; !ok {
				p.receivedAt[m.MessageId] = now
			}
			p.bodies[m.MessageId] = m.Body
			ms, err := strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64)
			if err != nil {
				p.problems = append(p.problems, fmt.Sprintf("ReceiveMessage: message %s has no readable Attributes.SentTimestamp (%q)",
					m.MessageId, m.Attributes["SentTimestamp"]))
				continue
			}
			p.sent[m.MessageId] = time.UnixMilli(ms)
		}
	case "DeleteMessage":
		p.deletedLocked(call.receipts[""], call.at)
	case "DeleteMessageBatch":
		var out struct {
			Successful []struct{ Id string }
			Failed     []struct{ Id string }
		}
		if err := json.Unmarshal(body, &out); err != nil {
			p.problems = append(p.problems, fmt.Sprintf("DeleteMessageBatch response: %v: %.200s", err, body))
			return nil
		}
		p.failedDelete += len(out.Failed)
		for _, s := range out.Successful {
			receipt, ok := call.receipts[s.Id]
			if !ok {
				p.problems = append(p.problems, fmt.Sprintf("DeleteMessageBatch: Successful entry %q was not in the request", s.Id))
				continue
			}
			p.deletedLocked(receipt, call.at)
		}
	}
	return nil
}

func (p *SQSProxy) deletedLocked(receipt string, at time.Time) {
	id, ok := p.receiptToID[receipt]
	if !ok {
		p.unknownDelete++
		return
	}
	p.deletedAt[id] = append(p.deletedAt[id], at)
	if at.After(p.lastDelete) {
		p.lastDelete = at
	}
}

// Record is a snapshot of what the proxy saw.
type Record struct {
	Ops           map[string]int         // operation → requests
	Faults        map[string]int         // operation → requests the proxy failed (ErrorRate)
	ReceivedBy    map[string]int         // MessageId → deliveries
	ReceivedAt    map[string]time.Time   // MessageId → when its first delivery's answer passed the proxy
	Sent          map[string]time.Time   // MessageId → SentTimestamp (millisecond resolution)
	Bodies        map[string]string      // MessageId → body
	DeletedAt     map[string][]time.Time // MessageId → when each successful delete reached the proxy
	FirstReceive  time.Time
	LastDelete    time.Time
	UnknownDelete int      // successful deletes of receipt handles never received
	FailedDelete  int      // entries DeleteMessageBatch reported Failed
	Problems      []string // bodies the proxy could not read
	ProxyErrors   []string // forwarding errors other than a cancelled request
}

// Snapshot copies the record so far.
func (p *SQSProxy) Snapshot() Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Record{
		Ops: maps.Clone(p.ops), Faults: maps.Clone(p.faults), ReceivedBy: map[string]int{}, ReceivedAt: map[string]time.Time{}, Sent: map[string]time.Time{}, Bodies: map[string]string{},
		DeletedAt:    map[string][]time.Time{},
		FirstReceive: p.firstReceive, LastDelete: p.lastDelete,
		UnknownDelete: p.unknownDelete, FailedDelete: p.failedDelete,
		Problems: slices.Clone(p.problems), ProxyErrors: slices.Clone(p.proxyErrors),
	}
	for k, v := range p.receivedBy {
		s.ReceivedBy[k] = v
	}
	for k, v := range p.receivedAt {
		s.ReceivedAt[k] = v
	}
	for k, v := range p.sent {
		s.Sent[k] = v
	}
	for k, v := range p.bodies {
		s.Bodies[k] = v
	}
	for k, v := range p.deletedAt {
		s.DeletedAt[k] = slices.Clone(v)
	}
	return s
}

// DeletedCount is how many distinct messages were deleted so far.
func (p *SQSProxy) DeletedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.deletedAt)
}

// WaitDeleted waits until every message of wants was deleted at least once
// through the proxy (a drained queue can be seen a moment before the
// proxy has read the delete's answer) and returns the record. It does not
// fail when the time runs out: [CheckDeletesJustified] then names the
// messages never deleted.
func (p *SQSProxy) WaitDeleted(wants Wants, within time.Duration) Record {
	deadline := time.Now().Add(within)
	for {
		p.mu.Lock()
		missing := 0
		for id := range wants {
			if len(p.deletedAt[id]) == 0 {
				missing++
			}
		}
		p.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			return p.Snapshot()
		}
		time.Sleep(50 * time.Millisecond)
	}
}
