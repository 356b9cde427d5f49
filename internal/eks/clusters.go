package eks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/kubeapi"
	"github.com/podid/podid/internal/store"
)

// Cluster statuses podid uses.
const (
	ClusterActive   = "ACTIVE"
	ClusterDeleting = "DELETING"
)

// platformVersion is the EKS platform version podid reports.
const platformVersion = "eks.1"

// clusterSpec is what podid keeps in store.Cluster.Spec: the EKS fields
// that are shown but not acted on, and an external cluster's API access.
type clusterSpec struct {
	ResourcesVpcConfig      *VpcConfigResponse       `json:"resourcesVpcConfig,omitempty"`
	KubernetesNetworkConfig *KubernetesNetworkConfig `json:"kubernetesNetworkConfig,omitempty"`
	Logging                 *Logging                 `json:"logging,omitempty"`
	AccessConfig            *AccessConfig            `json:"accessConfig,omitempty"`
	ConnectorConfig         *ConnectorConfigResponse `json:"connectorConfig,omitempty"`
	DeletionProtection      *bool                    `json:"deletionProtection,omitempty"`
	Kubernetes              *kubeAccess              `json:"kubernetes,omitempty"`
}

// kubeAccess is how podid reaches an external cluster's API server. The
// bearer token is sealed with the keyring (additional data: the cluster's
// credential purpose).
type kubeAccess struct {
	Endpoint                 string `json:"endpoint"`
	CertificateAuthorityData string `json:"certificateAuthorityData,omitempty"` // base64 PEM, as in a kubeconfig
	SealedToken              []byte `json:"sealedToken,omitempty"`
}

func credentialAD(cluster string) []byte { return []byte("podid/cluster-credentials/" + cluster) }

// VpcConfigRequest is the VPC configuration of CreateCluster.
type VpcConfigRequest struct {
	SubnetIDs             []string `json:"subnetIds,omitempty"`
	SecurityGroupIDs      []string `json:"securityGroupIds,omitempty"`
	EndpointPublicAccess  *bool    `json:"endpointPublicAccess,omitempty"`
	EndpointPrivateAccess *bool    `json:"endpointPrivateAccess,omitempty"`
	PublicAccessCidrs     []string `json:"publicAccessCidrs,omitempty"`
}

// KubernetesNetworkConfigRequest is the service network of CreateCluster.
type KubernetesNetworkConfigRequest struct {
	ServiceIpv4Cidr string `json:"serviceIpv4Cidr,omitempty"`
	IPFamily        string `json:"ipFamily,omitempty"`
}

// CreateAccessConfigRequest is the access configuration of CreateCluster.
type CreateAccessConfigRequest struct {
	BootstrapClusterCreatorAdminPermissions *bool  `json:"bootstrapClusterCreatorAdminPermissions,omitempty"`
	AuthenticationMode                      string `json:"authenticationMode,omitempty"`
}

// CreateClusterInput is the input of CreateCluster. Members EKS accepts
// that podid does not model (encryptionConfig, outpostConfig, …) are
// ignored.
type CreateClusterInput struct {
	Name                    string                          `json:"name"`
	Version                 string                          `json:"version,omitempty"`
	RoleArn                 string                          `json:"roleArn"`
	ResourcesVpcConfig      *VpcConfigRequest               `json:"resourcesVpcConfig,omitempty"`
	KubernetesNetworkConfig *KubernetesNetworkConfigRequest `json:"kubernetesNetworkConfig,omitempty"`
	Logging                 *Logging                        `json:"logging,omitempty"`
	ClientRequestToken      string                          `json:"clientRequestToken,omitempty"`
	Tags                    map[string]string               `json:"tags,omitempty"`
	AccessConfig            *CreateAccessConfigRequest      `json:"accessConfig,omitempty"`
	DeletionProtection      *bool                           `json:"deletionProtection,omitempty"`
}

// ClusterOutput is the output of the cluster operations.
type ClusterOutput struct {
	Cluster *Cluster `json:"cluster"`
}

