package message

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/acme/cf-invalidator/internal/paths"
)

// s3Record is the part of an S3 event notification record we use
// (S3 User Guide, "Event message structure").
type s3Record struct {
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
	S3          struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key string `json:"key"`
		} `json:"object"`
	} `json:"s3"`
}

// decodeS3 decodes an S3 event notification: {"Records": [...]}, or the
// s3:TestEvent S3 sends when notifications are configured.
func (d *Decoder) decodeS3(m object) (Decoded, *Rejection) {
	out := Decoded{Format: "s3"}
	if !m.has("Records") {
		return testEvent(m)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(m.val("Records"), &raws); err != nil {
		return out, reject(CodeMalformed, `"Records" must be an array of objects`)
	}
	switch {
	case len(raws) == 0:
		return out, reject(CodeNoPaths, "S3 event without records")
	case len(raws) > d.max:
		return out, reject(CodeTooManyPaths, "%d S3 records, more than the limit of %d", len(raws), d.max)
	}
	var b s3Batch
	for _, raw := range raws {
		if rej := d.addRecord(&b, raw); rej != nil {
			return out, rej
		}
	}
	return b.result(out)
}

// testEvent handles an S3 event without records: only s3:TestEvent is known.
func testEvent(m object) (Decoded, *Rejection) {
	out := Decoded{Format: "s3"}
	event, rej := m.str("Event")
	switch {
	case rej != nil:
		return out, rej
	case event == "s3:TestEvent":
		out.Ignore, out.IgnoreCode, out.IgnoreReason = true, IgnoreTestEvent, "s3:TestEvent"
		return out, nil
	}
	return out, reject(CodeUnsupported, "S3 message with Event %s and no records", quote(event))
}

// addRecord decodes one record into b. Only a record that is not an S3
// record at all refuses the whole message.
func (d *Decoder) addRecord(b *s3Batch, raw json.RawMessage) *Rejection {
	var r s3Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return reject(CodeMalformed, "S3 record is not an object of the expected shape: %v", err)
	}
	if !strings.HasSuffix(r.EventSource, ":s3") { // "aws:s3"; S3-compatible stores send "minio:s3" etc.
		return reject(CodeUnsupported, "record with eventSource %s is not an S3 event", quote(r.EventSource))
	}
	if r.S3.Bucket.Name == "" || r.S3.Object.Key == "" {
		return reject(CodeMalformed, "S3 record without bucket name or object key")
	}
	if !changesContent(strings.TrimPrefix(r.EventName, "s3:")) {
		b.skipped = append(b.skipped, r.EventName)
		return nil
	}
	// S3 form-encodes keys in notifications ("red flower.jpg" arrives as
	// "red+flower.jpg"; S3 User Guide, "Event message structure"), hence
	// QueryUnescape, which turns "+" into a space.
	key, err := url.QueryUnescape(r.S3.Object.Key)
	if err != nil {
		key, err = r.S3.Object.Key, &paths.Error{Input: key, Reason: "object key is not form-encoded: " + err.Error()}
	}
	b.add(raw, r.S3.Bucket.Name, r.S3.Object.Key, d.objectPaths(&b.targets, r.S3.Bucket.Name, key, err))
	return nil
}

// changesContent reports whether an S3 event name means the object's
// content changed: ObjectCreated:* and ObjectRemoved:*. Restores, tagging,
// ACL, replication and lifecycle transitions leave what CloudFront serves
// as it was.
func changesContent(eventName string) bool {
	return strings.HasPrefix(eventName, "ObjectCreated:") || strings.HasPrefix(eventName, "ObjectRemoved:")
}

// s3Batch collects the outcome of a message's records.
type s3Batch struct {
	targets  targetSet
	skipped  []string // event names of records that change nothing
	relevant int
	outside  int           // records of a mapped bucket outside its prefixes
	bad      [2]badRecords // 0: unmapped bucket, 1: invalid path
}

// badRecords are records refused for one reason, kept raw for the DLQ body.
type badRecords struct {
	raws  []json.RawMessage
	items []string // "s3://bucket/key", key as in the event
	first error
	dists map[string]bool // distributions the failures were for
}

func (b *s3Batch) add(raw json.RawMessage, bucket, key string, o objectOutcome) {
	if !o.mapped && o.known {
		b.outside++
		b.skipped = append(b.skipped, "outside every prefix of bucket "+quote(bucket)+": "+quote(key))
		return
	}
	b.relevant++
	item := "s3://" + bucket + "/" + key
	switch {
	case !o.mapped:
		b.bad[0].add(raw, item, fmt.Errorf("bucket %s with key %s is not mapped to a distribution", quote(bucket), quote(key)), "")
	case o.err != nil:
		b.bad[1].add(raw, item, o.err, o.errDist)
	}
}

func (r *badRecords) add(raw json.RawMessage, item string, err error, dist string) {
	if r.first == nil {
		r.first = err
	}
	if r.dists == nil {
		r.dists = make(map[string]bool)
	}
	r.raws, r.items, r.dists[dist] = append(r.raws, raw), append(r.items, item), true
}

// result turns the batch into the decoded message or a whole-message rejection.
func (b *s3Batch) result(out Decoded) (Decoded, *Rejection) {
	if b.relevant == 0 {
		out.Ignore, out.IgnoreCode = true, IgnoreNoContentChange
		if b.outside > 0 {
			out.IgnoreCode = IgnoreOutsidePrefix
		}
		out.IgnoreReason = "no ObjectCreated/ObjectRemoved records for a mapped prefix: " + strings.Join(b.skipped, ", ")
		return out, nil
	}
	unmapped, invalid := b.bad[0].rejection(CodeUnmappedBucket), b.bad[1].rejection(CodeInvalidPath)
	if len(b.targets.list) == 0 {
		return out, whole(unmapped, invalid)
	}
	out.Targets = b.targets.list
	for _, r := range []*Rejection{unmapped, invalid} {
		if r != nil {
			out.Rejected = append(out.Rejected, *r)
		}
	}
	return out, nil
}

// whole merges the rejections of a message none of whose records was usable.
func whole(unmapped, invalid *Rejection) *Rejection {
	switch {
	case unmapped == nil:
		invalid.Body = nil
		return invalid
	case invalid == nil:
		unmapped.Body = nil
		return unmapped
	}
	// Records were mapped but their paths invalid: that is the deeper fault.
	return &Rejection{
		Code:   CodeInvalidPath,
		Reason: invalid.Reason + "; " + unmapped.Reason,
		Items:  append(invalid.Items, unmapped.Items...),
	}
}

// rejection describes r with a DLQ body holding just its records, so a
// redrive after a config fix decodes exactly those records again.
func (r *badRecords) rejection(code string) *Rejection {
	if len(r.raws) == 0 {
		return nil
	}
	body, _ := json.Marshal(struct {
		Records []json.RawMessage `json:"Records"`
	}{r.raws}) // raw records were parsed from JSON: cannot fail
	rej := &Rejection{
		Code:   code,
		Reason: fmt.Sprintf("%d S3 record(s); first: %v", len(r.raws), r.first),
		Items:  r.items,
		Body:   body,
	}
	if len(r.dists) == 1 {
		for id := range r.dists {
			rej.DistributionID = id
		}
	}
	return rej
}
