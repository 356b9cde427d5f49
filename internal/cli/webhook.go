package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podid/podid/internal/webhook"
)

func newWebhookCommand() *cobra.Command {
	var (
		rc                      webhook.RunConfig
		kubeconfig, serviceName string
		extraHosts              []string
		logFormat, logLevel     string
		noCluster               bool
	)
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Run the mutating admission webhook that gives pods Pod Identity, as EKS does",
		Long: `Serves the mutating admission webhook: pods whose service account has a pod
identity association in this cluster get the projected token volume, its mount
and the five AWS environment variables, exactly as on EKS. Associations come
from podid's change feed (no call to the server per admission). The webhook
issues its own serving certificate from a CA kept in a Secret and keeps the
MutatingWebhookConfiguration's caBundle current, unless --tls-cert-file and
--tls-key-file are given (cert-manager mode).

Credentials for the podid server come from the AWS SDK's default chain,
resolved afresh at least every minute (a credentials file that appears or
rotates after start is picked up).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := serverFlags{logFormat: logFormat, logLevel: logLevel}
			logger, err := f.logger(os.Stderr)
			if err != nil {
				return err
			}
			if rc.Server == "" || rc.Cluster == "" {
				return errors.New("--server and --cluster-name are required")
			}
			// Re-read on every retrieval: the chart's registration Job
			// (a post-install hook) creates the webhook's credentials
			// Secret after this pod started, and the kubelet fills the
			// volume later still; a chain resolved once at start would
			// never see the file.
			loadOpts := []func(*config.LoadOptions) error{config.WithRegion(rc.Region)}
			if _, err := config.LoadDefaultConfig(cmd.Context(), loadOpts...); err != nil {
				return fmt.Errorf("AWS configuration for the podid server: %w", err)
			}
			rc.Credentials = aws.NewCredentialsCache(rereadingCredentials{opts: loadOpts})
			if !noCluster {
				var restCfg *rest.Config
				if kubeconfig != "" {
					restCfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
				} else {
					restCfg, err = rest.InClusterConfig()
				}
				if err != nil {
					return fmt.Errorf("cluster access: %w", err)
				}
				rc.Kube, err = kubernetes.NewForConfig(restCfg)
				if err != nil {
					return err
				}
			}
			rc.Hosts = append([]string{serviceName + "." + rc.Namespace + ".svc", serviceName + "." + rc.Namespace + ".svc.cluster.local"}, extraHosts...)
			rc.Logger = logger
			return webhook.Run(cmd.Context(), rc)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&rc.Listen, "listen", "0.0.0.0:8443", "HOST:PORT to serve HTTPS on")
	fl.StringVar(&rc.Server, "server", "", "podid server URL")
	fl.StringVar(&rc.Cluster, "cluster-name", "", "this cluster's name in podid")
	fl.StringVar(&rc.Region, "region", "us-west-2", "region injected into pods and used to sign calls to podid")
	fl.StringVar(&rc.Namespace, "namespace", "podid", "namespace of the webhook's Service and CA Secret")
	fl.StringVar(&serviceName, "service-name", "podid-webhook", "the webhook's Service name (its certificate covers NAME.NAMESPACE.svc)")
	fl.StringSliceVar(&extraHosts, "tls-host", nil, "extra DNS names or IPs for the serving certificate")
	fl.StringVar(&rc.CASecret, "ca-secret", "podid-webhook-ca", "Secret that keeps the webhook's CA")
	fl.StringVar(&rc.ConfigName, "webhook-config", "podid", "MutatingWebhookConfiguration whose caBundle to keep current")
	fl.StringVar(&rc.CertFile, "tls-cert-file", "", "serving certificate file (cert-manager mode)")
	fl.StringVar(&rc.KeyFile, "tls-key-file", "", "serving key file (cert-manager mode)")
	fl.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster configuration)")
	fl.BoolVar(&noCluster, "no-cluster-access", false, "run without Kubernetes API access (requires --tls-cert-file)")
	fl.StringVar(&rc.Settings.Region, "inject-region", "", "region injected into pods (default: --region)")
	fl.BoolVar(&rc.Settings.RegionalSTS, "sts-regional-endpoints", true, "inject AWS_STS_REGIONAL_ENDPOINTS=regional")
	fl.BoolVar(&rc.Settings.IPv6, "ipv6", false, "inject the agent's IPv6 address")
	fl.Int64Var(&rc.Settings.Expiration, "token-expiration", webhook.DefaultExpiration, "projected token lifetime in seconds")
	fl.StringVar(&logFormat, "log-format", "text", "text or json")
	fl.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.PreRun = func(*cobra.Command, []string) {
		if rc.Settings.Region == "" {
			rc.Settings.Region = rc.Region
		}
	}
	return cmd
}
