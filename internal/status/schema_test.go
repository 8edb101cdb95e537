package status_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/acme/cf-invalidator/internal/status"
	"github.com/acme/cf-invalidator/internal/status/statustest"
	"github.com/acme/cf-invalidator/schema"
)

const schemaURL = "https://github.com/acme/cf-invalidator/schema/status-v1.schema.json"

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.StatusV1))
	if err != nil {
		t.Fatalf("status-v1.schema.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat() // date-time is checked, not only annotated
	if err := c.AddResource(schemaURL, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		t.Fatalf("compile status-v1.schema.json: %v", err)
	}
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, name string, body []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: not JSON: %v", name, err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("%s does not validate against status-v1.schema.json:\n%v", name, err)
	}
}

// full is a snapshot with every optional member set, so that validation
// covers each one.
func full() status.Snapshot {
	s := statustest.Tenant(statustest.Demo())
	d := &s.Distributions[0]
	d.Paused = &status.Pause{Reason: "deploy", By: "127.0.0.1:1 · curl", At: s.At, All: true}
	d.View.Error = "AccessDenied"
	s.Queues[0].AttrError = "throttled"
	s.Draining = true
	upper := 2100
	s.Account.Upper, s.Account.Exact = &upper, false
	return s
}

// TestStatusSchemaValidates serves snapshots through GET /api/status and
// validates each answer against the published schema.
func TestStatusSchemaValidates(t *testing.T) {
	sch := compileSchema(t)
	for name, snap := range map[string]status.Snapshot{
		"demo":    statustest.Demo(),
		"full":    full(),
		"hostile": statustest.Hostile("tok"),
		"empty":   {},
	} {
		t.Run(name, func(t *testing.T) {
			fake := statustest.New(snap)
			srv := httptest.NewServer(mux(status.Options{Provider: fake, Token: "tok", Controller: fake}))
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/api/status")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("GET /api/status: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			validate(t, sch, name, body)
		})
	}
	// The schema rejects what it must: it is not a permissive no-op.
	for name, body := range map[string]string{
		"wrong version":  `{"schema":2}`,
		"missing member": `{"schema":1,"at":"2026-05-14T10:00:00Z"}`,
		"bad time":       strings.Replace(mustJSON(t, statustest.Demo()), `"at": "2026-05-14T10:42:17Z"`, `"at": "yesterday"`, 1),
		"bad origin":     strings.Replace(mustJSON(t, statustest.Demo()), `"origin": "other"`, `"origin": "alien"`, 1),
	} {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sch.Validate(inst) == nil {
			t.Errorf("%s: validated, want a schema error", name)
		}
	}
}

func mustJSON(t *testing.T, s status.Snapshot) string {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"origin": "other"`)) || !bytes.Contains(b, []byte(`"at": "2026-05-14T10:42:17Z"`)) {
		t.Fatalf("the demo lost what this test edits: %s", b)
	}
	return string(b)
}

// TestStatusSchemaDocumentsEveryField walks the Go types and the schema
// together: every JSON member of a Snapshot is documented, every
// documented member exists, and "required" lists exactly the members that
// are never omitted.
func TestStatusSchemaDocumentsEveryField(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(schema.StatusV1, &root); err != nil {
		t.Fatal(err)
	}
	defs, _ := root["$defs"].(map[string]any)
	resolve := func(n map[string]any) map[string]any {
		for {
			ref, ok := n["$ref"].(string)
			if !ok {
				return n
			}
			n, _ = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
			if n == nil {
				t.Fatalf("dangling $ref %s", ref)
			}
		}
	}
	leaf := map[reflect.Type]bool{reflect.TypeFor[time.Time](): true, reflect.TypeFor[status.Duration](): true}
	seen := map[string]bool{}
	var walk func(path string, typ reflect.Type, n map[string]any)
	walk = func(path string, typ reflect.Type, n map[string]any) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		n = resolve(n)
		if typ.Kind() == reflect.Slice {
			items, _ := n["items"].(map[string]any)
			if items == nil {
				t.Errorf("%s: the schema gives no items", path)
				return
			}
			walk(path+"[]", typ.Elem(), items)
			return
		}
		if typ.Kind() != reflect.Struct || leaf[typ] {
			return
		}
		props, _ := n["properties"].(map[string]any)
		var required []string
		req, _ := n["required"].([]any)
		for _, r := range req {
			required = append(required, r.(string))
		}
		fields := map[string]bool{}
		for f := range typ.Fields() {
			tag := f.Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
			if !f.IsExported() || name == "-" || name == "" {
				continue
			}
			fields[name] = true
			p := path + "." + name
			seen[p] = true
			optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
			sub, ok := props[name].(map[string]any)
			if !ok {
				t.Errorf("%s is not documented in status-v1.schema.json", p)
				continue
			}
			if req := slices.Contains(required, name); req == optional {
				t.Errorf("%s: required in the schema = %v, but omitted when empty by the Go type = %v", p, req, optional)
			}
			walk(p, f.Type, sub)
		}
		for name := range props {
			if !fields[name] {
				t.Errorf("%s.%s is documented but not in the Go type %s", path, name, typ)
			}
		}
	}
	walk("$", reflect.TypeFor[status.Snapshot](), root)
	if len(seen) < 100 {
		t.Fatalf("walked only %d members: the walk is broken", len(seen))
	}
}
