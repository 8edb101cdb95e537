package paths

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	long := "/" + strings.Repeat("a", MaxLen-1)
	tests := []struct {
		name, in, want, reason string // reason != "" means an error containing it
	}{
		{name: "plain", in: "/index.html", want: "/index.html"},
		{name: "root", in: "/", want: "/"},
		{name: "trim", in: " \t/a.html\n", want: "/a.html"},
		{name: "empty", in: "", reason: "empty"},
		{name: "blank", in: " \t\r\n", reason: "empty"},
		{name: "no leading slash", in: "index.html", reason: `must start with "/"`},
		{name: "relative dot", in: "./a", reason: `must start with "/"`},
		{name: "https URL", in: "https://www.example.com/blog/post.html", want: "/blog/post.html"},
		{name: "http URL upper scheme", in: "HTTP://example.com/a", want: "/a"},
		{name: "URL no path", in: "https://example.com", want: "/"},
		{name: "URL query no path", in: "https://example.com?x=1", want: "/?x=1"},
		{name: "URL query kept fragment dropped", in: "https://example.com/a?b=1&c=2#frag", want: "/a?b=1&c=2"},
		{name: "URL userinfo port", in: "https://u:p@example.com:8443/x", want: "/x"},
		{name: "URL fragment only", in: "https://example.com#top", want: "/"},
		{name: "URL with space", in: "https://example.com/a b", want: "/a%20b"},
		{name: "other scheme", in: "ftp://example.com/a", reason: `must start with "/"`},
		{name: "space", in: "/my file.html", want: "/my%20file.html"},
		{name: "non-ASCII", in: "/café/ü.html", want: "/caf%C3%A9/%C3%BC.html"},
		{name: "emoji", in: "/😀", want: "/%F0%9F%98%80"},
		{name: "existing escape kept", in: "/a%20b", want: "/a%20b"},
		{name: "lowercase escape kept", in: "/caf%c3%a9", want: "/caf%c3%a9"},
		{name: "escaped slash kept", in: "/a%2Fb", want: "/a%2Fb"},
		{name: "lone percent", in: "/100%", want: "/100%25"},
		{name: "percent one hex", in: "/a%4", want: "/a%254"},
		{name: "percent non-hex", in: "/a%zz", want: "/a%25zz"},
		{name: "percent before escape", in: "/%%41", want: "/%25%41"},
		{name: "tilde", in: "/~user/", want: "/%7Euser/"},
		{name: "brackets braces", in: "/a[1]{2}", want: "/a%5B1%5D%7B2%7D"},
		{name: "all unsafe", in: "/<>\"#{}|\\^~[]`", want: "/%3C%3E%22%23%7B%7D%7C%5C%5E%7E%5B%5D%60"},
		{name: "controls", in: "/a\x00b\x7fc\td", want: "/a%00b%7Fc%09d"},
		{name: "hash in path", in: "/a#b", want: "/a%23b"},
		{name: "query kept", in: "/search?q=a+b&lang=en", want: "/search?q=a+b&lang=en"},
		{name: "reserved kept", in: "/a:b@c!$'()*", want: "/a:b@c!$'()*"},
		{name: "commas semicolons", in: "/a,b;c=d", want: "/a,b;c=d"},
		{name: "wildcard", in: "/img/*", want: "/img/*"},
		{name: "wildcard alone", in: "/*", want: "/*"},
		{name: "star in middle", in: "/a*/b", reason: `"*" is allowed only as the last character`},
		{name: "two stars", in: "/a**", reason: `"*" is allowed only as the last character`},
		{name: "max length", in: long, want: long},
		{name: "too long", in: long + "a", reason: "more than CloudFront's limit of 4000"},
		{name: "too long after encoding", in: "/" + strings.Repeat("é", 1000), reason: "6001 characters"},
		{name: "protocol-relative is a path", in: "//cdn/a", want: "//cdn/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if tt.reason != "" {
				assertError(t, err, tt.in, tt.reason)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if again, err := Normalize(got); err != nil || again != got {
				t.Fatalf("not idempotent: Normalize(%q) = %q, %v", got, again, err)
			}
		})
	}
}

func assertError(t *testing.T, err error, in, reason string) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("Normalize(%q): error %v (%T), want *Error", in, err, err)
	}
	if pe.Input != in || !strings.Contains(pe.Reason, reason) {
		t.Fatalf("Normalize(%q): got %+v, want reason containing %q", in, pe, reason)
	}
}

