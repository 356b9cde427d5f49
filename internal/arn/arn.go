// Package arn parses, builds and validates Amazon Resource Names:
// arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, with helpers for the IAM,
// STS and EKS resources podid serves.
package arn

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("arn: invalid ARN")

// ARN is an Amazon Resource Name split into its six colon-separated
// sections. Resource is everything after the fifth colon and may itself
// contain colons and slashes.
type ARN struct {
	Partition string
	Service   string
	Region    string
	AccountID string
	Resource  string
}

// Parse splits s into an ARN. It checks the structure only: the "arn"
// prefix, six sections, and a non-empty partition, service and resource.
// Region and account may be empty (IAM and S3 ARNs). A string with five
// sections, such as arn:aws::111122223333:podidentityassociation/c/a-1, is
// refused, as the AWS SDKs refuse it.
func Parse(s string) (ARN, error) {
	rest, ok := strings.CutPrefix(s, "arn:")
	if !ok {
		return ARN{}, fmt.Errorf("%w: does not start with \"arn:\"", ErrInvalid)
	}
	var parts [5]string
	for i := 0; i < 4; i++ {
		var found bool
		parts[i], rest, found = strings.Cut(rest, ":")
		if !found {
			return ARN{}, fmt.Errorf("%w: not enough sections", ErrInvalid)
		}
	}
	parts[4] = rest
	a := ARN{Partition: parts[0], Service: parts[1], Region: parts[2], AccountID: parts[3], Resource: parts[4]}
	switch {
	case a.Partition == "":
		return ARN{}, fmt.Errorf("%w: empty partition", ErrInvalid)
	case a.Service == "":
		return ARN{}, fmt.Errorf("%w: empty service", ErrInvalid)
	case a.Resource == "":
		return ARN{}, fmt.Errorf("%w: empty resource", ErrInvalid)
	}
	return a, nil
}

// String returns the ARN in its textual form.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.AccountID + ":" + a.Resource
}

// ResourceType returns the resource's type: the part before the first '/'
// or ':' ("role" for role/path/name, "root" for root).
func (a ARN) ResourceType() string {
	if i := strings.IndexAny(a.Resource, "/:"); i >= 0 {
		return a.Resource[:i]
	}
	return a.Resource
}

// SplitIAMResource splits an IAM resource of the form TYPE/PATH/NAME
// (role/, user/, policy/, instance-profile/, …) into its type, its path
// with leading and trailing slashes ("/" when there is none) and its name:
//
//	role/eks-workshop-carts-dynamo          → role, /, eks-workshop-carts-dynamo
//	policy/service-role/AmazonEKSWorkerNode → policy, /service-role/, AmazonEKSWorkerNode
//
// ok is false when resource has no '/' or an empty type or name.
func SplitIAMResource(resource string) (typ, path, name string, ok bool) {
	typ, rest, found := strings.Cut(resource, "/")
	if !found || typ == "" {
		return "", "", "", false
	}
	i := strings.LastIndexByte(rest, '/')
	path, name = "/"+rest[:i+1], rest[i+1:]
	if name == "" {
		return "", "", "", false
	}
	return typ, path, name, true
}

// IAMResource splits the ARN's resource with [SplitIAMResource].
func (a ARN) IAMResource() (typ, path, name string, ok bool) {
	return SplitIAMResource(a.Resource)
}

// SplitAssumedRole returns the role and session names of an STS
// assumed-role ARN (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION); ok is
// false for any other ARN.
func (a ARN) SplitAssumedRole() (roleName, sessionName string, ok bool) {
	rest, found := strings.CutPrefix(a.Resource, "assumed-role/")
	if a.Service != "sts" || !found {
		return "", "", false
	}
	roleName, sessionName, found = strings.Cut(rest, "/")
	if !found || roleName == "" || sessionName == "" || strings.Contains(sessionName, "/") {
		return "", "", false
	}
	return roleName, sessionName, true
}

// SplitPodIdentityAssociation returns the cluster name and association ID
// of an EKS pod identity association ARN
// (arn:aws:eks:REGION:ACCOUNT:podidentityassociation/CLUSTER/ID).
func (a ARN) SplitPodIdentityAssociation() (cluster, id string, ok bool) {
	rest, found := strings.CutPrefix(a.Resource, "podidentityassociation/")
	if a.Service != "eks" || !found {
		return "", "", false
	}
	cluster, id, found = strings.Cut(rest, "/")
	if !found || cluster == "" || id == "" || strings.Contains(id, "/") {
		return "", "", false
	}
	return cluster, id, true
}

