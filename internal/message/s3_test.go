package message

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// s3Rec is one S3 event notification record, shaped like S3's own.
func s3Rec(event, bucket, key string) string {
	return fmt.Sprintf(`{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",`+
		`"eventTime":"2024-01-01T00:00:00.000Z","eventName":%q,"s3":{"s3SchemaVersion":"1.0",`+
		`"bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":1,"sequencer":"0A1B"}}}`,
		event, bucket, bucket, key)
}

func s3Event(records ...string) string {
	return `{"Records":[` + strings.Join(records, ",") + `]}`
}

func targets(format string, ts ...Target) Decoded { return Decoded{Format: format, Targets: ts} }

func tgt(id string, ps ...string) Target { return Target{DistributionID: id, Paths: ps} }

func TestDecodeS3(t *testing.T) {
	put := func(bucket, key string) string { return s3Event(s3Rec("ObjectCreated:Put", bucket, key)) }
	d := newDecoder(t, func(o *Options) { o.MaxPathsPerMessage = 3 })
	runDecodeCases(t, d, []decodeCase{
		{name: "form-encoded key", body: put("site-assets", "css/my+post%C3%A9.css"),
			want: targets("s3", tgt(distWWW, "/css/my%20post%C3%A9.css"))},
		{name: "encoded plus and slash", body: put("site-assets", "a%2Bb%2Fc"), want: targets("s3", tgt(distWWW, "/a+b/c"))},
		{name: "literal percent", body: put("site-assets", "100%25.html"), want: targets("s3", tgt(distWWW, "/100%25.html"))},
		{name: "percent then hex stays literal", body: put("site-assets", "a%2541"), want: targets("s3", tgt(distWWW, "/a%2541"))},
		{name: "trailing space kept", body: put("site-assets", "a+"), want: targets("s3", tgt(distWWW, "/a%20"))},
		{name: "removed", body: s3Event(s3Rec("ObjectRemoved:Delete", "site-assets", "old.html")),
			want: targets("s3", tgt(distWWW, "/old.html"))},
		{name: "minio style event name", body: s3Event(strings.Replace(s3Rec("s3:ObjectCreated:Put", "site-assets", "a"), "aws:s3", "minio:s3", 1)),
			want: targets("s3", tgt(distWWW, "/a"))},
		{name: "longest prefix wins", body: put("site-assets", "blog/post.html"), want: targets("s3", tgt(distBlog, "/blog/post.html"))},
		{name: "shorter prefix elsewhere", body: put("site-assets", "blogroll.html"), want: targets("s3", tgt(distWWW, "/blogroll.html"))},
		{name: "index directory", body: put("site-assets", "docs/index.html"),
			want: targets("s3", tgt(distWWW, "/docs/index.html", "/docs/"))},
		{name: "root index", body: put("site-assets", "index.html"), want: targets("s3", tgt(distWWW, "/index.html", "/"))},
		{name: "not an index", body: put("site-assets", "docs/myindex.html"), want: targets("s3", tgt(distWWW, "/docs/myindex.html"))},
		{name: "no index directories for blog", body: put("site-assets", "blog/index.html"),
			want: targets("s3", tgt(distBlog, "/blog/index.html"))},
		{name: "one bucket two distributions, origin paths", body: put("shared", "production/a.html"),
			want: targets("s3", tgt(distBlog, "/a.html"), tgt(distMirror, "/production/a.html"))},
		{name: "origin path without leading slash", body: put("shared", "mirror/b.html"),
			want: targets("s3", tgt(distBlog, "/mirror/b.html"), tgt(distMirror, "/b.html"))},
		{name: "origin folder object", body: put("shared", "production/"),
			want: targets("s3", tgt(distBlog, "/"), tgt(distMirror, "/production/"))},
		{name: "records merged and deduplicated", body: s3Event(
			s3Rec("ObjectCreated:Put", "site-assets", "a.html"),
			s3Rec("ObjectCreated:Copy", "site-assets", "blog/x"),
			s3Rec("ObjectRemoved:Delete", "site-assets", "a.html")),
			want: targets("s3", tgt(distWWW, "/a.html"), tgt(distBlog, "/blog/x"))},
		{name: "other events skipped", body: s3Event(
			s3Rec("ObjectRestore:Completed", "site-assets", "x"),
			s3Rec("ObjectCreated:Put", "site-assets", "y")),
			want: targets("s3", tgt(distWWW, "/y"))},
		{name: "only other events", body: s3Event(s3Rec("ObjectTagging:Put", "site-assets", "x")),
			want: Decoded{Format: "s3", Ignore: true, IgnoreCode: IgnoreNoContentChange,
				IgnoreReason: "no ObjectCreated/ObjectRemoved records for a mapped prefix: ObjectTagging:Put"}},
		{name: "test event", body: `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-01-01T00:00:00.000Z","Bucket":"site-assets","RequestId":"R","HostId":"H"}`,
			want: Decoded{Format: "s3", Ignore: true, IgnoreCode: IgnoreTestEvent, IgnoreReason: "s3:TestEvent"}},
		{name: "other service event", body: `{"Service":"Amazon S3","Event":"s3:Other"}`, wantCode: CodeUnsupported},
		{name: "all unmapped", body: put("unknown-bucket", "a"), wantCode: CodeUnmappedBucket, wantIn: `bucket "unknown-bucket" with key "a"`},
		{name: "all invalid", body: put("site-assets", "a*b"), wantCode: CodeInvalidPath, wantIn: `"*" is allowed only`},
		{name: "bad escape", body: put("site-assets", "a%zz"), wantCode: CodeInvalidPath, wantIn: "not form-encoded"},
		{name: "unmapped and invalid", body: s3Event(s3Rec("ObjectCreated:Put", "nope", "a"), s3Rec("ObjectCreated:Put", "site-assets", "a*b")),
			wantCode: CodeInvalidPath, wantIn: "not mapped"},
		{name: "no records", body: `{"Records":[]}`, wantCode: CodeNoPaths},
		{name: "too many records", body: s3Event(
			s3Rec("ObjectCreated:Put", "site-assets", "a"), s3Rec("ObjectCreated:Put", "site-assets", "b"),
			s3Rec("ObjectCreated:Put", "site-assets", "c"), s3Rec("ObjectCreated:Put", "site-assets", "d")),
			wantCode: CodeTooManyPaths, wantIn: "4 S3 records"},
		{name: "records not array", body: `{"Records":{}}`, wantCode: CodeMalformed},
		{name: "record not object", body: `{"Records":[1]}`, wantCode: CodeMalformed},
		{name: "not s3 source", body: `{"Records":[{"eventSource":"aws:sqs","body":"x"}]}`, wantCode: CodeUnsupported, wantIn: `"aws:sqs"`},
		{name: "missing key", body: `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"site-assets"}}}]}`,
			wantCode: CodeMalformed},
	})
}

