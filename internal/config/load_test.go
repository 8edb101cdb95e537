package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const minimalYAML = `queue_url: https://sqs.us-east-1.amazonaws.com/123456789012/q
distributions:
  - id: E1
`

// writeConfig writes a YAML file for Load; "" means no file.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	if text == "" {
		return ""
	}
	path := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func minimal() Config {
	c := Default()
	c.QueueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
	c.Distributions = []Distribution{{ID: "E1"}}
	return c
}

func TestLoad(t *testing.T) {
	no := false
	for _, tc := range []struct {
		name string
		file string
		env  []string
		want func(*Config) // applied to minimal()
	}{
		{name: "defaults fill what the file leaves out", file: minimalYAML, want: func(*Config) {}},
		{
			name: "env wins over file, file over default",
			file: minimalYAML + "window: 5s\npollers: 8\nhttp_addr: 0.0.0.0:9000\n",
			env:  []string{"INVALIDATOR_WINDOW=7s", "INVALIDATOR_HTTP_ADDR=", "PATH=/bin", "OTHER_WINDOW=1h"},
			want: func(c *Config) { c.Window, c.Pollers, c.HTTPAddr = 7*time.Second, 8, "" },
		},
		{
			name: "env only",
			env: []string{
				"INVALIDATOR_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/q",
				"INVALIDATOR_ALLOW_ALL_DISTRIBUTIONS=true",
				"INVALIDATOR_POLLERS=16",
				"INVALIDATOR_VISIBILITY_TIMEOUT=2m",
			},
			want: func(c *Config) {
				c.Distributions, c.AllowAllDistributions = nil, true
				c.Pollers, c.VisibilityTimeout = 16, 2*time.Minute
			},
		},
		{
			name: "env list as JSON replaces the file's list",
			file: minimalYAML + "  - id: E2\n",
			env:  []string{`INVALIDATOR_DISTRIBUTIONS=[{"id":"E3","aliases":["www","shop"],"index_directories":false,"s3":[{"bucket":"b","prefix":"p/","origin_path":"/o"}]}]`},
			want: func(c *Config) {
				c.Distributions = []Distribution{{ID: "E3", Aliases: []string{"www", "shop"}, IndexDirectories: &no,
					S3: []S3Source{{Bucket: "b", Prefix: "p/", OriginPath: "/o"}}}}
			},
		},
		{
			name: "env strings are verbatim even when they look like YAML",
			file: minimalYAML,
			env:  []string{"INVALIDATOR_QUEUE_URL=http://x:1/q", "INVALIDATOR_DEAD_LETTER_QUEUE_URL=http://x:1/dlq #1"},
			want: func(c *Config) { c.QueueURL, c.DeadLetterQueueURL = "http://x:1/q", "http://x:1/dlq #1" },
		},
		{
			name: "allow_all_distributions without a list",
			file: "queue_url: https://q.example/1/q\nallow_all_distributions: true\n",
			want: func(c *Config) {
				c.QueueURL, c.Distributions, c.AllowAllDistributions = "https://q.example/1/q", nil, true
			},
		},
		{
			name: "bare 0 is a duration, as in Go",
			file: minimalYAML + "shutdown_grace: 0\n",
			want: func(c *Config) { c.ShutdownGrace = 0 },
		},
		{
			name: "null string disables http; anchors work",
			file: minimalYAML + "http_addr:\nwindow: &w 1m\nretry_max_backoff: *w\n",
			want: func(c *Config) { c.HTTPAddr, c.Window, c.RetryMaxBackoff = "", time.Minute, time.Minute },
		},
		{
			name: "bare --- sets nothing",
			file: "---\n",
			env:  []string{"INVALIDATOR_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/q", `INVALIDATOR_DISTRIBUTIONS=[{id: E1}]`},
			want: func(*Config) {},
		},
		{
			name: "comments-only file sets nothing",
			file: "# nothing here\n",
			env:  []string{"INVALIDATOR_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/q", `INVALIDATOR_DISTRIBUTIONS=[{id: E1}]`},
			want: func(*Config) {},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Load(writeConfig(t, tc.file), tc.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := minimal()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  []string
		want []string // every line of the error, in order
	}{
		{
			name: "bad duration string",
			file: minimalYAML + "window: 10x\n",
			want: []string{`config: window: invalid duration "10x" (use Go durations like 10s, 1m30s)`},
		},
		{
			name: "bare integer duration",
			file: minimalYAML + "window: 10\n",
			want: []string{`config: window: invalid duration 10: missing unit (use Go durations like 10s, 1m30s)`},
		},
		{
			name: "quoted number duration",
			file: minimalYAML + "window: \"10\"\n",
			want: []string{`config: window: invalid duration "10" (use Go durations like 10s, 1m30s)`},
		},
		{
			name: "duration as a list",
			file: minimalYAML + "window: [10s]\n",
			want: []string{`config: window: must be a duration (use Go durations like 10s, 1m30s), got a list`},
		},
		{
			name: "bad duration from env",
			file: minimalYAML,
			env:  []string{"INVALIDATOR_WINDOW=10x", "INVALIDATOR_RETRY_MAX_BACKOFF=30"},
			want: []string{
				`config: INVALIDATOR_WINDOW: invalid duration "10x" (use Go durations like 10s, 1m30s)`,
				`config: INVALIDATOR_RETRY_MAX_BACKOFF: invalid duration 30: missing unit (use Go durations like 10s, 1m30s)`,
			},
		},
		{
			name: "missing queue_url and empty allow-list",
			file: "window: 5s\n",
			want: []string{
				`config: queue_url: required (or queues, to read several)`,
				`config: distributions: empty allow-list (list distributions or tenants, or set allow_all_distributions: true on purpose)`,
			},
		},
		{
			name: "unknown top-level key",
			file: minimalYAML + "windw: 5s\n",
			want: []string{`config: unknown key "windw" (line 4), did you mean "window"?`},
		},
		{
			name: "unknown key in a distribution and in its s3 mapping",
			file: minimalYAML + "    aliass: [www]\n    s3:\n      - bucket: b\n        origin: /o\n",
			want: []string{
				`config: distributions[0]: unknown key "aliass" (line 4), did you mean "aliases"?`,
				`config: distributions[0].s3[0]: unknown key "origin" (line 7)`,
			},
		},
		{
			name: "key set twice",
			file: minimalYAML + "pollers: 2\npollers: 3\n",
			want: []string{`config: pollers: set twice (line 5)`},
		},
		{
			name: "wrong types",
			file: "queue_url: [a]\npollers: 1.5\nallow_all_distributions: yes\nmax_held: ten\ndistributions: {id: E1}\n",
			want: []string{
				`config: queue_url: must be a string, got a list`,
				`config: pollers: must be an integer, got 1.5`,
				`config: allow_all_distributions: must be true or false, got "yes"`,
				`config: max_held: must be an integer, got "ten"`,
				`config: distributions: must be a list, got a mapping`,
				`config: queue_url: required (or queues, to read several)`,
				`config: distributions: empty allow-list (list distributions or tenants, or set allow_all_distributions: true on purpose)`,
			},
		},
		{
			name: "missing value",
			file: minimalYAML + "pollers:\n",
			want: []string{`config: pollers: missing value (remove the key to keep the default)`},
		},
		{
			name: "file is not a mapping",
			file: "- queue_url\n",
			want: []string{
				`config: must be a mapping of keys, got a list`,
				`config: queue_url: required (or queues, to read several)`,
				`config: distributions: empty allow-list (list distributions or tenants, or set allow_all_distributions: true on purpose)`,
			},
		},
		{
			name: "unknown INVALIDATOR_ variables",
			file: minimalYAML,
			env:  []string{"INVALIDATOR_WINDW=5s", "INVALIDATOR_queue_url=https://x/q", "INVALIDATOR_CONFIG=/etc/w.yaml"},
			want: []string{
				`config: INVALIDATOR_WINDW: unknown variable (no config key "windw"), did you mean "INVALIDATOR_WINDOW"?`,
				`config: INVALIDATOR_queue_url: unknown variable (no config key "queue_url"), did you mean "INVALIDATOR_QUEUE_URL"?`,
				`config: INVALIDATOR_CONFIG: unknown variable (no config key "config")`,
			},
		},
		{
			name: "env values of the wrong type",
			file: minimalYAML,
			env:  []string{"INVALIDATOR_POLLERS=abc", "INVALIDATOR_MAX_HELD=", "INVALIDATOR_ALLOW_ALL_DISTRIBUTIONS=[true"},
			want: []string{
				`config: INVALIDATOR_POLLERS: must be an integer, got "abc"`,
				`config: INVALIDATOR_MAX_HELD: empty value (unset the variable to keep the file's or default value)`,
				`config: INVALIDATOR_ALLOW_ALL_DISTRIBUTIONS: not a YAML or JSON value: yaml: line 1: did not find expected ',' or ']'`,
			},
		},
		{
			name: "unknown key in an env list",
			file: minimalYAML,
			env:  []string{`INVALIDATOR_DISTRIBUTIONS=[{"id":"E1","alias":["www"]}]`},
			want: []string{`config: INVALIDATOR_DISTRIBUTIONS[0]: unknown key "alias", did you mean "aliases"?`},
		},
		{
			name: "validation problems name the variable that set the key",
			file: minimalYAML,
			env: []string{
				"INVALIDATOR_POLLERS=100",
				"INVALIDATOR_LOG_LEVEL=123",
				`INVALIDATOR_DISTRIBUTIONS=[{"id":"E1","aliases":["www"]},{"id":"E2","aliases":["www"]}]`,
			},
			want: []string{
				`config: INVALIDATOR_POLLERS: must be between 1 and 64, got 100`,
				`config: INVALIDATOR_LOG_LEVEL: must be one of debug, info, warn, error, got "123"`,
				`config: INVALIDATOR_DISTRIBUTIONS[1].aliases[0]: duplicate "www" (also distributions[0].aliases[0])`,
			},
		},
		{
			name: "duplicate id and alias from the file",
			file: minimalYAML + "    aliases: [www]\n  - id: E2\n  - id: E2\n    aliases: [E1]\n",
			want: []string{
				`config: distributions[2].id: duplicate "E2" (also distributions[1].id)`,
				`config: distributions[2].aliases[0]: duplicate "E1" (also distributions[0].id)`,
			},
		},
		{
			name: "visibility below the bound",
			file: minimalYAML + "visibility_timeout: 9s\n",
			want: []string{`config: visibility_timeout: must be between 10s and 12h, got 9s`},
		},
		{
			name: "more than one document",
			file: minimalYAML + "---\nwindow: 1s\n",
			want: []string{`config: PATH: more than one YAML document (a stray ---?)`},
		},
		{
			name: "not YAML",
			file: "queue_url: [\n",
			want: []string{`config: PATH: yaml: line 1: did not find expected node content`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.file)
			for i := range tc.want {
				tc.want[i] = strings.ReplaceAll(tc.want[i], "PATH", path)
			}
			c, err := Load(path, tc.env)
			wantErrs(t, err, tc.want...)
			if err != nil && !reflect.DeepEqual(c, Config{}) {
				t.Errorf("Load returned %+v with its error, want the zero Config", c)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	_, err := Load(path, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "config: open "+path+": ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Load(missing file) error = %v, want one line naming the file", err)
	}
}
