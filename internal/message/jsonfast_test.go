package message

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzFastPathsMatchStdlib holds the fast paths to encoding/json: on any
// valid JSON in valid UTF-8, splitObject gives the members encoding/json
// gives (a map, so the last of duplicates), with the same raw bytes, or
// declines exactly when encoding/json does not give an object; and
// simpleString / simpleStrings, when they accept a value, give what
// encoding/json decodes from it.
func FuzzFastPathsMatchStdlib(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		` { "paths" : [ "/a" , "/b" ] , "distribution_id" : "E1" } `,
		`{"paths":["/a"],"paths":["/b"]}`,
		`{"pa\u0074hs":["/\u00e9"],"tags":["a\"b"],"x":"\ud800"}`,
		`{"paths":[],"tags":[null],"n":-1.5e3,"t":true,"f":false,"z":null,"o":{"a":[{"b":"}"}]}}`,
		`{"a":"é","b":["ü","\\"],"":""}`,
		`[1]`, `"s"`, `{}`, ` {} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) || !json.Valid(body) {
			return
		}
		var want map[string]json.RawMessage
		stdErr := json.Unmarshal(body, &want)
		got, ok := splitObject(body)
		if stdErr != nil || want == nil {
			if ok {
				t.Fatalf("splitObject(%s) = %v; encoding/json: %v, %v", body, got, want, stdErr)
			}
			return
		}
		if !ok {
			t.Fatalf("splitObject(%s) declined; encoding/json gives %v", body, want)
		}
		gotMap := map[string]json.RawMessage{}
		for _, m := range got {
			gotMap[m.name] = m.value
		}
		if len(gotMap) != len(want) {
			t.Fatalf("splitObject(%s): %d distinct members, encoding/json %d", body, len(gotMap), len(want))
		}
		for k, w := range want {
			if g := got.val(k); !bytes.Equal(g, w) {
				t.Fatalf("splitObject(%s)[%q] = %s, encoding/json %s", body, k, g, w)
			}
			checkSimple(t, w)
		}
	})
}

func checkSimple(t *testing.T, raw json.RawMessage) {
	t.Helper()
	if s, ok := simpleString(raw); ok {
		var want string
		if err := json.Unmarshal(raw, &want); err != nil || s != want {
			t.Fatalf("simpleString(%s) = %q; encoding/json %q, %v", raw, s, want, err)
		}
	}
	if ss, ok := simpleStrings(raw); ok {
		var ptrs []*string
		if err := json.Unmarshal(raw, &ptrs); err != nil {
			t.Fatalf("simpleStrings(%s) = %q; encoding/json: %v", raw, ss, err)
		}
		want := make([]string, len(ptrs))
		for i, p := range ptrs {
			if p == nil {
				t.Fatalf("simpleStrings(%s) accepted a null element", raw)
			}
			want[i] = *p
		}
		if !reflect.DeepEqual(ss, want) {
			t.Fatalf("simpleStrings(%s) = %q; encoding/json %q", raw, ss, want)
		}
	}
}

// The fast paths must also decline what they cannot do, so that the
// fallback reports it as before.
func TestFastPathsDecline(t *testing.T) {
	for _, raw := range []string{`"a\"b"`, `"\u0041"`, `1`, `null`, `"` + "\xff" + `"`} {
		if s, ok := simpleString([]byte(raw)); ok {
			t.Errorf("simpleString(%s) = %q, want declined", raw, s)
		}
	}
	for _, raw := range []string{`["a",null]`, `["a\n"]`, `["a",1]`, `{"a":1}`, `"a"`, `[["a"]]`} {
		if ss, ok := simpleStrings([]byte(raw)); ok {
			t.Errorf("simpleStrings(%s) = %q, want declined", raw, ss)
		}
	}
	if ss, ok := simpleStrings([]byte(` [ ] `)); !ok || ss == nil || len(ss) != 0 {
		t.Errorf("simpleStrings([]) = %#v, %v; want an empty, non-nil slice as encoding/json gives", ss, ok)
	}
	for _, body := range []string{`null`, `[]`, `"x"`, `1`} {
		if m, ok := splitObject([]byte(body)); ok {
			t.Errorf("splitObject(%s) = %v, want declined", body, m)
		}
	}
}

// Up to linearItems items are deduplicated by search, beyond by a map: the
// result is the same first-seen order either way.
func TestItemSetDedupAcrossThreshold(t *testing.T) {
	var s itemSet
	var want []string
	for i := 0; i < 3*linearItems; i++ {
		item := string(rune('a' + i%(2*linearItems)))
		s.add(item)
		if i < 2*linearItems {
			want = append(want, item)
		}
	}
	if !reflect.DeepEqual(s.items, want) {
		t.Fatalf("items %q, want %q", s.items, want)
	}
}
