package message

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// object is a JSON object with its members left raw. Members are looked up
// by exact name: encoding/json matches struct fields case-insensitively,
// which would let a v1 field "type" pass for SNS's "Type".
type object map[string]json.RawMessage

type shape string

const (
	shapeUnknown     shape = "unknown"
	shapeV1          shape = "a v1 message"
	shapeSNS         shape = "an SNS notification"
	shapeS3          shape = "an S3 event"
	shapeEventBridge shape = "an EventBridge event"
)

var utf8BOM = []byte("\xef\xbb\xbf")

// parseObject parses body as one JSON object in valid UTF-8.
func parseObject(body []byte) (object, *Rejection) {
	body = bytes.TrimPrefix(body, utf8BOM)
	if !utf8.Valid(body) {
		return nil, reject(CodeMalformed, "body is not valid UTF-8")
	}
	var m object
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, reject(CodeMalformed, "body is not a JSON object: %s", describe(err))
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

func (m object) has(name string) bool { _, ok := m[name]; return ok }

// present reports whether member name exists and is not null.
func (m object) present(name string) bool {
	v, ok := m[name]
	return ok && string(bytes.TrimSpace(v)) != "null"
}

// str returns member name as a string; "" when absent or null.
func (m object) str(name string) (string, *Rejection) {
	var s string
	if !m.present(name) {
		return "", nil
	}
	if err := json.Unmarshal(m[name], &s); err != nil {
		return "", reject(CodeMalformed, "%q must be a string", name)
	}
	return s, nil
}

// strs returns member name as a list of strings; nil when absent or null.
func (m object) strs(name string) ([]string, *Rejection) {
	var ptrs []*string
	if !m.present(name) {
		return nil, nil
	}
	if err := json.Unmarshal(m[name], &ptrs); err != nil {
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
