package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/personas-dev/personas/internal/bench"
)

type benchFlags struct {
	events     int
	partitions int
	rate       float64
	instances  string
	cluster    bool
	latency    time.Duration
	visitors   int
	doc        string
	command    string
	keep       bool
	profile    string
	profileFor time.Duration
	steps      string
	memLimit   string
	compress   string
	latRate    float64
	waitLoad   float64
	waitMax    time.Duration
	quiet      bool
}

func benchCmd(g *globals) *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark the pipeline end to end on real Kafka and Redis",
		Long: `bench produces a realistic synthetic clickstream into Kafka and measures, in one
run and on the same broker: a kafka-go pass-through (consume and produce the same
bytes: the I/O limit), the ingest stage alone, the aggregate stage alone, and
'personas run' end to end (throughput, and produce-to-figure latency at half the
maximum rate); then 'personas run' with several instances in one consumer group,
on Redis Cluster, and with a million distinct visitors (memory).

Every component runs as a subprocess of this binary, so CPU time and peak RSS are
its own. Topics, consumer groups and Redis keys are fresh per run and deleted at
the end. Kafka and Redis come from PERSONAS_KAFKA_BROKERS, PERSONAS_REDIS_URL and
PERSONAS_REDIS_CLUSTER_URL (or the configuration). The results are printed and
written into docs/benchmarks.md.`,
		Example: `  personas bench                       # 1 000 000 events, everything
  personas bench --events 50000 --latency 10s --visitors 0 --instances 1 --doc ''   # a quick look
  personas bench --profile /tmp/prof   # CPU and heap profiles of every component under load`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := g.load()
			if err != nil {
				return err
			}
			var inst []int
			for _, s := range strings.Split(f.instances, ",") {
				if s = strings.TrimSpace(s); s == "" {
					continue
				}
				n, err := strconv.Atoi(s)
				if err != nil || n < 1 {
					return usageError{fmt.Errorf("--instances: %q is not a list of counts", f.instances)}
				}
				inst = append(inst, n)
			}
			var steps []string
			for _, s := range strings.Split(f.steps, ",") {
				if s = strings.TrimSpace(s); s == "" {
					continue
				}
				if !slices.Contains(bench.Steps, s) {
					return usageError{fmt.Errorf("--steps: unknown step %q (steps: %s)", s, strings.Join(bench.Steps, ","))}
				}
				steps = append(steps, s)
			}
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			if f.profile != "" {
				if err := os.MkdirAll(f.profile, 0o755); err != nil {
					return err
				}
			}
			ctx, cancel := signalContext()
			defer cancel()
			out := cmd.OutOrStdout()
			if f.waitLoad > 0 {
				if err := waitForLoad(ctx, out, f.waitLoad, f.waitMax); err != nil {
					return err
				}
			}
			opt := bench.Options{
				Events:          f.events,
				Partitions:      f.partitions,
				EventsPerSecond: f.rate,
				Instances:       inst,
				Latency:         f.latency,
				Steps:           steps,
				Visitors:        f.visitors,
				MemoryLimit:     f.memLimit,
				Compression:     f.compress,
				LatencyRate:     f.latRate,
				Binary:          bin,
				Brokers:         cfg.Kafka.Brokers,
				RedisURL:        cfg.Redis.URL,
				Doc:             f.doc,
				Command:         f.command,
				Keep:            f.keep,
				ProfileDir:      f.profile,
				ProfileFor:      f.profileFor,
				Progress:        barMaker{w: cmd.ErrOrStderr(), quiet: f.quiet},
				Out:             out,
			}
			if opt.Command == "" {
				opt.Command = "personas " + strings.Join(os.Args[1:], " ")
			}
			if f.cluster {
				opt.ClusterURL = os.Getenv("PERSONAS_REDIS_CLUSTER_URL")
				if opt.ClusterURL == "" {
					fmt.Fprintln(out, "note: PERSONAS_REDIS_CLUSTER_URL is not set; the Redis Cluster run is skipped")
				}
			}
			rep, err := bench.Run(ctx, opt)
			if rep != nil && len(rep.Results) > 0 {
				fmt.Fprintln(out)
				fmt.Fprintln(out, bench.Results(rep))
				if s := bench.Scaling(rep); s != "" {
					fmt.Fprintln(out, bench.Scaling(rep))
				}
			}
			return err
		},
	}
	fl := cmd.Flags()
	events := 1000000
	if v, err := strconv.Atoi(os.Getenv("PERSONAS_BENCH_EVENTS")); err == nil && v > 0 {
		events = v
	}
	fl.IntVarP(&f.events, "events", "n", events, "events per throughput run (env PERSONAS_BENCH_EVENTS)")
	fl.IntVar(&f.partitions, "partitions", 6, "partitions of every topic the bench creates")
	fl.Float64Var(&f.rate, "stream-rate", 10000, "the synthetic stream's rate in event time (sets the visitor population)")
	fl.StringVar(&f.instances, "instances", "1,2,3", "consumer-group sizes of the scaling runs of personas run")
	fl.BoolVar(&f.cluster, "cluster", true, "also run on the Redis Cluster of PERSONAS_REDIS_CLUSTER_URL")
	fl.DurationVar(&f.latency, "latency", 20*time.Second, "how long the latency run produces at half the maximum rate (0: skip)")
	fl.Float64Var(&f.latRate, "latency-rate", 0, "feed the latency run at this rate (events/s) instead of half the end-to-end maximum")
	fl.IntVar(&f.visitors, "visitors", 1000000, "distinct visitors of the memory run, one event each (0: skip)")
	fl.StringVar(&f.memLimit, "gomemlimit", "", "run every component with this GOMEMLIMIT (e.g. 250MiB)")
	fl.StringVar(&f.compress, "compression", "", "override kafka.producer.compression of every component (none, lz4, snappy, zstd, gzip)")
	fl.StringVar(&f.doc, "doc", "docs/benchmarks.md", "Markdown file the results are written into ('' = none)")
	fl.StringVar(&f.command, "command", "", "the command shown with the results (default: this command line)")
	fl.BoolVar(&f.keep, "keep", false, "keep the bench's topics and Redis keys")
	fl.StringVar(&f.profile, "profile", "", "directory for CPU and heap profiles of every component under load")
	fl.DurationVar(&f.profileFor, "profile-for", 5*time.Second, "length of each CPU profile")
	fl.StringVar(&f.steps, "steps", strings.Join(bench.Steps, ","), "steps to run (aggregate also runs ingest; latency also runs run)")
	fl.Float64Var(&f.waitLoad, "wait-load", 0, "first wait until the 1-minute load average is below this (0: don't wait)")
	fl.DurationVar(&f.waitMax, "wait-max", 2*time.Hour, "the longest --wait-load waits before running anyway")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bars")
	cmd.AddCommand(passthroughCmd(g), cleanCmd(g))
	return cmd
}

