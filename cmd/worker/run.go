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

	"github.com/acme/cf-invalidator/internal/completion"
	"github.com/acme/cf-invalidator/internal/config"
	"github.com/acme/cf-invalidator/internal/consumer"
	"github.com/acme/cf-invalidator/internal/httpserver"
	"github.com/acme/cf-invalidator/internal/invalidate"
	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/metrics"
	"github.com/acme/cf-invalidator/internal/retry"
	"github.com/acme/cf-invalidator/internal/worker"
)

// cloudFrontMaxAttempts: the SDK's standard retryer retries Throttling and
// 5xx with jittered backoff; CreateInvalidation is allowed about 0.5 req/s
// per account, so give bursts a few more tries before our own backoff.
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
	cons       *consumer.Consumer
	w          *worker.Worker
	http       *httpserver.Server
	completion *completion.Tracker
}

func serve(cfg config.Config, log *zap.Logger) int {
	ctx, stop := signalContext(log)
	defer stop()
	a, err := build(ctx, cfg, log)
	if err != nil {
		log.Error("startup failed", zap.Error(err))
		return exitFailure
	}
	// Not derived from ctx: a signal stops new receives (StopReceiving) but
	// must not cancel a long poll under way — SQS would still deliver to it.
	recvCtx, cancelRecv := context.WithCancel(context.Background())
	defer cancelRecv()
	bgCtx, cancelBg := context.WithCancel(context.Background())
	defer cancelBg()
	a.cons.Start(recvCtx, bgCtx, a.w.Handle)
	if a.completion != nil {
		go a.completion.Run(bgCtx)
	}
	log.Info("worker started", zap.String("queue_url", cfg.QueueURL), zap.Duration("window", cfg.Window),
		zap.Int("pollers", cfg.Pollers), zap.Int("distributions", len(cfg.Distributions)), zap.String("version", version))
	go func() {
		select {
		case <-a.cons.Ready():
			a.setReady(true)
			log.Info("receiving from SQS")
		case <-ctx.Done():
		}
	}()
	<-ctx.Done()
	a.setReady(false)
	a.w.Shutdown(a.cons, cfg.ShutdownGrace, cancelRecv, cancelBg)
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
	dec, err := message.NewDecoder(decoderOptions(cfg))
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
	a.cons = consumer.New(sqsClient, consumer.Options{
		QueueURL: cfg.QueueURL, DLQURL: cfg.DeadLetterQueueURL, Pollers: cfg.Pollers,
		Visibility: cfg.VisibilityTimeout, MaxHeld: cfg.MaxHeld, Logger: log.Named("consumer"), Metrics: m,
	})
	quotas, red, meter := gateParts(cfg, cfClient, m, log)
	gate := worker.GateOptions{
		Quota: quotaRoom{t: quotas, m: m}, Reducer: red, Budget: meter,
		DefaultMaxHold: cfg.MaxHold, MaxHold: map[string]time.Duration{},
		PauseWhenOverBudget: cfg.PauseWhenOverBudget, Recheck: cfg.QuotaCacheTTL,
	}
	for _, d := range cfg.Distributions {
		gate.MaxHold[d.ID] = cfg.MaxHoldFor(d)
	}
	if cfg.TrackCompletion {
		a.completion = completion.New(cfClient, completion.Options{
			Latency: m.CompletionLatency, Logger: log.Named("completion"), OnComplete: quotas.Completed,
			Announcers: announcers(cfg, awsCfg, sqsClient),
		})
		gate.Watcher = a.completion
	}
	a.w = worker.New(a.cons, invalidate.NewSubmitter(cfClient), dec, worker.Options{
		Window: cfg.Window, SubmitConcurrency: cfg.SubmitConcurrency,
		Backoff: retry.Backoff{Base: time.Second, Max: cfg.RetryMaxBackoff},
		Logger:  log.Named("pipeline"), Metrics: m, Gate: gate,
	})
	if a.http != nil {
		a.http.EnableAdmin(cfg.AdminToken, a.w)
		if cfg.DebugPprof {
			a.http.EnablePprof()
		}
	}
	reportDLQ(ctx, a.cons, log)
	return a, nil
}

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

func decoderOptions(cfg config.Config) message.Options {
	o := message.Options{AllowAll: cfg.AllowAllDistributions, MaxPathsPerMessage: cfg.MaxPathsPerMessage}
	for _, d := range cfg.Distributions {
		md := message.Distribution{ID: d.ID, Aliases: d.Aliases, IndexDirectories: cfg.IndexDirectories(d)}
		for _, s := range d.S3 {
			md.S3 = append(md.S3, message.S3Source{Bucket: s.Bucket, Prefix: s.Prefix, OriginPath: s.OriginPath})
		}
		o.Distributions = append(o.Distributions, md)
	}
	return o
}
