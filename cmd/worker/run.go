package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/acme/cf-invalidator/internal/cfview"
	"github.com/acme/cf-invalidator/internal/collapse"
	"github.com/acme/cf-invalidator/internal/completion"
	"github.com/acme/cf-invalidator/internal/config"
	"github.com/acme/cf-invalidator/internal/consumer"
	"github.com/acme/cf-invalidator/internal/cost"
	"github.com/acme/cf-invalidator/internal/httpserver"
	"github.com/acme/cf-invalidator/internal/invalidate"
	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/metrics"
	"github.com/acme/cf-invalidator/internal/policy"
	"github.com/acme/cf-invalidator/internal/retry"
	"github.com/acme/cf-invalidator/internal/status"
	"github.com/acme/cf-invalidator/internal/worker"
)

// cloudFrontMaxAttempts: the SDK's standard retryer retries Throttling and
// 5xx with jittered backoff for the reads (ListInvalidations,
// GetInvalidation: the view), a few more tries than its default 3 for
// bursts. CreateInvalidation makes one attempt per call
// (internal/invalidate): the worker retries it after a fresh look.
const cloudFrontMaxAttempts = 5

func runWorker(args, environ []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML config file (keys may also come from INVALIDATOR_<KEY>)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "worker run: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath, environ)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "worker: %s\n", line)
		}
		return exitUsage
	}
	log, err := newLogger(cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "worker: log_level: %v\n", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()
	return serve(cfg, log)
}

func newLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.EncoderConfig.TimeKey = "time"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.EncoderConfig.EncodeDuration = zapcore.StringDurationEncoder
	zc.Sampling = nil // every invalidation line matters; none may be sampled away
	return zc.Build()
}

// app is everything serve wires together.
type app struct {
	cons *consumer.Group
	w    *worker.Worker
	http *httpserver.Server
}

func serve(cfg config.Config, log *zap.Logger) int {
	ctx, stop := signalContext(log)
	defer stop()
	a, err := build(ctx, cfg, log)
	if err != nil {
		log.Error("startup failed", zap.Error(err))
		return exitFailure
	}
	var queues []string
	for _, q := range cfg.EffectiveQueues() {
		queues = append(queues, q.Lane+" "+q.URL)
	}
	log.Info("worker started", zap.Strings("queues", queues), zap.Duration("window", cfg.Window),
		zap.Int("distributions", len(cfg.Distributions)), zap.Int("tenants", len(cfg.Tenants)), zap.String("version", version))
	a.w.Run(ctx, a.cons, cfg.ShutdownGrace, a.setReady)
	if a.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = a.http.Shutdown(sctx)
		cancel()
	}
	return exitOK
}

func (a *app) setReady(v bool) {
	if a.http != nil {
		a.http.SetReady(v)
	}
}

