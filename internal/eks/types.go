package eks

import (
	"errors"
	"strconv"
	"time"
)

// Time is an EKS timestamp. It encodes as a JSON number of epoch seconds
// with up to millisecond fractions (1704816998.163), as EKS sends them;
// the Go SDK rejects anything but a number.
type Time struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(FormatEpoch(t.Time)), nil
}

// UnmarshalJSON implements json.Unmarshaler (for tests and clients).
func (t *Time) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return errors.New("eks: timestamp is not a JSON number")
	}
	ms := int64(f*1000 + 0.5)
	if f < 0 {
		ms = int64(f*1000 - 0.5)
	}
	t.Time = time.UnixMilli(ms).UTC()
	return nil
}

// FormatEpoch formats t as epoch seconds with a millisecond fraction,
// trailing zeros dropped: 946684800, 1704816998.163, 1704816998.1.
func FormatEpoch(t time.Time) string {
	ms := t.UnixMilli()
	if ms < 0 {
		return "-" + FormatEpoch(time.UnixMilli(-ms))
	}
	sec, frac := ms/1000, ms%1000
	s := strconv.FormatInt(sec, 10)
	if frac == 0 {
		return s
	}
	f := strconv.FormatInt(frac+1000, 10)[1:] // zero-padded to 3 digits
	for f[len(f)-1] == '0' {
		f = f[:len(f)-1]
	}
	return s + "." + f
}

func ts(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	return &Time{t}
}

// PodIdentityAssociation is the full association object of Create,
// Describe, Update and Delete responses.
type PodIdentityAssociation struct {
	ClusterName        string            `json:"clusterName"`
	Namespace          string            `json:"namespace"`
	ServiceAccount     string            `json:"serviceAccount"`
	RoleArn            string            `json:"roleArn"`
	AssociationArn     string            `json:"associationArn"`
	AssociationID      string            `json:"associationId"`
	Tags               map[string]string `json:"tags"`
	CreatedAt          *Time             `json:"createdAt,omitempty"`
	ModifiedAt         *Time             `json:"modifiedAt,omitempty"`
	OwnerArn           string            `json:"ownerArn,omitempty"`
	DisableSessionTags bool              `json:"disableSessionTags"`
	TargetRoleArn      string            `json:"targetRoleArn,omitempty"`
	ExternalID         string            `json:"externalId,omitempty"`
	Policy             string            `json:"policy,omitempty"`
}

// PodIdentityAssociationSummary is one item of ListPodIdentityAssociations.
type PodIdentityAssociationSummary struct {
	ClusterName    string `json:"clusterName"`
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	AssociationArn string `json:"associationArn"`
	AssociationID  string `json:"associationId"`
	OwnerArn       string `json:"ownerArn,omitempty"`
}

// AddonIssue is one health issue of an add-on.
type AddonIssue struct {
	Code        string   `json:"code"`
	Message     string   `json:"message"`
	ResourceIDs []string `json:"resourceIds"`
}

// AddonHealth is an add-on's health.
type AddonHealth struct {
	Issues []AddonIssue `json:"issues"`
}

// AddonNamespaceConfig is the namespace an add-on is installed in.
type AddonNamespaceConfig struct {
	Namespace string `json:"namespace"`
}

// Addon is an EKS add-on as Create/Describe/Delete return it.
type Addon struct {
	AddonName               string                `json:"addonName"`
	ClusterName             string                `json:"clusterName"`
	Status                  string                `json:"status"`
	AddonVersion            string                `json:"addonVersion"`
	Health                  AddonHealth           `json:"health"`
	AddonArn                string                `json:"addonArn"`
	CreatedAt               *Time                 `json:"createdAt,omitempty"`
	ModifiedAt              *Time                 `json:"modifiedAt,omitempty"`
	ServiceAccountRoleArn   string                `json:"serviceAccountRoleArn,omitempty"`
	Tags                    map[string]string     `json:"tags"`
	ConfigurationValues     string                `json:"configurationValues,omitempty"`
	PodIdentityAssociations []string              `json:"podIdentityAssociations,omitempty"`
	NamespaceConfig         *AddonNamespaceConfig `json:"namespaceConfig,omitempty"`
}

// UpdateParam is one changed parameter of an Update.
type UpdateParam struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// ErrorDetail is an error of an Update.
type ErrorDetail struct {
	ErrorCode    string   `json:"errorCode,omitempty"`
	ErrorMessage string   `json:"errorMessage,omitempty"`
	ResourceIDs  []string `json:"resourceIds,omitempty"`
}

// Update is the record of an asynchronous change (UpdateAddon).
type Update struct {
	ID        string        `json:"id"`
	Status    string        `json:"status"`
	Type      string        `json:"type"`
	Params    []UpdateParam `json:"params"`
	CreatedAt *Time         `json:"createdAt,omitempty"`
	Errors    []ErrorDetail `json:"errors"`
}

