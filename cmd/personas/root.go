package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/personas-dev/personas/internal/app"
	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/dashboard"
	"github.com/personas-dev/personas/internal/obs"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

type usageError struct{ error }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

type globals struct {
	configPath string
	logLevel   string
	httpAddr   string
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "personas",
		Short: "Anonymous personalisation from clickstreams: personas instead of persons",
		Long: `Personas strips identifiers from clickstream events, relates behaviour to
personas (behavioural archetypes) instead of persons, keeps rolling persona
figures in Redis and publishes k-anonymous segment changes to Kafka.

Settings come from a YAML file (--config or PERSONAS_CONFIG) and PERSONAS_*
environment variables; PERSONAS_KAFKA_BROKERS and PERSONAS_REDIS_URL always
work. 'personas config print' shows every setting and its variable.`,
		Example: `  personas demo                          # everything in-process, no servers needed
  personas run --config personas.yaml    # all stages against Kafka and Redis
  PERSONAS_KAFKA_BROKERS=kafka:9092 PERSONAS_REDIS_URL=redis://redis:6379/0 personas ingest
  personas strip < sample.jsonl > anonymized.jsonl 2> rejects.jsonl`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", os.Getenv("PERSONAS_CONFIG"), "YAML settings file (env PERSONAS_CONFIG)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "override log.level: debug, info, warn or error")
	root.AddCommand(
		stageCmd(g, "run", "Run all stages (ingest, aggregate, emit) in one process", app.StageIngest, app.StageAggregate, app.StageEmit),
		stageCmd(g, "ingest", "Run the ingest stage: raw clickstream to anonymized events", app.StageIngest),
		stageCmd(g, "aggregate", "Run the aggregate stage: anonymized events to persona figures in Redis", app.StageAggregate),
		stageCmd(g, "emit", "Run the emit stage: segment changes and snapshots from persona figures", app.StageEmit),
		stripCmd(g),
		generateCmd(g),
		queryCmd(g),
		forgetCmd(g),
		configCmd(g),
		demoCmd(g),
		versionCmd(),
	)
	root.AddCommand(benchCmd(g))
	return root
}

// load reads and validates the configuration, and builds the logger.
func (g *globals) load() (config.Config, *zap.Logger, error) {
	cfg, warnings, err := config.Load(g.configPath, os.Environ())
	if err != nil {
		return cfg, nil, usageError{fmt.Errorf("invalid configuration:\n%w", err)}
	}
	if g.logLevel != "" {
		cfg.Log.Level = g.logLevel
	}
	if g.httpAddr != "" {
		cfg.HTTP.Listen = g.httpAddr
		if err := cfg.Validate(); err != nil {
			return cfg, nil, usageError{err}
		}
	}
	log, err := obs.NewLogger(cfg.Log)
	if err != nil {
		return cfg, nil, usageError{err}
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	return cfg, log, nil
}

// signalContext is cancelled on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func stageCmd(g *globals, use, short string, stages ...string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

Consumers join their Kafka consumer group; start more instances to share
the partitions. SIGTERM finishes the batch in flight, commits it and exits.
/healthz, /readyz and /metrics are served on http.listen (loopback by default).`,
		Example: fmt.Sprintf("  personas %s --config personas.yaml\n  PERSONAS_HTTP_LISTEN=127.0.0.1:9464 personas %s", use, use),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := g.load()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			ctx, cancel := signalContext()
			defer cancel()
			a, err := app.New(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer a.Close()
			dashboard.Register(a, dashboard.Options{})
			log.Info("starting", zap.String("version", version), zap.Strings("stages", stages),
				zap.Strings("brokers", cfg.Kafka.Brokers), zap.String("redis", config.RedactURL(cfg.Redis.URL)))
			return a.Run(ctx, stages...)
		},
	}
	cmd.Flags().StringVar(&g.httpAddr, "http", "", "serve /healthz, /readyz, /metrics (and the dashboard) on this address")
	return cmd
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Example: "  personas version",
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && len(s.Value) >= 12 {
						v = "dev-" + s.Value[:12]
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "personas %s (%s)\n", v, bi.GoVersion)
				return
			}
			fmt.Fprintf(cmd.OutOrStdout(), "personas %s\n", v)
		},
	}
}
