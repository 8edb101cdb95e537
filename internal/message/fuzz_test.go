package message

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/acme/cf-invalidator/internal/paths"
)

// FuzzDecode checks Decode's promises on any body: it never panics; an error
// is a *Rejection with a code; a result is either ignored or has targets;
// every target path is already normalized (tags by NormalizeTag), with no
// duplicates; and every partial rejection has a code and items, and a v1 or
// unmapped-bucket body that, decoded again, is refused with the same code.
// Decode never writes its input, and DecodeString (which hands it a
// string's bytes uncopied) decodes the same.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	d := newDecoder(f, func(o *Options) { o.AllowAll, o.MaxPathsPerMessage = true, 50 })
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := string(body)
		got, err := d.Decode(body)
		if string(body) != orig {
			t.Fatalf("Decode wrote into its input: %q became %q", orig, body)
		}
		if gotS, errS := d.DecodeString(orig); !reflect.DeepEqual(gotS, got) || fmt.Sprint(errS) != fmt.Sprint(err) {
			t.Fatalf("DecodeString(%q) = %+v, %v; Decode = %+v, %v", orig, gotS, errS, got, err)
		}
		if err != nil {
			var rej *Rejection
			if !errors.As(err, &rej) || rej.Code == "" || rej.Reason == "" {
				t.Fatalf("Decode error %v (%T) is not a *Rejection with code and reason", err, err)
			}
			return
		}
		if got.Ignore != (len(got.Targets) == 0) || got.Ignore && len(got.Rejected) > 0 {
			t.Fatalf("Decode = %+v: want either Ignore or targets", got)
		}
		checkTargets(t, got.Targets)
		for _, r := range got.Rejected {
			checkPartial(t, d, r)
		}
	})
}

func checkTargets(t *testing.T, ts []Target) {
	t.Helper()
	ids := make(map[string]bool)
	for _, tg := range ts {
		if tg.DistributionID == "" || ids[tg.Key()] || len(tg.Paths) == 0 {
			t.Fatalf("target %+v: empty, or distribution repeated", tg)
		}
		ids[tg.Key()] = true
		seen := make(map[string]bool)
		for _, p := range tg.Paths {
			norm, err := paths.Normalize(p)
			if paths.IsTag(p) {
				norm, err = paths.NormalizeTag(p)
			}
			if err != nil || norm != p || seen[p] {
				t.Fatalf("target path %q: renormalized to %q, %v (or repeated)", p, norm, err)
			}
			seen[p] = true
		}
	}
}

func checkPartial(t *testing.T, d *Decoder, r Rejection) {
	t.Helper()
	if r.Code == "" || r.Reason == "" || len(r.Items) == 0 {
		t.Fatalf("partial rejection %+v: missing code, reason or items", r)
	}
	if r.Body == nil || r.Code == CodeInvalidPath && isS3Body(r.Body) {
		return // S3 records invalid for one distribution may be valid for another
	}
	_, err := d.Decode(r.Body)
	var again *Rejection
	if !errors.As(err, &again) || again.Code != r.Code {
		t.Fatalf("partial rejection %s: its body %s decodes to %v", r.Code, r.Body, err)
	}
}

func isS3Body(b []byte) bool {
	m, rej := parseObject(b)
	return rej == nil && shapeOf(m) == shapeS3
}

func fuzzSeeds() []string {
	return []string{
		`{"distribution_id":"EDFDVBD6EXAMPLE","paths":["/index.html","/img/*"],"tags":["product-42"]}`,
		`{"distribution":"www","paths":["no-slash","/a b","/a*b","#t","#bad tag"],"tags":["x,y","#z"," ##w"]}`,
		`{"version":1,"distribution":"E9ANY","paths":["https://h/x?y#z"],"extra":[1,{"a":null}]}`,
		`{"version":2,"distribution_id":"EDFDVBD6EXAMPLE"}`,
		`{"distribution_id":"www","distribution":"blog","paths":null}`,
		`{"distribution_tenant_id":"dt_2wjDZi3hD1ivOXf6rpZJO1AA","paths":["/a","bad"],"tags":["x y"]}`,
		`{"distribution":"customer-b","distribution_tenant_id":"customer-b","paths":["/a"]}`,
		`{"distribution_id":"E4SAAS","distribution_tenant_id":"customer-a","paths":["/a"]}`,
		s3Event(s3Rec("ObjectCreated:Put", "site-assets", "blog/my+post%C3%A9.html"),
			s3Rec("ObjectRemoved:Delete", "site-assets", "docs/index.html"),
			s3Rec("ObjectCreated:Put", "nope", "a"),
			s3Rec("ObjectCreated:Put", "site-assets", "a*b"),
			s3Rec("ObjectRestore:Completed", "shared", "production/x")),
		s3Event(s3Rec("ObjectCreated:Put", "shared", "mirror/%zz")),
		`{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"site-assets"}`,
		`{"Type":"Notification","Message":"{\"distribution\":\"www\",\"paths\":[\"/a\"]}"}`,
		`{"Type":"Notification","Message":"{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"shared\"},\"object\":{\"key\":\"production/index.html\"}}}]}"}`,
		`{"Type":"SubscriptionConfirmation","Message":"x"}`,
		ebEvent("Object Created", "site-assets", "c++ guide/index.html"),
		ebEvent("Object Deleted", "shared", "production/a%20b"),
		ebEvent("Object Tags Added", "site-assets", "a"),
		`{"Records":[]}`, `[]`, `null`, `{}`, "\xef\xbb\xbf{}", "{\"paths\":[\"\xff\"]}",
	}
}
