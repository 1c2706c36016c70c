package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func forgetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "forget",
		Short: "Erase what is kept about one visitor (not implemented yet)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("forget is not implemented yet")
		},
	}
}