func TestFromKey(t *testing.T) {
	tests := []struct{ key, want, reason string }{
		{key: "index.html", want: "/index.html"},
		{key: "", want: "/"},
		{key: "blog/", want: "/blog/"},
		{key: "100%", want: "/100%25"},
		{key: "a%41", want: "/a%2541"}, // a literal "%41" in a key is not an escape
		{key: "my post é.html", want: "/my%20post%20%C3%A9.html"},
		{key: "trailing ", want: "/trailing%20"}, // not trimmed: it is part of the key
		{key: "a+b", want: "/a+b"},
		{key: "faq?.html", want: "/faq%3F.html"}, // "?" is part of the object name, not a query
		{key: "a*", want: "/a*"},
		{key: "a*b", reason: `"*" is allowed only`},
		{key: strings.Repeat("a", MaxLen), reason: "4001 characters"},
	}
	for _, tt := range tests {
		got, err := FromKey(tt.key)
		if tt.reason != "" {
			assertError(t, err, tt.key, tt.reason)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("FromKey(%q) = %q, %v; want %q", tt.key, got, err, tt.want)
		}
		if n, err := Normalize(got); err != nil || n != got {
			t.Errorf("Normalize(FromKey(%q)) = %q, %v; want it unchanged", tt.key, n, err)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := Normalize("a b")
	if got, want := err.Error(), `invalid path "a b": must start with "/"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, err = Normalize(strings.Repeat("é", 1000)) // 2000 bytes, no leading "/"
	msg := err.Error()
	if len(msg) > 300 || !strings.Contains(msg, "…") {
		t.Errorf("Error() not truncated (%d bytes): %.80s", len(msg), msg)
	}
	if !strings.HasPrefix(msg, `invalid path "éé`) || strings.Contains(msg, `\x`) {
		t.Errorf("Error() cut inside a rune: %.80s", msg)
	}
}

func TestIsWildcardIsTag(t *testing.T) {
	for in, want := range map[string]bool{"/a/*": true, "/*": true, "/a": false, "/a*b": false, "": false} {
		if got := IsWildcard(in); got != want {
			t.Errorf("IsWildcard(%q) = %v", in, got)
		}
	}
	for in, want := range map[string]bool{"#tag": true, "#": true, "/a#b": false, "tag": false, "": false} {
		if got := IsTag(in); got != want {
			t.Errorf("IsTag(%q) = %v", in, got)
		}
	}
}

func TestNormalizeTag(t *testing.T) {
	tests := []struct{ in, want, reason string }{
		{in: "product-42", want: "#product-42"},
		{in: "#product-42", want: "#product-42"},
		{in: "  product-42\n", want: "#product-42"},
		{in: "a#b!~", want: "#a#b!~"},
		{in: "Brand:Acme", want: "#brand:acme"}, // CloudFront compares tags without case
		{in: "#PRODUCT-42", want: "#product-42"},
		{in: strings.Repeat("t", MaxTagLen), want: "#" + strings.Repeat("t", MaxTagLen)},
		{in: "#" + strings.Repeat("t", MaxTagLen+1), reason: "257 characters"},
		{in: "", reason: "empty"},
		{in: "#", reason: "empty"},
		{in: "##x", want: "#x"},
		{in: " # x ", want: "#x"},
		{in: "#\u00a0x", want: "#x"},
		{in: "# #", reason: "empty"},
		{in: "x y", reason: `' '`},
		{in: "a,b", reason: `','`},
		{in: "a*", reason: `'*'`},
		{in: "a b", reason: `' '`},
		{in: "café", reason: "not allowed"},
		{in: "a\x7f", reason: "not allowed"},
	}
	for _, tt := range tests {
		got, err := NormalizeTag(tt.in)
		if tt.reason == "" {
			if err != nil || got != tt.want {
				t.Errorf("NormalizeTag(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if again, err := NormalizeTag(got); err != nil || again != got {
				t.Errorf("NormalizeTag not idempotent on %q: %q, %v", got, again, err)
			}
			continue
		}
		var te *TagError
		if !errors.As(err, &te) || te.Input != tt.in || !strings.Contains(te.Reason, tt.reason) {
			t.Errorf("NormalizeTag(%q) = %q, %v; want *TagError with reason containing %q", tt.in, got, err, tt.reason)
		}
	}
}

func TestCovers(t *testing.T) {
	for _, tt := range []struct {
		by, item string
		want     bool
	}{
		{"/a.html", "/a.html", true},
		{"/a.html", "/a.htm", false},
		{"/img/*", "/img/a.png", true},
		{"/img/*", "/img/sub/*", true},
		{"/img/*", "/img/*", true},
		{"/img/*", "/im/*", false},
		{"/im*", "/img/a.png", true},
		{"/*", "/", true},
		{"/*", "#tag", false},   // a wildcard never covers a tag
		{"#tag", "#tag", true},  // canonical tags compare equal
		{"#ta*", "#tag", false}, // tags have no wildcards
		{"/a", "/A", false},     // paths are case-sensitive
		{"/img/a.png", "/img/*", false},
	} {
		if got := Covers(tt.by, tt.item); got != tt.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tt.by, tt.item, got, tt.want)
		}
	}
	if got := Canonical("#Brand:Acme"); got != "#brand:acme" {
		t.Errorf("Canonical(#Brand:Acme) = %q", got)
	}
	if got := Canonical("/Brand/Acme"); got != "/Brand/Acme" {
		t.Errorf("Canonical keeps paths: %q", got)
	}
}