// VpcConfigResponse is a cluster's VPC configuration as EKS shows it.
type VpcConfigResponse struct {
	SubnetIDs              []string `json:"subnetIds"`
	SecurityGroupIDs       []string `json:"securityGroupIds"`
	ClusterSecurityGroupID string   `json:"clusterSecurityGroupId,omitempty"`
	VpcID                  string   `json:"vpcId,omitempty"`
	EndpointPublicAccess   bool     `json:"endpointPublicAccess"`
	EndpointPrivateAccess  bool     `json:"endpointPrivateAccess"`
	PublicAccessCidrs      []string `json:"publicAccessCidrs"`
}

// KubernetesNetworkConfig is a cluster's service network.
type KubernetesNetworkConfig struct {
	ServiceIpv4Cidr string `json:"serviceIpv4Cidr,omitempty"`
	ServiceIpv6Cidr string `json:"serviceIpv6Cidr,omitempty"`
	IPFamily        string `json:"ipFamily,omitempty"`
}

// LogSetup is one entry of a cluster's logging configuration.
type LogSetup struct {
	Types   []string `json:"types"`
	Enabled *bool    `json:"enabled,omitempty"`
}

// Logging is a cluster's control-plane logging configuration.
type Logging struct {
	ClusterLogging []LogSetup `json:"clusterLogging"`
}

// OIDC is a cluster's OIDC issuer.
type OIDC struct {
	Issuer string `json:"issuer,omitempty"`
}

// Identity is a cluster's identity provider information.
type Identity struct {
	OIDC *OIDC `json:"oidc,omitempty"`
}

// Certificate is a cluster's certificate authority.
type Certificate struct {
	Data string `json:"data,omitempty"`
}

// AccessConfig is a cluster's access configuration.
type AccessConfig struct {
	BootstrapClusterCreatorAdminPermissions *bool  `json:"bootstrapClusterCreatorAdminPermissions,omitempty"`
	AuthenticationMode                      string `json:"authenticationMode,omitempty"`
}

// ConnectorConfigResponse is the connector of a registered cluster.
type ConnectorConfigResponse struct {
	ActivationID     string `json:"activationId,omitempty"`
	ActivationCode   string `json:"activationCode,omitempty"`
	ActivationExpiry *Time  `json:"activationExpiry,omitempty"`
	Provider         string `json:"provider,omitempty"`
	RoleArn          string `json:"roleArn,omitempty"`
}

// ClusterIssue is a cluster health issue.
type ClusterIssue struct {
	Code        string   `json:"code,omitempty"`
	Message     string   `json:"message,omitempty"`
	ResourceIDs []string `json:"resourceIds,omitempty"`
}

// ClusterHealth is a cluster's health.
type ClusterHealth struct {
	Issues []ClusterIssue `json:"issues"`
}

// UpgradePolicy is a cluster's support policy.
type UpgradePolicy struct {
	SupportType string `json:"supportType,omitempty"`
}

// Cluster is an EKS cluster as DescribeCluster shows it.
type Cluster struct {
	Name                    string                   `json:"name"`
	Arn                     string                   `json:"arn"`
	CreatedAt               *Time                    `json:"createdAt,omitempty"`
	Version                 string                   `json:"version,omitempty"`
	Endpoint                string                   `json:"endpoint,omitempty"`
	RoleArn                 string                   `json:"roleArn,omitempty"`
	ResourcesVpcConfig      *VpcConfigResponse       `json:"resourcesVpcConfig,omitempty"`
	KubernetesNetworkConfig *KubernetesNetworkConfig `json:"kubernetesNetworkConfig,omitempty"`
	Logging                 *Logging                 `json:"logging,omitempty"`
	Identity                *Identity                `json:"identity,omitempty"`
	Status                  string                   `json:"status"`
	CertificateAuthority    *Certificate             `json:"certificateAuthority,omitempty"`
	PlatformVersion         string                   `json:"platformVersion,omitempty"`
	Tags                    map[string]string        `json:"tags"`
	ConnectorConfig         *ConnectorConfigResponse `json:"connectorConfig,omitempty"`
	Health                  *ClusterHealth           `json:"health,omitempty"`
	AccessConfig            *AccessConfig            `json:"accessConfig,omitempty"`
	UpgradePolicy           *UpgradePolicy           `json:"upgradePolicy,omitempty"`
	DeletionProtection      *bool                    `json:"deletionProtection,omitempty"`
}

// Compatibility says which cluster versions an add-on version supports.
type Compatibility struct {
	ClusterVersion   string   `json:"clusterVersion"`
	PlatformVersions []string `json:"platformVersions"`
	DefaultVersion   bool     `json:"defaultVersion"`
}

// AddonVersionInfo is one version of an add-on.
type AddonVersionInfo struct {
	AddonVersion           string          `json:"addonVersion"`
	Architecture           []string        `json:"architecture"`
	ComputeTypes           []string        `json:"computeTypes"`
	Compatibilities        []Compatibility `json:"compatibilities"`
	RequiresConfiguration  bool            `json:"requiresConfiguration"`
	RequiresIamPermissions bool            `json:"requiresIamPermissions"`
}

// AddonInfo describes an available add-on.
type AddonInfo struct {
	AddonName        string             `json:"addonName"`
	Type             string             `json:"type"`
	AddonVersions    []AddonVersionInfo `json:"addonVersions"`
	Publisher        string             `json:"publisher"`
	Owner            string             `json:"owner"`
	DefaultNamespace string             `json:"defaultNamespace,omitempty"`
}
