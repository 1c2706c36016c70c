// Package app assembles a Personas process from its configuration: the
// Kafka and Redis clients, the stages, metrics, health and the HTTP server.
// cmd/personas parses flags and calls into here; nothing in app decides
// stage logic.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/aggregate/model"
	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/internal/obs"
	"github.com/personas-dev/personas/internal/redisx"
	"github.com/personas-dev/personas/internal/stage"
)

// Stage names.
const (
	StageIngest    = "ingest"
	StageAggregate = "aggregate"
	StageEmit      = "emit"
)

// App is one process.
type App struct {
	Cfg     config.Config
	Log     *zap.Logger
	Metrics *obs.Metrics
	Health  *obs.Health
	Kafka   *kafkax.Conn
	Redis   redis.UniversalClient
	Model   *model.Model
	Store   *redisx.AggStore
	Cache   *aggregate.VisitorCache

	// Handlers are extra HTTP handlers (the dashboard).
	Handlers map[string]http.Handler
	// HTTPAddr is the bound address of the HTTP server once running.
	HTTPAddr string
	// Ready is closed once the HTTP server listens and the stages started.
	Ready chan struct{}
}

// New builds the process. It connects nothing yet beyond creating clients:
// dependencies that are down at start are waited for by the stages (D4).
func New(ctx context.Context, cfg config.Config, log *zap.Logger) (*App, error) {
	a := &App{Cfg: cfg, Log: log, Metrics: obs.NewMetrics(), Handlers: map[string]http.Handler{}, Ready: make(chan struct{})}
	a.Health = obs.NewHealth(a.Metrics)
	var err error
	if a.Kafka, err = kafkax.NewConn(cfg.Kafka); err != nil {
		return nil, err
	}
	if a.Redis, err = redisx.Open(ctx, cfg.Redis); err != nil {
		return nil, err
	}
	if cfg.Aggregate.Model != "" {
		if a.Model, err = model.Load(cfg.Aggregate.Model); err != nil {
			return nil, fmt.Errorf("aggregate.model: %w", err)
		}
	} else {
		a.Model = model.Default()
	}
	a.Store = redisx.NewAggStore(a.Redis, cfg.Redis.KeyPrefix, cfg.Aggregate.Retention)
	a.Cache = aggregate.NewVisitorCache(cfg.Aggregate.VisitorCache)
	a.Metrics.CacheStats(
		func() float64 { return float64(a.Cache.Hits()) },
		func() float64 { return float64(a.Cache.Misses()) },
		func() float64 { return float64(a.Cache.Len()) },
	)
	a.Health.AddCheck("redis", func(ctx context.Context) error { return redisx.Ping(ctx, a.Redis) })
	a.Health.AddCheck("kafka", a.Kafka.Ping)
	return a, nil
}

// Close releases the clients.
func (a *App) Close() error { return a.Redis.Close() }

// IngestOptions maps the configuration onto the transform's options.
func IngestOptions(c config.Ingest) ingest.Options {
	return ingest.Options{
		Epoch:             c.Epoch,
		Grace:             c.Grace,
		IdentifierFields:  c.IdentifierFields,
		MaxBytes:          c.MaxBytes,
		MaxDepth:          c.MaxDepth,
		MaxFields:         c.MaxFields,
		QueryAllowlist:    c.QueryAllowlist,
		PropertyAllowlist: c.PropertyAllowlist,
		MaxValueLength:    c.MaxValueLength,
		BotPatterns:       c.BotPatterns,
		ScrubPatterns:     c.ScrubPatterns,
		Mapping:           c.Mapping,
	}
}

// RareOptions maps the configuration onto rare-value suppression.
func RareOptions(c config.Rare) (ingest.RareOptions, error) {
	o := ingest.RareOptions{K: c.KValues, KPerField: c.KPerField, Window: c.Window, TokenPatterns: c.TokenPatterns}
	if len(c.Vocabulary) > 0 {
		o.Vocabulary = c.Vocabulary
	}
	if len(c.Fields) > 0 {
		o.Policies = map[string]ingest.Policy{}
		for f, p := range c.Fields {
			pol, err := ingest.ParsePolicy(p)
			if err != nil {
				return o, fmt.Errorf("ingest.rare.fields.%s: %w", f, err)
			}
			o.Policies[f] = pol
		}
	}
	return o, nil
}

func (a *App) groupConfig(stage, group, topic string) kafkax.GroupConfig {
	gc := kafkax.ConsumerGroup(a.Cfg.Kafka.Consumer, group, topic)
	gc.DrainTimeout = a.Cfg.HTTP.ShutdownTimeout * 3 / 4
	gc.Logger = a.Log.With(zap.String("stage", stage))
	gc.Observer = a.Metrics.Observer(stage,
		func(err error) { a.Health.Degraded(stage, "retrying after a dependency error") },
		func() { a.Health.Recovered(stage) })
	return gc
}

