package message

import "encoding/json"

// ebDetail is the part of an EventBridge S3 event's "detail" we use
// (S3 User Guide, "EventBridge event message structure").
type ebDetail struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key string `json:"key"`
	} `json:"object"`
}

// decodeEventBridge decodes an S3 event delivered by EventBridge:
// {"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":…},"object":{"key":…}}}.
// One event names one object, so its problems refuse the whole message.
func (d *Decoder) decodeEventBridge(m object) (Decoded, *Rejection) {
	source, rej := m.str("source")
	if rej != nil || source != "aws.s3" {
		return Decoded{}, firstRejection(rej, reject(CodeUnsupported, "EventBridge event from source %s is not supported", quote(source)))
	}
	out := Decoded{Format: "eventbridge/s3"}
	detailType, rej := m.str("detail-type")
	switch {
	case rej != nil:
		return out, rej
	case detailType != "Object Created" && detailType != "Object Deleted":
		out.Ignore, out.IgnoreCode = true, IgnoreNoContentChange
		out.IgnoreReason = "EventBridge " + quote(detailType) + " does not change content"
		return out, nil
	}
	var detail ebDetail
	if err := json.Unmarshal(m.val("detail"), &detail); err != nil || detail.Bucket.Name == "" || detail.Object.Key == "" {
		return out, reject(CodeMalformed, `EventBridge S3 event without "detail.bucket.name" or "detail.object.key"`)
	}
	return d.ebObject(out, detail.Bucket.Name, detail.Object.Key)
}

// ebObject maps the event's object to targets. The key is used as it is:
// unlike S3 event notifications, whose documentation says the key is
// URL-encoded ("red flower.jpg" becomes "red+flower.jpg"; S3 User Guide,
// "Event message structure", notification-content-structure.html), the
// EventBridge event structure documents detail.object.key as the plain key
// (S3 User Guide, "EventBridge event message structure", ev-events.html),
// so "+" is a plus sign here and must not become a space.
func (d *Decoder) ebObject(out Decoded, bucket, key string) (Decoded, *Rejection) {
	var ts targetSet
	o := d.objectPaths(&ts, bucket, key, nil)
	items := []string{"s3://" + bucket + "/" + key}
	switch {
	case !o.mapped && o.known:
		out.Ignore, out.IgnoreCode = true, IgnoreOutsidePrefix
		out.IgnoreReason = "key " + quote(key) + " is outside every prefix of bucket " + quote(bucket)
		return out, nil
	case !o.mapped:
		return out, reject(CodeUnmappedBucket, "bucket %s with key %s is not mapped to a distribution", quote(bucket), quote(key))
	case len(ts.list) == 0:
		return out, &Rejection{Code: CodeInvalidPath, Reason: o.err.Error(), DistributionID: o.errDist, Items: items}
	case o.err != nil: // valid for some distributions only: dead-letter the event itself for the others
		out.Rejected = []Rejection{{Code: CodeInvalidPath, Reason: o.err.Error(), DistributionID: o.errDist, Items: items}}
	}
	out.Targets = ts.list
	return out, nil
}

// firstRejection returns the first non-nil rejection.
func firstRejection(rs ...*Rejection) *Rejection {
	for _, r := range rs {
		if r != nil {
			return r
		}
	}
	return nil
}
