package paths

import (
	"errors"
	"strings"
	"testing"
)

// FuzzNormalize checks Normalize's promises on any input: it never panics,
// errors are *Error, it is idempotent, and its output holds no byte that
// CloudFront wants encoded, "*" only at the end, and at most MaxLen bytes.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"/index.html", "https://example.com/a b?x=1#f", "/café/ü.html", "/a%20b", "/100%",
		"/%%41", "/~[]{}", "/img/*", "/a*b", " /x ", "", "x", "http://", "/\x00\x7f\xff",
		"/" + strings.Repeat("é", 1500), "HTTPS://h?q", "/a%zz%4",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Normalize(in)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Reason == "" {
				t.Fatalf("Normalize(%q): error %v (%T) is not an *Error with a reason", in, err, err)
			}
			return
		}
		checkClean(t, out)
		if again, err := Normalize(out); err != nil || again != out {
			t.Fatalf("not idempotent: Normalize(%q) = %q; Normalize(that) = %q, %v", in, out, again, err)
		}
	})
}

// FuzzFromKey checks that any key becomes a clean path that Normalize keeps.
func FuzzFromKey(f *testing.F) {
	for _, s := range []string{"index.html", "", "a%41", "my post.html", "a*", "a*b", " x \t", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		out, err := FromKey(key)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("FromKey(%q): error %v is not an *Error", key, err)
			}
			return
		}
		checkClean(t, out)
		if n, err := Normalize(out); err != nil || n != out {
			t.Fatalf("Normalize(FromKey(%q) = %q) = %q, %v", key, out, n, err)
		}
	})
}

// FuzzNormalizeTag checks that accepted tags are idempotent and well formed.
func FuzzNormalizeTag(f *testing.F) {
	for _, s := range []string{"product-42", "#p", "##p", "a,b", "", " x "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeTag(in)
		if err != nil {
			return
		}
		if !IsTag(out) || len(out) < 2 || len(out) > MaxTagLen+1 || out[1] == '#' || strings.ContainsAny(out, ", *") {
			t.Fatalf("NormalizeTag(%q) = %q: malformed", in, out)
		}
		if again, err := NormalizeTag(out); err != nil || again != out {
			t.Fatalf("NormalizeTag not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
		if bare, err := NormalizeTag(out[1:]); err != nil || bare != out { // as a "tags" list carries it
			t.Fatalf("NormalizeTag(%q) = %q, %v; want %q", out[1:], bare, err, out)
		}
	})
}

// checkClean fails unless p is a path CloudFront takes as it is.
func checkClean(t *testing.T, p string) {
	t.Helper()
	if !strings.HasPrefix(p, "/") || len(p) > MaxLen {
		t.Fatalf("output %q: no leading slash or longer than %d", p, MaxLen)
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && i != len(p)-1 {
		t.Fatalf("output %q: '*' before the end", p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && isEscape(p[i:]) {
			i += 2
			continue
		}
		if mustEscape(p[i]) {
			t.Fatalf("output %q: byte %#x at %d should have been encoded", p, p[i], i)
		}
	}
}

// FuzzEncodeMatchesCopy: encode, which returns its input uncopied when
// nothing needs escaping and copies from the first byte that does, agrees
// with the plain byte-by-byte escaping copy in both modes.
func FuzzEncodeMatchesCopy(f *testing.F) {
	for _, s := range []string{"/index.html", "/a b", "/a%20b", "/100%", "/%%41", "/q?x", "/é", "/a%zz", "", " x", "/a b%41 c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, objectKey := range []bool{false, true} {
			if got, want := encode(s, objectKey), escapeCopy(s, objectKey); got != want {
				t.Fatalf("encode(%q, %v) = %q, the escaping copy gives %q", s, objectKey, got, want)
			}
		}
	})
}

// escapeCopy is the reference: every byte looked at and written.
func escapeCopy(s string, objectKey bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && !objectKey && isEscape(s[i:]):
			b.WriteString(s[i : i+3])
			i += 2
		case mustEscape(c) || (objectKey && c == '?'):
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