// ConnectorConfigRequest is the connector of RegisterCluster.
type ConnectorConfigRequest struct {
	RoleArn  string `json:"roleArn,omitempty"`
	Provider string `json:"provider,omitempty"`
}

// KubernetesAPIAccess is how podid may reach an external cluster's API
// server (for TokenReview and installing the agent). podid extension.
type KubernetesAPIAccess struct {
	// Endpoint is the API server URL (https://host:port).
	Endpoint string `json:"endpoint"`
	// CertificateAuthorityData is the base64 PEM CA bundle, as in a
	// kubeconfig; empty to use the system roots.
	CertificateAuthorityData string `json:"certificateAuthorityData,omitempty"`
	// Token is a bearer token; it is stored sealed and never shown.
	Token string `json:"token,omitempty"`
}

// RegisterClusterInput is the input of RegisterCluster: EKS's members plus
// podid's (oidcIssuerUrl, jwks, kubernetesApi), which say how podid
// verifies the cluster's service-account tokens.
type RegisterClusterInput struct {
	Name               string                  `json:"name"`
	ConnectorConfig    *ConnectorConfigRequest `json:"connectorConfig,omitempty"`
	ClientRequestToken string                  `json:"clientRequestToken,omitempty"`
	Tags               map[string]string       `json:"tags,omitempty"`
	// OIDCIssuerURL is the cluster's service-account issuer (the iss claim
	// of its tokens). Its JWKS is fetched through OIDC discovery unless
	// JWKS is given.
	OIDCIssuerURL string `json:"oidcIssuerUrl,omitempty"`
	// JWKS is the issuer's key set inline (a JSON document).
	JWKS string `json:"jwks,omitempty"`
	// KubernetesAPI gives podid access to the cluster's API server.
	KubernetesAPI *KubernetesAPIAccess `json:"kubernetesApi,omitempty"`
}

// DescribeClusterInput is the input of DescribeCluster.
type DescribeClusterInput struct{ Name string }

// DeleteClusterInput is the input of DeleteCluster and DeregisterCluster.
type DeleteClusterInput struct{ Name string }

// ListClustersInput is the input of ListClusters.
type ListClustersInput struct {
	MaxResults *int
	NextToken  string
	// Include is EKS's include filter ("all" or empty); podid always lists
	// hosted and external clusters.
	Include []string
}

// ListClustersOutput is the output of ListClusters.
type ListClustersOutput struct {
	Clusters  []string `json:"clusters"`
	NextToken string   `json:"nextToken,omitempty"`
}

var (
	k8sVersionRE  = regexp.MustCompile(`^1\.[0-9]{1,3}$`)
	connProviders = map[string]bool{"EKS_ANYWHERE": true, "ANTHOS": true, "GKE": true, "AKS": true, "OPENSHIFT": true, "TANZU": true, "RANCHER": true, "EC2": true, "OTHER": true}
	authModes     = map[string]bool{"API": true, "API_AND_CONFIG_MAP": true, "CONFIG_MAP": true}
)

const createClusterScope = "eks:CreateCluster"

