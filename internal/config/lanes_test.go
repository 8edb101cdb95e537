package config

// Tests of the issue-10 keys: queues and lanes, tenants.

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/message"
)

const (
	qLive = "https://sqs.us-east-1.amazonaws.com/123456789012/live"
	qBulk = "https://sqs.us-east-1.amazonaws.com/123456789012/bulk"
	qDLQ  = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"
)

// listed is minimal() with the queues list in place of queue_url.
func listed(qs ...Queue) Config {
	c := minimal()
	c.QueueURL, c.Queues = "", qs
	return c
}

func TestEffectiveQueuesShorthand(t *testing.T) {
	c := minimal()
	c.DeadLetterQueueURL, c.Pollers = qDLQ, 3
	want := []Queue{{URL: c.QueueURL, Lane: LaneLive, Pollers: 3, DeadLetterQueueURL: qDLQ}}
	if got := c.EffectiveQueues(); !reflect.DeepEqual(got, want) {
		t.Errorf("EffectiveQueues() = %+v, want %+v", got, want)
	}
	if got := c.QueuesOfLane(LaneBulk); len(got) != 0 {
		t.Errorf("QueuesOfLane(bulk) of the shorthand = %+v, want none", got)
	}
	if got := (Config{}).EffectiveQueues(); got != nil {
		t.Errorf("EffectiveQueues() without queues = %+v, want nil", got)
	}
}

func TestEffectiveQueuesList(t *testing.T) {
	c := listed(Queue{URL: qLive}, Queue{URL: qBulk, Lane: LaneBulk, Pollers: 1, DeadLetterQueueURL: qDLQ})
	c.Pollers = 6
	want := []Queue{
		{URL: qLive, Lane: LaneLive, Pollers: 6},
		{URL: qBulk, Lane: LaneBulk, Pollers: 1, DeadLetterQueueURL: qDLQ},
	}
	if got := c.EffectiveQueues(); !reflect.DeepEqual(got, want) {
		t.Errorf("EffectiveQueues() = %+v, want %+v", got, want)
	}
	if got := c.QueuesOfLane(LaneBulk); !reflect.DeepEqual(got, want[1:]) {
		t.Errorf("QueuesOfLane(bulk) = %+v, want %+v", got, want[1:])
	}
	if c.Queues[0].Lane != "" || c.Queues[0].Pollers != 0 {
		t.Errorf("EffectiveQueues changed the config: %+v", c.Queues[0])
	}
	wantErrs(t, c.Validate())
}

func TestLaneSettings(t *testing.T) {
	c := Default()
	c.Window = 3 * time.Second
	want := map[string]Lane{
		LaneLive: {Window: 3 * time.Second},
		LaneBulk: {Window: time.Minute, CollapseAbove: 500},
	}
	if got := c.EffectiveLanes(); !reflect.DeepEqual(got, want) {
		t.Errorf("EffectiveLanes() = %+v, want %+v", got, want)
	}
	c.Lanes = Lanes{Live: Lane{Window: time.Second, CollapseAbove: 2000}, Bulk: Lane{CollapseAbove: 0}}
	if got := c.LaneSettings(LaneLive); got != (Lane{Window: time.Second, CollapseAbove: 2000}) {
		t.Errorf("LaneSettings(live) = %+v", got)
	}
	if got := c.LaneSettings(LaneBulk); got != (Lane{Window: 3 * time.Second}) {
		t.Errorf("LaneSettings(bulk) with window 0 and collapse off = %+v, want the top-level window, no collapse", got)
	}
	if got := c.LaneSettings("other"); got != (Lane{Window: 3 * time.Second}) {
		t.Errorf("LaneSettings(other) = %+v", got)
	}
}