// Run runs the named stages until ctx is cancelled, then shuts down
// gracefully: each stage finishes its batch in flight and commits it.
func (a *App) Run(ctx context.Context, stages ...string) error {
	log := a.Log
	if a.Cfg.HTTP.Listen != "" {
		srv, addr, err := obs.Listen(a.Cfg.HTTP.Listen, obs.Mux(a.Health, a.Metrics, a.Handlers), log)
		if err != nil {
			return fmt.Errorf("http.listen %s: %w", a.Cfg.HTTP.Listen, err)
		}
		a.HTTPAddr = addr
		log.Info("http server listening", zap.String("addr", addr))
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	go a.Health.Watch(ctx, 5*time.Second)
	if a.Cfg.Kafka.CreateTopics {
		t := a.Cfg.Kafka.Topics
		for attempt := 1; ; attempt++ {
			err := a.Kafka.EnsureTopics(ctx, a.Cfg.Kafka.Partitions, a.Cfg.Kafka.ReplicationFactor, t.Raw, t.Events, t.SegmentChanges, t.Snapshots, t.DLQ)
			if err == nil {
				break
			}
			log.Warn("cannot create topics yet, retrying", zap.Error(err), zap.Int("attempt", attempt))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Duration(min(attempt, 10)) * time.Second):
			}
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(stages))
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("stage started", zap.String("stage", name))
			if err := f(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
			log.Info("stage stopped", zap.String("stage", name))
		}()
	}
	for _, s := range stages {
		switch s {
		case StageIngest:
			var rare *ingest.Rare
			if a.Cfg.Ingest.Rare.Enabled {
				ro, err := RareOptions(a.Cfg.Ingest.Rare)
				if err != nil {
					return err
				}
				store := redisx.NewRareStore(a.Redis, a.Cfg.Redis.KeyPrefix)
				store.RoundTrips = a.Metrics.Stage(StageIngest).RedisRoundTrips
				errs := a.storeErrors(StageIngest)
				if rare, err = ingest.NewRare(ro, keysErrors{redisx.NewRareKeys(a.Redis, a.Cfg.Redis.KeyPrefix), errs}, rareStoreErrors{store, errs}); err != nil {
					return fmt.Errorf("ingest.rare: %w", err)
				}
			}
			st, err := stage.NewIngest(a.Kafka, a.Cfg.Kafka.Producer, stage.IngestConfig{
				EventsTopic: a.Cfg.Kafka.Topics.Events,
				DLQTopic:    a.Cfg.Kafka.Topics.DLQ,
				Options:     IngestOptions(a.Cfg.Ingest),
				Rare:        rare,
				Keys:        keysErrors{redisx.NewEpochKeys(a.Redis, a.Cfg.Redis.KeyPrefix), a.storeErrors(StageIngest)},
				Metrics:     a.Metrics.Stage(StageIngest),
				Logger:      log.With(zap.String("stage", StageIngest)),
			})
			if err != nil {
				return fmt.Errorf("ingest: %w", err)
			}
			gc := a.groupConfig(StageIngest, a.Cfg.Kafka.Groups.Ingest, a.Cfg.Kafka.Topics.Raw)
			run(StageIngest, func(ctx context.Context) error { return kafkax.RunGroup(ctx, a.Kafka, gc, st) })
		case StageAggregate:
			sm := a.Metrics.Stage(StageAggregate)
			a.Store.RoundTrips = sm.RedisRoundTrips
			st := stage.NewAggregate(a.Kafka, a.Cfg.Kafka.Producer, stage.AggregateConfig{
				Store:    aggStoreErrors{a.Store, a.storeErrors(StageAggregate)},
				Model:    a.Model,
				Epoch:    a.Cfg.Ingest.Epoch,
				Grace:    a.Cfg.Ingest.Grace,
				Cache:    a.Cache,
				DLQTopic: a.Cfg.Kafka.Topics.DLQ,
				Metrics:  sm,
				Logger:   log.With(zap.String("stage", StageAggregate)),
			})
			gc := a.groupConfig(StageAggregate, a.Cfg.Kafka.Groups.Aggregate, a.Cfg.Kafka.Topics.Events)
			run(StageAggregate, func(ctx context.Context) error { return kafkax.RunGroup(ctx, a.Kafka, gc, st) })
		case StageEmit:
			em, err := a.newEmitter()
			if err != nil {
				return fmt.Errorf("emit: %w", err)
			}
			run(StageEmit, em.Run)
		default:
			return fmt.Errorf("unknown stage %q", s)
		}
	}
	close(a.Ready)
	<-ctx.Done()
	a.Health.Stopping()
	log.Info("shutting down: finishing batches in flight")
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(a.Cfg.HTTP.ShutdownTimeout):
		return errors.New("shutdown deadline passed with a batch still in flight")
	}
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	log.Info("shutdown complete")
	return errors.Join(all...)
}
