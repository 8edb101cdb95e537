package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/consumer"
)

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		inv, item string
		want      bool
	}{
		{"/a.html", "/a.html", true},
		{"/a.html", "/A.html", false}, // paths are case-sensitive
		{"/a.html", "/a.html?x=1", false},
		{"/img/*", "/img/a.png", true},
		{"/img/*", "/img/sub/b.png", true},
		{"/img/*", "/img/*", true},
		{"/img*", "/img/*", true},
		{"/img/*", "/img", false},
		{"/img/*", "/imgs/a.png", false},
		{"/*", "/", true},
		{"/*", "/anything/at/all", true},
		{"/a*b", "/a-x-b", false}, // "*" only counts at the end
		{"#Product-42", "#product-42", true},
		{"#product-42", "#PRODUCT-42", true},
		{"#product-4", "#product-42", false},
		{"#prod*", "#product-42", false}, // never by wildcard
		{"/*", "#news", false},
		{"#news", "/news", false},
		{"/#news", "#news", false},
		{"#\u212a", "#k", false}, // Kelvin sign: Unicode folding, not ASCII
	} {
		if got := Covers(tc.inv, tc.item); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.inv, tc.item, got, tc.want)
		}
	}
	if miss := Uncovered([]string{"/a", "/b/c", "#T"}, []string{"/b/*", "#t"}); len(miss) != 1 || miss[0] != "/a" {
		t.Errorf("Uncovered = %q, want [/a]", miss)
	}
}

// at is a moment in the test's timeline: t0 plus ms milliseconds.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func at(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }

// record builds a proxy record: each message sent at sentMs (whole ms, as
// SentTimestamp is) and deleted at the given times.
func record(msgs map[string]struct {
	sent float64
	dels []float64
}) Record {
	r := Record{Sent: map[string]time.Time{}, Bodies: map[string]string{}, DeletedAt: map[string][]time.Time{}}
	for id, m := range msgs {
		r.Sent[id] = at(m.sent).Truncate(time.Millisecond)
		r.Bodies[id] = "body of " + id
		for _, d := range m.dels {
			r.DeletedAt[id] = append(r.DeletedAt[id], at(d))
		}
	}
	return r
}

type msgTimes = map[string]struct {
	sent float64
	dels []float64
}

