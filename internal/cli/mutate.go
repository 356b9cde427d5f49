package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/podid/podid/internal/webhook"
)

func newMutateCommand() *cobra.Command {
	var (
		file, output string
		dryRun       bool
		s            webhook.Settings
	)
	cmd := &cobra.Command{
		Use:   "mutate --dry-run -f MANIFEST",
		Short: "Print what the Pod Identity webhook would change in pods and pod templates",
		Long: `Reads a manifest (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
CronJob; several documents allowed; "-" for standard input) and prints it as
the webhook would leave it, assuming each pod's service account has an
association. With --output patch it prints instead, per object, the JSON
patch the webhook sends when one of its pods is created (paths are the
pod's).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !dryRun {
				return errors.New("mutate only runs with --dry-run: it never changes a cluster")
			}
			var in []byte
			var err error
			if file == "-" {
				in, err = io.ReadAll(cmd.InOrStdin())
			} else {
				in, err = os.ReadFile(file)
			}
			if err != nil {
				return err
			}
			results, err := webhook.MutateManifest(in, s, nil)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for i, r := range results {
				switch output {
				case "patch":
					b, _ := json.MarshalIndent(map[string]any{"kind": r.Kind, "name": r.Name, "patch": r.Patch}, "", "  ")
					fmt.Fprintln(w, string(b))
				case "yaml":
					if i > 0 {
						fmt.Fprintln(w, "---")
					}
					b, err := yaml.Marshal(r.Mutated)
					if err != nil {
						return err
					}
					w.Write(b)
				default:
					return fmt.Errorf("unknown --output %q (yaml or patch)", output)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "manifest file (- for standard input)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "required: print, change nothing")
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "yaml (the mutated objects) or patch (JSON patch per object)")
	cmd.Flags().StringVar(&s.Region, "region", "us-west-2", "region injected as AWS_REGION and AWS_DEFAULT_REGION")
	cmd.Flags().BoolVar(&s.RegionalSTS, "sts-regional-endpoints", true, "inject AWS_STS_REGIONAL_ENDPOINTS=regional")
	cmd.Flags().BoolVar(&s.IPv6, "ipv6", false, "use the agent's IPv6 address fd00:ec2::23")
	cmd.Flags().Int64Var(&s.Expiration, "token-expiration", webhook.DefaultExpiration, "projected token lifetime in seconds")
	cmd.MarkFlagRequired("filename")
	return cmd
}
