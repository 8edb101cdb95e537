// Package paths holds CloudFront's rules for invalidation paths and cache
// tags as pure functions.
//
// CloudFront's rules (CreateInvalidation, API 2020-05-31, "Specifying the
// objects to invalidate" in the CloudFront Developer Guide):
//
//   - A path starts with "/" and is case-sensitive.
//   - "*" is a wildcard and may only be the last character.
//   - A path is at most 4,000 characters (MaxLen).
//   - Non-ASCII characters and the characters RFC 1738 calls unsafe must be
//     percent-encoded (a space is "%20"), and nothing else may be: CloudFront
//     compares the encoded form, so an over-encoded path silently
//     invalidates nothing.
//   - Items starting with "#" are cache tags, not paths.
//
// Normalize turns what producers send (paths, often full URLs, sometimes
// already encoded) into that form. It never double-encodes: "%" followed by
// two hex digits is taken to be an existing escape and kept as it is. It is
// idempotent, so a normalized path can be normalized again safely.
// FromKey is the variant for raw, already-decoded strings such as S3 object
// keys, where every "%" is a literal percent sign.
package paths

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen is the longest invalidation path CloudFront accepts, in characters
// after percent-encoding (CloudFront quota: "Maximum length of a path to
// invalidate: 4,000 characters"). Encoded paths are ASCII, so characters and
// bytes agree.
const MaxLen = 4000

// Tag limits. A cache tag is sent as "#" followed by its name; the name is
// printable ASCII (33–126) without "," (the separator in Cache-Tag headers)
// and without "*", and at most MaxTagLen characters long.
const MaxTagLen = 256

// errInputMax bounds how much of a bad input an error message repeats, so
// that one 1 MiB message cannot flood a log line or a DLQ attribute.
const errInputMax = 200

// unsafeChars are the characters RFC 1738 §2.2 calls unsafe, which CloudFront
// wants percent-encoded. Space, controls and non-ASCII are handled apart.
const unsafeChars = "<>\"#{}|\\^~[]`"

// Error reports an input that cannot be made into a CloudFront path.
type Error struct {
	Input  string // the raw input, untruncated
	Reason string // why it was refused, e.g. `must start with "/"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid path %q: %s", truncate(e.Input, errInputMax), e.Reason)
}

// TagError reports an input that cannot be made into a cache tag.
type TagError struct {
	Input  string // the raw input, untruncated
	Reason string
}

func (e *TagError) Error() string {
	return fmt.Sprintf("invalid tag %q: %s", truncate(e.Input, errInputMax), e.Reason)
}

// Normalize returns raw as a CloudFront invalidation path, or an *Error.
//
// Surrounding whitespace is trimmed. A full http:// or https:// URL is reduced
// to its path and query (host and fragment dropped; an empty path becomes
// "/"). Characters CloudFront wants encoded are percent-encoded with
// uppercase hex; an existing "%XX" escape is kept as it is and a lone "%"
// becomes "%25". Everything else, "?", "&", "=", "+" and "*" included, is
// left alone. Normalize(Normalize(x)) == Normalize(x).
func Normalize(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", &Error{Input: raw, Reason: "empty"}
	}
	return check(raw, encode(urlPath(s), false))
}

// FromKey returns the CloudFront path of a raw object key: "/" + key, with
// every "%" taken literally (encoded as "%25"), since a decoded S3 key holds
// no escapes, and "?" encoded as "%3F": in a key it is part of the object's
// name, and left raw CloudFront would read the rest as a query string
// (faq?.html would invalidate /faq, not the object /faq%3F.html). The result
// is stable under Normalize. Errors are *Error.
func FromKey(key string) (string, error) {
	return check(key, "/"+encode(key, true))
}

// check applies the rules that hold for any encoded path: the leading "/",
// "*" only at the end, and MaxLen.
func check(raw, p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", &Error{Input: raw, Reason: `must start with "/"`}
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && i != len(p)-1 {
		return "", &Error{Input: raw, Reason: `"*" is allowed only as the last character`}
	}
	if len(p) > MaxLen {
		return "", &Error{Input: raw, Reason: fmt.Sprintf(
			"%d characters after encoding, more than CloudFront's limit of %d", len(p), MaxLen)}
	}
	return p, nil
}

// IsWildcard reports whether p is a wildcard path (it ends with "*").
func IsWildcard(p string) bool { return strings.HasSuffix(p, "*") }

// IsTag reports whether item names a cache tag ("#name") rather than a path.
func IsTag(item string) bool { return strings.HasPrefix(item, "#") }

