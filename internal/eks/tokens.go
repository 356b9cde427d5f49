package eks

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/podid/podid/internal/eks/issuer"
	"github.com/podid/podid/internal/store"
)

// CreateServiceAccountTokenInput asks for a pod-bound service-account
// token of a podid-hosted cluster (podid extension, for podid exec).
type CreateServiceAccountTokenInput struct {
	ClusterName    string   `json:"-"`
	Namespace      string   `json:"namespace"`
	ServiceAccount string   `json:"serviceAccount"`
	PodName        string   `json:"podName"`
	PodUID         string   `json:"podUid,omitempty"`
	NodeName       string   `json:"nodeName,omitempty"`
	Audiences      []string `json:"audiences,omitempty"`
	// ExpirationSeconds is the token lifetime (600..172800; 0: 86400).
	ExpirationSeconds int64 `json:"expirationSeconds,omitempty"`
}

// CreateServiceAccountTokenOutput is the minted token.
type CreateServiceAccountTokenOutput struct {
	Token               string `json:"token"`
	ExpirationTimestamp *Time  `json:"expirationTimestamp"`
}

// CreateServiceAccountToken mints a pod-bound token for a hosted cluster,
// with the claims kube-apiserver writes into a projected token. The caller
// needs eks:CreateServiceAccountToken on the cluster. Audiences default to
// pods.eks.amazonaws.com.
func (s *Service) CreateServiceAccountToken(ctx context.Context, in *CreateServiceAccountTokenInput) (*CreateServiceAccountTokenOutput, error) {
	c := in.ClusterName
	if err := s.authorize(ctx, "eks:CreateServiceAccountToken", s.clusterARN(c), nil); err != nil {
		return nil, err
	}
	if in.ExpirationSeconds < 0 || in.ExpirationSeconds > int64(issuer.MaxTokenTTL/time.Second) {
		return nil, invalidParam(c, "The parameter expirationSeconds must be between %d and %d.", int(issuer.MinTokenTTL.Seconds()), int(issuer.MaxTokenTTL.Seconds()))
	}
	cl, err := s.getCluster(ctx, c)
	if err != nil {
		return nil, err
	}
	if cl.Kind != store.ClusterHosted {
		return nil, invalidRequest(c, "Cluster %s is not hosted by podid: its tokens come from its own API server.", c)
	}
	aud := in.Audiences
	if len(aud) == 0 {
		aud = []string{podIdentityAud}
	}
	tok, exp, err := s.issuer.Mint(ctx, c, issuer.PodToken{
		Namespace: in.Namespace, ServiceAccount: in.ServiceAccount, PodName: in.PodName, PodUID: in.PodUID,
		Node: in.NodeName, Audiences: aud, TTL: time.Duration(in.ExpirationSeconds) * time.Second,
	})
	switch {
	case errors.Is(err, issuer.ErrInvalidArgument):
		msg := strings.TrimPrefix(err.Error(), issuer.ErrInvalidArgument.Error()+": ")
		return nil, invalidParam(c, "%s", msg)
	case errors.Is(err, issuer.ErrNoKeys):
		return nil, internalf("hosted cluster %s has no signing key", c)
	case err != nil:
		return nil, internal(err)
	}
	return &CreateServiceAccountTokenOutput{Token: tok, ExpirationTimestamp: &Time{exp}}, nil
}

// MintPodToken mints a pod-bound token for a hosted cluster without an
// authorization check (podid's local mode calls it in-process).
func (s *Service) MintPodToken(ctx context.Context, cluster, namespace, serviceAccount, podName, podUID, node string, audiences []string, ttl time.Duration) (string, error) {
	return s.issuer.MintPodToken(ctx, cluster, namespace, serviceAccount, podName, podUID, node, audiences, ttl)
}
