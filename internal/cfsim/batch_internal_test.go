package cfsim

import (
	"strings"
	"testing"
	"time"
)

func TestValidatePath(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/index.html", true},
		{"/*", true},
		{"/images/image*", true},
		{"/a%20b", true},
		{"/caf%C3%A9", true},
		{"/a?b=c&d", true},
		{"/" + strings.Repeat("x", MaxPathLen-1), true},
		{"/" + strings.Repeat("x", MaxPathLen), false},
		{"#product:electronics", true},
		{"#" + strings.Repeat("t", MaxTagLen), true},
		{"#" + strings.Repeat("t", MaxTagLen+1), false},
		{"#", false},
		{"#a,b", false},
		{"#a*", false},
		{"#a b", false},
		{"", false},
		{"index.html", false},
		{"*", false},
		{"/a*b", false},
		{"/**", false},
		{"/a b", false},
		{"/a\x7f", false},
		{"/a\nb", false},
		{"/café", false},
	} {
		if err := validatePath(tc.path); (err == nil) != tc.ok {
			t.Errorf("validatePath(%q) = %v, want ok=%v", tc.path, err, tc.ok)
		}
	}
}

func TestParseBatch(t *testing.T) {
	const ns = `xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"`
	for _, tc := range []struct {
		name, body, code string
	}{
		{"ok", `<InvalidationBatch ` + ns + `><Paths><Quantity>2</Quantity><Items><Path>/a</Path><Path>/b*</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch>`, ""},
		{"no namespace", `<InvalidationBatch><CallerReference>r</CallerReference><Paths><Quantity>1</Quantity><Items><Path>/a</Path></Items></Paths></InvalidationBatch>`, ""},
		{"empty body", "  \n", "MissingBody"},
		{"malformed", `<InvalidationBatch><Paths>`, "InvalidArgument"},
		{"wrong root", `<Batch/>`, "InvalidArgument"},
		{"quantity not a number", `<InvalidationBatch><Paths><Quantity>x</Quantity></Paths><CallerReference>r</CallerReference></InvalidationBatch>`, "InvalidArgument"},
		{"no reference", `<InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/a</Path></Items></Paths></InvalidationBatch>`, "InvalidArgument"},
		{"no quantity", `<InvalidationBatch><Paths><Items><Path>/a</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch>`, "InvalidArgument"},
		{"quantity mismatch", `<InvalidationBatch><Paths><Quantity>2</Quantity><Items><Path>/a</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch>`, "InconsistentQuantities"},
		{"no paths", `<InvalidationBatch><Paths><Quantity>0</Quantity></Paths><CallerReference>r</CallerReference></InvalidationBatch>`, "InvalidArgument"},
	} {
		b, err := parseBatch([]byte(tc.body))
		code := ""
		if err != nil {
			code = err.code
		}
		if code != tc.code {
			t.Errorf("%s: code %q, want %q (%v)", tc.name, code, tc.code, err)
		}
		if tc.name == "ok" && (b.ref != "r" || b.files != 1 || b.wildcards != 1) {
			t.Errorf("ok: parsed %+v", b)
		}
	}
}

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newTokenBucket(2, 3, t0)
	for i := range 3 {
		if !b.take(t0) {
			t.Fatalf("burst request %d refused", i)
		}
	}
	if b.take(t0) {
		t.Fatal("fourth request in the same instant passed")
	}
	if !b.take(t0.Add(500*time.Millisecond)) || b.take(t0.Add(500*time.Millisecond)) {
		t.Fatal("half a second at 2/s should refill exactly one token")
	}
	if n := countTakes(b, t0.Add(time.Hour)); n != 3 {
		t.Fatalf("after an hour %d tokens, want the burst of 3", n)
	}
}

func countTakes(b *tokenBucket, at time.Time) int {
	n := 0
	for b.take(at) {
		n++
	}
	return n
}

func TestPage(t *testing.T) {
	d := newResource(kindDistribution, "E1", "", &pool{})
	now := time.Unix(0, 0)
	taken := map[string]bool{}
	for _, ref := range []string{"a", "b", "c"} {
		id := newInvalidationID(taken)
		taken[id] = true
		d.add(id, batch{ref: ref, paths: []string{"/x"}, files: 1}, now, 0)
	}
	ids := func(p []*invalidation) (s []string) {
		for _, inv := range p {
			s = append(s, inv.ref)
		}
		return s
	}
	p, next, _ := d.page("", 2)
	if got := strings.Join(ids(p), ""); got != "cb" || next != p[1].id {
		t.Fatalf("first page %s next %q", got, next)
	}
	p, next, _ = d.page(next, 2)
	if got := strings.Join(ids(p), ""); got != "a" || next != "" {
		t.Fatalf("second page %s next %q", got, next)
	}
	p, next, _ = d.page(p[0].id, 2)
	if len(p) != 0 || next != "" {
		t.Fatalf("after the oldest: %v %q", ids(p), next)
	}
}
