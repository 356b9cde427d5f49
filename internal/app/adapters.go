package app

import (
	"context"
	"time"

	"github.com/podid/podid/internal/eks"
	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/kubeapi"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/sts"
)

type k8sKeySource = k8s.KeySource

// localIssuer is EKS Auth's credential issuer backed by podid's own STS.
// Both speak the one credential and tag type (awscreds); only the request
// differs: EKS Auth asks as the pods.eks.amazonaws.com service.
type localIssuer struct{ sts *sts.Service }

func (l localIssuer) AssumeAsService(ctx context.Context, in *eksauth.AssumeInput) (*eksauth.Credentials, error) {
	principal := in.ServicePrincipal
	if principal == "" {
		principal = eksauth.ServicePrincipal
	}
	return l.sts.AssumeRoleAs(ctx, &sts.ServiceAssumeInput{
		ServicePrincipal:         principal,
		RoleARN:                  in.RoleARN,
		SessionName:              in.SessionName,
		Tags:                     in.Tags,
		TransitiveTagKeys:        in.TransitiveTagKeys,
		Policy:                   in.Policy,
		DurationSeconds:          int(in.Duration / time.Second),
		BypassMaxSessionDuration: true,
		ExternalID:               in.ExternalID,
		SourceARN:                in.SourceARN,
		SourceAccount:            in.SourceAccount,
	})
}

func (l localIssuer) AssumeFromSession(ctx context.Context, from *eksauth.Credentials, in *eksauth.AssumeInput) (*eksauth.Credentials, error) {
	return l.sts.ChainAssume(ctx, &sts.ChainAssumeInput{
		From:            from,
		RoleARN:         in.RoleARN,
		SessionName:     in.SessionName,
		Tags:            in.Tags,
		Policy:          in.Policy,
		DurationSeconds: int(in.Duration / time.Second),
		ExternalID:      in.ExternalID,
	})
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