// CreateCluster creates a podid-hosted cluster: podid becomes its
// service-account token issuer, with a new RSA-2048 signing key. The VPC,
// network, logging and access settings are stored and shown, not acted on.
func (s *Service) CreateCluster(ctx context.Context, in *CreateClusterInput) (*ClusterOutput, error) {
	if err := s.authorize(ctx, "eks:CreateCluster", s.clusterARN(in.Name), tagContext(in.Tags)); err != nil {
		return nil, err
	}
	if err := checkNewClusterName(in.Name); err != nil {
		return nil, err
	}
	if err := s.checkCreateCluster(in); err != nil {
		return nil, err
	}
	if err := s.authorizePassRole(ctx, in.RoleArn, passedToEKS); err != nil {
		return nil, err
	}
	key, err := s.issuer.GenerateKey(in.Name)
	if err != nil {
		return nil, internal(err)
	}
	now := s.now()
	spec := clusterSpec{
		ResourcesVpcConfig:      vpcResponse(in.ResourcesVpcConfig),
		KubernetesNetworkConfig: &KubernetesNetworkConfig{ServiceIpv4Cidr: "10.100.0.0/16", IPFamily: "ipv4"},
		Logging:                 in.Logging,
		AccessConfig:            &AccessConfig{AuthenticationMode: "API_AND_CONFIG_MAP"},
		DeletionProtection:      in.DeletionProtection,
	}
	if n := in.KubernetesNetworkConfig; n != nil {
		if n.ServiceIpv4Cidr != "" {
			spec.KubernetesNetworkConfig.ServiceIpv4Cidr = n.ServiceIpv4Cidr
		}
		if n.IPFamily != "" {
			spec.KubernetesNetworkConfig.IPFamily = n.IPFamily
		}
	}
	if spec.Logging == nil {
		off := false
		spec.Logging = &Logging{ClusterLogging: []LogSetup{{Types: []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}, Enabled: &off}}}
	}
	if a := in.AccessConfig; a != nil {
		spec.AccessConfig.BootstrapClusterCreatorAdminPermissions = a.BootstrapClusterCreatorAdminPermissions
		if a.AuthenticationMode != "" {
			spec.AccessConfig.AuthenticationMode = a.AuthenticationMode
		}
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, internalf("encoding cluster spec: %w", err)
	}
	version := in.Version
	if version == "" {
		version = s.cfg.DefaultKubernetesVersion
	}
	c := &store.Cluster{
		Name:      in.Name,
		ARN:       s.clusterARN(in.Name),
		Kind:      store.ClusterHosted,
		Status:    ClusterActive,
		Version:   version,
		RoleARN:   in.RoleArn,
		IssuerURL: s.issuer.URL(in.Name),
		Spec:      string(specJSON),
		Tags:      copyTags(in.Tags),
		CreatedAt: now,
	}
	var result *store.Cluster
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if prev, err := replayCluster(tx, createClusterScope, in.ClientRequestToken, in.Name); err != nil || prev != nil {
			result = prev
			return err
		}
		if err := tx.CreateCluster(c); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return inUse(in.Name, "Cluster already exists with name: %s", in.Name)
			}
			return internalf("creating cluster %s: %w", in.Name, err)
		}
		if err := tx.PutServerKey(key); err != nil {
			return internalf("storing signing key of %s: %w", in.Name, err)
		}
		if err := putClusterToken(tx, createClusterScope, in.ClientRequestToken, in.Name); err != nil {
			return err
		}
		result = c
		return nil
	})
	s.issuer.Forget(in.Name)
	if err != nil {
		return nil, storeErr(err)
	}
	return &ClusterOutput{Cluster: s.clusterAPI(result)}, nil
}

// replayCluster returns the cluster an earlier request with the same
// client request token created (nil when the token is new).
func replayCluster(tx store.Tx, scope, token, name string) (*store.Cluster, error) {
	if token == "" {
		return nil, nil
	}
	prevName, err := tx.GetIdempotencyToken(scope, token)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, internalf("reading client request token: %w", err)
	}
	if prevName != name {
		return nil, invalidRequest(name, "The clientRequestToken was already used for a different request.")
	}
	c, err := tx.GetCluster(name)
	if err != nil {
		return nil, clusterLookupErr(name, err)
	}
	return c, nil
}

func putClusterToken(tx store.Tx, scope, token, name string) error {
	if token == "" {
		return nil
	}
	if err := tx.PutIdempotencyToken(scope, token, name); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return invalidRequest(name, "The clientRequestToken was already used for a different request.")
		}
		return internalf("recording client request token: %w", err)
	}
	return nil
}

