package broker

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/eksauth"
)

// Session tag keys EKS Pod Identity attaches (see eksauth).
const (
	tagClusterARN     = "eks-cluster-arn"
	tagClusterName    = "eks-cluster-name"
	tagNamespace      = "kubernetes-namespace"
	tagServiceAccount = "kubernetes-service-account"
	tagPodName        = "kubernetes-pod-name"
	tagPodUID         = "kubernetes-pod-uid"
)

// Subject is the workload a session is issued for.
type Subject struct {
	Cluster        string
	Namespace      string
	ServiceAccount string
	PodName        string
	PodUID         string
}

// subjectOf reads the workload out of an EKS Auth request: the cluster from
// SourceARN and the rest from the session tags. With session tags disabled
// only the cluster is known.
func subjectOf(in *eksauth.AssumeInput) Subject {
	s := Subject{Cluster: ClusterNameFromARN(in.SourceARN)}
	for _, t := range in.Tags {
		switch t.Key {
		case tagClusterName:
			if s.Cluster == "" {
				s.Cluster = t.Value
			}
		case tagNamespace:
			s.Namespace = t.Value
		case tagServiceAccount:
			s.ServiceAccount = t.Value
		case tagPodName:
			s.PodName = t.Value
		case tagPodUID:
			s.PodUID = t.Value
		}
	}
	return s
}

// ClusterNameFromARN returns the cluster name of an EKS cluster ARN
// (arn:PARTITION:eks:REGION:ACCOUNT:cluster/NAME), or "" for anything else.
func ClusterNameFromARN(s string) string {
	a, err := arn.Parse(s)
	if err != nil {
		return ""
	}
	name, _ := a.ClusterName()
	return name
}

// Limits of STS's SourceIdentity.
const (
	sourceIdentityMax = 64
	sourceIdentityMin = 2
)

// SourceIdentity is the source identity the broker sets on a workload's
// sessions: NAMESPACE.SERVICEACCOUNT@CLUSTER. It names the Kubernetes
// identity the association authorizes, so it is the same for every refresh
// and every pod of that service account, survives role chaining, and can be
// matched in trust policies (sts:SourceIdentity) and CloudTrail queries.
// Namespaces have no dots and no name has an '@', so it reads back
// unambiguously. Characters outside STS's set [\w+=,.@-] become '-'; a
// value longer than 64 characters keeps its first 55 and ends with '-' and
// 8 hex digits of its SHA-256, so distinct workloads stay distinct. It is
// "" when the namespace or service account is unknown (session tags
// disabled).
func SourceIdentity(s Subject) string {
	if s.Namespace == "" || s.ServiceAccount == "" || s.Cluster == "" {
		return ""
	}
	full := sanitizeSTS(s.Namespace + "." + s.ServiceAccount + "@" + s.Cluster)
	if len(full) < sourceIdentityMin {
		return ""
	}
	if len(full) <= sourceIdentityMax {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	return full[:sourceIdentityMax-9] + "-" + hex.EncodeToString(sum[:4])
}

// sanitizeSTS replaces characters outside STS's [\w+=,.@-] with '-'.
func sanitizeSTS(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0) {
			b[i] = '-'
		}
	}
	return string(b)
}
