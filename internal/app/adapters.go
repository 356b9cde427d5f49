package app

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/podid/podid/internal/eks"
	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/kubeapi"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/sts"
)

type k8sKeySource = k8s.KeySource

// hostedKeySets gives STS the key sets of podid-hosted clusters without a
// network fetch (AssumeRoleWithWebIdentity with a hosted cluster's token).
type hostedKeySets struct{ eks *eks.Service }

func (h hostedKeySets) KeySet(ctx context.Context, issuerURL string) ([]byte, bool, error) {
	iss := h.eks.Issuer()
	rest, ok := strings.CutSuffix(strings.TrimSuffix(issuerURL, "/"), "/oidc")
	if !ok {
		return nil, false, nil
	}
	i := strings.LastIndex(rest, "/clusters/")
	if i < 0 {
		return nil, false, nil
	}
	cluster := rest[i+len("/clusters/"):]
	if iss.URL(cluster) != strings.TrimSuffix(issuerURL, "/") {
		return nil, false, nil
	}
	set, err := iss.JWKS(ctx, cluster)
	if err != nil {
		return nil, false, nil
	}
	b, err := json.Marshal(set)
	return b, err == nil, err
}

// localIssuer is EKS Auth's credential issuer backed by podid's own STS.
type localIssuer struct{ sts *sts.Service }

func (l localIssuer) AssumeAsService(ctx context.Context, in *eksauth.AssumeInput) (*eksauth.Credentials, error) {
	out, err := l.sts.AssumeRoleAs(ctx, &sts.ServiceAssumeInput{
		ServicePrincipal:         eksauth.ServicePrincipal,
		RoleARN:                  in.RoleARN,
		SessionName:              in.SessionName,
		Tags:                     stsTags(in.Tags),
		TransitiveTagKeys:        in.TransitiveTagKeys,
		Policy:                   in.Policy,
		DurationSeconds:          int(in.Duration / time.Second),
		BypassMaxSessionDuration: true,
		ExternalID:               in.ExternalID,
		SourceARN:                in.SourceARN,
		SourceAccount:            in.SourceAccount,
	})
	if err != nil {
		return nil, err
	}
	return toCreds(out), nil
}

func (l localIssuer) AssumeFromSession(ctx context.Context, from *eksauth.Credentials, in *eksauth.AssumeInput) (*eksauth.Credentials, error) {
	out, err := l.sts.ChainAssume(ctx, &sts.ChainAssumeInput{
		From: &sts.IssuedCredentials{
			AccessKeyID: from.AccessKeyID, SecretAccessKey: from.SecretAccessKey, SessionToken: from.SessionToken,
			Expiration: from.Expiration, AssumedRoleARN: from.AssumedRoleARN, AssumedRoleID: from.AssumedRoleID,
		},
		RoleARN:         in.RoleARN,
		SessionName:     in.SessionName,
		Tags:            stsTags(in.Tags),
		Policy:          in.Policy,
		DurationSeconds: int(in.Duration / time.Second),
		ExternalID:      in.ExternalID,
	})
	if err != nil {
		return nil, err
	}
	return toCreds(out), nil
}

func stsTags(tags []eksauth.Tag) []sts.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]sts.Tag, len(tags))
	for i, t := range tags {
		out[i] = sts.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

func toCreds(c *sts.IssuedCredentials) *eksauth.Credentials {
	return &eksauth.Credentials{
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
		Expiration: c.Expiration, AssumedRoleARN: c.AssumedRoleARN, AssumedRoleID: c.AssumedRoleID,
	}
}

// indexWithFallback answers from the in-memory index and, on a miss, from
// the store, so an association is usable the moment its create returns
// even if the index has not applied the event yet.
type indexWithFallback struct {
	idx *eks.Index
	st  store.Store
}

func (i indexWithFallback) Lookup(ctx context.Context, cluster, namespace, serviceAccount string) (*store.Association, bool) {
	if a, ok := i.idx.Lookup(cluster, namespace, serviceAccount); ok {
		return a, true
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var a *store.Association
	err := i.st.View(ctx, func(tx store.Tx) error {
		var err error
		a, err = tx.FindAssociation(cluster, namespace, serviceAccount)
		return err
	})
	return a, err == nil
}

// clusterAPIs gives EKS Auth's TokenReview the API server access of
// external clusters registered with kubernetesApi.
type clusterAPIs struct{ eks *eks.Service }

func (c clusterAPIs) ClusterAPI(ctx context.Context, cluster string) (*kubeapi.Access, error) {
	acc, err := c.eks.ClusterAccess(ctx, cluster)
	if err != nil || acc == nil {
		return nil, err
	}
	return &acc.Access, nil
}
