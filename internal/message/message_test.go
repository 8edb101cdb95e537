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
	distSaaS   = "E4SAAS"                      // a multi-tenant distribution
	tenantA    = "dt_2wjDZi3hD1ivOXf6rpZJO1AA" // its tenants, shaped like AWS's examples
	tenantB    = "dt_2wjDZi3hD1ivOXf6rpZJO1BB"
)

// testOptions: "site-assets" feeds www (whole bucket, with index
// directories) and blog (keys under "blog/"); "shared" feeds blog (origin
// path "/production") and mirror (origin path "mirror/") alike. Tenants A
// (alias "ACME" looks like an id on purpose) and B belong to E4SAAS, which
// is not listed itself.
func testOptions() Options {
	return Options{Distributions: []Distribution{
		{ID: distWWW, Aliases: []string{"www"}, S3: []S3Source{{Bucket: "site-assets"}}, IndexDirectories: true},
		{ID: distBlog, Aliases: []string{"blog", "news"}, S3: []S3Source{
			{Bucket: "site-assets", Prefix: "blog/"},
			{Bucket: "shared", OriginPath: "/production"},
		}},
		{ID: distMirror, S3: []S3Source{{Bucket: "shared", OriginPath: "mirror/"}}},
	}, Tenants: []Tenant{
		{ID: tenantA, Aliases: []string{"customer-a", "ACME"}, Distribution: distSaaS},
		{ID: tenantB, Aliases: []string{"customer-b"}, Distribution: distSaaS},
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

func tenantV1(tenant string, ps ...string) Decoded {
	return Decoded{Format: "v1", Targets: []Target{{DistributionID: distSaaS, TenantID: tenant, Paths: ps}}}
}

// TestDecodeV1Tenants: a tenant named by id or alias, through either
// member; the conflicts between members; what is not allowed.
func TestDecodeV1Tenants(t *testing.T) {
	d := newDecoder(t, nil)
	all := newDecoder(t, func(o *Options) { o.AllowAll = true })
	cases := []decodeCase{
		{name: "tenant by id", body: `{"distribution_tenant_id":"dt_2wjDZi3hD1ivOXf6rpZJO1AA","paths":["/a"],"tags":["t"]}`,
			want: tenantV1(tenantA, "/a", "#t")},
		{name: "tenant by alias in distribution", body: `{"distribution":"customer-a","paths":["/a"]}`, want: tenantV1(tenantA, "/a")},
		{name: "tenant id in distribution", body: `{"distribution":"dt_2wjDZi3hD1ivOXf6rpZJO1BB","paths":["/a"]}`, want: tenantV1(tenantB, "/a")},
		{name: "tenant alias in distribution_tenant_id", body: `{"distribution_tenant_id":"customer-b","paths":["/a"]}`, want: tenantV1(tenantB, "/a")},
		{name: "tenant id and alias agree", body: `{"distribution_tenant_id":"dt_2wjDZi3hD1ivOXf6rpZJO1AA","distribution":"customer-a","paths":["/a"]}`,
			want: tenantV1(tenantA, "/a")},
		{name: "alias shaped like an id names its tenant", body: `{"distribution":"ACME","paths":["/a"]}`, want: tenantV1(tenantA, "/a")},
		{name: "via SNS", body: mustJSON(t, map[string]string{"Type": "Notification", "Message": `{"distribution_tenant_id":"customer-a","paths":["/a"]}`}),
			want: Decoded{Format: "sns/v1", Targets: tenantV1(tenantA, "/a").Targets}},

		{name: "distribution_id and distribution_tenant_id", body: `{"distribution_id":"E4SAAS","distribution_tenant_id":"dt_2wjDZi3hD1ivOXf6rpZJO1AA","paths":["/a"]}`,
			wantCode: CodeConflictingTarget, wantIn: "a distribution or one of its tenants, not both"},
		{name: "both set, even when unknown", body: `{"distribution_id":"EOTHER","distribution_tenant_id":"dt_x","paths":["/a"]}`,
			wantCode: CodeConflictingTarget},
		{name: "tenant and another tenant's alias", body: `{"distribution_tenant_id":"dt_2wjDZi3hD1ivOXf6rpZJO1AA","distribution":"customer-b","paths":["/a"]}`,
			wantCode: CodeConflictingTarget, wantIn: "tenant dt_2wjDZi3hD1ivOXf6rpZJO1AA of distribution E4SAAS and tenant dt_2wjDZi3hD1ivOXf6rpZJO1BB"},
		{name: "distribution_id and a tenant's alias", body: `{"distribution_id":"EDFDVBD6EXAMPLE","distribution":"customer-a","paths":["/a"]}`,
			wantCode: CodeConflictingTarget, wantIn: `distribution_id "EDFDVBD6EXAMPLE" and distribution "customer-a" name different targets`},
		{name: "tenant and a distribution's alias", body: `{"distribution_tenant_id":"customer-a","distribution":"www","paths":["/a"]}`,
			wantCode: CodeConflictingTarget},
		{name: "unknown tenant", body: `{"distribution_tenant_id":"dt_unknown","paths":["/a"]}`,
			wantCode: CodeDistributionNotAllowed, wantIn: `distribution_tenant_id "dt_unknown" is not in the allow-list (tenants)`},
		{name: "a distribution is not a tenant", body: `{"distribution_tenant_id":"www","paths":["/a"]}`,
			wantCode: CodeDistributionNotAllowed, wantIn: "it names distribution EDFDVBD6EXAMPLE"},
		{name: "parent distribution is not listed", body: `{"distribution_id":"E4SAAS","paths":["/a"]}`,
			wantCode: CodeDistributionNotAllowed},
		{name: "unknown tenant alias", body: `{"distribution":"customer-z","paths":["/a"]}`, wantCode: CodeDistributionNotAllowed},
		{name: "tenant without paths", body: `{"distribution_tenant_id":"customer-a"}`, wantCode: CodeNoPaths},
		{name: "tenant id not a string", body: `{"distribution_tenant_id":7,"paths":["/a"]}`, wantCode: CodeMalformed, wantIn: `"distribution_tenant_id" must be a string`},
		{name: "only a tenant field makes it v1", body: `{"distribution_tenant_id":"customer-a"}`, wantCode: CodeNoPaths},
		{name: "nothing named", body: `{"distribution_tenant_id":"","paths":["/a"]}`, wantCode: CodeMissingDistribution, wantIn: `"distribution_tenant_id"`},
	}
	runDecodeCases(t, d, cases)
	// allow_all_distributions covers distributions, never tenants.
	runDecodeCases(t, all, []decodeCase{
		{name: "allow all: unknown tenant", body: `{"distribution_tenant_id":"dt_unknown","paths":["/a"]}`, wantCode: CodeDistributionNotAllowed},
		{name: "allow all: unknown tenant in distribution", body: `{"distribution":"dt_unknown","paths":["/a"]}`, wantCode: CodeDistributionNotAllowed},
		{name: "allow all: the parent itself", body: `{"distribution_id":"E4SAAS","paths":["/a"]}`, want: v1(distSaaS, "/a")},
		{name: "allow all: listed alias wins over the id shape", body: `{"distribution":"ACME","paths":["/a"]}`, want: tenantV1(tenantA, "/a")},
		{name: "allow all: tenant", body: `{"distribution":"customer-b","paths":["/a"]}`, want: tenantV1(tenantB, "/a")},
	})
}

// TestDecodeV1TenantPartial: a tenant's bad items are dead-lettered under
// its id, and the rejections name it.
func TestDecodeV1TenantPartial(t *testing.T) {
	d := newDecoder(t, nil)
	got, err := d.Decode([]byte(`{"distribution":"customer-a","paths":["/ok","bad"],"tags":["x y"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Targets, tenantV1(tenantA, "/ok").Targets) || len(got.Rejected) != 2 {
		t.Fatalf("Decode = %+v", got)
	}
	wantBodies := []string{
		`{"distribution_tenant_id":"dt_2wjDZi3hD1ivOXf6rpZJO1AA","paths":["bad"]}`,
		`{"distribution_tenant_id":"dt_2wjDZi3hD1ivOXf6rpZJO1AA","tags":["x y"]}`,
	}
	for i, r := range got.Rejected {
		if r.TenantID != tenantA || r.DistributionID != distSaaS || string(r.Body) != wantBodies[i] {
			t.Errorf("rejection %d = %+v (body %s), want tenant %s of %s with body %s", i, r, r.Body, tenantA, distSaaS, wantBodies[i])
		}
		checkPartial(t, d, r)
	}
	_, err = d.Decode([]byte(`{"distribution_tenant_id":"customer-b","paths":["bad"]}`))
	if rej := assertRejection(t, err, CodeInvalidPath, ""); rej.TenantID != tenantB || rej.DistributionID != distSaaS {
		t.Fatalf("whole rejection %+v: want it to name tenant %s of %s", rej, tenantB, distSaaS)
	}
}

func TestEncodeV1Target(t *testing.T) {
	tenant := Target{DistributionID: distSaaS, TenantID: tenantA}
	if got, want := string(EncodeV1Target(tenant, []string{"/a", "#t"})), `{"distribution_tenant_id":"dt_2wjDZi3hD1ivOXf6rpZJO1AA","paths":["/a"],"tags":["t"]}`; got != want {
		t.Errorf("EncodeV1Target(tenant) = %s, want %s", got, want)
	}
	if got, want := string(EncodeV1Target(Target{DistributionID: distWWW}, []string{"/a"})), string(EncodeV1(distWWW, []string{"/a"})); got != want {
		t.Errorf("EncodeV1Target(distribution) = %s, want EncodeV1's %s", got, want)
	}
	if k := tenant.Key(); k != tenantA {
		t.Errorf("tenant Key() = %q", k)
	}
	if k := (Target{DistributionID: distWWW}).Key(); k != distWWW {
		t.Errorf("distribution Key() = %q", k)
	}
}

func TestTenantIDProblem(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want string // substring; "" = valid
	}{
		{"dt_2wjDZi3hD1ivOXf6rpZJO1AB", ""},
		{"tenant-1", ""},
		{strings.Repeat("t", 64), ""},
		{"", "empty"},
		{strings.Repeat("t", 65), "65 characters, more than the 64"},
		{"E2EXAMPLE", "shaped like a distribution id"},
		{"dt/1", `'/' not allowed`},
		{"dt 1", `' ' not allowed`},
		{"dt\t1", `'\t' not allowed`},
		{"dt?1", `'?' not allowed`},
		{"dt#1", `'#' not allowed`},
		{"dt%2F", `'%' not allowed`},
		{"dt_é", "not allowed"},
		{"dt\x7f", "not allowed"},
	} {
		if got := TenantIDProblem(tc.id); tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("TenantIDProblem(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
}

func TestNewDecoderTenantErrors(t *testing.T) {
	dists := []Distribution{{ID: "E1", Aliases: []string{"www"}}}
	tests := []struct {
		name    string
		tenants []Tenant
		want    string // "" = valid
	}{
		{name: "valid", tenants: testOptions().Tenants},
		{name: "parent listed too", tenants: []Tenant{{ID: "dt_1", Distribution: "E1"}}},
		{name: "alias equal to own id", tenants: []Tenant{{ID: "dt_1", Aliases: []string{"dt_1"}, Distribution: "E9"}}},
		{name: "bad id", tenants: []Tenant{{ID: "dt/1", Distribution: "E9"}}, want: `tenant id "dt/1": character '/' not allowed`},
		{name: "id shaped like a distribution id", tenants: []Tenant{{ID: "E1", Distribution: "E9"}}, want: "shaped like a distribution id"},
		{name: "no distribution", tenants: []Tenant{{ID: "dt_1"}}, want: `tenant "dt_1": distribution ""`},
		{name: "bad distribution", tenants: []Tenant{{ID: "dt_1", Distribution: "e9"}}, want: `distribution "e9"`},
		{name: "listed twice", tenants: []Tenant{{ID: "dt_1", Distribution: "E9"}, {ID: "dt_1", Distribution: "E8"}}, want: `tenant id "dt_1" listed twice`},
		{name: "empty alias", tenants: []Tenant{{ID: "dt_1", Aliases: []string{""}, Distribution: "E9"}}, want: "tenant dt_1: empty alias"},
		{name: "alias is a distribution's alias", tenants: []Tenant{{ID: "dt_1", Aliases: []string{"www"}, Distribution: "E9"}},
			want: `alias "www" is an alias of distribution E1`},
		{name: "alias is a distribution's id", tenants: []Tenant{{ID: "dt_1", Aliases: []string{"E1"}, Distribution: "E9"}},
			want: `alias "E1" is a distribution's id`},
		{name: "alias is another tenant's id", tenants: []Tenant{{ID: "dt_1", Aliases: []string{"dt_2"}, Distribution: "E9"}, {ID: "dt_2", Distribution: "E9"}},
			want: `alias "dt_2" is another tenant's id`},
		{name: "alias used twice", tenants: []Tenant{{ID: "dt_1", Aliases: []string{"a"}, Distribution: "E9"}, {ID: "dt_2", Aliases: []string{"a"}, Distribution: "E9"}},
			want: `alias "a" used by tenants dt_1 and dt_2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDecoder(Options{Distributions: dists, Tenants: tt.tenants})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("NewDecoder: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("NewDecoder error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	// A distribution's alias may not be a tenant's id either.
	_, err := NewDecoder(Options{Distributions: []Distribution{{ID: "E1", Aliases: []string{"dt_1"}}}, Tenants: []Tenant{{ID: "dt_1", Distribution: "E9"}}})
	if err == nil || !strings.Contains(err.Error(), `alias "dt_1" is a tenant's id`) {
		t.Fatalf("distribution alias equal to a tenant id: %v", err)
	}
}

func TestResolveTarget(t *testing.T) {
	d := newDecoder(t, nil)
	for _, tc := range []struct {
		in   string
		want Target
		ok   bool
	}{
		{"www", Target{DistributionID: distWWW}, true},
		{distBlog, Target{DistributionID: distBlog}, true},
		{"customer-a", Target{DistributionID: distSaaS, TenantID: tenantA}, true},
		{tenantB, Target{DistributionID: distSaaS, TenantID: tenantB}, true},
		{distSaaS, Target{}, false},
		{"nobody", Target{}, false},
	} {
		if got, ok := d.ResolveTarget(tc.in); got.DistributionID != tc.want.DistributionID || got.TenantID != tc.want.TenantID || ok != tc.ok {
			t.Errorf("ResolveTarget(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	// Resolve keeps its meaning: distributions only, also with AllowAll for
	// a tenant alias shaped like an id.
	all := newDecoder(t, func(o *Options) { o.AllowAll = true })
	for _, name := range []string{"customer-a", "ACME"} {
		if id, ok := all.Resolve(name); ok {
			t.Errorf("Resolve(%s) = %q, true; want tenants left to ResolveTarget", name, id)
		}
	}
}
