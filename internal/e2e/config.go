package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Config is the worker configuration a test runs with: the keys of
// configs/worker.yaml that tests set, each left out of the file when zero
// (so the worker's default applies), plus raw YAML and environment
// variables for anything else. Durations are written as the worker reads
// them ("1s", "30m"). It is the one writer of worker config files in the
// harness ([Config.YAML]); http_addr is not here because [StartWorker]
// picks a free port for /metrics itself.
type Config struct {
	QueueURL              string   `yaml:"queue_url,omitempty"`
	DLQURL                string   `yaml:"dead_letter_queue_url,omitempty"`
	Queues                []Queue  `yaml:"queues,omitempty"`
	Window                string   `yaml:"window,omitempty"`
	Lanes                 *Lanes   `yaml:"lanes,omitempty"`
	Grace                 string   `yaml:"shutdown_grace,omitempty"`
	Pollers               int      `yaml:"pollers,omitempty"`
	Visibility            string   `yaml:"visibility_timeout,omitempty"`
	MaxHeld               int      `yaml:"max_held,omitempty"`
	AllowAllDistributions bool     `yaml:"allow_all_distributions,omitempty"`
	SubmitConcurrency     int      `yaml:"submit_concurrency,omitempty"`
	MaxBackoff            string   `yaml:"retry_max_backoff,omitempty"`
	MaxPathsPerMessage    int      `yaml:"max_paths_per_message,omitempty"`
	LogLevel              string   `yaml:"log_level,omitempty"`
	QuotaReserveFiles     *int     `yaml:"quota_reserve_files,omitempty"`
	QuotaReserveWildcards *int     `yaml:"quota_reserve_wildcards,omitempty"`
	ViewMaxAge            string   `yaml:"view_max_age,omitempty"`
	ViewRefresh           string   `yaml:"view_refresh,omitempty"`
	ViewIdleRefresh       string   `yaml:"view_idle_refresh,omitempty"`
	CloudFrontReadRate    float64  `yaml:"cloudfront_read_rate,omitempty"`
	ClockSkewMargin       string   `yaml:"clock_skew_margin,omitempty"`
	FlushJitter           string   `yaml:"flush_jitter,omitempty"`
	AdminToken            string   `yaml:"admin_token,omitempty"`
	MaxHold               string   `yaml:"max_hold,omitempty"`
	FreePathsPerMonth     *int     `yaml:"free_paths_per_month,omitempty"`
	MonthlyBudgetUSD      float64  `yaml:"monthly_budget_usd,omitempty"`
	PauseWhenOverBudget   bool     `yaml:"pause_when_over_budget,omitempty"`
	TrackCompletion       *bool    `yaml:"track_completion,omitempty"`
	Distributions         []Dist   `yaml:"distributions,omitempty"`
	Tenants               []Tenant `yaml:"tenants,omitempty"`

	// Extra is raw YAML appended to the file at the top level, for keys
	// this struct does not know.
	Extra string `yaml:"-"`
	// Env is added to the worker's environment (INVALIDATOR_* overrides and
	// the like) after the harness's own variables.
	Env []string `yaml:"-"`
}

// Dist is one entry of distributions[].
type Dist struct {
	ID               string     `yaml:"id"`
	Aliases          []string   `yaml:"aliases,omitempty"`
	S3               []S3Source `yaml:"s3,omitempty"`
	IndexDirectories *bool      `yaml:"index_directories,omitempty"`
	Collapse         string     `yaml:"collapse,omitempty"`
	CollapseMinPaths int        `yaml:"collapse_min_paths,omitempty"`
	MaxHold          string     `yaml:"max_hold,omitempty"`
	MonthlyBudgetUSD float64    `yaml:"monthly_budget_usd,omitempty"`
	CollapseMinDepth *int       `yaml:"collapse_min_depth,omitempty"`
	OriginLag        string     `yaml:"origin_lag,omitempty"`
}

// Queue is one entry of queues[] (instead of queue_url).
type Queue struct {
	URL     string `yaml:"url"`
	Lane    string `yaml:"lane,omitempty"` // live (default) or bulk
	Pollers int    `yaml:"pollers,omitempty"`
	DLQURL  string `yaml:"dead_letter_queue_url,omitempty"`
}

// Lanes is lanes: each lane's settings, left out when nil.
type Lanes struct {
	Live *Lane `yaml:"live,omitempty"`
	Bulk *Lane `yaml:"bulk,omitempty"`
}

// Lane is lanes.live or lanes.bulk.
type Lane struct {
	Window        string `yaml:"window,omitempty"`
	CollapseAbove *int   `yaml:"collapse_above,omitempty"`
}

// Tenant is one entry of tenants[]: a distribution tenant of Distribution.
type Tenant struct {
	ID           string   `yaml:"id"`
	Aliases      []string `yaml:"aliases,omitempty"`
	Distribution string   `yaml:"distribution"`
}

// S3Source is one entry of distributions[].s3.
type S3Source struct {
	Bucket     string `yaml:"bucket"`
	Prefix     string `yaml:"prefix,omitempty"`
	OriginPath string `yaml:"origin_path,omitempty"`
}

// Dists is a distribution entry per id, without aliases.
func Dists(ids ...string) []Dist {
	out := make([]Dist, len(ids))
	for i, id := range ids {
		out[i] = Dist{ID: id}
	}
	return out
}

// YAML is the configuration file's text.
func (c Config) YAML() string {
	b, err := yaml.Marshal(c)
	if err != nil {
		panic("e2e: marshal config: " + err.Error()) // plain strings, numbers and lists: cannot fail
	}
	s := string(b)
	if extra := strings.TrimSpace(c.Extra); extra != "" {
		s += extra + "\n"
	}
	return s
}

// WriteConfig writes text to a fresh file in the test's temporary directory
// and returns its path. Tests of bad configurations write their text as is;
// everything else goes through [Config.YAML].
func WriteConfig(t testing.TB, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
