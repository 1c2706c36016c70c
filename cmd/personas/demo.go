package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/personas-dev/personas/internal/demo"
)

func demoCmd(g *globals) *cobra.Command {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline in-process on synthetic traffic, with a live dashboard",
		Long: `demo runs the real pipeline (ingest, aggregate and emit) in one process with
nothing to install: an in-process Kafka-protocol broker (franz-go's kfake), an
in-process Redis (miniredis) and synthetic web-shop traffic with bots, broken
events and personal data, a whole day compressed into minutes.

The terminal shows a live summary; the dashboard is served on --http (by
default 127.0.0.1:8080, or a free port when that is taken). To make a small,
short run publish, k is lowered to 20 and segments are evaluated every 2s
over 1m and 5m windows; both are shown on screen. Nothing is kept after exit.
Settings files and PERSONAS_* variables are not read.`,
		Example: `  personas demo
  personas demo --duration 30s              # stop after 30 seconds
  personas demo --http 127.0.0.1:9000 --rate 3000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.K < 2 {
				return usageError{errors.New("--k must be at least 2: a figure about one visitor describes a person")}
			}
			if o.Rate <= 0 || o.DayLength <= 0 || o.Visitors <= 0 || o.Every <= 0 {
				return usageError{errors.New("--rate, --day-length, --visitors and --every must be positive")}
			}
			if g.logLevel != "" {
				o.LogLevel = g.logLevel
			}
			o.Out = cmd.OutOrStdout()
			ctx, cancel := signalContext()
			defer cancel()
			return demo.Run(ctx, o)
		},
	}
	cmd.Flags().DurationVar(&o.Duration, "duration", 0, "stop after this long (default: run until Ctrl-C)")
	cmd.Flags().StringVar(&o.HTTP, "http", "", "dashboard address (default "+demo.DefaultHTTP+", or a free port when taken)")
	cmd.Flags().Float64Var(&o.Rate, "rate", 1000, "mean synthetic events per second over a simulated day")
	cmd.Flags().DurationVar(&o.DayLength, "day-length", 10*time.Minute, "length of one simulated day")
	cmd.Flags().IntVar(&o.K, "k", 20, "smallest crowd a shown figure may describe (production uses 100)")
	cmd.Flags().IntVar(&o.Visitors, "visitors", 20000, "distinct synthetic visitors")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 1, "random seed of the traffic")
	cmd.Flags().BoolVar(&o.Plain, "plain", false, "print plain summary blocks instead of refreshing the screen")
	cmd.Flags().DurationVar(&o.Every, "every", 5*time.Second, "how often the plain view prints a summary")
	return cmd
}
