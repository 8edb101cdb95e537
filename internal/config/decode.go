package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var durationType = reflect.TypeFor[time.Duration]()

// decoder decodes YAML nodes into config values strictly, collecting every
// problem instead of stopping at the first. It walks the node tree itself,
// rather than using yaml's Decoder.KnownFields(true), so that a problem is
// named by the key path the user wrote (distributions[1].aliass) with its
// line, instead of by Go type names, and so that durations are strict:
// yaml would take a bare 10 as 10 nanoseconds.
type decoder struct {
	lines bool // report line numbers: true for a file, false for a one-line env value
	errs  []error
}

func (d *decoder) fail(key, format string, args ...any) {
	d.errs = append(d.errs, problemf(key, format, args...))
}

// at says where node n is, for errors: " (line 3)", or "" without lines.
func (d *decoder) at(n *yaml.Node) string {
	if !d.lines {
		return ""
	}
	return fmt.Sprintf(" (line %d)", n.Line)
}

// value decodes n into v; key names v in errors.
func (d *decoder) value(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case v.Type() == durationType:
		d.duration(n, v, key)
	case v.Kind() == reflect.Pointer:
		d.pointer(n, v, key)
	case v.Kind() == reflect.Struct:
		d.mapping(n, v, key)
	case v.Kind() == reflect.Slice:
		d.sequence(n, v, key)
	default:
		d.scalar(n, v, key)
	}
}

// mapping decodes a YAML mapping into struct v, matching keys to yaml tags.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.fail(key, "must be a mapping of keys, got %s", describe(n))
		return
	}
	fields, names := fieldsByTag(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, known := fields[k.Value]
		switch {
		case !known:
			d.fail(key, "unknown key %q%s%s", k.Value, d.at(k), didYouMean(k.Value, names, asKey))
		case seen[k.Value]:
			d.fail(join(key, k.Value), "set twice%s", d.at(k))
		default:
			seen[k.Value] = true
			d.value(val, v.Field(idx), join(key, k.Value))
		}
	}
}

// sequence decodes a YAML list into slice v; null and [] are an empty list
// (nil, as in Default).
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, key string) {
	if isNull(n) || n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(key, "must be a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", key, i))
	}
	v.Set(s)
}

// pointer decodes an optional value; null leaves it nil (the default).
func (d *decoder) pointer(n *yaml.Node, v reflect.Value, key string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	p := reflect.New(v.Type().Elem())
	d.value(n, p.Elem(), key)
	v.Set(p)
}

// duration accepts only strings with a unit ("10s", "1m30s") and a bare 0.
func (d *decoder) duration(n *yaml.Node, v reflect.Value, key string) {
	const hint = "(use Go durations like 10s, 1m30s)"
	switch {
	case n.Kind != yaml.ScalarNode || isNull(n):
		d.fail(key, "must be a duration %s, got %s", hint, describe(n))
	case n.ShortTag() == "!!str":
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.fail(key, "invalid duration %q %s", n.Value, hint)
			return
		}
		v.SetInt(int64(dur))
	case n.Value == "0":
		v.SetInt(0)
	default: // a bare number: yaml would read 10 as 10ns.
		d.fail(key, "invalid duration %s: missing unit %s", n.Value, hint)
	}
}

// scalar decodes strings (verbatim, whatever they look like), YAML 1.2
// booleans and integers. null is "" for a string and an error otherwise.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, key string) {
	want, tag := scalarKind(v.Kind())
	switch {
	case n.Kind != yaml.ScalarNode:
		d.fail(key, "must be %s, got %s", want, describe(n))
	case v.Kind() == reflect.String && isNull(n): // "key:" with no value
		v.SetString("")
	case v.Kind() == reflect.String:
		v.SetString(n.Value)
	case isNull(n):
		d.fail(key, "missing value (remove the key to keep the default)")
	case tag != "" && n.ShortTag() != tag:
		d.fail(key, "must be %s, got %s", want, describe(n))
	default:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(key, "must be %s, got %s", want, describe(n))
		}
	}
}

// scalarKind says what a scalar of kind k must look like, and its YAML tag.
func scalarKind(k reflect.Kind) (want, tag string) {
	switch k {
	case reflect.String:
		return "a string", ""
	case reflect.Bool:
		return "true or false", "!!bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer", "!!int"
	}
	return "a " + k.String(), ""
}

func asKey(k string) string { return k }

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's value for an error message.
func describe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case isNull(n):
		return "nothing"
	case n.ShortTag() == "!!str":
		return fmt.Sprintf("%q", n.Value)
	}
	return n.Value
}

// fieldsByTag maps the yaml tag names of struct t to field indexes, and
// lists the names in field order. Fields without a tag are not config keys.
func fieldsByTag(t reflect.Type) (map[string]int, []string) {
	idx := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		idx[name] = i
		names = append(names, name)
	}
	return idx, names
}