func (s *Service) checkCreateCluster(in *CreateClusterInput) error {
	n := in.Name
	if in.RoleArn == "" {
		return invalidParam(n, "The parameter roleArn must not be empty.")
	}
	if _, _, ok := roleARNParts(in.RoleArn); !ok {
		return invalidParam(n, "The parameter roleArn is not a valid IAM role ARN: %s", truncate(in.RoleArn, 200))
	}
	if in.ResourcesVpcConfig == nil {
		return invalidParam(n, "The parameter resourcesVpcConfig must be specified.")
	}
	if in.Version != "" && !k8sVersionRE.MatchString(in.Version) {
		return invalidParam(n, "unsupported Kubernetes version %s", truncate(in.Version, 20))
	}
	v := in.ResourcesVpcConfig
	if len(v.SubnetIDs) > 16 || len(v.SecurityGroupIDs) > 5 || len(v.PublicAccessCidrs) > 40 {
		return invalidParam(n, "The parameter resourcesVpcConfig has too many subnets, security groups or CIDR blocks.")
	}
	for _, l := range [][]string{v.SubnetIDs, v.SecurityGroupIDs, v.PublicAccessCidrs} {
		for _, x := range l {
			if x == "" || len(x) > 255 {
				return invalidParam(n, "The parameter resourcesVpcConfig has an empty or overlong entry.")
			}
		}
	}
	if a := in.AccessConfig; a != nil && a.AuthenticationMode != "" && !authModes[a.AuthenticationMode] {
		return invalidParam(n, "The parameter accessConfig.authenticationMode must be one of API, API_AND_CONFIG_MAP, CONFIG_MAP.")
	}
	if l := in.Logging; l != nil {
		b, _ := json.Marshal(l)
		if len(b) > 4096 {
			return invalidParam(n, "The parameter logging is too large.")
		}
	}
	if err := checkTags(in.Tags, func(f string, a ...any) *Error { return invalidParam(n, f, a...) }); err != nil {
		return err
	}
	return checkRequestToken(n, in.ClientRequestToken)
}

func vpcResponse(v *VpcConfigRequest) *VpcConfigResponse {
	out := &VpcConfigResponse{SubnetIDs: []string{}, SecurityGroupIDs: []string{}, EndpointPublicAccess: true, PublicAccessCidrs: []string{"0.0.0.0/0"}}
	if v == nil {
		return out
	}
	if v.SubnetIDs != nil {
		out.SubnetIDs = v.SubnetIDs
	}
	if v.SecurityGroupIDs != nil {
		out.SecurityGroupIDs = v.SecurityGroupIDs
	}
	if v.EndpointPublicAccess != nil {
		out.EndpointPublicAccess = *v.EndpointPublicAccess
	}
	if v.EndpointPrivateAccess != nil {
		out.EndpointPrivateAccess = *v.EndpointPrivateAccess
	}
	if len(v.PublicAccessCidrs) > 0 {
		out.PublicAccessCidrs = v.PublicAccessCidrs
	}
	return out
}

const registerClusterScope = "eks:RegisterCluster"

