package message

// Fast paths for the JSON the worker sees all day: one flat object whose
// values are plain strings, arrays of plain strings, numbers or literals.
// encoding/json decodes such a body through reflection, copying every
// member into a json.RawMessage and scanning each value twice more when it
// is read (checkValid, then decode): about two thirds of Decode's time and
// most of its allocations (BenchmarkDecode/v1: 43 allocations).
//
// Each fast path gives exactly what encoding/json would, or declines (ok
// false) and the caller falls back to encoding/json, which then also
// produces the error messages. They are only used on input json.Valid
// accepted and that is valid UTF-8, so they need not detect malformed JSON,
// only recognise the easy cases: a string without escapes is its bytes; any
// backslash, null element or other shape declines. FuzzFastPathsMatchStdlib
// holds them to encoding/json's results.

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// splitObject splits a JSON object that json.Valid accepted into its
// members, the values left raw (and aliasing body), in order, duplicates
// included (object.lookup lets the last one win, as encoding/json does).
// ok is false when body is not an object (e.g. null or an array).
func splitObject(body []byte) (m object, ok bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	m = make(object, 0, 4)
	i = skipSpace(body, i+1)
	if body[i] == '}' {
		return m, true
	}
	for {
		// body[i] is the '"' of a key: valid JSON has nothing else here.
		end := stringEnd(body, i)
		key, ok := knownKey(body[i+1 : end-1])
		if !ok {
			if key, ok = simpleString(body[i:end]); !ok {
				if err := json.Unmarshal(body[i:end], &key); err != nil {
					return nil, false
				}
			}
		}
		i = skipSpace(body, end)
		i = skipSpace(body, i+1) // past ':'
		end = valueEnd(body, i)
		m = append(m, member{key, json.RawMessage(body[i:end:end])})
		i = skipSpace(body, end)
		if body[i] == '}' {
			return m, true
		}
		i = skipSpace(body, i+1) // past ','
	}
}

// knownKey returns the member names the decoder looks up as constants, so
// that the common keys cost no allocation (the switch on string(b) does not
// allocate).
func knownKey(b []byte) (string, bool) {
	switch string(b) {
	case "distribution_id":
		return "distribution_id", true
	case "distribution":
		return "distribution", true
	case "paths":
		return "paths", true
	case "tags":
		return "tags", true
	case "version":
		return "version", true
	case "Type":
		return "Type", true
	case "Message":
		return "Message", true
	case "Records":
		return "Records", true
	}
	return "", false
}

var quoteByte = []byte{'"'}

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the string starting at b[i] == '"'.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++ // the escaped byte cannot end the string
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// valueEnd returns the index just past the JSON value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	// A number or a literal: it runs until a delimiter.
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// simpleString returns the value of a JSON string literal raw that has no
// escapes and is valid UTF-8 (encoding/json would replace invalid bytes).
func simpleString(raw []byte) (string, bool) {
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return "", false
	}
	s := raw[1 : n-1]
	for _, c := range s {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(s) {
		return "", false
	}
	return string(s), true
}

// simpleStrings returns the elements of a JSON array of simple strings (see
// simpleString), or ok false for anything else (null elements included).
func simpleStrings(raw []byte) (out []string, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return nil, false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return []string{}, skipSpace(raw, i+1) == len(raw)
	}
	out = make([]string, 0, bytes.Count(raw, quoteByte)/2) // at most one element per two quotes
	for i < len(raw) {
		if raw[i] != '"' {
			return nil, false
		}
		end := stringEnd(raw, i)
		s, ok := simpleString(raw[i:end])
		if !ok {
			return nil, false
		}
		out = append(out, s)
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return nil, false
		}
		switch raw[i] {
		case ']':
			return out, skipSpace(raw, i+1) == len(raw)
		case ',':
			i = skipSpace(raw, i+1)
		default:
			return nil, false
		}
	}
	return nil, false
}