// NormalizeTag returns tag in its item form "#name", in lower case. Leading
// "#" and whitespace are dropped (so "product-42", "#product-42" and
// " # product-42" all give "#product-42"), as is trailing whitespace. The
// name must then be 1..MaxTagLen printable ASCII characters (33–126) other
// than "," and "*". Dropping every leading "#", not just one, is what lets a
// tag survive the round trip through a message's "tags" list, which carries
// names without "#".
//
// CloudFront compares cache tags without case ("#Brand:Acme" invalidates
// what was tagged "brand:acme"), so the worker keeps one spelling of each:
// lower case. Deduplication, coverage and quota then treat two spellings as
// the one item CloudFront bills once. Errors are *TagError.
func NormalizeTag(tag string) (string, error) {
	name := strings.TrimRightFunc(strings.TrimLeftFunc(tag, isTagPrefix), unicode.IsSpace)
	if reason := tagNameProblem(name); reason != "" {
		return "", &TagError{Input: tag, Reason: reason}
	}
	return "#" + asciiLower(name), nil
}

// Canonical returns an item as the worker compares it: a cache tag in lower
// case, a path as it is (paths are case-sensitive). Items of invalidations
// the worker did not make (a person's "#Brand:Acme") go through it before
// they are compared with the worker's own.
func Canonical(item string) string {
	if IsTag(item) {
		return asciiLower(item)
	}
	return item
}

// Covers reports whether an invalidation item by drops what item names:
// the same item (cache tags without case), or a wildcard path whose prefix
// item starts with ("/img/*" covers "/img/a.png" and "/img/sub/*"). A tag
// never covers a path, a path never covers a tag, and tags have no
// wildcards (CloudFront: "You can't use wildcards with cache tags").
// Both are expected in canonical form (see Canonical).
func Covers(by, item string) bool {
	if by == item {
		return true
	}
	if IsTag(by) || IsTag(item) || !IsWildcard(by) {
		return false
	}
	return strings.HasPrefix(item, by[:len(by)-1])
}

// asciiLower lower-cases ASCII letters without allocating when there are
// none to change (tag names are ASCII by tagNameProblem).
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func isTagPrefix(r rune) bool { return r == '#' || unicode.IsSpace(r) }

func tagNameProblem(name string) string {
	switch {
	case name == "":
		return "empty"
	case len(name) > MaxTagLen:
		return fmt.Sprintf("%d characters, more than the limit of %d", len(name), MaxTagLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ',' || c == '*' {
			return fmt.Sprintf("character %q not allowed (printable ASCII other than \",\" and \"*\" only)", rune(c))
		}
	}
	return ""
}

// urlPath reduces an http(s) URL to its path and query; anything else is
// returned unchanged. It is done by hand, not with net/url, because producers
// send URLs net/url refuses (raw spaces, stray "%") that are still fine here.
func urlPath(s string) string {
	rest, ok := cutScheme(s)
	if !ok {
		return s
	}
	rest, _, _ = strings.Cut(rest, "#") // the fragment never reaches a server
	i := strings.IndexAny(rest, "/?")
	switch {
	case i < 0:
		return "/"
	case rest[i] == '?':
		return "/" + rest[i:]
	}
	return rest[i:]
}

// cutScheme strips a case-insensitive "http://" or "https://" prefix.
func cutScheme(s string) (string, bool) {
	for _, scheme := range []string{"http://", "https://"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			return s[len(scheme):], true
		}
	}
	return s, false
}

// encode percent-encodes what CloudFront wants encoded. With objectKey
// every "%" and "?" is encoded; otherwise a "%" that starts a valid "%XX"
// escape is kept as it is. Most paths need nothing: they come back as they
// are, uncopied; the copy starts at the first byte to escape.
func encode(s string, objectKey bool) string {
	var b strings.Builder
	copied := 0 // s[:copied] is in b, once the copy has started
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && !objectKey && isEscape(s[i:]):
			i += 2 // kept as it is
		case mustEscape(c) || (objectKey && c == '?'):
			if b.Cap() == 0 {
				b.Grow(len(s) + 8)
			}
			b.WriteString(s[copied:i])
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
			copied = i + 1
		}
	}
	if copied == 0 {
		return s
	}
	b.WriteString(s[copied:])
	return b.String()
}

const upperHex = "0123456789ABCDEF"

// mustEscape reports whether byte c may not appear raw in a CloudFront path:
// non-ASCII (UTF-8) bytes, ASCII controls, space, "%" and the RFC 1738
// unsafe characters. ("%" may appear only as the start of a "%XX" escape.)
func mustEscape(c byte) bool {
	return c >= 0x80 || c <= 0x20 || c == 0x7f || c == '%' ||
		strings.IndexByte(unsafeChars, c) >= 0
}

// isEscape reports whether s starts with "%" and two hex digits.
func isEscape(s string) bool {
	return len(s) >= 3 && s[0] == '%' && isHex(s[1]) && isHex(s[2])
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// truncate shortens s to at most n bytes, cut at a rune boundary, marking the
// cut with "…", for repeating untrusted input in messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
