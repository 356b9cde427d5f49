package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"golang.org/x/sync/errgroup"

	"github.com/podid/podid/internal/arn"
)

// AgentUserName is the IAM user whose key the local agents sign EKS Auth
// calls with. Its only permissions are eks-auth:AssumeRoleForPodIdentity
// and eks:ListPodIdentityAssociations (the association change feed) on the
// dev clusters, as for an agent create-addon installs.
const AgentUserName = "podid-dev-agent"

// agentUserPath and agentPolicyName place and name what dev provisions.
const (
	agentUserPath   = "/podid/"
	agentPolicyName = "eks-auth-assume-role-for-pod-identity"
)

// Provision describes the podid server dev provisions, through its public
// API signed with the root key.
type Provision struct {
	// Endpoint is the server's base URL the calls go to.
	Endpoint string
	// Issuer is the server's public base URL, which hosted clusters'
	// token issuers start with (Endpoint when empty).
	Issuer    string
	Region    string
	AccountID string
	// Root is the account root's key.
	Root aws.Credentials
	// Clusters are the hosted clusters to create if absent.
	Clusters []string
	// HTTPClient sends the requests (default: one with a 30 s timeout).
	HTTPClient *http.Client
}

// Provisioned is what Run made ready.
type Provisioned struct {
	// AgentCredentials is a fresh access key of AgentUserName (earlier
	// keys of the user are deleted). It lives only in memory.
	AgentCredentials aws.Credentials
	// Created lists the clusters that did not exist yet.
	Created []string
}

// Run makes the clusters and the agent's user and key ready. A cluster
// that exists must have been created by a server at the same endpoint:
// its tokens' issuer is fixed at creation.
func (p *Provision) Run(ctx context.Context) (*Provisioned, error) {
	cfg := aws.Config{
		Region:       p.Region,
		Credentials:  credentialsValue(p.Root),
		BaseEndpoint: aws.String(p.Endpoint),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	}
	if p.HTTPClient != nil {
		cfg.HTTPClient = p.HTTPClient
	}
	out := &Provisioned{}
	// The clusters (a new one generates an RSA key) and the agent's user
	// are independent: provision them at once.
	g, gctx := errgroup.WithContext(ctx)
	ec := eks.NewFromConfig(cfg)
	created := make([]bool, len(p.Clusters))
	for i, name := range p.Clusters {
		g.Go(func() error {
			var err error
			created[i], err = p.ensureCluster(gctx, ec, name)
			return err
		})
	}
	g.Go(func() error {
		var err error
		out.AgentCredentials, err = p.ensureAgentUser(gctx, iam.NewFromConfig(cfg))
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, name := range p.Clusters {
		if created[i] {
			out.Created = append(out.Created, name)
		}
	}
	return out, nil
}

// IssuerURL is the token issuer of a hosted cluster of the server at
// endpoint.
func IssuerURL(endpoint, cluster string) string {
	return strings.TrimRight(endpoint, "/") + "/clusters/" + cluster + "/oidc"
}

func (p *Provision) ensureCluster(ctx context.Context, c *eks.Client, name string) (created bool, err error) {
	d, err := c.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
	var notFound *ekstypes.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		_, err = c.CreateCluster(ctx, &eks.CreateClusterInput{
			Name:               aws.String(name),
			RoleArn:            aws.String(arn.Role("aws", p.AccountID, "/", "podid-dev-cluster").String()),
			ResourcesVpcConfig: &ekstypes.VpcConfigRequest{},
			Tags:               map[string]string{"podid.dev/created-by": "podid dev"},
		})
		if err != nil {
			return false, fmt.Errorf("creating cluster %s: %w", name, err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("describing cluster %s: %w", name, err)
	}
	var issuer string
	if id := d.Cluster.Identity; id != nil && id.Oidc != nil {
		issuer = aws.ToString(id.Oidc.Issuer)
	}
	base := p.Issuer
	if base == "" {
		base = p.Endpoint
	}
	if want := IssuerURL(base, name); issuer != want {
		if old, ok := strings.CutSuffix(issuer, "/clusters/"+name+"/oidc"); ok && strings.HasPrefix(old, "http://") {
			return false, fmt.Errorf("cluster %s was created when podid dev served %s (its token issuer is %s); start with --listen %s, or with --fresh to start empty",
				name, old, issuer, strings.TrimPrefix(old, "http://"))
		}
		return false, fmt.Errorf("cluster %s exists but is not a cluster this podid dev hosts (issuer %q, want %q); choose another --cluster or start with --fresh", name, issuer, want)
	}
	return false, nil
}

func (p *Provision) ensureAgentUser(ctx context.Context, c *iam.Client) (aws.Credentials, error) {
	_, err := c.CreateUser(ctx, &iam.CreateUserInput{
		UserName: aws.String(AgentUserName),
		Path:     aws.String(agentUserPath),
		Tags:     []iamtypes.Tag{{Key: aws.String("podid.dev/purpose"), Value: aws.String("signs the EKS Auth calls of podid dev agents")}},
	})
	var exists *iamtypes.EntityAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return aws.Credentials{}, fmt.Errorf("creating IAM user %s: %w", AgentUserName, err)
	}
	arns := make([]string, len(p.Clusters))
	for i, name := range p.Clusters {
		arns[i] = arn.Cluster("aws", p.Region, p.AccountID, name).String()
	}
	doc, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":   "Allow",
			"Action":   []string{"eks-auth:AssumeRoleForPodIdentity", "eks:ListPodIdentityAssociations"},
			"Resource": arns,
		}},
	})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("encoding the agent's policy: %w", err)
	}
	if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{
		UserName: aws.String(AgentUserName), PolicyName: aws.String(agentPolicyName), PolicyDocument: aws.String(string(doc)),
	}); err != nil {
		return aws.Credentials{}, fmt.Errorf("granting %s eks-auth:AssumeRoleForPodIdentity: %w", AgentUserName, err)
	}
	keys, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(AgentUserName)})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("listing the keys of %s: %w", AgentUserName, err)
	}
	for _, k := range keys.AccessKeyMetadata {
		if _, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(AgentUserName), AccessKeyId: k.AccessKeyId}); err != nil {
			return aws.Credentials{}, fmt.Errorf("deleting an old key of %s: %w", AgentUserName, err)
		}
	}
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(AgentUserName)})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("creating a key for %s: %w", AgentUserName, err)
	}
	return aws.Credentials{
		AccessKeyID:     aws.ToString(k.AccessKey.AccessKeyId),
		SecretAccessKey: aws.ToString(k.AccessKey.SecretAccessKey),
		Source:          "podid dev",
	}, nil
}

// credentialsValue is a static credentials provider.
type credentialsValue aws.Credentials

func (c credentialsValue) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials(c), nil
}