// RegisterCluster registers an external Kubernetes cluster: podid verifies
// its service-account tokens against its issuer (JWKS from OIDC discovery
// or given inline), or through its API server when kubernetesApi is given.
func (s *Service) RegisterCluster(ctx context.Context, in *RegisterClusterInput) (*ClusterOutput, error) {
	if err := s.authorize(ctx, "eks:RegisterCluster", s.clusterARN(in.Name), tagContext(in.Tags)); err != nil {
		return nil, err
	}
	if err := checkNewClusterName(in.Name); err != nil {
		return nil, err
	}
	if err := s.checkRegisterCluster(in); err != nil {
		return nil, err
	}
	cc := in.ConnectorConfig
	if cc != nil && cc.RoleArn != "" {
		if err := s.authorizePassRole(ctx, cc.RoleArn, "eks-connector.amazonaws.com"); err != nil {
			return nil, err
		}
	}
	now := s.now()
	provider, role := "OTHER", ""
	if cc != nil {
		if cc.Provider != "" {
			provider = cc.Provider
		}
		role = cc.RoleArn
	}
	spec := clusterSpec{
		ConnectorConfig: &ConnectorConfigResponse{
			ActivationID:     ids.NewUUID(),
			ActivationCode:   ids.NewUUIDLike(),
			ActivationExpiry: &Time{now.Add(72 * time.Hour)},
			Provider:         provider,
			RoleArn:          role,
		},
	}
	if k := in.KubernetesAPI; k != nil {
		spec.Kubernetes = &kubeAccess{Endpoint: k.Endpoint, CertificateAuthorityData: k.CertificateAuthorityData}
		if k.Token != "" {
			sealed, err := s.cfg.Keyring.Seal([]byte(k.Token), credentialAD(in.Name))
			if err != nil {
				return nil, internalf("sealing credentials of %s: %w", in.Name, err)
			}
			spec.Kubernetes.SealedToken = sealed
		}
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, internalf("encoding cluster spec: %w", err)
	}
	c := &store.Cluster{
		Name:      in.Name,
		ARN:       s.clusterARN(in.Name),
		Kind:      store.ClusterExternal,
		Status:    ClusterActive,
		IssuerURL: strings.TrimRight(in.OIDCIssuerURL, "/"),
		JWKS:      in.JWKS,
		Spec:      string(specJSON),
		Tags:      copyTags(in.Tags),
		CreatedAt: now,
	}
	var result *store.Cluster
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if prev, err := replayCluster(tx, registerClusterScope, in.ClientRequestToken, in.Name); err != nil || prev != nil {
			result = prev
			return err
		}
		if err := tx.CreateCluster(c); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return inUse(in.Name, "Cluster already exists with name: %s", in.Name)
			}
			return internalf("registering cluster %s: %w", in.Name, err)
		}
		if err := putClusterToken(tx, registerClusterScope, in.ClientRequestToken, in.Name); err != nil {
			return err
		}
		result = c
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &ClusterOutput{Cluster: s.clusterAPI(result)}, nil
}

// UpdateClusterRegistration is podid's extension (PUT
// /cluster-registrations/NAME) that refreshes what podid knows of a
// registered cluster after its service-account keys rotate or its API
// access changes: oidcIssuerUrl and jwks are replaced together (no jwks:
// fetched through OIDC discovery), kubernetesApi is replaced when given
// and kept otherwise. Tags and the connector are unchanged. It needs
// eks:RegisterCluster on the cluster.
func (s *Service) UpdateClusterRegistration(ctx context.Context, in *RegisterClusterInput) (*ClusterOutput, error) {
	if err := s.authorize(ctx, "eks:RegisterCluster", s.clusterARN(in.Name), nil); err != nil {
		return nil, err
	}
	if !validClusterName(in.Name) {
		return nil, clusterNotFound(in.Name)
	}
	if err := s.checkRegisterCluster(in); err != nil {
		return nil, err
	}
	var sealed []byte
	if k := in.KubernetesAPI; k != nil && k.Token != "" {
		var err error
		if sealed, err = s.cfg.Keyring.Seal([]byte(k.Token), credentialAD(in.Name)); err != nil {
			return nil, internalf("sealing credentials of %s: %w", in.Name, err)
		}
	}
	var result *store.Cluster
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		c, err := tx.GetCluster(in.Name)
		if err != nil {
			return clusterLookupErr(in.Name, err)
		}
		if c.Kind != store.ClusterExternal {
			return invalidRequest(in.Name, "Cluster %s is not a registered cluster: podid issues its tokens itself.", in.Name)
		}
		spec := parseSpec(c)
		if k := in.KubernetesAPI; k != nil {
			spec.Kubernetes = &kubeAccess{Endpoint: k.Endpoint, CertificateAuthorityData: k.CertificateAuthorityData, SealedToken: sealed}
		}
		specJSON, err := json.Marshal(spec)
		if err != nil {
			return internalf("encoding cluster spec: %w", err)
		}
		c.IssuerURL = strings.TrimRight(in.OIDCIssuerURL, "/")
		c.JWKS = in.JWKS
		c.Spec = string(specJSON)
		if err := tx.UpdateCluster(c); err != nil {
			return internalf("updating cluster %s: %w", in.Name, err)
		}
		result = c
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &ClusterOutput{Cluster: s.clusterAPI(result)}, nil
}

