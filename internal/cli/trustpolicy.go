package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/broker"
	"github.com/podid/podid/internal/podidclient"
)

// podidAPI reads clusters, associations and credential-issuer information
// from a podid server with the AWS SDK (podid trust-policy, podid doctor).
type podidAPI struct {
	cfg      aws.Config
	endpoint string
	eks      *eks.Client
	client   *podidclient.Client
}

// podidConnFlags are the flags that reach podid's server.
type podidConnFlags struct {
	endpoint, profile, region string
}

func (f *podidConnFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.endpoint, "endpoint-url", "", "podid's URL (default: $AWS_ENDPOINT_URL)")
	fl.StringVar(&f.profile, "profile", "", "AWS profile with podid credentials (default: the SDK's default chain)")
	fl.StringVar(&f.region, "region", "", "podid's region (default: the SDK's region)")
}

func newPodidAPI(ctx context.Context, f podidConnFlags) (*podidAPI, error) {
	var opts []func(*config.LoadOptions) error
	if f.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(f.profile))
	}
	if f.region != "" {
		opts = append(opts, config.WithRegion(f.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS SDK configuration: %w", err)
	}
	endpoint := f.endpoint
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint
	}
	if endpoint == "" {
		return nil, errors.New("podid's URL is unknown: set AWS_ENDPOINT_URL or --endpoint-url")
	}
	if cfg.Region == "" {
		cfg.Region = "us-west-2"
	}
	endpoint = strings.TrimSuffix(endpoint, "/")
	return &podidAPI{
		cfg:      cfg,
		endpoint: endpoint,
		eks:      eks.NewFromConfig(cfg, func(o *eks.Options) { o.BaseEndpoint = aws.String(endpoint) }),
		client:   &podidclient.Client{Endpoint: endpoint, Region: cfg.Region, Credentials: cfg.Credentials},
	}, nil
}

// info asks podid which issuer cluster uses and what its roles must trust.
func (p *podidAPI) info(ctx context.Context, cluster string) (*broker.Info, error) {
	path := broker.InfoPath
	if cluster != "" {
		path += "?cluster=" + url.QueryEscape(cluster)
	}
	var info broker.Info
	if err := p.client.Do(ctx, http.MethodGet, path, nil, &info); err != nil {
		return nil, fmt.Errorf("podid %s: %w", broker.InfoPath, err)
	}
	return &info, nil
}

// clusters lists the cluster names (only, when set) with their ARNs.
func (p *podidAPI) clusters(ctx context.Context, only string) (map[string]string, error) {
	names := []string{only}
	if only == "" {
		names = nil
		pg := eks.NewListClustersPaginator(p.eks, &eks.ListClustersInput{})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing clusters: %w", err)
			}
			names = append(names, out.Clusters...)
		}
	}
	arns := make(map[string]string, len(names))
	for _, n := range names {
		out, err := p.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(n)})
		if err != nil {
			return nil, fmt.Errorf("describing cluster %s: %w", n, err)
		}
		arns[n] = aws.ToString(out.Cluster.Arn)
	}
	return arns, nil
}

// associations lists the associations of clusters, described in full.
func (p *podidAPI) associations(ctx context.Context, clusters map[string]string) ([]broker.AssociationInfo, error) {
	var out []broker.AssociationInfo
	for name, arn := range clusters {
		pg := eks.NewListPodIdentityAssociationsPaginator(p.eks, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(name)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing associations of %s: %w", name, err)
			}
			for _, s := range page.Associations {
				d, err := p.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String(name), AssociationId: s.AssociationId})
				if err != nil {
					return nil, fmt.Errorf("describing association %s: %w", aws.ToString(s.AssociationId), err)
				}
				a := d.Association
				out = append(out, broker.AssociationInfo{
					AssociationID: aws.ToString(a.AssociationId), ClusterName: name, ClusterARN: arn,
					Namespace: aws.ToString(a.Namespace), ServiceAccount: aws.ToString(a.ServiceAccount),
					RoleARN: aws.ToString(a.RoleArn), TargetRoleARN: aws.ToString(a.TargetRoleArn),
					ExternalID: aws.ToString(a.ExternalId), DisableSessionTags: aws.ToBool(a.DisableSessionTags),
				})
			}
		}
	}
	return out, nil
}

// issuerPrincipal returns the mode and principal of a cluster, cached.
type issuerCache struct {
	api       *podidAPI
	principal string // --principal: broker mode with this principal
	m         map[string]*broker.Info
}

func (c *issuerCache) get(ctx context.Context, cluster string) (broker.Mode, broker.Principal, error) {
	if c.principal != "" {
		return broker.ModeBroker, broker.Principal{AWS: c.principal}, nil
	}
	if c.m == nil {
		c.m = map[string]*broker.Info{}
	}
	info, ok := c.m[cluster]
	if !ok {
		var err error
		if info, err = c.api.info(ctx, cluster); err != nil {
			return "", broker.Principal{}, err
		}
		c.m[cluster] = info
	}
	return broker.Mode(info.CredentialIssuer), info.Principal, nil
}