// signalContext is cancelled by the first SIGTERM/SIGINT; a second one exits
// at once.
func signalContext(log *zap.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-ch
		log.Info("signal received: shutting down (send it again to exit at once)", zap.String("signal", sig.String()))
		cancel()
		sig = <-ch
		log.Warn("second signal: exiting now; held messages reappear after their visibility timeout", zap.String("signal", sig.String()))
		_ = log.Sync()
		os.Exit(exitFailure)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

func build(ctx context.Context, cfg config.Config, log *zap.Logger) (*app, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("aws config: no region (set AWS_REGION)")
	}
	dec, err := message.NewDecoder(cfg.DecoderOptions())
	if err != nil {
		return nil, fmt.Errorf("distributions: %w", err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	a := &app{}
	if cfg.HTTPAddr != "" {
		if a.http, err = httpserver.Listen(cfg.HTTPAddr, reg, log.Named("http")); err != nil {
			return nil, err
		}
		go a.http.Serve()
	}
	sqsClient := sqs.NewFromConfig(awsCfg)
	cfClient := cloudfront.NewFromConfig(awsCfg, func(o *cloudfront.Options) {
		o.Retryer = awsretry.AddWithMaxAttempts(awsretry.NewStandard(), cloudFrontMaxAttempts)
	})
	var cs []*consumer.Consumer
	for _, q := range cfg.EffectiveQueues() {
		cs = append(cs, consumer.New(sqsClient, consumer.Options{
			QueueURL: q.URL, DLQURL: q.DeadLetterQueueURL, Pollers: q.Pollers, Lane: q.Lane, Bulk: q.Lane == config.LaneBulk,
			Visibility: cfg.VisibilityTimeout, MaxHeld: cfg.MaxHeld, Metrics: m,
			Logger: log.Named("consumer").With(zap.String("queue", q.URL), zap.String("lane", q.Lane)),
			OnLost: func(id string) { a.w.Lost(id) },
		}))
	}
	a.cons = consumer.NewGroup(cs...)
	view := cfview.New(viewOptions(cfg, cfClient, m, log.Named("view"), a))
	var notify *completion.Notifier
	if cfg.TrackCompletion {
		notify = completion.New(completion.Options{Latency: m.CompletionLatency, Logger: log.Named("completion"),
			Announcers: announcers(cfg, awsCfg, sqsClient)})
	}
	a.w = worker.New(a.cons, invalidate.NewSubmitter(cfClient), dec, view, workerOptions(cfg, notify, m, log.Named("pipeline")))
	a.w.SetStatusOptions(worker.StatusOptions{Aliases: aliases(cfg), Queues: func(ctx context.Context) []status.Queue {
		var out []status.Queue
		for _, c := range a.cons.Consumers() {
			out = append(out, c.Status(ctx))
		}
		return out
	}})
	if a.http != nil {
		a.http.EnableAdmin(cfg.AdminToken, adminAPI{a.w})
		a.http.EnableConsole(status.Options{Provider: a.w, Controller: a.w, Token: cfg.AdminToken})
		if cfg.DebugPprof {
			a.http.EnablePprof()
		}
	}
	for _, c := range cs {
		reportDLQ(ctx, c, log)
	}
	return a, nil
}

// viewOptions reads every allow-listed distribution (and, with
// allow_all_distributions, any other the worker meets).
func viewOptions(cfg config.Config, cf *cloudfront.Client, m *metrics.Metrics, log *zap.Logger, a *app) cfview.Options {
	o := cfview.Options{
		Sources:        map[string]cfview.Source{},
		ActiveInterval: cfg.ViewRefresh, IdleInterval: cfg.ViewIdleRefresh,
		ReadRate:       cfg.CloudFrontReadRate,
		FleetReference: invalidate.IsWorkerReference,
		OnInvalidation: func(inv cfview.Invalidation) { a.w.Observed(inv) },
		OnCompleted:    func(inv cfview.Invalidation) { a.w.Completed(inv) },
		OnRead: func(_, op string, err error) {
			outcome := "ok"
			if err != nil {
				outcome = "error"
			}
			m.CloudFrontAPI.WithLabelValues(op, outcome).Inc()
		},
		Logger: log,
	}
	for _, d := range cfg.Distributions {
		o.Sources[d.ID] = cfview.Distribution(cf, d.ID)
	}
	for _, t := range cfg.Tenants {
		o.Sources[t.ID] = cfview.Tenant(cf, t.ID)
		if _, listed := o.Sources[t.Distribution]; !listed {
			// Read, never invalidated: its in-progress paths share the
			// tenant's limits.
			o.Sources[t.Distribution] = cfview.Distribution(cf, t.Distribution)
		}
	}
	if cfg.AllowAllDistributions {
		o.NewSource = func(id string) cfview.Source { return cfview.Distribution(cf, id) }
	}
	return o
}

// workerOptions maps the configuration onto the pipeline.
func workerOptions(cfg config.Config, notify *completion.Notifier, m *metrics.Metrics, log *zap.Logger) worker.Options {
	po := policy.Options{Targets: map[string]policy.Target{}, PauseWhenOverBudget: cfg.PauseWhenOverBudget,
		Default: policy.Target{Collapse: collapse.Policy{MinDepth: config.DefaultCollapseMinDepth}, MaxHold: cfg.MaxHold}}
	co := cost.Options{FreePaths: zeroMeansNone(cfg.FreePathsPerMonth), MonthlyBudgetUSD: cfg.MonthlyBudgetUSD,
		DistributionBudgetUSD: map[string]float64{}}
	lag := map[string]time.Duration{}
	var targets []string
	for _, d := range cfg.Distributions {
		targets = append(targets, d.ID)
		po.Targets[d.ID] = policy.Target{
			Collapse: collapse.Policy{Never: d.Collapse == config.CollapseNever, MinPathsPerDir: d.CollapseMinPaths,
				MinDepth: cfg.CollapseMinDepth(d)},
			MaxHold: cfg.MaxHoldFor(d),
		}
		if d.MonthlyBudgetUSD > 0 {
			co.DistributionBudgetUSD[d.ID] = d.MonthlyBudgetUSD
		}
		if d.OriginLag > 0 {
			lag[d.ID] = d.OriginLag
		}
	}
	tenants := map[string]string{}
	for _, t := range cfg.Tenants {
		targets = append(targets, t.ID)
		tenants[t.ID] = t.Distribution
		if p, ok := po.Targets[t.Distribution]; ok {
			po.Targets[t.ID] = p // a tenant follows its distribution's policy
		}
		if l, ok := lag[t.Distribution]; ok {
			lag[t.ID] = l
		}
	}
	lanes := map[string]worker.Lane{}
	for name, l := range cfg.EffectiveLanes() {
		lanes[name] = worker.Lane{Window: l.Window, CollapseAbove: l.CollapseAbove}
	}
	o := worker.Options{
		Tenants: tenants, Lanes: lanes,
		Window: cfg.Window, Skew: cfg.ClockSkewMargin, Lag: lag, Jitter: cfg.Jitter(), ViewMaxAge: cfg.ViewMaxAge,
		Recheck: cfg.ViewRefresh, SubmitConcurrency: cfg.SubmitConcurrency,
		Backoff: retry.Backoff{Base: time.Second, Max: cfg.RetryMaxBackoff},
		Limits:  policy.Limits{ReserveFiles: cfg.QuotaReserveFiles, ReserveWildcards: cfg.QuotaReserveWildcards},
		Gate:    policy.New(po), Cost: co, Targets: targets,
		Logger: log, Metrics: m, Version: version,
	}
	if notify != nil {
		o.Notifier = notify
	}
	return o
}

func aliases(cfg config.Config) map[string][]string {
	out := map[string][]string{}
	for _, d := range cfg.Distributions {
		out[d.ID] = d.Aliases
	}
	for _, t := range cfg.Tenants {
		out[t.ID] = t.Aliases
	}
	return out
}

// zeroMeansNone maps the config's 0 ("none": no free tier) to the cost
// package's negative, where 0 means its default.
func zeroMeansNone(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// adminAPI adapts the pipeline to the admin endpoints (pause and resume
// every distribution).
type adminAPI struct{ w *worker.Worker }

func (a adminAPI) Pause(reason string) { _ = a.w.Pause("", reason, "admin-api") }
func (a adminAPI) Resume()             { _ = a.w.Resume("", "admin-api") }
func (a adminAPI) Status() any         { return a.w.Snapshot(context.Background()) }

// reportDLQ says at startup where poison will go, so a missing DLQ is seen
// before the first bad message.
func reportDLQ(ctx context.Context, c *consumer.Consumer, log *zap.Logger) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	url, err := c.DiscoverDLQ(dctx)
	switch {
	case err == nil:
		log.Info("dead-letter queue", zap.String("url", url))
	case errors.Is(err, consumer.ErrNoDLQ):
		log.Warn("no dead-letter queue: poison messages will be logged, counted and left on the queue", zap.Error(err))
	default:
		log.Warn("could not look up the dead-letter queue yet", zap.Error(err))
	}
}

// announcers builds the completion announcers the config asks for.
func announcers(cfg config.Config, awsCfg aws.Config, sqsClient *sqs.Client) []completion.Announcer {
	var out []completion.Announcer
	if cfg.CompletionTopicARN != "" {
		out = append(out, completion.SNS{API: sns.NewFromConfig(awsCfg), TopicARN: cfg.CompletionTopicARN})
	}
	if cfg.CompletionQueueURL != "" {
		out = append(out, completion.SQS{API: sqsClient, QueueURL: cfg.CompletionQueueURL})
	}
	return out
}
