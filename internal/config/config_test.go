package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDefault(t *testing.T) {
	want := Config{
		Window:             10 * time.Second,
		Lanes:              Lanes{Bulk: Lane{Window: time.Minute, CollapseAbove: 500}},
		HTTPAddr:           "127.0.0.1:9090",
		ShutdownGrace:      30 * time.Second,
		Pollers:            4,
		VisibilityTimeout:  time.Minute,
		MaxHeld:            20000,
		SubmitConcurrency:  2,
		RetryMaxBackoff:    2 * time.Minute,
		MaxPathsPerMessage: 10000,
		LogLevel:           "info",

		QuotaReserveFiles:     100,
		QuotaReserveWildcards: 2,
		ViewMaxAge:            0,
		ViewRefresh:           5 * time.Second,
		ViewIdleRefresh:       time.Minute,
		CloudFrontReadRate:    5,
		ClockSkewMargin:       time.Second,
		FlushJitter:           time.Second,
		MaxHold:               time.Hour,
		FreePathsPerMonth:     1000,
		TrackCompletion:       true,
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default() = %+v, want %+v", got, want)
	}
	// Default is complete but for the two keys an operator must choose.
	wantErrs(t, Default().Validate(),
		`config: queue_url: required (or queues, to read several)`,
		`config: distributions: empty allow-list (list distributions or tenants, or set allow_all_distributions: true on purpose)`,
	)
}

func TestIndexDirectories(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		set  *bool
		want bool
	}{{nil, true}, {&yes, true}, {&no, false}} {
		if got := (Config{}).IndexDirectories(Distribution{IndexDirectories: tc.set}); got != tc.want {
			t.Errorf("IndexDirectories(%v) = %v, want %v", tc.set, got, tc.want)
		}
	}
}

func TestCollapseMinDepthAndJitter(t *testing.T) {
	zero, two := 0, 2
	for _, tc := range []struct {
		set  *int
		want int
	}{{nil, 1}, {&zero, 0}, {&two, 2}} {
		if got := (Config{}).CollapseMinDepth(Distribution{CollapseMinDepth: tc.set}); got != tc.want {
			t.Errorf("CollapseMinDepth(%v) = %d, want %d", tc.set, got, tc.want)
		}
	}
	c := Default()
	if got := c.Jitter(); got != time.Second {
		t.Errorf("jitter with a 10 s window = %v, want flush_jitter's 1 s", got)
	}
	c.Window = 2 * time.Second
	if got := c.Jitter(); got != 500*time.Millisecond {
		t.Errorf("jitter with a 2 s window = %v, want a quarter of it", got)
	}
}

func configsDir() string { return filepath.Join("..", "..", "configs") }

func TestReferenceConfig(t *testing.T) {
	path := filepath.Join(configsDir(), "worker.yaml")
	c, err := Load(path, nil)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	// Every key but the required queue_url and the example allow-list shows
	// its default.
	want := Default()
	want.QueueURL, want.Distributions, want.Tenants = c.QueueURL, c.Distributions, c.Tenants
	if !reflect.DeepEqual(c, want) {
		t.Errorf("worker.yaml differs from Default():\n got %+v\nwant %+v", c, want)
	}
	if len(c.Distributions) == 0 || len(c.Distributions[0].Aliases) == 0 || len(c.Distributions[0].S3) == 0 {
		t.Errorf("worker.yaml: want an example distribution with aliases and an s3 mapping, got %+v", c.Distributions)
	}
	if len(c.Tenants) == 0 || len(c.Tenants[0].Aliases) == 0 {
		t.Errorf("worker.yaml: want an example tenant with aliases, got %+v", c.Tenants)
	}
}

// TestReferenceConfigDocumentsEveryKey keeps worker.yaml in step with the
// structs: a new field must be documented there.
func TestReferenceConfigDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(configsDir(), "worker.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := parseDocument(data)
	if err != nil {
		t.Fatal(err)
	}
	dist := child(root, "distributions").Content[0]
	lanes := child(root, "lanes")
	for _, tc := range []struct {
		name string
		node *yaml.Node
		typ  reflect.Type
	}{
		{"top level", root, reflect.TypeFor[Config]()},
		{"distributions[0]", dist, reflect.TypeFor[Distribution]()},
		{"distributions[0].s3[0]", child(dist, "s3").Content[0], reflect.TypeFor[S3Source]()},
		{"tenants[0]", child(root, "tenants").Content[0], reflect.TypeFor[Tenant]()},
		{"lanes", lanes, reflect.TypeFor[Lanes]()},
		{"lanes.live", child(lanes, "live"), reflect.TypeFor[Lane]()},
		{"lanes.bulk", child(lanes, "bulk"), reflect.TypeFor[Lane]()},
	} {
		_, want := fieldsByTag(tc.typ)
		if got := keys(tc.node); !slices.Equal(got, want) {
			t.Errorf("worker.yaml %s keys = %v, want %v (every key, in struct order)", tc.name, got, want)
		}
	}
	// queues is empty there (it excludes queue_url); its entry's keys are
	// documented in the comment above it, one "#   key:" line each.
	_, want := fieldsByTag(reflect.TypeFor[Queue]())
	for _, k := range want {
		if !strings.Contains(string(data), "\n#   "+k+":") {
			t.Errorf("worker.yaml does not document queues[].%s", k)
		}
	}
}

func TestLocalConfig(t *testing.T) {
	path := filepath.Join(configsDir(), "local.yaml")
	c, err := Load(path, nil)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	want := Default()
	want.QueueURL = "http://localhost:5000/123456789012/invalidations"
	want.DeadLetterQueueURL = "http://localhost:5000/123456789012/invalidations-dlq"
	want.Window = 2 * time.Second
	want.HTTPAddr = "127.0.0.1:9090"
	want.ShutdownGrace = 10 * time.Second
	want.VisibilityTimeout = 30 * time.Second
	want.Pollers = 1
	want.Distributions = []Distribution{{ID: "EDFDVBD6EXAMPLE", Aliases: []string{"www"}}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("local.yaml:\n got %+v\nwant %+v", c, want)
	}

	// The demo script re-points queues and the distribution through the env.
	c, err = Load(path, []string{
		"INVALIDATOR_QUEUE_URL=http://127.0.0.1:4566/000000000000/q",
		"INVALIDATOR_DEAD_LETTER_QUEUE_URL=http://127.0.0.1:4566/000000000000/dlq",
		`INVALIDATOR_DISTRIBUTIONS=[{"id":"E3DEMO","aliases":["www"]}]`,
	})
	if err != nil {
		t.Fatalf("Load(%s) with env: %v", path, err)
	}
	if c.QueueURL != "http://127.0.0.1:4566/000000000000/q" || c.DeadLetterQueueURL != "http://127.0.0.1:4566/000000000000/dlq" ||
		len(c.Distributions) != 1 || c.Distributions[0].ID != "E3DEMO" {
		t.Errorf("local.yaml with env overrides: got %+v", c)
	}
}

func child(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return &yaml.Node{}
}

func keys(m *yaml.Node) []string {
	var ks []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		ks = append(ks, m.Content[i].Value)
	}
	return ks
}

// wantErrs checks that err holds exactly the given problems, one line each.
func wantErrs(t *testing.T, err error, want ...string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Errorf("unexpected error:\n%v", err)
		}
		return
	}
	if err == nil {
		t.Errorf("no error, want:\n%s", strings.Join(want, "\n"))
		return
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("error lines:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}