func TestJustify(t *testing.T) {
	const d, other = "EDIST", "EOTHER"
	inv := func(id string, dist string, createdMs float64, items ...string) Invalidation {
		return Invalidation{Dist: dist, ID: id, Created: at(createdMs), Items: items}
	}
	const tenant, sibling = "dt_a", "dt_b"
	tenantInv := func(id, tenant string, createdMs float64, items ...string) Invalidation {
		i := inv(id, d, createdMs, items...)
		i.Tenant = tenant
		return i
	}
	dlqCopy := func(source, body string, sentMs float64) Message {
		return Message{ID: "copy-of-" + source, Body: body, Sent: at(sentMs).Truncate(time.Millisecond),
			Attrs: map[string]string{consumer.AttrSourceMessageID: source}}
	}
	for _, tc := range []struct {
		name  string
		rec   Record
		wants Wants
		invs  []Invalidation
		dlq   []Message
		want  []string // substrings of the violations, in order; none: justified
	}{
		{
			name:  "covered exactly, by wildcard and by tag of another case",
			rec:   record(msgTimes{"m1": {100, []float64{2000}}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a.html", "/img/x.png", "#Product-42"}}},
			invs:  []Invalidation{inv("I1", d, 1500, "/a.html"), inv("I2", d, 1800, "/img/*", "#product-42")},
		},
		{
			name:  "split over requests, the last accepted at the delete instant",
			rec:   record(msgTimes{"m1": {100, []float64{2000}}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a", "/b"}}},
			invs:  []Invalidation{inv("I1", d, 500, "/a"), inv("I2", d, 2000, "/b")},
		},
		{
			name:  "item uncovered",
			rec:   record(msgTimes{"m1": {100, []float64{2000}}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a b.html", "/ok"}}},
			invs:  []Invalidation{inv("I1", d, 1500, "/ok", "/a%20b.html")},
			want:  []string{`item "/a b.html"`, "no accepted invalidation of EDIST (1) covers it", `closest item is "/a%20b.html"`},
		},
		{
			name:  "tag never covered by a wildcard",
			rec:   record(msgTimes{"m1": {100, []float64{2000}}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"#news"}}},
			invs:  []Invalidation{inv("I1", d, 1500, "/*", "#new*")},
			want:  []string{`item "#news"`, "covers it"},
		},
		{
			name:  "created before the send",
			rec:   record(msgTimes{"m1": {1000, []float64{2000}}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a"}}},
			invs:  []Invalidation{inv("I1", d, 900, "/a")},
			want:  []string{"invalidation I1", "created 100ms before the send"},
		},
		{
			name: "created within the send's millisecond",
			// Sent at 1000.4 ms: SentTimestamp says 1000; an invalidation at
			// 1000.6 may predate the send, so it does not count.
			rec:   record(msgTimes{"m1": {1000.4, []float64{2000}}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a"}}},
			invs:  []Invalidation{inv("I1", d, 1000.6, "/a")},
			want:  []string{"invalidation I1", "before the send"},
		},
		{
			name:  "created at the end of the send's millisecond counts",
			rec:   record(msgTimes{"m1": {1000.4, []float64{2000}}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a"}}},
			invs:  []Invalidation{inv("I1", d, 1001, "/a")},
		},
		{
			name:  "created after the delete",
			rec:   record(msgTimes{"m1": {100, []float64{2000}}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a", "/b"}}},
			invs:  []Invalidation{inv("I1", d, 1500, "/a"), inv("I2", d, 2000.001, "/b")},
			want:  []string{`item "/b"`, "invalidation I2", "after the delete"},
		},
		{
			name:  "the later of two deletes is checked too",
			rec:   record(msgTimes{"m1": {100, []float64{2000, 2500}}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a"}}},
			invs:  []Invalidation{inv("I1", d, 1500, "/a")},
		},
		{
			name:  "the earlier of two deletes came before acceptance",
			rec:   record(msgTimes{"m1": {100, []float64{1000, 2500}}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a"}}},
			invs:  []Invalidation{inv("I1", d, 1500, "/a")},
			want:  []string{"deleted 12:00:01.000000", "after the delete"},
		},
		{
			name:  "covered in another distribution only",
			rec:   record(msgTimes{"m1": {100, []float64{2000}}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a"}}},
			invs:  []Invalidation{inv("I1", other, 1500, "/a")},
			want:  []string{"no accepted invalidation of EDIST (0)", "another distribution"},
		},
		{
			name:  "a tenant's message covered by the tenant's invalidation",
			rec:   record(msgTimes{"m1": {100, []float64{2000}}}),
			wants: Wants{"m1": {Dist: d, Tenant: tenant, Items: []string{"/a", "/b"}}},
			invs:  []Invalidation{tenantInv("I1", tenant, 1500, "/a"), tenantInv("I2", tenant, 1600, "/b")},
		},
		{
			name:  "a tenant's message covered only by its distribution's own invalidation",
			rec:   record(msgTimes{"m1": {100, []float64{2000}}}),
			wants: Wants{"m1": {Dist: d, Tenant: tenant, Items: []string{"/a"}}},
			invs:  []Invalidation{inv("I1", d, 1500, "/a")},
			want:  []string{"no accepted invalidation of dt_a (0)", "invalidation I1 of EDIST", "another target"},
		},
		{
			name:  "a tenant's message covered only by a sibling tenant's invalidation",
			rec:   record(msgTimes{"m1": {100, []float64{2000}}}),
			wants: Wants{"m1": {Dist: d, Tenant: tenant, Items: []string{"/a"}}},
			invs:  []Invalidation{tenantInv("I1", sibling, 1500, "/a")},
			want:  []string{"no accepted invalidation of dt_a (0)", "another target"},
		},
		{
			name:  "a distribution's message covered only by a tenant's invalidation",
			rec:   record(msgTimes{"m1": {100, []float64{2000}}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a"}}},
			invs:  []Invalidation{tenantInv("I1", tenant, 1500, "/a")},
			want:  []string{"no accepted invalidation of EDIST (0)", "another target"},
		},
		{
			name:  "a delete the test did not expect",
			rec:   record(msgTimes{"m1": {100, []float64{2000}}, "stray": {100, []float64{150}}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a"}}},
			invs:  []Invalidation{inv("I1", d, 1500, "/a")},
			want:  []string{"message stray", "expected no delete", "body of stray"},
		},
		{
			name:  "an expected message never deleted",
			rec:   record(msgTimes{"m1": {100, []float64{2000}}, "held": {100, nil}}),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a"}}, "held": {Dist: d, Items: []string{"/b"}}},
			invs:  []Invalidation{inv("I1", d, 1500, "/a", "/b")},
			want:  []string{"message held", "never deleted"},
		},
		{
			name:  "ignored by design",
			rec:   record(msgTimes{"test-event": {100, []float64{150}}}),
			wants: Wants{"test-event": {Ignore: "s3:TestEvent"}},
		},
		{
			name:  "dead-lettered whole, copy sent before the delete",
			rec:   record(msgTimes{"p": {100, []float64{300}}}),
			wants: Wants{"p": {DeadLettered: true}},
			dlq:   []Message{dlqCopy("p", "body of p", 250)},
		},
		{
			name:  "dead-lettered without a copy",
			rec:   record(msgTimes{"p": {100, []float64{300}}}),
			wants: Wants{"p": {DeadLettered: true}},
			dlq:   []Message{dlqCopy("other", "body of p", 250)},
			want:  []string{"message p", "no message in the dead-letter queue names it"},
		},
		{
			name:  "dead-letter copy sent after the delete",
			rec:   record(msgTimes{"p": {100, []float64{300}}}),
			wants: Wants{"p": {DeadLettered: true}},
			dlq:   []Message{dlqCopy("p", "body of p", 301)},
			want:  []string{"sent 1ms after the delete"},
		},
		{
			name:  "dead-letter copy of a whole message with another body",
			rec:   record(msgTimes{"p": {100, []float64{300}}}),
			wants: Wants{"p": {DeadLettered: true}},
			dlq:   []Message{dlqCopy("p", "something else", 250)},
			want:  []string{"not the original body"},
		},
		{
			name:  "partly dead-lettered: the copy holds the rejected part, the rest invalidated",
			rec:   record(msgTimes{"p": {100, []float64{2000}}}),
			wants: Wants{"p": {Dist: d, Items: []string{"/ok"}, DeadLettered: true}},
			invs:  []Invalidation{inv("I1", d, 1500, "/ok")},
			dlq:   []Message{dlqCopy("p", `{"paths":["/bad*path"]}`, 250)},
		},
		{
			name: "the proxy could not attribute a delete",
			rec: func() Record {
				r := record(msgTimes{"m1": {100, []float64{2000}}})
				r.UnknownDelete, r.Problems = 1, []string{"ReceiveMessage response: bad JSON"}
				return r
			}(),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a"}}},
			invs:  []Invalidation{inv("I1", d, 1500, "/a")},
			want:  []string{"could not read a body", "never saw received"},
		},
		{
			name: "no SentTimestamp",
			rec: func() Record {
				r := record(msgTimes{"m1": {100, []float64{2000}}})
				delete(r.Sent, "m1")
				return r
			}(),
			wants: Wants{"m1": {Dist: d, Items: []string{"/a"}}},
			invs:  []Invalidation{inv("I1", d, 1500, "/a")},
			want:  []string{"no SentTimestamp"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := Justify(tc.rec, tc.wants, tc.invs, tc.dlq)
			var got []string
			for _, v := range j.Violations {
				got = append(got, v.String())
			}
			if len(tc.want) == 0 {
				if len(got) > 0 {
					t.Fatalf("violations, want none:\n%s", strings.Join(got, "\n"))
				}
				return
			}
			if len(got) == 0 {
				t.Fatalf("no violation, want one mentioning %q", tc.want)
			}
			all := strings.Join(got, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("violations do not mention %q:\n%s", w, all)
				}
			}
		})
	}
}

// fakeTB records what a check reports instead of failing the test.
type fakeTB struct {
	testing.TB
	errors, logs []string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func TestCheckDeletesJustifiedReports(t *testing.T) {
	rec := record(msgTimes{"m1": {1000, []float64{2000}}, "m2": {1000, []float64{2000}}})
	wants := Wants{"m1": {Dist: "E1", Items: []string{"/a"}}, "m2": {Dist: "E1", Items: []string{"/b"}}}
	invs := []Invalidation{{Dist: "E1", ID: "I1", Created: at(1500), Items: []string{"/a"}}, {Dist: "E1", ID: "I0", Created: at(10), Items: []string{"/b"}}}

	f := &fakeTB{TB: t}
	j := CheckDeletesJustified(f, rec, wants, invs)
	if len(f.errors) != 1 || !strings.Contains(f.errors[0], `message m2 item "/b"`) || !strings.Contains(f.errors[0], "invalidation I0") ||
		strings.Contains(f.errors[0], "m1") {
		t.Errorf("reported %q, want one error naming m2's /b and invalidation I0 only", f.errors)
	}
	if j.Deletes != 2 || j.Messages != 2 || j.ByInvalidation != 1 || len(j.Violations) != 1 {
		t.Errorf("justification %+v, want 2 deletes of 2 messages, 1 justified, 1 violation", j)
	}

	f = &fakeTB{TB: t}
	invs[1].Created = at(1999)
	CheckDeletesJustified(f, rec, wants, invs)
	if len(f.errors) != 0 || len(f.logs) != 1 || !strings.Contains(f.logs[0], "2 deletes of 2 messages checked") {
		t.Errorf("errors %q logs %q, want no error and the summary", f.errors, f.logs)
	}
}

func TestRebilled(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	wants := Wants{
		"a": {Dist: "E1", Items: []string{"/home", "/a"}},
		"b": {Dist: "E1", Items: []string{"/home", "/b"}},
		"c": {Dist: "E1", Items: []string{"/home", "#Brand"}},
		"d": {Dist: "E2", Items: []string{"/home"}},
	}
	sent := map[string]time.Time{"a": at(0), "b": at(0), "c": at(10), "d": at(0)}
	invs := []Invalidation{
		{Dist: "E1", ID: "I1", Created: at(5), Items: []string{"/home", "/a"}},
		// /home again: every message wanting it sent before I1 is covered by
		// I1: re-billed. /b was never covered: needed.
		{Dist: "E1", ID: "I2", Created: at(6), Items: []string{"/home", "/b"}},
		// c was sent after I1 and I2: /home is needed again; #brand too (case).
		{Dist: "E1", ID: "I3", Created: at(12), Items: []string{"/home", "#brand"}},
		// Nobody sent before it wants /x/*: re-billed; and /a again: re-billed.
		{Dist: "E1", ID: "I4", Created: at(13), Items: []string{"/x/*", "/a"}},
		// Another distribution's /home is its own.
		{Dist: "E2", ID: "I5", Created: at(7), Items: []string{"/*"}},
	}
	b := Rebilled(wants, sent, invs)
	if b.Billed != 9 || b.Rebilled != 3 {
		t.Fatalf("billed %d, re-billed %d %q; want 9 and 3 (I2's /home, I4's /x/* and /a)", b.Billed, b.Rebilled, b.Examples)
	}
	for i, want := range []string{"/home (I2 ", "/x/* (I4 ", "/a (I4 "} {
		if i >= len(b.Examples) || !strings.HasPrefix(b.Examples[i], want) {
			t.Fatalf("examples %q, want %q first in the %dth", b.Examples, want, i+1)
		}
	}
}
