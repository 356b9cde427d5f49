package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podid/podid/internal/agentinstall"
	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/podidclient"
	"github.com/podid/podid/internal/sharedcreds"
)

func newClusterCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Register Kubernetes clusters with a podid server"}
	cmd.AddCommand(newClusterRegisterSelfCommand())
	return cmd
}

// componentPolicies are the least-privilege podid permissions of the
// in-cluster components, scoped to one cluster.
func componentPolicies(region, account, cluster string) map[string]string {
	clusterARN := arn.Cluster("aws", region, account, cluster).String()
	return map[string]string{
		"podid-agent-" + cluster:   agentinstall.AgentPolicy("aws", region, account, cluster),
		"podid-webhook-" + cluster: fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks:ListPodIdentityAssociations","Resource":"%s"}]}`, clusterARN),
	}
}

func newClusterRegisterSelfCommand() *cobra.Command {
	var (
		server, cluster, region, kubeconfig, namespace, agentNamespace string
		componentCreds, withAPIAccess, agentIdentity                   bool
		apiTokenFile                                                   string
	)
	cmd := &cobra.Command{
		Use:   "register-self",
		Short: "Register the cluster this runs in (or --kubeconfig's) with podid",
		Long: `Reads the cluster's service-account issuer and signing keys from its API
server's discovery endpoints (/.well-known/openid-configuration and
/openid/v1/jwks) and registers the cluster with the podid server, so that EKS
Auth verifies its pods' tokens. It creates the cluster's agent role
(podid-agent-CLUSTER, path /podid/), which each node agent obtains with its own
projected token (podid agent --identity-token-file), its sessions bound to the
agent's node; no agent credentials are stored. With --component-credentials it
also creates the least-privilege podid user of the webhook and stores its
access key in the Secret podid-webhook-credentials (podid's namespace), and,
with --agent-identity=false, a shared agent user whose key goes to the Secret
podid-agent-credentials (agent namespace). Running it again is safe: it
updates the registration with the issuer and keys it reads now (run it after
the cluster's service-account signing keys rotate) and, with --api-access,
podid's API access; existing Secrets are kept.

Credentials for the podid server come from the AWS SDK's default chain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if server == "" || cluster == "" {
				return errors.New("--server and --cluster-name are required")
			}
			restCfg, err := kubeConfig(kubeconfig)
			if err != nil {
				return err
			}
			kube, err := kubernetes.NewForConfig(restCfg)
			if err != nil {
				return err
			}
			issuer, jwks, err := readIssuer(ctx, kube)
			if err != nil {
				return err
			}
			awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
			if err != nil {
				return err
			}
			pc := &podidclient.Client{Endpoint: server, Region: region, Credentials: awsCfg.Credentials}
			in := map[string]any{"name": cluster, "oidcIssuerUrl": issuer, "jwks": jwks, "connectorConfig": map[string]string{"provider": "OTHER"}}
			if withAPIAccess || apiTokenFile != "" {
				token := restCfg.BearerToken
				if apiTokenFile != "" {
					b, err := os.ReadFile(apiTokenFile)
					if err != nil {
						return fmt.Errorf("--api-token-file: %w", err)
					}
					if token = strings.TrimSpace(string(b)); token == "" {
						return fmt.Errorf("--api-token-file %s is empty (is its Secret populated yet?)", apiTokenFile)
					}
				}
				api := map[string]string{"endpoint": restCfg.Host, "token": token}
				if len(restCfg.CAData) > 0 {
					api["certificateAuthorityData"] = base64.StdEncoding.EncodeToString(restCfg.CAData)
				} else if restCfg.CAFile != "" {
					ca, err := os.ReadFile(restCfg.CAFile)
					if err != nil {
						return err
					}
					api["certificateAuthorityData"] = base64.StdEncoding.EncodeToString(ca)
				}
				in["kubernetesApi"] = api
			}
			var out struct {
				Cluster struct {
					Arn string `json:"arn"`
				} `json:"cluster"`
			}
			err = pc.Do(ctx, "POST", "/cluster-registrations", in, &out)
			var apiErr *podidclient.APIError
			switch {
			case err == nil:
				fmt.Fprintf(cmd.OutOrStdout(), "registered cluster %s (issuer %s)\n", cluster, issuer)
			case errors.As(err, &apiErr) && apiErr.Code == "ResourceInUseException":
				// Run again (after a service-account key rotation, or with
				// --api-access): refresh what podid knows of the cluster.
				delete(in, "name")
				delete(in, "connectorConfig")
				if err := pc.Do(ctx, "PUT", "/cluster-registrations/"+url.PathEscape(cluster), in, &out); err != nil {
					return fmt.Errorf("updating the registration of %s: %w", cluster, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "cluster %s is already registered; updated its issuer %s and keys\n", cluster, issuer)
			default:
				return fmt.Errorf("registering %s: %w", cluster, err)
			}
			if agentIdentity {
				if err := ensureAgentRole(ctx, cmd, awsCfg, server, region, cluster); err != nil {
					return err
				}
			}
			if !componentCreds {
				return nil
			}
			return createComponentCredentials(ctx, cmd, awsCfg, server, kube, region, cluster, namespace, agentNamespace, !agentIdentity)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&server, "server", "", "podid server URL")
	fl.StringVar(&cluster, "cluster-name", "", "the name to register the cluster under")
	fl.StringVar(&region, "region", "us-west-2", "podid's region (signing)")
	fl.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster configuration)")
	fl.StringVar(&namespace, "namespace", "podid", "namespace of podid's webhook")
	fl.StringVar(&agentNamespace, "agent-namespace", "kube-system", "namespace of the agent DaemonSet")
	fl.BoolVar(&componentCreds, "component-credentials", true, "create the webhook's podid credentials (and, with --agent-identity=false, the agent's) as Secrets")
	fl.BoolVar(&agentIdentity, "agent-identity", true, "create the cluster's agent role ("+eksauth.AgentRoleName("CLUSTER")+"), which agents obtain with their projected tokens (podid agent --identity-token-file); false: a shared agent access key in the Secret podid-agent-credentials instead")
	fl.BoolVar(&withAPIAccess, "api-access", false, "give podid this identity's API access (for TokenReview)")
	fl.StringVar(&apiTokenFile, "api-token-file", "", "give podid API access with the token in this file (a long-lived service-account token allowed TokenReview) instead of this identity's; implies --api-access")
	return cmd
}

func kubeConfig(path string) (*rest.Config, error) {
	if path != "" {
		return clientcmd.BuildConfigFromFlags("", path)
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster access (give --kubeconfig outside a cluster): %w", err)
	}
	return cfg, nil
}

// readIssuer reads the service-account issuer and its JWKS from the API
// server's discovery endpoints.
func readIssuer(ctx context.Context, kube kubernetes.Interface) (issuer, jwks string, err error) {
	raw, err := kube.CoreV1().RESTClient().Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
	if err != nil {
		return "", "", fmt.Errorf("reading the discovery document: %w", err)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Issuer == "" {
		return "", "", fmt.Errorf("the API server's discovery document names no issuer")
	}
	keys, err := kube.CoreV1().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
	if err != nil {
		return "", "", fmt.Errorf("reading the JWKS: %w", err)
	}
	return doc.Issuer, string(keys), nil
}

// ensureAgentRole creates or updates the cluster's agent role: trusted by
// podid's agent exchange for this cluster only, allowed only the agents'
// policy.
func ensureAgentRole(ctx context.Context, cmd *cobra.Command, awsCfg aws.Config, server, region, cluster string) error {
	client := iam.NewFromConfig(awsCfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(server) })
	account, err := callerAccount(ctx, awsCfg, server)
	if err != nil {
		return err
	}
	name := eksauth.AgentRoleName(cluster)
	trust := eksauth.AgentTrustPolicy("aws", region, account, cluster)
	_, err = client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String(eksauth.AgentRolePath), AssumeRolePolicyDocument: aws.String(trust),
		Description: aws.String("podid node agents of cluster " + cluster + " (their projected tokens, node-bound sessions)")})
	var exists *iamtypes.EntityAlreadyExistsException
	switch {
	case errors.As(err, &exists):
		if _, err := client.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(name), PolicyDocument: aws.String(trust)}); err != nil {
			return fmt.Errorf("trust policy of %s: %w", name, err)
		}
	case err != nil:
		return fmt.Errorf("creating the agent role %s: %w", name, err)
	}
	if _, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String("podid-agent"),
		PolicyDocument: aws.String(agentinstall.AgentPolicy("aws", region, account, cluster))}); err != nil {
		return fmt.Errorf("policy of %s: %w", name, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "agent role %s is ready (agents exchange their projected tokens for it)\n", name)
	return nil
}

func createComponentCredentials(ctx context.Context, cmd *cobra.Command, awsCfg aws.Config, server string, kube kubernetes.Interface, region, cluster, namespace, agentNamespace string, agentSecret bool) error {
	client := iam.NewFromConfig(awsCfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(server) })
	ident, err := callerAccount(ctx, awsCfg, server)
	if err != nil {
		return err
	}
	targets := map[string]struct{ ns, secret string }{
		"podid-agent-" + cluster:   {agentNamespace, "podid-agent-credentials"},
		"podid-webhook-" + cluster: {namespace, "podid-webhook-credentials"},
	}
	for user, doc := range componentPolicies(region, ident, cluster) {
		t := targets[user]
		if t.secret == "podid-agent-credentials" && !agentSecret {
			continue // agents use their own identity
		}
		if _, err := kube.CoreV1().Secrets(t.ns).Get(ctx, t.secret, metav1.GetOptions{}); err == nil {
			fmt.Fprintf(cmd.OutOrStdout(), "secret %s/%s exists; keeping it\n", t.ns, t.secret)
			continue
		} else if !apierrors.IsNotFound(err) {
			return err
		}
		if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user), Path: aws.String("/podid/")}); err != nil {
			var exists *iamtypes.EntityAlreadyExistsException
			if !errors.As(err, &exists) {
				return fmt.Errorf("creating user %s: %w", user, err)
			}
		}
		if _, err := client.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String("podid-component"), PolicyDocument: aws.String(doc)}); err != nil {
			return fmt.Errorf("policy of %s: %w", user, err)
		}
		key, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
		if err != nil {
			return fmt.Errorf("access key of %s: %w", user, err)
		}
		body := sharedcreds.Format(sharedcreds.Key{AccessKeyID: *key.AccessKey.AccessKeyId, SecretAccessKey: *key.AccessKey.SecretAccessKey})
		_, err = kube.CoreV1().Secrets(t.ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: t.secret, Namespace: t.ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "podid"}},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"credentials": body},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("secret %s/%s: %w", t.ns, t.secret, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "created podid user %s and secret %s/%s\n", user, t.ns, t.secret)
	}
	return nil
}

// callerAccount returns the account of the credentials, from STS.
func callerAccount(ctx context.Context, awsCfg aws.Config, server string) (string, error) {
	caller, err := callerARN(ctx, awsCfg, server)
	if err != nil {
		return "", err
	}
	a, err := arn.Parse(caller)
	if err != nil {
		return "", fmt.Errorf("unexpected caller ARN %q", caller)
	}
	return a.AccountID, nil
}

func callerARN(ctx context.Context, awsCfg aws.Config, server string) (string, error) {
	c := sts.NewFromConfig(awsCfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(server) })
	out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("who am I: %w", err)
	}
	return aws.ToString(out.Arn), nil
}
