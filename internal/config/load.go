package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// envPrefix starts the name of every environment variable that sets a
// config key: INVALIDATOR_<UPPER(key)>.
const envPrefix = "INVALIDATOR_"

// Load builds the configuration: [Default], then the YAML file at path
// ("" = no file), then the INVALIDATOR_* variables in environ (as from
// os.Environ), then [Config.Validate]. The error joins every problem found,
// one line each.
func Load(path string, environ []string) (Config, error) {
	c := Default()
	var errs []error
	if path != "" {
		fileErrs, err := decodeFile(path, &c)
		if err != nil {
			return Config{}, err // unreadable or not YAML: nothing else is worth saying
		}
		errs = fileErrs
	}
	fromEnv, envErrs := applyEnv(&c, environ)
	errs = append(errs, envErrs...)
	errs = append(errs, relabel(c.problems(), fromEnv)...)
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decodeFile decodes the YAML file at path into c. The error is for a file
// that cannot be read or parsed; problems with its keys and values are
// returned in the slice.
func decodeFile(path string, c *Config) ([]error, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	root, err := parseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %s", path, oneLine(err))
	}
	if root == nil {
		return nil, nil // an empty file sets nothing
	}
	d := decoder{lines: true}
	d.value(root, reflect.ValueOf(c).Elem(), "")
	return d.errs, nil
}

// parseDocument parses exactly one YAML document; nil means an empty one.
func parseDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document (a stray ---?)")
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, nil // only comments, or a bare ---
	}
	return doc.Content[0], nil
}

// applyEnv sets each top-level key from its INVALIDATOR_<UPPER(key)>
// variable. The keys come from the yaml tags, so a new field gets its
// variable for free. It returns which variable set which key, and an error
// for every unknown INVALIDATOR_ variable (typo protection) or bad value.
func applyEnv(c *Config, environ []string) (map[string]string, []error) {
	v := reflect.ValueOf(c).Elem()
	fields, names := fieldsByTag(v.Type())
	fromEnv := map[string]string{}
	var errs []error
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		suffix, ok := strings.CutPrefix(name, envPrefix)
		if !ok {
			continue
		}
		key := strings.ToLower(suffix)
		idx, known := fields[key]
		if !known || suffix != strings.ToUpper(key) {
			errs = append(errs, problemf(name, "unknown variable (no config key %q)%s", key, didYouMean(key, names, envName)))
			continue
		}
		errs = append(errs, setFromEnv(v.Field(idx), name, val)...)
		fromEnv[key] = name
	}
	return fromEnv, errs
}

// setFromEnv decodes val as a YAML value (JSON works for lists) into v.
// Strings are taken verbatim: "123" and "http://x:1/q" stay strings.
func setFromEnv(v reflect.Value, name, val string) []error {
	if v.Kind() == reflect.String {
		v.SetString(val)
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(val), &doc); err != nil {
		return []error{problemf(name, "not a YAML or JSON value: %s", oneLine(err))}
	}
	if len(doc.Content) == 0 {
		return []error{problemf(name, "empty value (unset the variable to keep the file's or default value)")}
	}
	d := decoder{}
	d.value(doc.Content[0], v, name)
	return d.errs
}

// relabel renames problems with keys that came from the environment after
// the variable, which is what the user wrote: "config: INVALIDATOR_POLLERS:
// ..." rather than "config: pollers: ...".
func relabel(errs []error, fromEnv map[string]string) []error {
	for _, err := range errs {
		var p *problem
		if !errors.As(err, &p) {
			continue
		}
		top, rest := p.key, ""
		if i := strings.IndexAny(p.key, ".["); i >= 0 {
			top, rest = p.key[:i], p.key[i:]
		}
		if name, ok := fromEnv[top]; ok {
			p.key = name + rest
		}
	}
	return errs
}

// envName is the variable that sets key.
func envName(key string) string { return envPrefix + strings.ToUpper(key) }

// oneLine keeps an error on one line, as every problem is one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
