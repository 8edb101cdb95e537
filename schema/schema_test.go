package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/acme/cf-invalidator/internal/config"
	"github.com/acme/cf-invalidator/internal/message"
)

// referenceDecoder is the decoder of configs/worker.yaml, the reference
// configuration the examples are written for.
func referenceDecoder(t *testing.T) *message.Decoder {
	t.Helper()
	cfg, err := config.Load(filepath.Join("..", "configs", "worker.yaml"), nil)
	if err != nil {
		t.Fatalf("configs/worker.yaml: %v", err)
	}
	dec, err := message.NewDecoder(cfg.DecoderOptions())
	if err != nil {
		t.Fatalf("decoder from configs/worker.yaml: %v", err)
	}
	return dec
}

// The reference configuration's distribution, and its example tenant.
const (
	ref       = "EDFDVBD6EXAMPLE"
	refTenant = "dt_2wjDZi3hD1ivOXf6rpZJO1AB"
	refMulti  = "E3MULTITENANT"
)

// TestExamplesDecode decodes every producer example with the reference
// configuration: each must be accepted whole, in the expected format, with
// the expected paths.
func TestExamplesDecode(t *testing.T) {
	want := map[string]struct {
		format string
		paths  []string // nil: only the count is checked
		count  int
		v1     bool // also validates against the schema
		tenant bool // for the reference tenant, not the distribution
	}{
		"app-v1.json":         {format: "v1", paths: []string{"/index.html", "/img/*"}, v1: true},
		"cms-publish.json":    {format: "v1", count: 28, v1: true},
		"alias.json":          {format: "v1", paths: []string{"/pricing", "/pricing/faq"}, v1: true},
		"tags.json":           {format: "v1", paths: []string{"#product-42", "#category-shoes"}, v1: true},
		"sns-envelope.json":   {format: "sns/v1", paths: []string{"/products/42", "/products/"}},
		"s3-event.json":       {format: "s3", paths: []string{"/blog/index.html", "/blog/", "/img/red%20flower.jpg"}},
		"eventbridge-s3.json": {format: "eventbridge/s3", paths: []string{"/menus/caf%C3%A9%20menu.pdf"}},
		"tenant.json":         {format: "v1", paths: []string{"/index.html", "/assets/*"}, v1: true, tenant: true},
		"tenant-alias.json":   {format: "v1", paths: []string{"/pricing", "#plan-pro"}, v1: true, tenant: true},
	}
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for name := range want {
		if !slices.Contains(names, name) {
			t.Errorf("examples/%s is missing", name)
		}
	}
	dec := referenceDecoder(t)
	s := loadSchema(t)
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("examples/%s is not in this test's table: add what it should decode to", name)
			}
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := dec.Decode(body)
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if got.Format != w.format || got.Ignore || len(got.Rejected) > 0 || len(got.Targets) != 1 {
				t.Fatalf("decoded %+v; want format %s, one target, nothing rejected or ignored", got, w.format)
			}
			tg := got.Targets[0]
			switch {
			case w.tenant && (tg.TenantID != refTenant || tg.DistributionID != refMulti):
				t.Errorf("target %+v, want tenant %s of %s", tg, refTenant, refMulti)
			case !w.tenant && (tg.TenantID != "" || tg.DistributionID != ref):
				t.Errorf("target %+v, want distribution %s", tg, ref)
			}
			if w.paths != nil && !slices.Equal(tg.Paths, w.paths) {
				t.Errorf("paths %q, want %q", tg.Paths, w.paths)
			}
			if w.paths == nil && len(tg.Paths) != w.count {
				t.Errorf("%d paths, want %d: %q", len(tg.Paths), w.count, tg.Paths)
			}
			var doc any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			if errs := s.validate(doc); w.v1 && len(errs) > 0 {
				t.Errorf("does not validate against the schema: %v", errs)
			} else if !w.v1 && len(errs) == 0 {
				t.Errorf("validates against the v1 schema, but is not a v1 body")
			}
		})
	}
}