// TestDecodeS3Partial checks that unmapped and invalid records are
// dead-lettered as S3 events holding just those records, while the rest go on.
func TestDecodeS3Partial(t *testing.T) {
	d := newDecoder(t, nil)
	good := s3Rec("ObjectCreated:Put", "site-assets", "ok.html")
	unmapped := s3Rec("ObjectCreated:Put", "elsewhere", "x+y.html")
	invalid := s3Rec("ObjectCreated:Put", "site-assets", "a*b")
	got, err := d.Decode([]byte(s3Event(good, unmapped, invalid, unmapped)))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if want := []Target{tgt(distWWW, "/ok.html")}; !reflect.DeepEqual(got.Targets, want) {
		t.Fatalf("Targets = %+v, want %+v", got.Targets, want)
	}
	if len(got.Rejected) != 2 {
		t.Fatalf("Rejected = %+v, want 2", got.Rejected)
	}
	checkS3Rejection(t, got.Rejected[0], CodeUnmappedBucket, "", []string{unmapped, unmapped},
		[]string{"s3://elsewhere/x+y.html", "s3://elsewhere/x+y.html"})
	checkS3Rejection(t, got.Rejected[1], CodeInvalidPath, distWWW, []string{invalid}, []string{"s3://site-assets/a*b"})
	for _, r := range got.Rejected {
		_, err := d.Decode(r.Body)
		assertRejection(t, err, r.Code, "")
	}
}

func checkS3Rejection(t *testing.T, r Rejection, code, dist string, records, items []string) {
	t.Helper()
	if r.Code != code || r.DistributionID != dist || !reflect.DeepEqual(r.Items, items) {
		t.Errorf("rejection = %+v; want code %s, distribution %q, items %q", r, code, dist, items)
	}
	if want := compact(t, s3Event(records...)); string(r.Body) != want {
		t.Errorf("%s Body = %s\nwant %s", code, r.Body, want)
	}
	if !strings.HasPrefix(r.Reason, fmt.Sprintf("%d S3 record(s); first: ", len(records))) {
		t.Errorf("%s Reason = %q", code, r.Reason)
	}
}

