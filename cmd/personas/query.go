package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/personas-dev/personas/emit/privacy"
	"github.com/personas-dev/personas/emit/segment"
	"github.com/personas-dev/personas/internal/redisx"
)

func queryCmd(g *globals) *cobra.Command {
	var window time.Duration
	var at string
	cmd := &cobra.Command{
		Use:   "query",
		Short: "Print persona figures, flows and segment states as JSON",
		Long: `query reads the rolling persona figures from Redis over a window and prints
them as JSON. Every figure passes the same k-anonymity gate as the published
topics: a persona with fewer than emit.k visitors in the window is shown as
suppressed, without counts.`,
		Example: `  personas query personas --window 1h
  personas query persona mobile_bargain_hunter --window 24h
  personas query flows --window 5m --at 2026-11-29T10:00:00Z
  personas query segments | jq '.[] | select(.in)'`,
	}
	cmd.PersistentFlags().DurationVarP(&window, "window", "w", time.Hour, "window length, ending now")
	cmd.PersistentFlags().StringVar(&at, "at", "", "end of the window (RFC 3339; default now)")
	read := func(ctx context.Context) (*privacy.Window, error) {
		cfg, _, err := g.load()
		if err != nil {
			return nil, err
		}
		end := time.Now()
		if at != "" {
			if end, err = time.Parse(time.RFC3339, at); err != nil {
				return nil, usageError{fmt.Errorf("--at: %q is not RFC 3339", at)}
			}
		}
		c, err := redisx.Open(ctx, cfg.Redis)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		store := redisx.NewAggStore(c, cfg.Redis.KeyPrefix, cfg.Aggregate.Retention)
		wf, err := store.ReadWindow(ctx, end.Add(-window), end)
		if err != nil {
			return nil, err
		}
		pub := privacy.GateWindow(wf, cfg.Emit.K, privacy.None)
		pub.Length = window
		return &pub, nil
	}
	out := func(w io.Writer, v any) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "personas",
		Short:   "Every persona's figures over the window",
		Example: "  personas query personas --window 1h",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pub, err := read(cmd.Context())
			if err != nil {
				return err
			}
			names := make([]string, 0, len(pub.Personas))
			for n := range pub.Personas {
				names = append(names, n)
			}
			sort.Strings(names)
			list := make([]any, 0, len(names))
			for _, n := range names {
				list = append(list, pub.Personas[n])
			}
			return out(cmd.OutOrStdout(), map[string]any{
				"window": segment.FormatWindow(window), "window_start": pub.Start.UTC().Format(time.RFC3339),
				"window_end": pub.End.UTC().Format(time.RFC3339), "personas": list, "bots": pub.Bots,
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "persona NAME",
		Short:   "One persona's figures over the window",
		Example: "  personas query persona researcher --window 24h",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := read(cmd.Context())
			if err != nil {
				return err
			}
			return out(cmd.OutOrStdout(), pub.Figures(args[0]))
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "flows",
		Short:   "Visitors moving between personas over the window (flows of at least k)",
		Example: "  personas query flows --window 24h",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pub, err := read(cmd.Context())
			if err != nil {
				return err
			}
			return out(cmd.OutOrStdout(), map[string]any{"window": segment.FormatWindow(window), "flows": pub.Flows})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "segments",
		Short:   "Which personas are in which segment now",
		Example: "  personas query segments",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := g.load()
			if err != nil {
				return err
			}
			c, err := redisx.Open(cmd.Context(), cfg.Redis)
			if err != nil {
				return err
			}
			defer c.Close()
			states, err := redisx.NewEmitStore(c, cfg.Redis.KeyPrefix).States(cmd.Context())
			if err != nil {
				return err
			}
			type row struct {
				Segment string    `json:"segment"`
				Persona string    `json:"persona"`
				In      bool      `json:"in"`
				Since   time.Time `json:"since"`
				Changes int64     `json:"changes"`
			}
			var rows []row
			for k, s := range states {
				rows = append(rows, row{k.Segment, k.Persona, s.In, s.Since, s.Seq})
			}
			sort.Slice(rows, func(i, j int) bool {
				return rows[i].Segment+rows[i].Persona < rows[j].Segment+rows[j].Persona
			})
			return out(cmd.OutOrStdout(), rows)
		},
	})
	return cmd
}