// ClusterName returns the cluster name of an EKS cluster ARN
// (arn:PARTITION:eks:REGION:ACCOUNT:cluster/NAME); ok is false for any
// other ARN.
func (a ARN) ClusterName() (name string, ok bool) {
	name, found := strings.CutPrefix(a.Resource, "cluster/")
	if a.Service != "eks" || !found || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

// RoleName returns the name of an IAM role ARN
// (arn:PARTITION:iam::ACCOUNT:role/PATH/NAME) whose account is a 12-digit
// account ID; ok is false for any other ARN.
func (a ARN) RoleName() (name string, ok bool) {
	typ, _, name, ok := a.IAMResource()
	if a.Service != "iam" || !ok || typ != "role" || !IsValidAccountID(a.AccountID) {
		return "", false
	}
	return name, true
}

// AssumedRoleRole returns the ARN of the role of an STS assumed-role ARN:
// arn:PARTITION:iam::ACCOUNT:role/ROLE (an assumed-role ARN carries no role
// path, so neither does the result); ok is false for any other ARN.
func (a ARN) AssumedRoleRole() (role ARN, ok bool) {
	roleName, _, ok := a.SplitAssumedRole()
	if !ok {
		return ARN{}, false
	}
	return Role(a.Partition, a.AccountID, "/", roleName), true
}

// Role returns the ARN of an IAM role. path is normalized with
// [NormalizePath].
func Role(partition, accountID, path, name string) ARN {
	return iamARN(partition, accountID, "role", path, name)
}

// User returns the ARN of an IAM user.
func User(partition, accountID, path, name string) ARN {
	return iamARN(partition, accountID, "user", path, name)
}

// Policy returns the ARN of a customer managed policy (accountID) or an
// AWS managed policy (accountID "aws").
func Policy(partition, accountID, path, name string) ARN {
	return iamARN(partition, accountID, "policy", path, name)
}

// OIDCProvider returns the ARN of an IAM OpenID Connect provider:
// arn:PARTITION:iam::ACCOUNT:oidc-provider/HOSTPATH, where hostPath is the
// issuer URL without its https:// scheme.
func OIDCProvider(partition, accountID, hostPath string) ARN {
	return ARN{Partition: partition, Service: "iam", AccountID: accountID, Resource: "oidc-provider/" + hostPath}
}

// Root returns the ARN of an account's root user.
func Root(partition, accountID string) ARN {
	return ARN{Partition: partition, Service: "iam", AccountID: accountID, Resource: "root"}
}

// AssumedRole returns the ARN of a role session as STS prints it:
// arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION (no role path).
func AssumedRole(partition, accountID, roleName, sessionName string) ARN {
	return ARN{Partition: partition, Service: "sts", AccountID: accountID, Resource: "assumed-role/" + roleName + "/" + sessionName}
}

// Cluster returns the ARN of an EKS cluster.
func Cluster(partition, region, accountID, name string) ARN {
	return ARN{Partition: partition, Service: "eks", Region: region, AccountID: accountID, Resource: "cluster/" + name}
}

// PodIdentityAssociation returns the ARN of an EKS pod identity
// association: arn:PARTITION:eks:REGION:ACCOUNT:podidentityassociation/CLUSTER/ID.
func PodIdentityAssociation(partition, region, accountID, cluster, id string) ARN {
	return ARN{Partition: partition, Service: "eks", Region: region, AccountID: accountID, Resource: "podidentityassociation/" + cluster + "/" + id}
}

func iamARN(partition, accountID, typ, path, name string) ARN {
	return ARN{Partition: partition, Service: "iam", AccountID: accountID, Resource: typ + NormalizePath(path) + name}
}

// NormalizePath returns an IAM path with a leading and a trailing slash;
// "" becomes "/".
func NormalizePath(path string) string {
	if path == "" || path == "/" {
		return "/"
	}
	if path[0] != '/' {
		path = "/" + path
	}
	if path[len(path)-1] != '/' {
		path += "/"
	}
	return path
}

// PartitionForRegion returns the partition a region belongs to ("aws" for
// commercial regions and any region it does not recognise).
func PartitionForRegion(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "aws-iso-e"
	case strings.HasPrefix(region, "us-isof-"):
		return "aws-iso-f"
	case strings.HasPrefix(region, "eusc-"):
		return "aws-eusc"
	}
	return "aws"
}