func compact(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	var raw json.RawMessage = []byte(s)
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ebEvent(detailType, bucket, key string) string {
	return fmt.Sprintf(`{"version":"0","id":"17793124-05d4-b198-2fde-7ededc63b103","detail-type":%q,"source":"aws.s3",`+
		`"account":"111122223333","time":"2021-11-12T00:00:00Z","region":"ca-central-1","resources":["arn:aws:s3:::%s"],`+
		`"detail":{"version":"0","bucket":{"name":%q},"object":{"key":%q,"size":5,"etag":"b1946ac92492d2347c6235b4d2611184",`+
		`"sequencer":"00617F08299329D189"},"request-id":"N4N7GDK58NMKJ12R","requester":"123456789012","reason":"PutObject"}}`,
		detailType, bucket, bucket, key)
}

func TestDecodeEventBridge(t *testing.T) {
	d := newDecoder(t, nil)
	const f = "eventbridge/s3"
	runDecodeCases(t, d, []decodeCase{
		{name: "created, plus is literal", body: ebEvent("Object Created", "site-assets", "c++ guide.html"),
			want: targets(f, tgt(distWWW, "/c++%20guide.html"))},
		{name: "percent is literal", body: ebEvent("Object Created", "site-assets", "a%20b"),
			want: targets(f, tgt(distWWW, "/a%2520b"))},
		{name: "deleted index", body: ebEvent("Object Deleted", "site-assets", "docs/index.html"),
			want: targets(f, tgt(distWWW, "/docs/index.html", "/docs/"))},
		{name: "two distributions", body: ebEvent("Object Created", "shared", "production/x"),
			want: targets(f, tgt(distBlog, "/x"), tgt(distMirror, "/production/x"))},
		{name: "restore ignored", body: ebEvent("Object Restore Completed", "site-assets", "a"),
			want: Decoded{Format: f, Ignore: true, IgnoreCode: IgnoreNoContentChange,
				IgnoreReason: `EventBridge "Object Restore Completed" does not change content`}},
		{name: "other source", body: strings.Replace(ebEvent("Object Created", "site-assets", "a"), `"aws.s3"`, `"aws.ec2"`, 1),
			wantCode: CodeUnsupported, wantIn: `"aws.ec2"`},
		{name: "unmapped", body: ebEvent("Object Created", "elsewhere", "a"), wantCode: CodeUnmappedBucket},
		{name: "invalid path", body: ebEvent("Object Created", "site-assets", "a*b"), wantCode: CodeInvalidPath},
		{name: "no detail", body: `{"source":"aws.s3","detail-type":"Object Created"}`, wantCode: CodeMalformed},
		{name: "detail not object", body: `{"source":"aws.s3","detail-type":"Object Created","detail":[]}`, wantCode: CodeMalformed},
	})
}

// TestDecodeEventBridgePartial: an object valid for one distribution and
// invalid for another goes on for the first and is dead-lettered whole.
func TestDecodeEventBridgePartial(t *testing.T) {
	d := newDecoder(t, func(o *Options) {
		o.Distributions = append(o.Distributions, Distribution{ID: "E4LONG", S3: []S3Source{{Bucket: "long"}}},
			Distribution{ID: "E5SHORT", S3: []S3Source{{Bucket: "long", OriginPath: "/p"}}})
	})
	key := "p/" + strings.Repeat("x", 3998) // "/p/xxx…" is 4,001 characters; "/xxx…" 3,999
	got, err := d.Decode([]byte(ebEvent("Object Created", "long", key)))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(got.Targets) != 1 || got.Targets[0].DistributionID != "E5SHORT" {
		t.Fatalf("Targets = %.200v", got.Targets)
	}
	if len(got.Rejected) != 1 || got.Rejected[0].Code != CodeInvalidPath || got.Rejected[0].DistributionID != "E4LONG" || got.Rejected[0].Body != nil {
		t.Fatalf("Rejected = %.300v", got.Rejected)
	}
}

func TestDecodeSNS(t *testing.T) {
	d := newDecoder(t, nil)
	sns := func(typ, inner string) string {
		return fmt.Sprintf(`{"Type":%q,"MessageId":"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",`+
			`"TopicArn":"arn:aws:sns:us-east-1:123456789012:invalidations","Subject":null,"Message":%q,`+
			`"Timestamp":"2024-01-01T00:00:00.000Z","SignatureVersion":"1","Signature":"EXAMPLE",`+
			`"SigningCertURL":"https://example","UnsubscribeURL":"https://example"}`, typ, inner)
	}
	runDecodeCases(t, d, []decodeCase{
		{name: "v1", body: sns("Notification", `{"distribution":"www","paths":["/a b"]}`),
			want: Decoded{Format: "sns/v1", Targets: []Target{tgt(distWWW, "/a%20b")}}},
		{name: "s3", body: sns("Notification", s3Event(s3Rec("ObjectCreated:Put", "site-assets", "my+file.html"))),
			want: targets("sns/s3", tgt(distWWW, "/my%20file.html"))},
		{name: "s3 test event", body: sns("Notification", `{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"site-assets"}`),
			want: Decoded{Format: "sns/s3", Ignore: true, IgnoreCode: IgnoreTestEvent, IgnoreReason: "s3:TestEvent"}},
		{name: "inner rejection", body: sns("Notification", `{"distribution":"shop","paths":["/a"]}`),
			wantCode: CodeDistributionNotAllowed, wantIn: "in SNS notification: distribution"},
		{name: "inner garbage", body: sns("Notification", `not json`), wantCode: CodeMalformed},
		{name: "inner eventbridge", body: sns("Notification", ebEvent("Object Created", "site-assets", "a")),
			wantCode: CodeUnsupported, wantIn: "an EventBridge event"},
		{name: "nested sns", body: sns("Notification", sns("Notification", `{}`)), wantCode: CodeUnsupported},
		{name: "subscription confirmation", body: sns("SubscriptionConfirmation", "You have chosen to subscribe"),
			wantCode: CodeUnsupported, wantIn: `"SubscriptionConfirmation"`},
		{name: "message not string", body: `{"Type":"Notification","Message":{"distribution":"www"}}`, wantCode: CodeMalformed},
		{name: "message null", body: `{"Type":"Notification","Message":null}`, wantCode: CodeMalformed},
	})
}

// TestDecodeSNSPartial: partial rejections of a wrapped message carry the
// inner format's body, which decodes on its own.
func TestDecodeSNSPartial(t *testing.T) {
	d := newDecoder(t, nil)
	inner := s3Event(s3Rec("ObjectCreated:Put", "site-assets", "a"), s3Rec("ObjectCreated:Put", "nope", "b"))
	body := mustJSON(t, map[string]string{"Type": "Notification", "Message": inner})
	got, err := d.Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got.Format != "sns/s3" || len(got.Targets) != 1 || len(got.Rejected) != 1 {
		t.Fatalf("Decode = %+v", got)
	}
	want := compact(t, s3Event(s3Rec("ObjectCreated:Put", "nope", "b")))
	if r := got.Rejected[0]; r.Code != CodeUnmappedBucket || string(r.Body) != want {
		t.Fatalf("Rejected[0] = %s body %s, want %s", r.Code, r.Body, want)
	}
}

// TestOutsidePrefixIsIgnored: a prefix filters a mapped bucket; events for
// the rest of it are expected noise, counted and deleted, not poison.
func TestOutsidePrefixIsIgnored(t *testing.T) {
	d, err := NewDecoder(Options{Distributions: []Distribution{{ID: "E1", S3: []S3Source{{Bucket: "docs", Prefix: "public/"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	runDecodeCases(t, d, []decodeCase{
		{name: "inside", body: s3Event(s3Rec("ObjectCreated:Put", "docs", "public/a.html")), want: targets("s3", tgt("E1", "/public/a.html"))},
		{name: "outside", body: s3Event(s3Rec("ObjectCreated:Put", "docs", "private/a.html")),
			want: Decoded{Format: "s3", Ignore: true, IgnoreCode: IgnoreOutsidePrefix,
				IgnoreReason: `no ObjectCreated/ObjectRemoved records for a mapped prefix: outside every prefix of bucket "docs": "private/a.html"`}},
		{name: "mixed keeps the inside record", body: s3Event(s3Rec("ObjectCreated:Put", "docs", "private/a.html"), s3Rec("ObjectCreated:Put", "docs", "public/b.html")),
			want: targets("s3", tgt("E1", "/public/b.html"))},
		{name: "eventbridge outside", body: ebEvent("Object Created", "docs", "private/a.html"),
			want: Decoded{Format: "eventbridge/s3", Ignore: true, IgnoreCode: IgnoreOutsidePrefix,
				IgnoreReason: `key "private/a.html" is outside every prefix of bucket "docs"`}},
		{name: "unmapped bucket is still poison", body: s3Event(s3Rec("ObjectCreated:Put", "other", "public/a.html")), wantCode: CodeUnmappedBucket},
	})
}
