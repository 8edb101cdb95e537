package message

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const (
	distWWW    = "EDFDVBD6EXAMPLE"
	distBlog   = "E2BLOG"
	distMirror = "E3MIRROR"
)

// testOptions: "site-assets" feeds www (whole bucket, with index
// directories) and blog (keys under "blog/"); "shared" feeds blog (origin
// path "/production") and mirror (origin path "mirror/") alike.
func testOptions() Options {
	return Options{Distributions: []Distribution{
		{ID: distWWW, Aliases: []string{"www"}, S3: []S3Source{{Bucket: "site-assets"}}, IndexDirectories: true},
		{ID: distBlog, Aliases: []string{"blog", "news"}, S3: []S3Source{
			{Bucket: "site-assets", Prefix: "blog/"},
			{Bucket: "shared", OriginPath: "/production"},
		}},
		{ID: distMirror, S3: []S3Source{{Bucket: "shared", OriginPath: "mirror/"}}},
	}}
}

func newDecoder(t testing.TB, mutate func(*Options)) *Decoder {
	t.Helper()
	o := testOptions()
	if mutate != nil {
		mutate(&o)
	}
	d, err := NewDecoder(o)
	if err != nil {
		t.Fatalf("NewDecoder: %v", err)
	}
	return d
}

// decodeCase is one Decode table row: either want or wantCode is set.
type decodeCase struct {
	name     string
	body     string
	want     Decoded
	wantCode string // whole-message rejection
	wantIn   string // substring of the rejection's Reason
}