// passthroughCmd is the bench's I/O baseline, run as its own process.
func passthroughCmd(g *globals) *cobra.Command {
	var from, to, group string
	cmd := &cobra.Command{
		Use:    "passthrough",
		Short:  "Copy a topic to another with the stages' Kafka settings (the bench's I/O baseline)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := g.load()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			if from == "" || to == "" || group == "" {
				return usageError{fmt.Errorf("--from, --to and --group are required")}
			}
			ctx, cancel := signalContext()
			defer cancel()
			return bench.RunPassthrough(ctx, cfg, log, from, to, group)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "topic to read")
	cmd.Flags().StringVar(&to, "to", "", "topic to write")
	cmd.Flags().StringVar(&group, "group", "", "consumer group")
	return cmd
}

// cleanCmd deletes what interrupted bench runs left behind.
func cleanCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "clean",
		Short:   "Delete the topics (bench.*) and Redis keys (bench:*) that interrupted bench runs left behind",
		Example: "  PERSONAS_KAFKA_BROKERS=127.0.0.1:19092 PERSONAS_REDIS_URL=redis://127.0.0.1:16379/0 personas bench clean",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := g.load()
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			n, err := bench.Clean(ctx, cfg.Kafka.Brokers, cfg.Redis.URL, os.Getenv("PERSONAS_REDIS_CLUSTER_URL"))
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %d topics and the bench: keys\n", n)
			return err
		},
	}
}

// waitForLoad waits until the machine is quiet enough for figures worth
// publishing.
func waitForLoad(ctx context.Context, out io.Writer, below float64, most time.Duration) error {
	deadline := time.Now().Add(most)
	for {
		l := bench.Load1()
		if l >= 0 && l < below {
			fmt.Fprintf(out, "load average %.2f < %.2f: starting\n", l, below)
			return nil
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(out, "load average still %.2f after %s: running anyway (figures will be noisy)\n", l, most)
			return nil
		}
		fmt.Fprintf(out, "load average %.2f >= %.2f: waiting\n", l, below)
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while waiting for a quiet machine")
		case <-time.After(time.Minute):
		}
	}
}

// barMaker adapts the progress bar to bench.Progress.
type barMaker struct {
	w     io.Writer
	quiet bool
}

func (b barMaker) Start(label string, total int64) bench.Bar {
	p := newProgress(b.w, label, total, b.quiet)
	return progressBar{p}
}

type progressBar struct{ p *progress }

func (p progressBar) Set(n int64) { p.p.set(n) }
func (p progressBar) Done()       { p.p.done() }
