package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/explain"
)

func newExplainCommand() *cobra.Command {
	var (
		conn               podidConnFlags
		req                explain.Request
		actions, resources []string
		output             string
	)
	cmd := &cobra.Command{
		Use:   "explain --cluster C --namespace NS --service-account SA [--pod P] [--action A --resource ARN]...",
		Short: "Explain why a pod gets (or does not get) AWS credentials, and what its session may do",
		Long: `Walks the Pod Identity chain of one service account on podid's server, in
order: whether the webhook would mutate its pods, the cluster, the association
(or the command that creates one), the role and its trust policy decided for
pods.eks.amazonaws.com with the six session tags EKS Auth sends, the target
role and external ID, and, for each --action/--resource pair, the decision for
the pod's session with the statements that decided and AWS's sentence.

Every refusal names its cause and the fix. -o json prints the explanation for
tools (the REST extension GET/POST /podid/v1/explain, authorized as
podid:Explain on the cluster's ARN). It exits 1 when the pod gets no
credentials or an action is denied.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(actions) != len(resources) {
				return errors.New("give one --resource for each --action (use * for actions without resources)")
			}
			if output != "text" && output != "json" {
				return fmt.Errorf("-o must be text or json, not %q", output)
			}
			for i := range actions {
				req.Checks = append(req.Checks, explain.Check{Action: actions[i], Resource: resources[i]})
			}
			if err := req.Validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			api, err := newPodidAPI(ctx, conn)
			if err != nil {
				return err
			}
			var e explain.Explanation
			if err := api.client.Do(ctx, http.MethodPost, explain.Path, &req, &e); err != nil {
				return fmt.Errorf("podid %s: %w", explain.Path, err)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(&e); err != nil {
					return err
				}
			} else if err := explain.WriteText(out, &e); err != nil {
				return err
			}
			if !e.OK {
				return &ExitError{Code: 1, Err: fmt.Errorf("pods of %s/%s get no credentials: %s", req.Namespace, req.ServiceAccount, e.Cause)}
			}
			for _, d := range e.Decisions {
				if d.Decision != "allowed" {
					return &ExitError{Code: 1, Err: fmt.Errorf("%s on %s: %s", d.Action, d.Resource, d.Decision)}
				}
			}
			return nil
		},
	}
	conn.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&req.Cluster, "cluster", "", "cluster name (required)")
	fl.StringVarP(&req.Namespace, "namespace", "n", "", "the pod's namespace (required)")
	fl.StringVarP(&req.ServiceAccount, "service-account", "s", "", "the pod's service account (required)")
	fl.StringVar(&req.Pod, "pod", "", "the pod's name (fills the kubernetes-pod-name session tag)")
	fl.StringArrayVar(&actions, "action", nil, "an action to decide for the pod's session (repeatable, paired with --resource)")
	fl.StringArrayVar(&resources, "resource", nil, "the resource ARN of the matching --action")
	fl.StringVarP(&output, "output", "o", "text", "text or json")
	for _, f := range []string{"cluster", "namespace", "service-account"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}
