package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// Version is podid's version, set at build time with -ldflags.
var Version = "dev"

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print podid's version",
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "podid", Version)
			return err
		},
	}
}