func TestValidateQueuesAndLanes(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want []string
	}{
		{name: "list without lanes or pollers", c: listed(Queue{URL: qLive}, Queue{URL: qBulk})},
		{name: "two live queues and a shared dead-letter queue", c: listed(
			Queue{URL: qLive, Lane: LaneLive, DeadLetterQueueURL: qDLQ}, Queue{URL: qBulk, DeadLetterQueueURL: qDLQ})},
		{name: "only a bulk queue", c: listed(Queue{URL: qBulk, Lane: LaneBulk, Pollers: 64})},
		{
			name: "both queue_url and queues",
			c:    func() Config { c := listed(Queue{URL: qLive}); c.QueueURL = qBulk; return c }(),
			want: []string{`config: queues: set together with queue_url: give queue_url (with dead_letter_queue_url and pollers) for one queue, or queues for several, not both (check INVALIDATOR_QUEUE_URL and INVALIDATOR_QUEUES too)`},
		},
		{
			name: "top-level dead_letter_queue_url with queues",
			c:    func() Config { c := listed(Queue{URL: qLive}); c.DeadLetterQueueURL = qDLQ; return c }(),
			want: []string{`config: dead_letter_queue_url: belongs to the queue_url shorthand; with queues, set each queue's dead_letter_queue_url (queues[0].dead_letter_queue_url)`},
		},
		{
			name: "urls",
			c:    listed(Queue{}, Queue{URL: "sqs://q"}, Queue{URL: qLive}, Queue{URL: qLive}),
			want: []string{
				`config: queues[0].url: required`,
				`config: queues[1].url: must be an http(s) queue URL like https://sqs.us-east-1.amazonaws.com/123456789012/invalidations, got "sqs://q"`,
				`config: queues[3].url: duplicate "` + qLive + `" (also queues[2].url): a queue is read once`,
			},
		},
		{
			name: "lane and pollers",
			c:    listed(Queue{URL: qLive, Lane: "Live", Pollers: -1}, Queue{URL: qBulk, Lane: "batch", Pollers: 65}),
			want: []string{
				`config: queues[0].lane: must be live or bulk (default live), got "Live"`,
				`config: queues[0].pollers: must be between 1 and 64, got -1`,
				`config: queues[1].lane: must be live or bulk (default live), got "batch"`,
				`config: queues[1].pollers: must be between 1 and 64, got 65`,
			},
		},
		{
			name: "dead-letter queues",
			c: listed(
				Queue{URL: qLive, DeadLetterQueueURL: qLive},
				Queue{URL: qBulk, DeadLetterQueueURL: qLive},
				Queue{URL: qDLQ + "-2", DeadLetterQueueURL: "dlq"},
			),
			want: []string{
				`config: queues[0].dead_letter_queue_url: must differ from queues[0].url (poison messages would come straight back)`,
				`config: queues[1].dead_letter_queue_url: is queues[0].url, a queue the worker reads (poison messages would come straight back)`,
				`config: queues[2].dead_letter_queue_url: must be an http(s) queue URL like https://sqs.us-east-1.amazonaws.com/123456789012/invalidations, got "dlq"`,
			},
		},
		{name: "lane windows at their bounds", c: func() Config {
			c := minimal()
			c.Lanes = Lanes{Live: Lane{Window: time.Nanosecond, CollapseAbove: 3000}, Bulk: Lane{Window: 15 * time.Minute}}
			return c
		}()},
		{
			name: "lane settings out of range",
			c: func() Config {
				c := minimal()
				c.Lanes = Lanes{Live: Lane{Window: -time.Second, CollapseAbove: -1}, Bulk: Lane{Window: 16 * time.Minute, CollapseAbove: 3001}}
				return c
			}(),
			want: []string{
				`config: lanes.live.window: must be more than 0 and at most 15m, got -1s`,
				`config: lanes.live.collapse_above: must be between 0 and 3000, got -1`,
				`config: lanes.bulk.window: must be more than 0 and at most 15m, got 16m`,
				`config: lanes.bulk.collapse_above: must be between 0 and 3000, got 3001`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErrs(t, tc.c.Validate(), tc.want...) })
	}
}

const tenantA = "dt_2wjDZi3hD1ivOXf6rpZJO1AB"

