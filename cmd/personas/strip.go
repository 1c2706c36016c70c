package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/internal/app"
	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/stage"
	"github.com/personas-dev/personas/schemas"
)

func environ() []string { return os.Environ() }

func stripCmd(g *globals) *cobra.Command {
	var at string
	cmd := &cobra.Command{
		Use:   "strip",
		Short: "Anonymize raw JSON lines offline: stdin to stdout, rejects to stderr",
		Long: `strip runs the ingest transform without any server: raw clickstream events
as JSON lines on stdin, anonymized events as JSON lines on stdout, one DLQ
record per rejected line on stderr. It uses the same code and settings as
the ingest stage (ingest.* in the configuration), with an ephemeral epoch
key that exists only in this process: a privacy officer can check a
configuration on real samples and nothing links the output to anything.

Events are judged against the clock: samples older than the epoch plus
grace are rejected as epoch_expired. Use --now to evaluate a sample as if
it were that time.`,
		Example: `  personas strip < sample.jsonl > anonymized.jsonl 2> rejects.jsonl
  personas strip --now 2026-11-28T12:00:00Z < old-sample.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := config.Load(g.configPath, environ())
			if err != nil {
				return usageError{err}
			}
			now := time.Now()
			if at != "" {
				if now, err = time.Parse(time.RFC3339, at); err != nil {
					return usageError{fmt.Errorf("--now: %q is not an RFC 3339 time like 2026-11-28T12:00:00Z", at)}
				}
			}
			opt := app.IngestOptions(cfg.Ingest)
			var rareState *ingest.Rare
			if cfg.Ingest.Rare.Enabled {
				ro, err := app.RareOptions(cfg.Ingest.Rare)
				if err != nil {
					return usageError{err}
				}
				// Counting in memory: what this sample alone would release.
				if rareState, err = ingest.NewRare(ro, ingest.NewEphemeralKeys(), ingest.NewMemRareStore()); err != nil {
					return usageError{err}
				}
			}
			return strip(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opt, now, rareState)
		},
	}
	cmd.Flags().StringVar(&at, "now", "", "evaluate events as if the clock showed this RFC 3339 time")
	return cmd
}

// strip anonymizes JSON lines. With rare-value suppression on, it reads
// the whole sample first and counts distinct senders per value in memory,
// then writes every event with the values the whole sample releases: the
// answer to "which values of this sample would be published".
func strip(ctx context.Context, in io.Reader, out, rejects io.Writer, opt ingest.Options, now time.Time, rare *ingest.Rare) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var rb *ingest.RareBatch
	if rare != nil {
		rb = rare.Batch()
		opt.Policy = rb
	}
	tr, err := ingest.NewTransformer(opt, ingest.NewEphemeralKeys())
	if err != nil {
		return usageError{fmt.Errorf("ingest settings: %w", err)}
	}
	sc := bufio.NewScanner(in)
	// Lines up to the size limit plus one byte are read whole, so that an
	// oversized line is rejected as too_large, not cut.
	sc.Buffer(make([]byte, 64<<10), opt.MaxBytes+1<<20)
	var lines [][]byte
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading stdin: %w (a line longer than %d bytes?)", err, opt.MaxBytes+1<<20)
	}
	const chunk = 1000
	pass := func(write bool) error {
		bw := bufio.NewWriter(out)
		enc := json.NewEncoder(rejects)
		for i := 0; i < len(lines); i += chunk {
			if rb != nil {
				if err := rb.Begin(ctx, now); err != nil {
					return err
				}
			}
			for j := i; j < min(i+chunk, len(lines)); j++ {
				src := schemas.Source{Topic: "stdin", Partition: 0, Offset: int64(j)}
				res, rej, err := tr.Transform(ctx, &ingest.Input{Value: lines[j], Time: now, Source: src}, now)
				if err != nil {
					return err
				}
				if !write {
					continue
				}
				if rej != nil {
					if err := enc.Encode(stage.DLQRecord("ingest", src, lines[j], string(rej.Reason), rej.Rule, now)); err != nil {
						return err
					}
					continue
				}
				bw.Write(res.JSON)
				bw.WriteByte('\n')
			}
			if rb != nil {
				if err := rb.Flush(ctx); err != nil {
					return err
				}
			}
		}
		return bw.Flush()
	}
	if rb != nil {
		if err := pass(false); err != nil {
			return err
		}
	}
	return pass(true)
}