func (s *Service) checkRegisterCluster(in *RegisterClusterInput) error {
	n := in.Name
	if cc := in.ConnectorConfig; cc != nil {
		if cc.Provider != "" && !connProviders[cc.Provider] {
			return invalidParam(n, "The parameter connectorConfig.provider must be one of EKS_ANYWHERE, ANTHOS, GKE, AKS, OPENSHIFT, TANZU, RANCHER, EC2, OTHER.")
		}
		if cc.RoleArn != "" {
			if _, _, ok := roleARNParts(cc.RoleArn); !ok {
				return invalidParam(n, "The parameter connectorConfig.roleArn is not a valid IAM role ARN: %s", truncate(cc.RoleArn, 200))
			}
		}
	}
	if in.OIDCIssuerURL == "" && in.KubernetesAPI == nil {
		return invalidParam(n, "podid needs the cluster's service account issuer: give oidcIssuerUrl (optionally with jwks) or kubernetesApi.")
	}
	if in.OIDCIssuerURL != "" && !validHTTPURL(in.OIDCIssuerURL) {
		return invalidParam(n, "The parameter oidcIssuerUrl must be an absolute http or https URL of at most 2048 characters.")
	}
	if in.JWKS != "" {
		if in.OIDCIssuerURL == "" {
			return invalidParam(n, "The parameter jwks needs oidcIssuerUrl: tokens are checked against their issuer.")
		}
		if len(in.JWKS) > 64<<10 {
			return invalidParam(n, "The parameter jwks must be at most 65536 characters long.")
		}
		keys, err := k8s.ParseJWKS([]byte(in.JWKS))
		if err != nil || len(keys.Set.Keys) == 0 {
			return invalidParam(n, "The parameter jwks is not a JSON Web Key Set of public keys.")
		}
	}
	if k := in.KubernetesAPI; k != nil {
		if !validHTTPURL(k.Endpoint) || !strings.HasPrefix(k.Endpoint, "https://") {
			return invalidParam(n, "The parameter kubernetesApi.endpoint must be an https URL.")
		}
		if k.CertificateAuthorityData != "" {
			if _, err := base64.StdEncoding.DecodeString(k.CertificateAuthorityData); err != nil || len(k.CertificateAuthorityData) > 64<<10 {
				return invalidParam(n, "The parameter kubernetesApi.certificateAuthorityData must be base64-encoded PEM.")
			}
		}
		if len(k.Token) > 16<<10 {
			return invalidParam(n, "The parameter kubernetesApi.token is too long.")
		}
	}
	if err := checkTags(in.Tags, func(f string, a ...any) *Error { return invalidParam(n, f, a...) }); err != nil {
		return err
	}
	return checkRequestToken(n, in.ClientRequestToken)
}

func validHTTPURL(s string) bool {
	if len(s) > 2048 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.RawQuery == "" && u.Fragment == ""
}

