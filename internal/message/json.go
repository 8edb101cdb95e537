package message

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// object is a JSON object with its members left raw. Members are looked up
// by exact name: encoding/json matches struct fields case-insensitively,
// which would let a v1 field "type" pass for SNS's "Type". A slice, not a
// map: bodies have a handful of members, and a linear lookup of those beats
// building a map for every message.
type object []member

type member struct {
	name  string
	value json.RawMessage
}

// val returns member name's raw value, nil when absent. When a name occurs
// twice the last one counts, as encoding/json has it.
func (m object) val(name string) json.RawMessage {
	v, _ := m.lookup(name)
	return v
}

func (m object) lookup(name string) (json.RawMessage, bool) {
	for i := len(m) - 1; i >= 0; i-- {
		if m[i].name == name {
			return m[i].value, true
		}
	}
	return nil, false
}

type shape string

const (
	shapeUnknown     shape = "unknown"
	shapeV1          shape = "a v1 message"
	shapeSNS         shape = "an SNS notification"
	shapeS3          shape = "an S3 event"
	shapeEventBridge shape = "an EventBridge event"
)

var utf8BOM = []byte("\xef\xbb\xbf")

// parseObject parses body as one JSON object in valid UTF-8. The members
// may alias body (splitObject), which must not change while they are used.
func parseObject(body []byte) (object, *Rejection) {
	body = bytes.TrimPrefix(body, utf8BOM)
	if !utf8.Valid(body) {
		return nil, reject(CodeMalformed, "body is not valid UTF-8")
	}
	if json.Valid(body) {
		if m, ok := splitObject(body); ok {
			return m, nil
		}
	}
	var byName map[string]json.RawMessage
	if err := json.Unmarshal(body, &byName); err != nil || byName == nil {
		return nil, reject(CodeMalformed, "body is not a JSON object: %s", describe(err))
	}
	m := make(object, 0, len(byName))
	for k, v := range byName {
		m = append(m, member{k, v})
	}
	return m, nil
}

func describe(err error) string {
	if err == nil {
		return "null"
	}
	return err.Error()
}

// shapeOf tells the formats apart by the members they must have, in the
// order the package documentation gives.
func shapeOf(m object) shape {
	switch {
	case m.has("distribution_id") || m.has("distribution_tenant_id") || m.has("distribution") || m.has("paths") || m.has("tags"):
		return shapeV1
	case m.has("Type") && m.has("Message"):
		return shapeSNS
	case m.has("Records") || m.has("Service") && m.has("Event"):
		return shapeS3
	case m.has("source") && m.has("detail-type"):
		return shapeEventBridge
	}
	return shapeUnknown
}

func (m object) has(name string) bool { _, ok := m.lookup(name); return ok }

// present reports whether member name exists and is not null.
func (m object) present(name string) bool {
	v, ok := m.lookup(name)
	return ok && string(bytes.TrimSpace(v)) != "null"
}

// str returns member name as a string; "" when absent or null.
func (m object) str(name string) (string, *Rejection) {
	if !m.present(name) {
		return "", nil
	}
	raw := m.val(name)
	if v, ok := simpleString(raw); ok {
		return v, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", reject(CodeMalformed, "%q must be a string", name)
	}
	return s, nil
}

// strs returns member name as a list of strings; nil when absent or null.
func (m object) strs(name string) ([]string, *Rejection) {
	if !m.present(name) {
		return nil, nil
	}
	raw := m.val(name)
	if v, ok := simpleStrings(raw); ok {
		return v, nil
	}
	var ptrs []*string
	if err := json.Unmarshal(raw, &ptrs); err != nil {
		return nil, reject(CodeMalformed, "%q must be an array of strings", name)
	}
	out := make([]string, len(ptrs))
	for i, p := range ptrs {
		if p == nil {
			return nil, reject(CodeMalformed, "%q must be an array of strings (element %d is null)", name, i)
		}
		out[i] = *p
	}
	return out, nil
}
