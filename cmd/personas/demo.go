package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func demoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline in-process on synthetic traffic (not implemented yet)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("demo is not implemented yet")
		},
	}
}