// DescribeCluster returns a cluster in EKS's shape.
func (s *Service) DescribeCluster(ctx context.Context, in *DescribeClusterInput) (*ClusterOutput, error) {
	if err := s.authorize(ctx, "eks:DescribeCluster", s.clusterARN(in.Name), nil); err != nil {
		return nil, err
	}
	c, err := s.getCluster(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	return &ClusterOutput{Cluster: s.clusterAPI(c)}, nil
}

func (s *Service) getCluster(ctx context.Context, name string) (*store.Cluster, error) {
	if !validClusterName(name) {
		return nil, clusterNotFound(name)
	}
	var c *store.Cluster
	err := s.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		c, err = tx.GetCluster(name)
		if err != nil {
			return clusterLookupErr(name, err)
		}
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return c, nil
}

// ListClusters lists cluster names in name order, hosted and external.
func (s *Service) ListClusters(ctx context.Context, in *ListClustersInput) (*ListClustersOutput, error) {
	if err := s.authorize(ctx, "eks:ListClusters", "*", nil); err != nil {
		return nil, err
	}
	limit, err := checkMaxResults("", in.MaxResults)
	if err != nil {
		return nil, err
	}
	for _, inc := range in.Include {
		if inc != "all" {
			return nil, invalidParam("", "The parameter include must be all.")
		}
	}
	after, err := decodePageToken("", in.NextToken, "clusters")
	if err != nil {
		return nil, err
	}
	if p := auth.PrincipalFrom(ctx); p != nil && p.AccountID != s.cfg.AccountID {
		// Clusters belong to the server's primary account: a caller of
		// another hosted account has none.
		return &ListClustersOutput{Clusters: []string{}}, nil
	}
	var list []*store.Cluster
	err = s.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		list, err = tx.ListClusters(store.Page{After: after, Limit: limit + 1})
		if err != nil {
			return internalf("listing clusters: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	out := &ListClustersOutput{Clusters: make([]string, 0, len(list))}
	if len(list) > limit {
		list = list[:limit]
		out.NextToken = encodePageToken(list[len(list)-1].Name, "clusters")
	}
	for _, c := range list {
		out.Clusters = append(out.Clusters, c.Name)
	}
	return out, nil
}

// DeleteCluster deletes a cluster with its associations, add-ons and
// signing keys, and returns it with status DELETING.
func (s *Service) DeleteCluster(ctx context.Context, in *DeleteClusterInput) (*ClusterOutput, error) {
	return s.deleteCluster(ctx, "eks:DeleteCluster", in.Name, false)
}

// DeregisterCluster deletes an external cluster (as DeleteCluster does).
func (s *Service) DeregisterCluster(ctx context.Context, in *DeleteClusterInput) (*ClusterOutput, error) {
	return s.deleteCluster(ctx, "eks:DeregisterCluster", in.Name, true)
}

func (s *Service) deleteCluster(ctx context.Context, action, name string, externalOnly bool) (*ClusterOutput, error) {
	if err := s.authorize(ctx, action, s.clusterARN(name), nil); err != nil {
		return nil, err
	}
	if !validClusterName(name) {
		return nil, clusterNotFound(name)
	}
	var result *store.Cluster
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		c, err := tx.GetCluster(name)
		if err != nil {
			return clusterLookupErr(name, err)
		}
		if externalOnly && c.Kind != store.ClusterExternal {
			return invalidRequest(name, "Cluster %s is not a registered cluster; delete it with DeleteCluster.", name)
		}
		if spec := parseSpec(c); spec.DeletionProtection != nil && *spec.DeletionProtection {
			return invalidRequest(name, "Cluster %s has deletion protection enabled.", name)
		}
		if err := deleteClusterContents(tx, name); err != nil {
			return err
		}
		if err := s.issuer.Retire(tx, name); err != nil {
			return internal(err)
		}
		if err := tx.DeleteCluster(name); err != nil {
			return internalf("deleting cluster %s: %w", name, err)
		}
		result = c
		return nil
	})
	s.issuer.Forget(name)
	if err != nil {
		return nil, storeErr(err)
	}
	out := s.clusterAPI(result)
	out.Status = ClusterDeleting
	return &ClusterOutput{Cluster: out}, nil
}

// deleteClusterContents deletes every association (each one an event on
// the change feed) and add-on of a cluster.
func deleteClusterContents(tx store.Tx, name string) error {
	for {
		batch, err := tx.ListAssociations(name, "", "", store.Page{Limit: 500})
		if err != nil {
			return internalf("listing associations of %s: %w", name, err)
		}
		if len(batch) == 0 {
			break
		}
		for _, a := range batch {
			if err := tx.DeleteAssociation(name, a.ID); err != nil {
				return internalf("deleting association %s: %w", a.ID, err)
			}
		}
	}
	addons, err := tx.ListAddons(name, store.Page{})
	if err != nil {
		return internalf("listing add-ons of %s: %w", name, err)
	}
	for _, a := range addons {
		if err := tx.DeleteAddon(name, a.Name); err != nil {
			return internalf("deleting add-on %s: %w", a.Name, err)
		}
	}
	return nil
}

// parseSpec decodes a cluster's stored spec; a corrupt spec reads as empty.
func parseSpec(c *store.Cluster) clusterSpec {
	var spec clusterSpec
	if c.Spec != "" {
		_ = json.Unmarshal([]byte(c.Spec), &spec)
	}
	return spec
}

// clusterAPI converts a stored cluster to EKS's shape.
func (s *Service) clusterAPI(c *store.Cluster) *Cluster {
	spec := parseSpec(c)
	out := &Cluster{
		Name:            c.Name,
		Arn:             c.ARN,
		CreatedAt:       ts(c.CreatedAt),
		Version:         c.Version,
		RoleArn:         c.RoleARN,
		Status:          c.Status,
		Tags:            copyTags(c.Tags),
		Health:          &ClusterHealth{Issues: []ClusterIssue{}},
		ConnectorConfig: spec.ConnectorConfig,
	}
	if out.Status == "" {
		out.Status = ClusterActive
	}
	if c.IssuerURL != "" {
		out.Identity = &Identity{OIDC: &OIDC{Issuer: c.IssuerURL}}
	}
	if c.Kind == store.ClusterHosted {
		out.ResourcesVpcConfig = spec.ResourcesVpcConfig
		out.KubernetesNetworkConfig = spec.KubernetesNetworkConfig
		out.Logging = spec.Logging
		out.AccessConfig = spec.AccessConfig
		out.PlatformVersion = platformVersion
		out.UpgradePolicy = &UpgradePolicy{SupportType: "STANDARD"}
		out.DeletionProtection = spec.DeletionProtection
	}
	if k := spec.Kubernetes; k != nil {
		out.Endpoint = k.Endpoint
		if k.CertificateAuthorityData != "" {
			out.CertificateAuthority = &Certificate{Data: k.CertificateAuthorityData}
		}
	}
	return out
}

// ClusterAccess is how podid reaches an external cluster's API server,
// with the bearer token unsealed. Never log it.
type ClusterAccess struct {
	Name string
	kubeapi.Access
}

// ClusterAccess returns the API server access of an external cluster, or
// nil when podid has none (hosted clusters, or registered without
// kubernetesApi). For TokenReview in EKS Auth and for the agent installer.
func (s *Service) ClusterAccess(ctx context.Context, name string) (*ClusterAccess, error) {
	var c *store.Cluster
	err := s.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		c, err = tx.GetCluster(name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("eks: reading cluster %s: %w", name, err)
	}
	return s.clusterAccess(c)
}

func (s *Service) clusterAccess(c *store.Cluster) (*ClusterAccess, error) {
	spec := parseSpec(c)
	if spec.Kubernetes == nil {
		return nil, nil
	}
	out := &ClusterAccess{Name: c.Name, Access: kubeapi.Access{Endpoint: spec.Kubernetes.Endpoint}}
	if spec.Kubernetes.CertificateAuthorityData != "" {
		ca, err := base64.StdEncoding.DecodeString(spec.Kubernetes.CertificateAuthorityData)
		if err != nil {
			return nil, errors.New("eks: stored CA data is not base64")
		}
		out.CAData = ca
	}
	if len(spec.Kubernetes.SealedToken) > 0 {
		tok, err := s.cfg.Keyring.Open(spec.Kubernetes.SealedToken, credentialAD(c.Name))
		if err != nil {
			return nil, errors.New("eks: cannot open the stored cluster credentials")
		}
		out.BearerToken = string(tok)
	}
	return out, nil
}
