package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	long := strings.Repeat("E", 129)
	for _, tc := range []struct {
		name   string
		change func(*Config) // applied to minimal()
		want   []string      // every line of the error; none = valid
	}{
		{name: "minimal is valid", change: func(*Config) {}},
		{
			name:   "reserve leaves no room",
			change: func(c *Config) { c.QuotaReserveFiles = 3000; c.QuotaReserveWildcards = 15 },
			want: []string{`config: quota_reserve_files: must be between 0 and 2999, got 3000`,
				`config: quota_reserve_wildcards: must be between 0 and 14, got 15`},
		},
		{
			name:   "max_hold past the 12h visibility cap",
			change: func(c *Config) { c.MaxHold = 12 * time.Hour },
			want:   []string{`config: max_hold: must be between 1m and 11h, got 12h`},
		},
		{
			name: "issue-3 keys checked",
			change: func(c *Config) {
				c.MonthlyBudgetUSD = -1
				c.CompletionTopicARN = "topic"
				c.CompletionQueueURL = "q"
				c.Distributions[0].Collapse = "sometimes"
				c.Distributions[0].MaxHold = time.Second
			},
			want: []string{`config: monthly_budget_usd: must not be negative, got -1`,
				`config: completion_queue_url: must be an http(s) queue URL like https://sqs.us-east-1.amazonaws.com/123456789012/invalidations, got "q"`,
				`config: completion_topic_arn: must be an SNS topic ARN like arn:aws:sns:us-east-1:123456789012:cache-cleared, got "topic"`,
				`config: distributions[0].collapse: must be "auto" or "never", got "sometimes"`,
				`config: distributions[0].max_hold: must be between 1m and 11h, got 1s`},
		},
		{
			name:   "queue_url is not an http(s) URL",
			change: func(c *Config) { c.QueueURL = "sqs://q" },
			want:   []string{`config: queue_url: must be an http(s) queue URL like https://sqs.us-east-1.amazonaws.com/123456789012/invalidations, got "sqs://q"`},
		},
		{
			name:   "queue_url without a host",
			change: func(c *Config) { c.QueueURL = "https:///q" },
			want:   []string{`config: queue_url: must be an http(s) queue URL like https://sqs.us-east-1.amazonaws.com/123456789012/invalidations, got "https:///q"`},
		},
		{
			name:   "dead-letter queue is the queue",
			change: func(c *Config) { c.DeadLetterQueueURL = c.QueueURL },
			want:   []string{`config: dead_letter_queue_url: must differ from queue_url (poison messages would come straight back)`},
		},
		{
			name:   "dead-letter queue is not a URL",
			change: func(c *Config) { c.DeadLetterQueueURL = "dlq" },
			want:   []string{`config: dead_letter_queue_url: must be an http(s) queue URL like https://sqs.us-east-1.amazonaws.com/123456789012/invalidations, got "dlq"`},
		},
		{name: "http dead-letter queue", change: func(c *Config) { c.DeadLetterQueueURL = "http://localhost:5000/1/dlq" }},
		{name: "http disabled", change: func(c *Config) { c.HTTPAddr = "" }},
		{name: "http on any port", change: func(c *Config) { c.HTTPAddr = ":0" }},
		{
			name:   "http_addr without a port",
			change: func(c *Config) { c.HTTPAddr = "localhost" },
			want:   []string{`config: http_addr: must be host:port like 127.0.0.1:9090 (or "" to disable), got "localhost"`},
		},
		{
			name:   "http_addr with a named port",
			change: func(c *Config) { c.HTTPAddr = "localhost:http" },
			want:   []string{`config: http_addr: must be host:port like 127.0.0.1:9090 (or "" to disable), got "localhost:http"`},
		},
		{name: "window at its bound", change: func(c *Config) { c.Window = 15 * time.Minute }},
		{
			name:   "window zero",
			change: func(c *Config) { c.Window = 0 },
			want:   []string{`config: window: must be more than 0 and at most 15m, got 0s`},
		},
		{
			name:   "window too long",
			change: func(c *Config) { c.Window = 16 * time.Minute },
			want:   []string{`config: window: must be more than 0 and at most 15m, got 16m`},
		},
		{name: "no shutdown grace", change: func(c *Config) { c.ShutdownGrace = 0 }},
		{
			name:   "shutdown_grace out of range",
			change: func(c *Config) { c.ShutdownGrace = -time.Second },
			want:   []string{`config: shutdown_grace: must be between 0s and 15m, got -1s`},
		},
		{name: "visibility at its lower bound", change: func(c *Config) { c.VisibilityTimeout = 10 * time.Second }},
		{name: "visibility at SQS's 12h maximum", change: func(c *Config) { c.VisibilityTimeout = 43200 * time.Second }},
		{
			name:   "visibility below 10s",
			change: func(c *Config) { c.VisibilityTimeout = 9 * time.Second },
			want:   []string{`config: visibility_timeout: must be between 10s and 12h, got 9s`},
		},
		{
			name:   "visibility past SQS's maximum",
			change: func(c *Config) { c.VisibilityTimeout = 12*time.Hour + time.Second },
			want:   []string{`config: visibility_timeout: must be between 10s and 12h, got 12h0m1s`},
		},
		{
			name:   "visibility not whole seconds",
			change: func(c *Config) { c.VisibilityTimeout = 30500 * time.Millisecond },
			want:   []string{`config: visibility_timeout: must be whole seconds (SQS counts it in seconds), got 30.5s`},
		},
		{
			name: "integer ranges",
			change: func(c *Config) {
				c.Pollers, c.MaxHeld, c.SubmitConcurrency, c.MaxPathsPerMessage = 0, 120_001, 17, 0
			},
			want: []string{
				`config: pollers: must be between 1 and 64, got 0`,
				`config: max_held: must be between 10 and 120000, got 120001`,
				`config: submit_concurrency: must be between 1 and 16, got 17`,
				`config: max_paths_per_message: must be between 1 and 100000, got 0`,
			},
		},
		{
			name:   "retry_max_backoff out of range",
			change: func(c *Config) { c.RetryMaxBackoff = 2 * time.Hour },
			want:   []string{`config: retry_max_backoff: must be between 1s and 1h, got 2h`},
		},
		{
			name:   "log_level unknown",
			change: func(c *Config) { c.LogLevel = "verbose" },
			want:   []string{`config: log_level: must be one of debug, info, warn, error, got "verbose"`},
		},
		{
			name:   "empty allow-list",
			change: func(c *Config) { c.Distributions = nil },
			want:   []string{`config: distributions: empty allow-list (list distributions or tenants, or set allow_all_distributions: true on purpose)`},
		},
		{name: "allow all without a list", change: func(c *Config) { c.Distributions, c.AllowAllDistributions = nil, true }},
		{name: "allow all with a list", change: func(c *Config) { c.AllowAllDistributions = true }},
		{
			name: "distribution ids",
			change: func(c *Config) {
				c.Distributions = []Distribution{{ID: "E1"}, {ID: "e2"}, {ID: ""}, {ID: long}, {ID: "E-3"}}
			},
			want: []string{
				`config: distributions[1].id: must be a CloudFront distribution id (1-128 upper-case letters and digits, like EDFDVBD6EXAMPLE), got "e2"`,
				`config: distributions[2].id: required`,
				`config: distributions[3].id: must be a CloudFront distribution id (1-128 upper-case letters and digits, like EDFDVBD6EXAMPLE), got "` + long + `"`,
				`config: distributions[4].id: must be a CloudFront distribution id (1-128 upper-case letters and digits, like EDFDVBD6EXAMPLE), got "E-3"`,
			},
		},
		{
			name:   "duplicate id",
			change: func(c *Config) { c.Distributions = []Distribution{{ID: "E1"}, {ID: "E2"}, {ID: "E2"}} },
			want:   []string{`config: distributions[2].id: duplicate "E2" (also distributions[1].id)`},
		},
		{
			name: "aliases empty or duplicate across entries, within an entry and with ids",
			change: func(c *Config) {
				c.Distributions = []Distribution{
					{ID: "E1", Aliases: []string{"www", "", "  "}},
					{ID: "E2", Aliases: []string{"www", "shop", "shop", "E1"}},
				}
			},
			want: []string{
				`config: distributions[0].aliases[1]: must not be empty`,
				`config: distributions[0].aliases[2]: must not be empty`,
				`config: distributions[1].aliases[0]: duplicate "www" (also distributions[0].aliases[0])`,
				`config: distributions[1].aliases[2]: duplicate "shop" (also distributions[1].aliases[1])`,
				`config: distributions[1].aliases[3]: duplicate "E1" (also distributions[0].id)`,
			},
		},
		{
			name: "s3 mappings",
			change: func(c *Config) {
				c.Distributions[0].S3 = []S3Source{{Bucket: "b", OriginPath: "/site"}, {Prefix: "p/"}, {Bucket: "b", OriginPath: "site/"}}
			},
			want: []string{
				`config: distributions[0].s3[1].bucket: required`,
				`config: distributions[0].s3[2].origin_path: must start with "/" and not end with "/" (CloudFront OriginPath), got "site/"`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := minimal()
			tc.change(&c)
			wantErrs(t, c.Validate(), tc.want...)
		})
	}
}

