package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"

	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/synth"
)

type generateFlags struct {
	events   int
	rate     float64
	visitors int
	seed     uint64
	bad      float64
	bots     float64
	topic    string
	dayLen   time.Duration
	quiet    bool
}

func generateCmd(g *globals) *cobra.Command {
	f := &generateFlags{}
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Produce realistic synthetic clickstream (PII included) into Kafka",
		Long: `generate plays synthetic web-shop traffic into the raw topic: visitors with
consistent behaviour (the archetypes behind the default personas), bots, a
share of malformed events, and personal data where real clickstreams carry
it. It is meant for demos, load tests and benchmarks. Event times start now.`,
		Example: `  personas generate --events 100000
  personas generate --events 0 --rate 500      # run until Ctrl-C at 500 events/s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := g.load()
			if err != nil {
				return err
			}
			conn, err := kafkax.NewConn(cfg.Kafka)
			if err != nil {
				return err
			}
			topic := f.topic
			if topic == "" {
				topic = cfg.Kafka.Topics.Raw
			}
			ctx, cancel := signalContext()
			defer cancel()
			if cfg.Kafka.CreateTopics {
				if err := conn.EnsureTopics(ctx, cfg.Kafka.Partitions, cfg.Kafka.ReplicationFactor, topic); err != nil {
					return err
				}
			}
			return generate(ctx, conn, topic, f, cmd)
		},
	}
	cmd.Flags().IntVarP(&f.events, "events", "n", 10000, "events to produce (0: until interrupted)")
	cmd.Flags().Float64Var(&f.rate, "rate", 0, "events per second in wall-clock time (0: as fast as possible)")
	cmd.Flags().IntVar(&f.visitors, "visitors", 10000, "distinct human visitors")
	cmd.Flags().Uint64Var(&f.seed, "seed", 1, "random seed (same seed, same stream)")
	cmd.Flags().Float64Var(&f.bad, "bad-share", 0.01, "share of malformed events")
	cmd.Flags().Float64Var(&f.bots, "bot-share", 0.04, "share of bot events")
	cmd.Flags().StringVar(&f.topic, "topic", "", "topic to produce to (default kafka.topics.raw)")
	cmd.Flags().DurationVar(&f.dayLen, "day-length", 24*time.Hour, "length of one simulated day (compress the daily rhythm)")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "no progress output")
	return cmd
}

func generate(ctx context.Context, conn *kafkax.Conn, topic string, f *generateFlags, cmd *cobra.Command) error {
	sc := synth.DefaultConfig()
	sc.Seed = f.seed
	sc.Visitors = f.visitors
	sc.BadShare = f.bad
	sc.BotShare = f.bots
	sc.DayLength = f.dayLen
	sc.Start = time.Now()
	if f.rate > 0 {
		sc.EventsPerSecond = f.rate
	} else {
		sc.EventsPerSecond = 2000
	}
	if err := sc.Validate(); err != nil {
		return usageError{err}
	}
	gen := synth.New(sc)
	w := &kafka.Writer{
		Addr: kafka.TCP(conn.Brokers...), Topic: topic, Balancer: &kafka.Murmur2Balancer{},
		BatchSize: 1000, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll,
		Compression: kafka.Lz4, Transport: conn.Transport(),
	}
	defer w.Close()
	var ev synth.Event
	batch := make([]kafka.Message, 0, 1000)
	start := time.Now()
	sent := 0
	progress := newProgress(cmd.ErrOrStderr(), "generate", int64(f.events), f.quiet)
	for f.events == 0 || sent < f.events {
		if ctx.Err() != nil {
			break
		}
		gen.Next(&ev)
		batch = append(batch, kafka.Message{Key: bytes.Clone(ev.Key), Value: bytes.Clone(ev.Value), Time: ev.Time})
		if len(batch) == cap(batch) || (f.events > 0 && sent+len(batch) >= f.events) {
			if err := w.WriteMessages(ctx, batch...); err != nil {
				if ctx.Err() != nil {
					break
				}
				return fmt.Errorf("produce: %w", err)
			}
			sent += len(batch)
			batch = batch[:0]
			progress.set(int64(sent))
			if f.rate > 0 {
				// Pace in wall-clock time.
				due := start.Add(time.Duration(float64(sent) / f.rate * float64(time.Second)))
				if d := time.Until(due); d > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(d):
					}
				}
			}
		}
	}
	progress.done()
	el := time.Since(start)
	fmt.Fprintf(cmd.ErrOrStderr(), "produced %d events to %s in %s (%.0f events/s)\n", sent, topic, el.Round(time.Millisecond), float64(sent)/el.Seconds())
	return nil
}
