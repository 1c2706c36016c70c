package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/personas-dev/personas/internal/config"
)

func configCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check or show the effective settings",
		Example: "  personas config validate --config personas.yaml\n  PERSONAS_EMIT_K=200 personas config print"}
	cmd.AddCommand(&cobra.Command{
		Use:     "validate",
		Short:   "Validate the settings (file and environment) and exit",
		Example: "  personas config validate --config personas.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := g.load(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "configuration is valid")
			return nil
		},
	})
	var envs bool
	p := &cobra.Command{
		Use:     "print",
		Short:   "Print the effective settings as YAML, secrets redacted",
		Example: "  personas config print > personas.yaml\n  personas config print --env   # every setting's environment variable",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if envs {
				for _, e := range config.EnvNames() {
					fmt.Fprintf(cmd.OutOrStdout(), "%-45s %s\n", e[1], e[0])
				}
				return nil
			}
			cfg, _, err := config.Load(g.configPath, environ())
			if err != nil {
				return usageError{err}
			}
			_, err = cmd.OutOrStdout().Write(cfg.Redacted().YAML())
			return err
		},
	}
	p.Flags().BoolVar(&envs, "env", false, "list the environment variable of every setting instead")
	cmd.AddCommand(p)
	return cmd
}