// TestSchemaWellFormed checks the schema file is JSON of the declared
// draft, with an $id, a description and examples, and that every example
// in it is valid and accepted by the decoder.
func TestSchemaWellFormed(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(MessageV1, &doc); err != nil {
		t.Fatalf("schema/message-v1.schema.json is not JSON: %v", err)
	}
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", doc["$schema"])
	}
	for _, k := range []string{"$id", "title", "description"} {
		if s, _ := doc[k].(string); s == "" {
			t.Errorf("schema has no %s", k)
		}
	}
	examples, _ := doc["examples"].([]any)
	if len(examples) == 0 {
		t.Fatal("schema has no examples")
	}
	s := loadSchema(t)
	dec := referenceDecoder(t)
	for i, ex := range examples {
		if errs := s.validate(ex); len(errs) > 0 {
			t.Errorf("schema example %d is invalid by the schema: %v", i, errs)
		}
		body, _ := json.Marshal(ex)
		got, err := dec.Decode(body)
		if err != nil || len(got.Rejected) > 0 || len(got.Targets) == 0 {
			t.Errorf("schema example %d %s: decoder says %+v, %v", i, body, got, err)
		}
	}
}

// TestSchemaAgreesWithDecoder feeds v1 bodies to the schema and to the
// decoder: what the schema accepts the decoder accepts whole, and what it
// refuses the decoder refuses (the whole message, or the offending items).
func TestSchemaAgreesWithDecoder(t *testing.T) {
	long := "/" + strings.Repeat("a", 3999)
	tag256 := strings.Repeat("t", 256)
	cases := []struct {
		body  string
		valid bool
	}{
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":["/a"]}`, true},
		{`{"version":1,"distribution":"www","paths":["/a","/b/*"]}`, true},
		{`{"distribution":"EDFDVBD6EXAMPLE","paths":["HTTPS://www.example.com/x?y=1"]}`, true},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","distribution":"www","tags":["x"]}`, true},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":[],"tags":["x"]}`, true},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":["` + long + `"]}`, true},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","tags":["` + tag256 + `","#` + tag256 + `"]}`, true},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":["/a"],"future_field":{"x":1}}`, true},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":[" /padded "]}`, true},
		{`{"distribution_tenant_id":"dt_2wjDZi3hD1ivOXf6rpZJO1AB","paths":["/a"]}`, true},
		{`{"distribution_tenant_id":"customer-a","tags":["x"]}`, true},
		{`{"distribution":"customer-a","paths":["/a"]}`, true},
		{`{"distribution":"dt_2wjDZi3hD1ivOXf6rpZJO1AB","paths":["/a"]}`, true},
		{`{"distribution_tenant_id":"dt_2wjDZi3hD1ivOXf6rpZJO1AB","distribution":"customer-a","paths":["/a"]}`, true},

		{`{"paths":["/a"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","distribution_tenant_id":"dt_2wjDZi3hD1ivOXf6rpZJO1AB","paths":["/a"]}`, false},
		{`{"distribution_id":"E3MULTITENANT","distribution_tenant_id":"customer-a","paths":["/a"]}`, false},
		{`{"distribution_tenant_id":"","paths":["/a"]}`, false},
		{`{"distribution_tenant_id":7,"paths":["/a"]}`, false},
		{`{"distribution_tenant_id":"customer-a","paths":[]}`, false},
		{`{"distribution_tenant_id":"customer-a","paths":["relative"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE"}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":[]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":[],"tags":[]}`, false},
		{`{"version":2,"distribution_id":"EDFDVBD6EXAMPLE","paths":["/a"]}`, false},
		{`{"version":"1","distribution_id":"EDFDVBD6EXAMPLE","paths":["/a"]}`, false},
		{`{"distribution_id":"edfdvbd6example","paths":["/a"]}`, false},
		{`{"distribution_id":42,"paths":["/a"]}`, false},
		{`{"distribution":"","paths":["/a"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":"/a"}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":["relative/a"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":["/a","relative"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":["/a*/b"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":["ftp://host/a"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":["` + long + `a"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":[1]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","tags":["a,b"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","tags":["a*"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","tags":["a b"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","tags":["caf\u00e9"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","tags":[""]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","tags":["` + tag256 + `t"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":["/ok"],"tags":["bad,tag"]}`, false},
		{`{"distribution_id":"EDFDVBD6EXAMPLE","paths":` + jsonList(10001) + `}`, false},
	}
	s := loadSchema(t)
	dec := referenceDecoder(t)
	for i, c := range cases {
		var doc any
		if err := json.Unmarshal([]byte(c.body), &doc); err != nil {
			t.Fatalf("case %d: bad JSON in the test: %v", i, err)
		}
		errs := s.validate(doc)
		got, err := dec.Decode([]byte(c.body))
		accepted := err == nil && len(got.Rejected) == 0 && len(got.Targets) > 0
		show := c.body
		if len(show) > 120 {
			show = show[:120] + "…"
		}
		switch {
		case c.valid && len(errs) > 0:
			t.Errorf("case %d %s: schema refuses it: %v", i, show, errs)
		case !c.valid && len(errs) == 0:
			t.Errorf("case %d %s: schema accepts it", i, show)
		}
		if accepted != c.valid {
			t.Errorf("case %d %s: decoder accepted=%v (err %v, rejected %+v), schema valid=%v", i, show, accepted, err, got.Rejected, c.valid)
		}
	}
}