func TestValidateTenants(t *testing.T) {
	with := func(mutate func(*Config)) Config { c := minimal(); mutate(&c); return c }
	long := "dt_" + strings.Repeat("x", 62)
	for _, tc := range []struct {
		name string
		c    Config
		want []string
	}{
		{name: "a tenant", c: with(func(c *Config) {
			c.Tenants = []Tenant{{ID: tenantA, Aliases: []string{"customer-a"}, Distribution: "E3MULTI"}}
		})},
		{name: "tenants only, no distributions", c: with(func(c *Config) {
			c.Distributions = nil
			c.Tenants = []Tenant{{ID: tenantA, Distribution: "E3MULTI"}}
		})},
		{name: "parent also listed", c: with(func(c *Config) { c.Tenants = []Tenant{{ID: tenantA, Distribution: "E1"}} })},
		{
			name: "ids",
			c: with(func(c *Config) {
				c.Tenants = []Tenant{
					{Distribution: "E3"}, {ID: "dt/1", Distribution: "E3"}, {ID: "dt 1", Distribution: "E3"},
					{ID: long, Distribution: "E3"}, {ID: "E2EXAMPLE", Distribution: "E3"}, {ID: "dt\x01", Distribution: "E3"},
				}
			}),
			want: []string{
				`config: tenants[0].id: required`,
				`config: tenants[1].id: not a distribution tenant id (1-64 characters like dt_2wjDZi3hD1ivOXf6rpZJO1AB): character '/' not allowed: a tenant id is one URI path segment (printable ASCII other than '/', '?', '#', '%'), got "dt/1"`,
				`config: tenants[2].id: not a distribution tenant id (1-64 characters like dt_2wjDZi3hD1ivOXf6rpZJO1AB): character ' ' not allowed: a tenant id is one URI path segment (printable ASCII other than '/', '?', '#', '%'), got "dt 1"`,
				`config: tenants[3].id: not a distribution tenant id (1-64 characters like dt_2wjDZi3hD1ivOXf6rpZJO1AB): 65 characters, more than the 64 CloudFront allows, got "` + long + `"`,
				`config: tenants[4].id: not a distribution tenant id (1-64 characters like dt_2wjDZi3hD1ivOXf6rpZJO1AB): shaped like a distribution id (upper-case letters and digits only); tenant ids look like dt_2wjDZi3hD1ivOXf6rpZJO1AB, got "E2EXAMPLE"`,
				`config: tenants[5].id: not a distribution tenant id (1-64 characters like dt_2wjDZi3hD1ivOXf6rpZJO1AB): character '\x01' not allowed: a tenant id is one URI path segment (printable ASCII other than '/', '?', '#', '%'), got "dt\x01"`,
			},
		},
		{
			name: "distribution",
			c: with(func(c *Config) {
				c.Tenants = []Tenant{{ID: "dt_1"}, {ID: "dt_2", Distribution: "e3"}}
			}),
			want: []string{
				`config: tenants[0].distribution: required (the id of the tenant's multi-tenant distribution)`,
				`config: tenants[1].distribution: must be a CloudFront distribution id (1-128 upper-case letters and digits, like EDFDVBD6EXAMPLE), got "e3"`,
			},
		},
		{
			name: "ids and aliases unique across distributions and tenants",
			c: with(func(c *Config) {
				c.Distributions = []Distribution{{ID: "E1", Aliases: []string{"www", "dt_2"}}}
				c.Tenants = []Tenant{
					{ID: "dt_1", Aliases: []string{"www", "E1", ""}, Distribution: "E3"},
					{ID: "dt_1", Aliases: []string{"customer"}, Distribution: "E3"},
					{ID: "dt_2", Aliases: []string{"customer", "dt_1"}, Distribution: "E3"},
				}
			}),
			want: []string{
				`config: tenants[0].aliases[0]: duplicate "www" (also distributions[0].aliases[0])`,
				`config: tenants[0].aliases[1]: duplicate "E1" (also distributions[0].id)`,
				`config: tenants[0].aliases[2]: must not be empty`,
				`config: tenants[1].id: duplicate "dt_1" (also tenants[0].id)`,
				`config: tenants[2].id: duplicate "dt_2" (also distributions[0].aliases[1])`,
				`config: tenants[2].aliases[0]: duplicate "customer" (also tenants[1].aliases[0])`,
				`config: tenants[2].aliases[1]: duplicate "dt_1" (also tenants[0].id)`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErrs(t, tc.c.Validate(), tc.want...) })
	}
}

