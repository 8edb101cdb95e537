package main

// The latency phase puts a recording reverse proxy between the worker and
// fauxqs (the worker's AWS_ENDPOINT_URL_SQS). It reads the AWS JSON protocol
// (X-Amz-Target AmazonSQS.<Operation>): from ReceiveMessage answers it
// learns receipt handle → MessageId and SentTimestamp; from a
// DeleteMessageBatch (or DeleteMessage) whose answer says an entry
// succeeded it records that message's delete at the moment the answer
// arrived. Latency = that moment − SentTimestamp, both on this machine's
// clock (fauxqs runs here). The proxy costs a loopback hop (well under a
// millisecond) and some harness CPU at 1,000 messages/s; it is used only in
// the latency phase, never while throughput is measured.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// recorder is the proxy's record; safe for concurrent use.
type recorder struct {
	mu        sync.Mutex
	receives  int                  // ReceiveMessage requests seen (answered or not yet)
	ops       map[string]int       // requests by operation
	byReceipt map[string]received  // receipt handle → message, until deleted
	deletedAt map[string]time.Time // MessageId → first successful delete
	sentAt    map[string]time.Time // MessageId → SentTimestamp
	noSentAt  int                  // received messages without SentTimestamp
	problems  []string             // bodies the proxy could not read (the first few)
}

type received struct {
	id     string
	sentAt time.Time // zero when the receive did not ask for SentTimestamp
}

func newRecorder() *recorder {
	return &recorder{byReceipt: map[string]received{}, deletedAt: map[string]time.Time{}, sentAt: map[string]time.Time{},
		ops: map[string]int{}}
}

// handler returns the proxy in front of target.
func (rec *recorder) handler(target string) (http.Handler, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("proxy target %q: %w", target, err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// Let the proxy's own transport negotiate (and undo) compression
			// so that modify reads plain JSON.
			pr.Out.Header.Del("Accept-Encoding")
		},
		ModifyResponse: rec.modify,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// A long poll the worker cancels at shutdown is no problem.
			if !errors.Is(err, context.Canceled) && r.Context().Err() == nil {
				rec.problem("%s: forwarding: %v", operation(r), err)
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := operation(r)
		rec.mu.Lock()
		rec.ops[op]++
		if op == "ReceiveMessage" {
			rec.receives++
		}
		rec.mu.Unlock()
		if op == "DeleteMessageBatch" || op == "DeleteMessage" {
			body, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				rec.problem("%s request: %v", op, err)
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r = r.WithContext(context.WithValue(r.Context(), requestBodyKey{}, body))
		}
		rp.ServeHTTP(w, r)
	}), nil
}

type requestBodyKey struct{}

func operation(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
}

type deleteReq struct {
	ReceiptHandle string
	Entries       []struct{ Id, ReceiptHandle string }
}

// modify reads the answer (and, for deletes, the request body the handler
// kept in the context) and puts the answer body back for the client.
func (rec *recorder) modify(resp *http.Response) error {
	op := operation(resp.Request)
	if op != "ReceiveMessage" && op != "DeleteMessageBatch" && op != "DeleteMessage" {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		return err
	}
	now := time.Now()
	switch op {
	case "ReceiveMessage":
		rec.receiveAnswer(body)
	default:
		reqBody, _ := resp.Request.Context().Value(requestBodyKey{}).([]byte)
		rec.deleteAnswer(op, reqBody, body, now)
	}
	return nil
}

func (rec *recorder) receiveAnswer(body []byte) {
	var out struct {
		Messages []struct {
			MessageId, ReceiptHandle string
			Attributes               map[string]string
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		rec.problem("ReceiveMessage answer: %v", err)
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, m := range out.Messages {
		r := received{id: m.MessageId}
		if ms, err := strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64); err == nil {
			r.sentAt = time.UnixMilli(ms)
			rec.sentAt[m.MessageId] = r.sentAt
		} else {
			rec.noSentAt++
		}
		rec.byReceipt[m.ReceiptHandle] = r
	}
}

func (rec *recorder) deleteAnswer(op string, reqBody, body []byte, now time.Time) {
	var req deleteReq
	if err := json.Unmarshal(reqBody, &req); err != nil {
		rec.problem("%s request: %v", op, err)
		return
	}
	var ok []string // receipt handles deleted
	if op == "DeleteMessage" {
		ok = append(ok, req.ReceiptHandle)
	} else {
		var out struct{ Successful []struct{ Id string } }
		if err := json.Unmarshal(body, &out); err != nil {
			rec.problem("%s answer: %v", op, err)
			return
		}
		byID := map[string]string{}
		for _, e := range req.Entries {
			byID[e.Id] = e.ReceiptHandle
		}
		for _, s := range out.Successful {
			ok = append(ok, byID[s.Id])
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, receipt := range ok {
		m, found := rec.byReceipt[receipt]
		if !found {
			continue
		}
		delete(rec.byReceipt, receipt)
		if _, dup := rec.deletedAt[m.id]; !dup {
			rec.deletedAt[m.id] = now
		}
	}
}

func (rec *recorder) problem(format string, args ...any) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.problems) < 5 {
		rec.problems = append(rec.problems, fmt.Sprintf(format, args...))
	}
}

// receiveRequests returns how many ReceiveMessage requests reached the proxy.
func (rec *recorder) receiveRequests() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.receives
}

// deletes returns how many distinct messages were deleted.
func (rec *recorder) deletes() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.deletedAt)
}

// latencies returns, per deleted message, delete − SentTimestamp, falling
// back to the producer's send time (sent, by MessageId) when the worker
// did not ask for SentTimestamp; missing counts messages with neither.
func (rec *recorder) latencies(sent map[string]time.Time) (lat []time.Duration, missing int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for id, del := range rec.deletedAt {
		at, ok := rec.sentAt[id]
		if !ok {
			at, ok = sent[id]
		}
		if !ok {
			missing++
			continue
		}
		lat = append(lat, max(del.Sub(at), 0))
	}
	return lat, missing
}
