package agent

import (
	"context"
	"time"

	"github.com/podid/podid/internal/k8s"
)

// K8sVerifier is a TokenVerifier that checks service-account tokens with
// the cluster's signing keys (for example k8s.NewRemoteKeys on the
// cluster's service-account issuer): signature, issuer, the
// pods.eks.amazonaws.com audience, validity window and pod claims.
type K8sVerifier struct {
	Keys   k8s.KeySource
	Issuer string
	// Now is the clock for the validity window; default time.Now.
	Now func() time.Time
}

// VerifyToken implements TokenVerifier.
func (v K8sVerifier) VerifyToken(ctx context.Context, token string) (PodIdentity, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	c, err := k8s.Verify(ctx, token, v.Keys, k8s.Expect{Issuer: v.Issuer, Audience: k8s.PodIdentityAudience, Now: now(), Leeway: k8s.DefaultLeeway})
	if err != nil {
		return PodIdentity{}, err
	}
	return PodIdentity{Namespace: c.Namespace, ServiceAccount: c.ServiceAccountName, PodUID: c.PodUID}, nil
}
