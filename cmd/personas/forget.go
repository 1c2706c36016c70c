package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/internal/redisx"
)

func forgetCmd(g *globals) *cobra.Command {
	var fromStdin bool
	var epochs []int64
	cmd := &cobra.Command{
		Use:   "forget",
		Short: "Erase the state kept about a visitor, or destroy an epoch key early",
		Long: `forget handles erasure requests. What Personas keeps about a visitor is one
short-lived state per epoch (feature counters and the current persona), stored
under the visitor's pseudonym. Given the visitor's identifier (read from
stdin, one per line, so it never shows in the process list or shell history),
forget computes the pseudonyms under every epoch key that still exists and
deletes those states. Published figures are counts over at least k visitors
and hold nothing per visitor, so they stay. Nothing is logged.

--destroy-epoch deletes an epoch key before its expiry (crypto-shredding):
from then on no one can compute that epoch's pseudonyms, so nothing stored
under them can be linked to anyone. Restart ingest afterwards so no instance
keeps the key in memory.`,
		Example: `  echo 'user-42@example.com' | personas forget --stdin
  personas forget --destroy-epoch 20785`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !fromStdin && len(epochs) == 0 {
				return usageError{fmt.Errorf("give --stdin (identifiers on stdin) or --destroy-epoch N")}
			}
			cfg, _, err := g.load()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := redisx.Open(ctx, cfg.Redis)
			if err != nil {
				return err
			}
			defer c.Close()
			keys := redisx.NewEpochKeys(c, cfg.Redis.KeyPrefix)
			for _, ep := range epochs {
				if err := keys.Destroy(ctx, ep); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "epoch %d: key destroyed\n", ep)
			}
			if !fromStdin {
				return nil
			}
			// The live epochs: the current one and the one before it (grace).
			epochLen := int64(cfg.Ingest.Epoch / time.Second)
			cur := time.Now().Unix() / epochLen
			var pseudonyms []string
			sc := bufio.NewScanner(os.Stdin)
			var ids []string
			for sc.Scan() {
				if id := strings.TrimSpace(sc.Text()); id != "" {
					ids = append(ids, id)
				}
			}
			for _, ep := range []int64{cur - 1, cur, cur + 1} {
				k, ok, err := keys.Peek(ctx, ep)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				for _, id := range ids {
					pseudonyms = append(pseudonyms, ingest.Pseudonym(k, []byte(id)))
				}
			}
			store := redisx.NewAggStore(c, cfg.Redis.KeyPrefix, cfg.Aggregate.Retention)
			n, err := store.ForgetVisitors(ctx, pseudonyms)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d identifier(s): %d visitor state(s) deleted\n", len(ids), n)
			return nil
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "stdin", false, "read identifiers (one per line) from stdin")
	cmd.Flags().Int64SliceVar(&epochs, "destroy-epoch", nil, "destroy this epoch's key now (repeatable)")
	return cmd
}