func jsonList(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("%q", fmt.Sprintf("/p/%d", i))
	}
	return "[" + strings.Join(items, ",") + "]"
}

// ---------------------------------------------------------------------------
// A validator for the subset of JSON Schema 2020-12 the schema uses. It
// refuses keywords it does not know, so a schema change that it cannot
// check fails here instead of passing unchecked. ECMA-262 and Go regular
// expressions agree on the patterns the schema uses.

type schema struct {
	root map[string]any
}

func loadSchema(t *testing.T) schema {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(MessageV1))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("schema: %v", err)
	}
	return schema{root: root}
}

// annotations are keywords that do not constrain.
var annotations = map[string]bool{"$schema": true, "$id": true, "$defs": true, "title": true, "description": true, "examples": true}

func (s schema) validate(doc any) []string {
	return s.check(s.root, normalize(doc), "$")
}

// normalize turns float64 from json.Unmarshal into json.Number, like the
// schema's own numbers.
func normalize(v any) any {
	switch x := v.(type) {
	case float64:
		return json.Number(fmt.Sprint(x))
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalize(x[k])
		}
	}
	return v
}

func (s schema) check(sch map[string]any, v any, at string) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	keys := make([]string, 0, len(sch))
	for k := range sch {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		kw := sch[k]
		switch k {
		case "$ref":
			name, ok := strings.CutPrefix(kw.(string), "#/$defs/")
			if !ok {
				fail("unsupported $ref %v", kw)
				continue
			}
			errs = append(errs, s.check(s.root["$defs"].(map[string]any)[name].(map[string]any), v, at)...)
		case "type":
			if !hasType(v, kw.(string)) {
				fail("not of type %s", kw)
			}
		case "const":
			if fmt.Sprint(kw) != fmt.Sprint(v) || hasType(kw, "string") != hasType(v, "string") {
				fail("not %v", kw)
			}
		case "required":
			if m, ok := v.(map[string]any); ok {
				for _, name := range kw.([]any) {
					if _, has := m[name.(string)]; !has {
						fail("%q is required", name)
					}
				}
			}
		case "properties":
			if m, ok := v.(map[string]any); ok {
				for name, sub := range kw.(map[string]any) {
					if pv, has := m[name]; has {
						errs = append(errs, s.check(sub.(map[string]any), pv, at+"."+name)...)
					}
				}
			}
		case "items":
			if a, ok := v.([]any); ok {
				for i, item := range a {
					errs = append(errs, s.check(kw.(map[string]any), item, fmt.Sprintf("%s[%d]", at, i))...)
				}
			}
		case "not":
			if len(s.check(kw.(map[string]any), v, at)) == 0 {
				fail("matches the schema under \"not\"")
			}
		case "allOf":
			for _, sub := range kw.([]any) {
				errs = append(errs, s.check(sub.(map[string]any), v, at)...)
			}
		case "anyOf":
			var all []string
			ok := false
			for _, sub := range kw.([]any) {
				e := s.check(sub.(map[string]any), v, at)
				ok = ok || len(e) == 0
				all = append(all, e...)
			}
			if !ok {
				fail("matches none of anyOf: %s", strings.Join(all, "; "))
			}
		case "pattern":
			if str, ok := v.(string); ok && !regexp.MustCompile(kw.(string)).MatchString(str) {
				fail("does not match %s", kw)
			}
		case "minLength", "maxLength":
			if str, ok := v.(string); ok {
				n, limit := utf8.RuneCountInString(str), number(kw)
				if k == "minLength" && n < limit || k == "maxLength" && n > limit {
					fail("length %d violates %s %d", n, k, limit)
				}
			}
		case "minItems", "maxItems":
			if a, ok := v.([]any); ok {
				n, limit := len(a), number(kw)
				if k == "minItems" && n < limit || k == "maxItems" && n > limit {
					fail("%d items violates %s %d", n, k, limit)
				}
			}
		default:
			if !annotations[k] {
				fail("the test's validator does not know keyword %q: teach it", k)
			}
		}
	}
	return errs
}

func number(v any) int {
	n, err := v.(json.Number).Int64()
	if err != nil {
		panic(err)
	}
	return int(n)
}

func hasType(v any, typ string) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	}
	return false
}