// TestValidateKeys checks that every problem of an all-zero config is one
// line naming a real key, so the literal key names in validate.go stay in
// step with the yaml tags.
func TestValidateKeys(t *testing.T) {
	err := Config{Distributions: make([]Distribution, 1)}.Validate()
	if err == nil {
		t.Fatal("zero Config validated")
	}
	// And the list keys: queues, tenants, lanes.
	lists := Config{DeadLetterQueueURL: "x", Queues: make([]Queue, 1), Tenants: make([]Tenant, 1),
		Lanes: Lanes{Bulk: Lane{Window: -1, CollapseAbove: -1}}}.Validate()
	known, _ := fieldsByTag(reflect.TypeFor[Config]())
	lines := strings.Split(err.Error(), "\n")
	if len(lines) < 8 {
		t.Errorf("want a line per problem, got:\n%v", err)
	}
	lines = append(lines, strings.Split(lists.Error(), "\n")...)
	for _, top := range []string{"queues[0].url", "tenants[0].id", "tenants[0].distribution", "lanes.bulk.window", "lanes.bulk.collapse_above", "dead_letter_queue_url"} {
		if !strings.Contains(lists.Error(), "config: "+top+": ") {
			t.Errorf("no problem with %s in:\n%v", top, lists)
		}
	}
	for _, line := range lines {
		key, _, ok := strings.Cut(strings.TrimPrefix(line, "config: "), ":")
		top := key[:len(key)-len(strings.TrimLeft(key, "abcdefghijklmnopqrstuvwxyz_"))]
		if _, isKey := known[top]; !ok || !isKey {
			t.Errorf("problem %q does not name a config key", line)
		}
	}
}