func TestLoadQueuesLanesTenants(t *testing.T) {
	const file = `queues:
  - url: ` + qLive + `
  - url: ` + qBulk + `
    lane: bulk
    pollers: 1
    dead_letter_queue_url: ` + qDLQ + `
lanes:
  bulk:
    window: 2m
tenants:
  - id: ` + tenantA + `
    aliases: [customer-a]
    distribution: E3MULTI
distributions:
  - id: E1
`
	c, err := Load(writeConfig(t, file), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantQueues := []Queue{{URL: qLive}, {URL: qBulk, Lane: LaneBulk, Pollers: 1, DeadLetterQueueURL: qDLQ}}
	wantLanes := Lanes{Bulk: Lane{Window: 2 * time.Minute, CollapseAbove: 500}} // a lane's keys left out keep their default
	wantTenants := []Tenant{{ID: tenantA, Aliases: []string{"customer-a"}, Distribution: "E3MULTI"}}
	if !reflect.DeepEqual(c.Queues, wantQueues) || c.Lanes != wantLanes || !reflect.DeepEqual(c.Tenants, wantTenants) {
		t.Fatalf("loaded queues %+v, lanes %+v, tenants %+v", c.Queues, c.Lanes, c.Tenants)
	}

	// The same from the environment, as JSON.
	c, err = Load("", []string{
		`INVALIDATOR_QUEUES=[{"url":"` + qLive + `"},{"url":"` + qBulk + `","lane":"bulk","pollers":1,"dead_letter_queue_url":"` + qDLQ + `"}]`,
		`INVALIDATOR_LANES={"bulk":{"window":"2m"}}`,
		`INVALIDATOR_TENANTS=[{"id":"` + tenantA + `","aliases":["customer-a"],"distribution":"E3MULTI"}]`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Queues, wantQueues) || c.Lanes != wantLanes || !reflect.DeepEqual(c.Tenants, wantTenants) {
		t.Fatalf("from the env: queues %+v, lanes %+v, tenants %+v", c.Queues, c.Lanes, c.Tenants)
	}

	// INVALIDATOR_QUEUE_URL next to a file's queues: both set, said once.
	_, err = Load(writeConfig(t, file), []string{"INVALIDATOR_QUEUE_URL=" + qLive})
	wantErrs(t, err, `config: queues: set together with queue_url: give queue_url (with dead_letter_queue_url and pollers) for one queue, or queues for several, not both (check INVALIDATOR_QUEUE_URL and INVALIDATOR_QUEUES too)`)
}

func TestLoadQueuesLanesTenantsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  []string
		want []string
	}{
		{
			name: "unknown keys",
			file: "queues:\n  - url: " + qLive + "\n    lanes: bulk\nlanes:\n  bulky: {}\n  live: {windw: 1s}\ntenants:\n  - id: dt_1\n    distribution_id: E3\ndistributions: [{id: E1}]\n",
			want: []string{
				`config: queues[0]: unknown key "lanes" (line 3), did you mean "lane"?`,
				`config: lanes: unknown key "bulky" (line 5), did you mean "bulk"?`,
				`config: lanes.live: unknown key "windw" (line 6), did you mean "window"?`,
				`config: tenants[0]: unknown key "distribution_id" (line 9), did you mean "distribution"?`,
				`config: tenants[0].distribution: required (the id of the tenant's multi-tenant distribution)`,
			},
		},
		{
			name: "lane window without a unit",
			file: minimalYAML + "lanes: {bulk: {window: 60}}\n",
			want: []string{`config: lanes.bulk.window: invalid duration 60: missing unit (use Go durations like 10s, 1m30s)`},
		},
		{
			name: "problems name the variable",
			file: minimalYAML,
			env: []string{
				`INVALIDATOR_LANES={"bulk":{"collapse_above":5000}}`,
				`INVALIDATOR_TENANTS=[{"id":"dt 1","distribution":"E3"}]`,
			},
			want: []string{
				`config: INVALIDATOR_LANES.bulk.collapse_above: must be between 0 and 3000, got 5000`,
				`config: INVALIDATOR_TENANTS[0].id: not a distribution tenant id (1-64 characters like dt_2wjDZi3hD1ivOXf6rpZJO1AB): character ' ' not allowed: a tenant id is one URI path segment (printable ASCII other than '/', '?', '#', '%'), got "dt 1"`,
			},
		},
		{
			name: "queues from the env",
			env:  []string{`INVALIDATOR_QUEUES=[{"url":"` + qLive + `","lane":"fast"}]`, "INVALIDATOR_ALLOW_ALL_DISTRIBUTIONS=true"},
			want: []string{`config: INVALIDATOR_QUEUES[0].lane: must be live or bulk (default live), got "fast"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tc.file), tc.env)
			wantErrs(t, err, tc.want...)
		})
	}
}

// TestDecoderOptions: the decoder built from a config knows its
// distributions and tenants.
func TestDecoderOptions(t *testing.T) {
	c := minimal()
	no := false
	c.Distributions = []Distribution{{ID: "E1", Aliases: []string{"www"}, IndexDirectories: &no,
		S3: []S3Source{{Bucket: "b", Prefix: "p/", OriginPath: "/o"}}}}
	c.Tenants = []Tenant{{ID: tenantA, Aliases: []string{"customer-a"}, Distribution: "E3MULTI"}}
	want := message.Options{
		MaxPathsPerMessage: c.MaxPathsPerMessage,
		Distributions: []message.Distribution{{ID: "E1", Aliases: []string{"www"}, IndexDirectories: false,
			S3: []message.S3Source{{Bucket: "b", Prefix: "p/", OriginPath: "/o"}}}},
		Tenants: []message.Tenant{{ID: tenantA, Aliases: []string{"customer-a"}, Distribution: "E3MULTI"}},
	}
	if got := c.DecoderOptions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("DecoderOptions() = %+v, want %+v", got, want)
	}
	dec, err := message.NewDecoder(c.DecoderOptions())
	if err != nil {
		t.Fatal(err)
	}
	got, err := dec.Decode([]byte(`{"distribution":"customer-a","paths":["/a"]}`))
	if err != nil || len(got.Targets) != 1 || got.Targets[0].TenantID != tenantA || got.Targets[0].DistributionID != "E3MULTI" {
		t.Fatalf("decoded %+v, %v", got, err)
	}
}
