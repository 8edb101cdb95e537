package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/cfsim"
)

// config is what the flags say.
type config struct {
	addr          string
	distributions []string
	tenants       map[string]string // tenant id → parent distribution id
	deny          []string
	completeAfter time.Duration
	maxFilePaths  int
	maxWildcards  int
	throttleRate  float64
	throttleBurst int
	errorRate     float64
	latency       time.Duration
	audit         string
	conflictIA    bool
}

// parseFlags parses args; usage and errors go to out.
func parseFlags(args []string, out io.Writer) (config, error) {
	var c config
	var dists, tenants, deny string
	fs := flag.NewFlagSet("cfsim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8090", "listen address")
	fs.StringVar(&dists, "distributions", "", "comma-separated distribution ids that exist")
	fs.StringVar(&tenants, "tenants", "",
		"comma-separated distribution tenants as TENANT=DISTRIBUTION, e.g. dt_a=E1,dt_b=E1; each parent must be in --distributions, and a tenant's in-progress invalidations count against its parent's limits")
	fs.StringVar(&deny, "deny", "", "comma-separated distribution or tenant ids that answer 403 AccessDenied")
	fs.DurationVar(&c.completeAfter, "complete-after", 15*time.Second, "time from InProgress to Completed (0 = at once)")
	fs.IntVar(&c.maxFilePaths, "max-file-paths", cfsim.DefaultMaxFilePaths, "in-progress file paths per distribution, its tenants included (CloudFront: 3,000)")
	fs.IntVar(&c.maxWildcards, "max-wildcards", cfsim.DefaultMaxWildcards, "in-progress wildcard paths per distribution, its tenants included (CloudFront: 15)")
	fs.Float64Var(&c.throttleRate, "throttle-rate", 0, "CreateInvalidation and CreateInvalidationForDistributionTenant requests/s, together, above which Throttling is answered (0 = off)")
	fs.IntVar(&c.throttleBurst, "throttle-burst", 0, "throttle token bucket size (0 = max(1, ceil(rate)))")
	fs.Float64Var(&c.errorRate, "error-rate", 0, "share of API requests answered 503 ServiceUnavailable, 0..1")
	fs.DurationVar(&c.latency, "latency", 0, "latency added to every API request")
	fs.StringVar(&c.audit, "audit", "", `append one JSON line per accepted invalidation to this file ("-" = stdout)`)
	fs.BoolVar(&c.conflictIA, "conflict-invalid-argument", false,
		"answer a CallerReference reused with other paths 400 InvalidArgument (as observed) instead of 409 InvalidationBatchAlreadyExists (as documented)")
	err := fs.Parse(args)
	if err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	c.distributions, c.deny = splitIDs(dists), splitIDs(deny)
	if c.tenants, err = parseTenants(tenants); err != nil {
		return config{}, err
	}
	return c, c.validate()
}

// parseTenants reads --tenants: TENANT=DISTRIBUTION pairs, comma-separated.
func parseTenants(s string) (map[string]string, error) {
	var errs []error
	var tenants map[string]string
	for _, pair := range splitIDs(s) {
		id, parent, ok := strings.Cut(pair, "=")
		id, parent = strings.TrimSpace(id), strings.TrimSpace(parent)
		switch {
		case !ok || id == "" || parent == "" || strings.Contains(parent, "="):
			errs = append(errs, fmt.Errorf("--tenants: %q is not TENANT=DISTRIBUTION", pair))
		case tenants[id] != "":
			errs = append(errs, fmt.Errorf("--tenants: tenant %q given twice", id))
		default:
			if tenants == nil {
				tenants = make(map[string]string)
			}
			tenants[id] = parent
		}
	}
	return tenants, errors.Join(errs...)
}

func splitIDs(s string) []string {
	var ids []string
	for _, id := range strings.Split(s, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

func (c config) validate() error {
	var errs []error
	if c.completeAfter < 0 || c.latency < 0 {
		errs = append(errs, errors.New("--complete-after and --latency must not be negative"))
	}
	if c.maxFilePaths < 1 || c.maxWildcards < 1 {
		errs = append(errs, errors.New("--max-file-paths and --max-wildcards must be at least 1"))
	}
	if c.throttleRate < 0 || c.throttleBurst < 0 {
		errs = append(errs, errors.New("--throttle-rate and --throttle-burst must not be negative"))
	}
	if c.errorRate < 0 || c.errorRate > 1 {
		errs = append(errs, fmt.Errorf("--error-rate %v is not within 0..1", c.errorRate))
	}
	if err := c.options(nil).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--tenants: %w", err))
	}
	return errors.Join(errs...)
}

func (c config) options(audit io.Writer) cfsim.Options {
	return cfsim.Options{
		Distributions:             c.distributions,
		Tenants:                   c.tenants,
		Denied:                    c.deny,
		CompleteAfter:             c.completeAfter,
		MaxFilePaths:              c.maxFilePaths,
		MaxWildcards:              c.maxWildcards,
		ThrottleRate:              c.throttleRate,
		ThrottleBurst:             c.throttleBurst,
		ErrorRate:                 c.errorRate,
		Latency:                   c.latency,
		AuditLog:                  audit,
		ConflictAsInvalidArgument: c.conflictIA,
	}
}

// fields describes the configuration in the start-up log line.
func (c config) fields() zap.Field {
	return zap.Dict("config",
		zap.Strings("distributions", c.distributions),
		zap.Any("tenants", c.tenants),
		zap.Strings("deny", c.deny),
		zap.Duration("complete_after", c.completeAfter),
		zap.Int("max_file_paths", c.maxFilePaths),
		zap.Int("max_wildcards", c.maxWildcards),
		zap.Float64("throttle_rate", c.throttleRate),
		zap.Int("throttle_burst", c.throttleBurst),
		zap.Float64("error_rate", c.errorRate),
		zap.Duration("latency", c.latency),
		zap.String("audit", c.audit),
		zap.Bool("conflict_invalid_argument", c.conflictIA))
}
