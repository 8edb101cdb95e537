package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/collapse"
	"github.com/acme/cf-invalidator/internal/config"
	"github.com/acme/cf-invalidator/internal/cost"
	"github.com/acme/cf-invalidator/internal/metrics"
	"github.com/acme/cf-invalidator/internal/quota"
	"github.com/acme/cf-invalidator/internal/worker"
)

// This file adapts the quota, collapse and cost packages to the small
// interfaces the pipeline declares (worker.GateOptions), so each package
// stays independent of the others.

// quotaRoom reports CloudFront's in-progress headroom and exports it.
type quotaRoom struct {
	t *quota.Tracker
	m *metrics.Metrics
}

func (q quotaRoom) Room(ctx context.Context, dist string) (worker.Room, error) {
	h, err := q.t.Headroom(ctx, dist)
	files, wild := q.t.InProgress(dist)
	q.m.InProgress.WithLabelValues(dist, "file").Set(float64(files))
	q.m.InProgress.WithLabelValues(dist, "wildcard").Set(float64(wild))
	return worker.Room{Files: h.Files, Wildcards: h.Wildcards}, err
}

func (q quotaRoom) Submitted(dist, id string, paths []string, at time.Time) {
	q.t.Submitted(dist, id, paths, at)
}

// reducer applies each distribution's collapse policy; force (max_hold)
// ignores it.
type reducer struct {
	policies map[string]collapse.Policy
}

func (r reducer) Reduce(dist string, paths []string, room worker.Room, force bool) ([]string, map[string]string, bool) {
	h := collapse.Headroom{Files: room.Files, Wildcards: room.Wildcards}
	var res collapse.Result
	if force {
		res = collapse.Force(paths, h)
	} else {
		res = collapse.Fit(paths, h, r.policies[dist])
	}
	return res.Paths, res.Replaced, res.Fits
}

// budgetMeter meters billed paths, exports the estimate and logs it.
type budgetMeter struct {
	c   *cost.Meter
	m   *metrics.Metrics
	log *zap.Logger
}

func (b budgetMeter) Record(dist string, paths int) {
	b.c.Record(dist, paths)
	usd := b.c.EstimatedUSD(dist)
	b.m.EstimatedCost.WithLabelValues(dist).Set(usd)
	b.log.Info("billed paths this month", zap.String("distribution", dist), zap.Int("paths", paths),
		zap.Int("month_paths", b.c.Paths(dist)), zap.Int("account_month_paths", b.c.TotalPaths()),
		zap.Float64("estimated_usd", usd), zap.Float64("account_estimated_usd", b.c.TotalUSD()))
}

func (b budgetMeter) State(dist string) worker.BudgetState {
	switch b.c.State(dist) {
	case cost.Over:
		return worker.OverBudget
	case cost.Near:
		return worker.NearBudget
	}
	return worker.UnderBudget
}

// quotaAPI is what the quota tracker calls; the CloudFront client has it.
type quotaAPI = interface {
	ListInvalidations(context.Context, *cloudfront.ListInvalidationsInput, ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsOutput, error)
	GetInvalidation(context.Context, *cloudfront.GetInvalidationInput, ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error)
}

// gateParts builds the quota tracker, reducer and meter from the config.
func gateParts(cfg config.Config, api quotaAPI, m *metrics.Metrics, log *zap.Logger) (*quota.Tracker, reducer, budgetMeter) {
	tr := quota.New(api, quota.Options{
		ReserveFiles: zeroMeansNone(cfg.QuotaReserveFiles), ReserveWildcards: zeroMeansNone(cfg.QuotaReserveWildcards),
		TTL: cfg.QuotaCacheTTL, Logger: log.Named("quota"),
	})
	red := reducer{policies: map[string]collapse.Policy{}}
	budgets := map[string]float64{}
	for _, d := range cfg.Distributions {
		red.policies[d.ID] = collapse.Policy{Never: d.Collapse == config.CollapseNever, MinPathsPerDir: d.CollapseMinPaths}
		if d.MonthlyBudgetUSD > 0 {
			budgets[d.ID] = d.MonthlyBudgetUSD
		}
	}
	meter := cost.New(cost.Options{FreePaths: zeroMeansNone(cfg.FreePathsPerMonth), MonthlyBudgetUSD: cfg.MonthlyBudgetUSD,
		DistributionBudgetUSD: budgets})
	return tr, red, budgetMeter{c: meter, m: m, log: log.Named("cost")}
}

// zeroMeansNone maps the config's 0 ("none": no reserve, no free tier) to
// the quota and cost packages' negative, where 0 means their default.
func zeroMeansNone(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