func runDecodeCases(t *testing.T, d *Decoder, tests []decodeCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Decode([]byte(tt.body))
			if tt.wantCode != "" {
				assertRejection(t, err, tt.wantCode, tt.wantIn)
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Decode =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func assertRejection(t *testing.T, err error, code, reasonPart string) *Rejection {
	t.Helper()
	var rej *Rejection
	if !errors.As(err, &rej) {
		t.Fatalf("Decode error = %v (%T), want *Rejection %s", err, err, code)
	}
	if rej.Code != code || !strings.Contains(rej.Reason, reasonPart) {
		t.Fatalf("Decode rejection = %s, want code %s with reason containing %q", rej, code, reasonPart)
	}
	return rej
}

func v1(id string, ps ...string) Decoded {
	return Decoded{Format: "v1", Targets: []Target{{DistributionID: id, Paths: ps}}}
}

func TestDecodeV1(t *testing.T) {
	d := newDecoder(t, func(o *Options) { o.MaxPathsPerMessage = 4 })
	runDecodeCases(t, d, []decodeCase{
		{name: "id paths tags", body: `{"distribution_id":"EDFDVBD6EXAMPLE","paths":["/index.html","/img/*"],"tags":["product-42"]}`,
			want: v1(distWWW, "/index.html", "/img/*", "#product-42")},
		{name: "alias", body: `{"distribution":"www","paths":["/a"]}`, want: v1(distWWW, "/a")},
		{name: "second alias", body: `{"distribution":"news","paths":["/a"]}`, want: v1(distBlog, "/a")},
		{name: "distribution names an id", body: `{"distribution":"E2BLOG","paths":["/a"]}`, want: v1(distBlog, "/a")},
		{name: "both agree", body: `{"distribution_id":"E2BLOG","distribution":"blog","paths":["/a"]}`, want: v1(distBlog, "/a")},
		{name: "both disagree", body: `{"distribution_id":"E2BLOG","distribution":"www","paths":["/a"]}`,
			wantCode: CodeMalformed, wantIn: "different distributions"},
		{name: "distribution_id is not an alias", body: `{"distribution_id":"www","paths":["/a"]}`,
			wantCode: CodeDistributionNotAllowed, wantIn: `distribution_id "www"`},
		{name: "not allowed", body: `{"distribution_id":"EOTHER","paths":["/a"]}`,
			wantCode: CodeDistributionNotAllowed, wantIn: `"EOTHER" is not in the allow-list`},
		{name: "unknown alias", body: `{"distribution":"shop","paths":["/a"]}`,
			wantCode: CodeDistributionNotAllowed, wantIn: `distribution "shop"`},
		{name: "missing distribution", body: `{"paths":["/a"]}`, wantCode: CodeMissingDistribution},
		{name: "empty distribution", body: `{"distribution_id":"","paths":["/a"]}`, wantCode: CodeMissingDistribution},
		{name: "null distribution", body: `{"distribution_id":null,"tags":["x"]}`, wantCode: CodeMissingDistribution},
		{name: "no paths no tags", body: `{"distribution_id":"E2BLOG"}`, wantCode: CodeNoPaths},
		{name: "empty lists", body: `{"distribution_id":"E2BLOG","paths":[],"tags":[]}`, wantCode: CodeNoPaths},
		{name: "version 1", body: `{"version":1,"distribution_id":"E2BLOG","paths":["/a"]}`, want: v1(distBlog, "/a")},
		{name: "version 2", body: `{"version":2,"distribution_id":"E2BLOG","paths":["/a"]}`, wantCode: CodeUnsupported, wantIn: "version \"2\""},
		{name: "version string", body: `{"version":"1","distribution_id":"E2BLOG","paths":["/a"]}`, wantCode: CodeUnsupported},
		{name: "unknown fields", body: `{"distribution_id":"E2BLOG","paths":["/a"],"requested_by":"cms","priority":{"x":1}}`,
			want: v1(distBlog, "/a")},
		{name: "field names are exact", body: `{"distribution_id":"E2BLOG","Paths":["/a"]}`, wantCode: CodeNoPaths},
		{name: "paths not array", body: `{"distribution_id":"E2BLOG","paths":"/a"}`, wantCode: CodeMalformed, wantIn: `"paths" must be an array of strings`},
		{name: "paths with number", body: `{"distribution_id":"E2BLOG","paths":["/a",1]}`, wantCode: CodeMalformed},
		{name: "paths with null", body: `{"distribution_id":"E2BLOG","paths":["/a",null]}`, wantCode: CodeMalformed, wantIn: "element 1 is null"},
		{name: "tags not array", body: `{"distribution_id":"E2BLOG","tags":{"a":1}}`, wantCode: CodeMalformed},
		{name: "id not string", body: `{"distribution_id":42,"paths":["/a"]}`, wantCode: CodeMalformed, wantIn: `"distribution_id" must be a string`},
		{name: "normalized and deduplicated", body: `{"distribution_id":"E2BLOG","paths":["/a b","https://x.example/a%20b"," /a b ","/b"],"tags":[]}`,
			want: v1(distBlog, "/a%20b", "/b")},
		{name: "tags deduplicated", body: `{"distribution_id":"E2BLOG","tags":["t","#t"," t"]}`, want: v1(distBlog, "#t")},
		{name: "tag in paths", body: `{"distribution_id":"E2BLOG","paths":["#t","/a"]}`, want: v1(distBlog, "#t", "/a")},
		{name: "all paths invalid", body: `{"distribution_id":"E2BLOG","paths":["a","/b*c"]}`,
			wantCode: CodeInvalidPath, wantIn: `2 invalid path(s); first: invalid path "a"`},
		{name: "all tags invalid", body: `{"distribution_id":"E2BLOG","tags":["a b"]}`, wantCode: CodeInvalidTag, wantIn: `invalid tag "a b"`},
		{name: "everything invalid", body: `{"distribution_id":"E2BLOG","paths":["a"],"tags":["a,b"]}`,
			wantCode: CodeInvalidPath, wantIn: "1 invalid tag(s)"},
		{name: "at the limit", body: `{"distribution_id":"E2BLOG","paths":["/a","/b","/c"],"tags":["t"]}`,
			want: v1(distBlog, "/a", "/b", "/c", "#t")},
		{name: "too many", body: `{"distribution_id":"E2BLOG","paths":["/a","/b","/c"],"tags":["t","u"]}`,
			wantCode: CodeTooManyPaths, wantIn: "5 paths and tags, more than the limit of 4"},
		{name: "BOM", body: "\xef\xbb\xbf" + `{"distribution_id":"E2BLOG","paths":["/a"]}`, want: v1(distBlog, "/a")},
	})
}

func TestDecodeMalformed(t *testing.T) {
	runDecodeCases(t, newDecoder(t, nil), []decodeCase{
		{name: "empty", body: ``, wantCode: CodeMalformed},
		{name: "not JSON", body: `/index.html`, wantCode: CodeMalformed, wantIn: "not a JSON object"},
		{name: "array", body: `["/a"]`, wantCode: CodeMalformed},
		{name: "null", body: `null`, wantCode: CodeMalformed},
		{name: "trailing garbage", body: `{"distribution_id":"E2BLOG","paths":["/a"]} x`, wantCode: CodeMalformed},
		{name: "invalid UTF-8", body: "{\"distribution_id\":\"E2BLOG\",\"paths\":[\"/\xff\"]}", wantCode: CodeMalformed, wantIn: "UTF-8"},
		{name: "unknown shape", body: `{"hello":"world"}`, wantCode: CodeMalformed, wantIn: "unrecognized message"},
		{name: "empty object", body: `{}`, wantCode: CodeMalformed, wantIn: "unrecognized message"},
	})
}

func TestDecodeAllowAll(t *testing.T) {
	d := newDecoder(t, func(o *Options) { o.AllowAll = true })
	runDecodeCases(t, d, []decodeCase{
		{name: "unlisted id", body: `{"distribution_id":"E9UNLISTED","paths":["/a"]}`, want: v1("E9UNLISTED", "/a")},
		{name: "unlisted id as distribution", body: `{"distribution":"E9UNLISTED","paths":["/a"]}`, want: v1("E9UNLISTED", "/a")},
		{name: "listed alias still works", body: `{"distribution":"www","paths":["/a"]}`, want: v1(distWWW, "/a")},
		{name: "lowercase is not an id", body: `{"distribution_id":"e9unlisted","paths":["/a"]}`, wantCode: CodeDistributionNotAllowed},
		{name: "unknown alias", body: `{"distribution":"shop","paths":["/a"]}`, wantCode: CodeDistributionNotAllowed},
		{name: "too long id", body: fmt.Sprintf(`{"distribution_id":%q,"paths":["/a"]}`, strings.Repeat("E", 129)),
			wantCode: CodeDistributionNotAllowed},
	})
}

// TestDecodeV1Partial checks partial rejections and that each Body decodes
// back to exactly its rejected items.
func TestDecodeV1Partial(t *testing.T) {
	d := newDecoder(t, nil)
	body := `{"distribution":"blog","paths":["/ok","no-slash","/a*b","/ok","#bad tag"],"tags":["good","x,y"," #z*"]}`
	got, err := d.Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := Decoded{
		Format:  "v1",
		Targets: []Target{{DistributionID: distBlog, Paths: []string{"/ok", "#good"}}},
		Rejected: []Rejection{
			{Code: CodeInvalidPath, DistributionID: distBlog, Items: []string{"no-slash", "/a*b"},
				Reason: `2 invalid path(s) of 8 item(s); first: invalid path "no-slash": must start with "/"`,
				Body:   []byte(`{"distribution_id":"E2BLOG","paths":["no-slash","/a*b"]}`)},
			{Code: CodeInvalidTag, DistributionID: distBlog, Items: []string{"#bad tag", "#x,y", "#z*"},
				Reason: `3 invalid tag(s) of 8 item(s); first: invalid tag "#bad tag": character ' ' not allowed (printable ASCII other than "," and "*" only)`,
				Body:   []byte(`{"distribution_id":"E2BLOG","tags":["bad tag","x,y","z*"]}`)},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode =\n  %+v\nwant\n  %+v", got, want)
	}
	for _, r := range got.Rejected {
		_, err := d.Decode(r.Body)
		rej := assertRejection(t, err, r.Code, "")
		if !reflect.DeepEqual(rej.Items, r.Items) {
			t.Errorf("redriven %s body rejects %q, want %q", r.Code, rej.Items, r.Items)
		}
	}
}

func TestEncodeV1(t *testing.T) {
	items := []string{"/a<b>&c", "#tag", "/é", "#x"}
	got := string(EncodeV1(distWWW, items))
	want := `{"distribution_id":"EDFDVBD6EXAMPLE","paths":["/a<b>&c","/é"],"tags":["tag","x"]}`
	if got != want {
		t.Fatalf("EncodeV1 = %s\nwant %s", got, want)
	}
	if got := string(EncodeV1(distWWW, nil)); got != `{"distribution_id":"EDFDVBD6EXAMPLE"}` {
		t.Fatalf("EncodeV1(no items) = %s", got)
	}
	dec, err := newDecoder(t, nil).Decode([]byte(want))
	if err != nil {
		t.Fatalf("Decode(EncodeV1): %v", err)
	}
	if p := dec.Targets[0].Paths; !reflect.DeepEqual(p, []string{"/a%3Cb%3E&c", "/%C3%A9", "#tag", "#x"}) {
		t.Fatalf("round trip paths = %q", p)
	}
}

func TestRejectionError(t *testing.T) {
	r := &Rejection{Code: CodeNoPaths, Reason: "no paths and no tags"}
	if got := r.Error(); got != "no_paths: no paths and no tags" {
		t.Fatalf("Error() = %q", got)
	}
	_, err := newDecoder(t, nil).Decode([]byte(`{"distribution":"` + strings.Repeat("x", 5000) + `","paths":["/a"]}`))
	if rej := assertRejection(t, err, CodeDistributionNotAllowed, "…"); len(rej.Reason) > 200 {
		t.Fatalf("Reason not truncated: %d bytes", len(rej.Reason))
	}
}

func TestNewDecoderErrors(t *testing.T) {
	tests := []struct {
		name  string
		dists []Distribution
		max   int
		want  string // "" = valid
	}{
		{name: "valid", dists: testOptions().Distributions},
		{name: "none", dists: nil},
		{name: "alias equal to own id", dists: []Distribution{{ID: "E1", Aliases: []string{"E1"}}}},
		{name: "bucket prefix shared by two distributions", dists: []Distribution{
			{ID: "E1", S3: []S3Source{{Bucket: "b"}}}, {ID: "E2", S3: []S3Source{{Bucket: "b"}}}}},
		{name: "bad id", dists: []Distribution{{ID: "e1"}}, want: `distribution id "e1"`},
		{name: "empty id", dists: []Distribution{{ID: ""}}, want: `distribution id ""`},
		{name: "duplicate id", dists: []Distribution{{ID: "E1"}, {ID: "E1"}}, want: "listed twice"},
		{name: "empty alias", dists: []Distribution{{ID: "E1", Aliases: []string{""}}}, want: "empty alias"},
		{name: "alias is another id", dists: []Distribution{{ID: "E1", Aliases: []string{"E2"}}, {ID: "E2"}},
			want: `alias "E2" is another distribution's id`},
		{name: "duplicate alias", dists: []Distribution{{ID: "E1", Aliases: []string{"www"}}, {ID: "E2", Aliases: []string{"www"}}},
			want: `alias "www" used by E1 and E2`},
		{name: "bucket missing", dists: []Distribution{{ID: "E1", S3: []S3Source{{Prefix: "x/"}}}}, want: "without a bucket"},
		{name: "bucket prefix twice", dists: []Distribution{{ID: "E1", S3: []S3Source{{Bucket: "b", Prefix: "p/"}, {Bucket: "b", Prefix: "p/", OriginPath: "/o"}}}},
			want: `bucket "b" prefix "p/" mapped twice`},
		{name: "negative max", max: -1, want: "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDecoder(Options{Distributions: tt.dists, MaxPathsPerMessage: tt.max})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("NewDecoder: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("NewDecoder error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestNewDecoderReportsAllProblems(t *testing.T) {
	_, err := NewDecoder(Options{Distributions: []Distribution{{ID: "bad"}, {ID: "E1", Aliases: []string{""}}}})
	if err == nil || !strings.Contains(err.Error(), `"bad"`) || !strings.Contains(err.Error(), "empty alias") {
		t.Fatalf("NewDecoder error = %v, want both problems", err)
	}
}

func TestNewDecoderCopiesOptions(t *testing.T) {
	o := testOptions()
	d, err := NewDecoder(o)
	if err != nil {
		t.Fatal(err)
	}
	o.Distributions[0].Aliases[0] = "changed"
	o.Distributions[0].S3[0].Bucket = "changed"
	if id, ok := d.Resolve("www"); !ok || id != distWWW {
		t.Fatalf("Resolve(www) after caller changed Options = %q, %v", id, ok)
	}
	if got, err := d.Decode([]byte(s3Event(s3Rec("ObjectCreated:Put", "site-assets", "a")))); err != nil || len(got.Targets) != 1 {
		t.Fatalf("bucket mapping changed with the caller's Options: %+v, %v", got, err)
	}
}

func TestResolve(t *testing.T) {
	d := newDecoder(t, nil)
	all := newDecoder(t, func(o *Options) { o.AllowAll = true })
	tests := []struct {
		d      *Decoder
		in, id string
		ok     bool
	}{
		{d, distWWW, distWWW, true},
		{d, "www", distWWW, true},
		{d, "news", distBlog, true},
		{d, "E9UNLISTED", "", false},
		{d, "", "", false},
		{d, "WWW", "", false}, // aliases are case-sensitive
		{all, "E9UNLISTED", "E9UNLISTED", true},
		{all, "www", distWWW, true},
		{all, "shop", "", false},
		{all, "E-1", "", false},
	}
	for _, tt := range tests {
		if id, ok := tt.d.Resolve(tt.in); id != tt.id || ok != tt.ok {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tt.in, id, ok, tt.id, tt.ok)
		}
	}
}

func TestDecodeIsConcurrencySafe(t *testing.T) {
	d := newDecoder(t, nil)
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 50 {
				_, _ = d.Decode([]byte(s3Event(s3Rec("ObjectCreated:Put", "shared", "production/a.html"))))
				_, _ = d.Decode([]byte(`{"distribution":"www","paths":["/a"]}`))
			}
		}()
	}
	for range 4 {
		<-done
	}
}

// mustJSON is json.Marshal for tests.
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