func newTrustPolicyCommand() *cobra.Command {
	var (
		conn                       podidConnFlags
		association, role, cluster string
		namespace, serviceAccount  string
		principal                  string
		target, disableSessionTags bool
	)
	cmd := &cobra.Command{
		Use:   "trust-policy (--association ID | --role ARN | --cluster NAME --namespace NS --service-account SA)",
		Short: "Print the trust policy a role needs for its pod identity associations",
		Long: `Prints the trust policy (JSON, ready for aws iam create-role or
update-assume-role-policy) that a role needs so that EKS Auth can issue its
credentials to the pods of its associations, and to nothing else.

In broker mode (credential issuer aws-sts) the role must trust podid's own
AWS principal for sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity,
on condition of the association's cluster ARN, namespace and service
account (aws:RequestTag/…); a target role must trust the association's role
on condition of its external ID. In local mode it trusts
pods.eks.amazonaws.com. The principal and the issuer come from podid's
server (` + broker.InfoPath + `) unless --principal is given.

--association prints the trust policy of the association's role (with
--target: of its target role); --role covers every association that uses
the role; --cluster, --namespace and --service-account describe an
association before it exists.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			api, err := newPodidAPI(ctx, conn)
			if err != nil {
				return err
			}
			ic := &issuerCache{api: api, principal: principal}
			var (
				roleARN string
				uses    []broker.Use
			)
			switch {
			case association != "":
				clusters, err := api.clusters(ctx, cluster)
				if err != nil {
					return err
				}
				assocs, err := api.associations(ctx, clusters)
				if err != nil {
					return err
				}
				var found *broker.AssociationInfo
				for i := range assocs {
					if assocs[i].AssociationID == association {
						found = &assocs[i]
					}
				}
				if found == nil {
					return fmt.Errorf("no association %s found", association)
				}
				roleARN = found.RoleARN
				if target {
					if found.TargetRoleARN == "" {
						return fmt.Errorf("association %s has no target role", association)
					}
					roleARN = found.TargetRoleARN
				}
				for _, u := range broker.UsesOf(roleARN, []broker.AssociationInfo{*found}) {
					if u.Target == target {
						uses = append(uses, u)
					}
				}
			case role != "":
				clusters, err := api.clusters(ctx, cluster)
				if err != nil {
					return err
				}
				assocs, err := api.associations(ctx, clusters)
				if err != nil {
					return err
				}
				roleARN = role
				uses = broker.UsesOf(role, assocs)
				if len(uses) == 0 {
					return fmt.Errorf("no association uses %s; to write its trust policy before creating the association, give --cluster, --namespace and --service-account", role)
				}
			case cluster != "" && namespace != "" && serviceAccount != "":
				clusters, err := api.clusters(ctx, cluster)
				if err != nil {
					return err
				}
				uses = []broker.Use{{ClusterARN: clusters[cluster], Namespace: namespace, ServiceAccount: serviceAccount, SessionTags: !disableSessionTags}}
			default:
				return errors.New("give --association, --role, or --cluster with --namespace and --service-account")
			}
			var mode broker.Mode
			var p broker.Principal
			for i, u := range uses {
				m, pr, err := ic.get(ctx, broker.ClusterNameFromARN(u.ClusterARN))
				if err != nil {
					return err
				}
				if i > 0 && (m != mode || pr != p) {
					return fmt.Errorf("%s is used by clusters with different credential issuers (%s and %s); give each its own role", roleARN, mode, m)
				}
				mode, p = m, pr
				if !u.SessionTags && !u.Target && mode == broker.ModeBroker {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: session tags are disabled for %s/%s in %s, so the trust policy cannot restrict the role to that association\n", u.Namespace, u.ServiceAccount, broker.ClusterNameFromARN(u.ClusterARN))
				}
			}
			doc, err := broker.TrustPolicy(mode, p, roleARN, uses)
			if err != nil {
				return err
			}
			_, err = io.Copy(cmd.OutOrStdout(), bytes.NewReader(doc))
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&association, "association", "", "association ID (a-…)")
	fl.StringVar(&role, "role", "", "role ARN: cover every association that uses it")
	fl.StringVar(&cluster, "cluster", "", "cluster name (narrows --association and --role)")
	fl.StringVar(&namespace, "namespace", "", "namespace of an association yet to be created")
	fl.StringVar(&serviceAccount, "service-account", "", "service account of an association yet to be created")
	fl.BoolVar(&disableSessionTags, "disable-session-tags", false, "the association yet to be created disables session tags")
	fl.BoolVar(&target, "target", false, "with --association: the trust policy of its target role")
	fl.StringVar(&principal, "principal", "", "the broker's AWS principal ARN (default: ask podid's server)")
	conn.register(cmd)
	return cmd
}
