// Package cli holds podid's subcommands. Each subcommand lives in its own
// file with its own flags and config, and returns errors instead of exiting.
package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/version"
)

// Run executes the podid command line with args under ctx.
func Run(ctx context.Context, args []string) error {
	root := newRootCommand()
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// newRootCommand builds the podid command with every subcommand. Its
// --version flag prints the same line as `podid version`.
func newRootCommand() *cobra.Command {
	info := version.Get()
	root := &cobra.Command{
		Use:           "podid",
		Short:         "Self-hosted, wire-compatible EKS Pod Identity",
		Version:       info.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate(info.String() + "\n")
	(&pprofFlag{}).register(root)
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}

// subcommands lists the constructors of podid's subcommands. Each is defined
// in its own file of this package.
var subcommands = []func() *cobra.Command{
	newVersionCommand,
	newMutateCommand,
	newServerCommand, newGatewayCommand,
	newTrustPolicyCommand, newDoctorCommand, newExplainCommand,
	newDevCommand, newExecCommand,
	newAuditCommand, newBackupCommand, newRestoreCommand,
	newWebhookCommand,
	newClusterCommand,
	newAgentCommand,
}
