package eks

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/store"
)

// CreatePodIdentityAssociationInput is the input of CreatePodIdentityAssociation.
type CreatePodIdentityAssociationInput struct {
	ClusterName        string            `json:"-"`
	Namespace          string            `json:"namespace"`
	ServiceAccount     string            `json:"serviceAccount"`
	RoleArn            string            `json:"roleArn"`
	TargetRoleArn      string            `json:"targetRoleArn,omitempty"`
	DisableSessionTags *bool             `json:"disableSessionTags,omitempty"`
	Policy             string            `json:"policy,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	ClientRequestToken string            `json:"clientRequestToken,omitempty"`
}

// CreatePodIdentityAssociationOutput is the output of CreatePodIdentityAssociation.
type CreatePodIdentityAssociationOutput struct {
	Association *PodIdentityAssociation `json:"association"`
}

// DescribePodIdentityAssociationInput is the input of DescribePodIdentityAssociation.
type DescribePodIdentityAssociationInput struct {
	ClusterName   string
	AssociationID string
}

// DescribePodIdentityAssociationOutput is the output of DescribePodIdentityAssociation.
type DescribePodIdentityAssociationOutput struct {
	Association *PodIdentityAssociation `json:"association"`
}

// ListPodIdentityAssociationsInput is the input of ListPodIdentityAssociations.
type ListPodIdentityAssociationsInput struct {
	ClusterName    string
	Namespace      string
	ServiceAccount string
	// MaxResults is 1..100; nil means the default (100).
	MaxResults *int
	NextToken  string
}

// ListPodIdentityAssociationsOutput is the output of ListPodIdentityAssociations.
type ListPodIdentityAssociationsOutput struct {
	Associations []PodIdentityAssociationSummary `json:"associations"`
	NextToken    string                          `json:"nextToken,omitempty"`
}

// UpdatePodIdentityAssociationInput is the input of UpdatePodIdentityAssociation.
// Nil members are left unchanged; an empty TargetRoleArn removes the target
// role and an empty Policy removes the policy.
type UpdatePodIdentityAssociationInput struct {
	ClusterName        string  `json:"-"`
	AssociationID      string  `json:"-"`
	RoleArn            *string `json:"roleArn,omitempty"`
	TargetRoleArn      *string `json:"targetRoleArn,omitempty"`
	DisableSessionTags *bool   `json:"disableSessionTags,omitempty"`
	Policy             *string `json:"policy,omitempty"`
	ClientRequestToken string  `json:"clientRequestToken,omitempty"`
}

// UpdatePodIdentityAssociationOutput is the output of UpdatePodIdentityAssociation.
type UpdatePodIdentityAssociationOutput struct {
	Association *PodIdentityAssociation `json:"association"`
}

// DeletePodIdentityAssociationInput is the input of DeletePodIdentityAssociation.
type DeletePodIdentityAssociationInput struct {
	ClusterName   string
	AssociationID string
}

// DeletePodIdentityAssociationOutput is the output of DeletePodIdentityAssociation.
type DeletePodIdentityAssociationOutput struct {
	Association *PodIdentityAssociation `json:"association"`
}

// AssociationAPI converts a stored association to its EKS wire form.
func AssociationAPI(a *store.Association) *PodIdentityAssociation {
	return &PodIdentityAssociation{
		ClusterName:        a.Cluster,
		Namespace:          a.Namespace,
		ServiceAccount:     a.ServiceAccount,
		RoleArn:            a.RoleARN,
		AssociationArn:     a.ARN,
		AssociationID:      a.ID,
		Tags:               copyTags(a.Tags),
		CreatedAt:          ts(a.CreatedAt),
		ModifiedAt:         ts(a.ModifiedAt),
		OwnerArn:           a.OwnerARN,
		DisableSessionTags: a.DisableSessionTags,
		TargetRoleArn:      a.TargetRoleARN,
		ExternalID:         a.ExternalID,
		Policy:             a.Policy,
	}
}

func copyTags(t map[string]string) map[string]string {
	out := make(map[string]string, len(t))
	for k, v := range t {
		out[k] = v
	}
	return out
}

// errDuplicate marks a create that lost the (cluster, namespace, service
// account) uniqueness race inside its transaction.
var errDuplicate = errors.New("eks: association key taken")

func createScope(cluster string) string { return "eks:CreatePodIdentityAssociation/" + cluster }

func updateScope(cluster, id string) string {
	return "eks:UpdatePodIdentityAssociation/" + cluster + "/" + id
}

// CreatePodIdentityAssociation creates the association of a service
// account with an IAM role. There is at most one association per (cluster,
// namespace, service account): a second create gets 409
// ResourceInUseException "Association already exists: a-…". A retried
// create with the same clientRequestToken returns the first result.
func (s *Service) CreatePodIdentityAssociation(ctx context.Context, in *CreatePodIdentityAssociationInput) (*CreatePodIdentityAssociationOutput, error) {
	cluster := in.ClusterName
	if err := s.authorize(ctx, "eks:CreatePodIdentityAssociation", s.clusterARN(cluster), tagContext(in.Tags)); err != nil {
		return nil, err
	}
	external := s.externalRoles(ctx, cluster)
	if err := s.checkCreateAssociation(in, external); err != nil {
		return nil, err
	}
	if err := s.authorizePassRole(ctx, in.RoleArn, passedToPods); err != nil {
		return nil, err
	}
	if in.TargetRoleArn != "" {
		if err := s.authorizePassTargetRole(ctx, in.TargetRoleArn); err != nil {
			return nil, err
		}
	}
	if err := s.validateExternalRole(ctx, cluster, in.RoleArn, external); err != nil {
		return nil, err
	}

	now := s.now()
	a := &store.Association{
		ID:                 ids.NewAssociationID(),
		Cluster:            cluster,
		Namespace:          in.Namespace,
		ServiceAccount:     in.ServiceAccount,
		RoleARN:            in.RoleArn,
		TargetRoleARN:      in.TargetRoleArn,
		DisableSessionTags: in.DisableSessionTags != nil && *in.DisableSessionTags,
		Policy:             in.Policy,
		Tags:               copyTags(in.Tags),
		CreatedAt:          now,
		ModifiedAt:         now,
	}
	a.ARN = s.associationARN(cluster, a.ID)
	if a.TargetRoleARN != "" {
		a.ExternalID = s.externalID(cluster, in.Namespace, in.ServiceAccount)
	}

	var result *store.Association
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetCluster(cluster); err != nil {
			return clusterLookupErr(cluster, err)
		}
		if in.ClientRequestToken != "" {
			prev, err := replayCreate(tx, in)
			if err != nil || prev != nil {
				result = prev
				return err
			}
		}
		if !external {
			if err := s.checkRole(tx, cluster, in.RoleArn); err != nil {
				return err
			}
		}
		if max := s.cfg.MaxAssociationsPerCluster; max > 0 {
			existing, err := tx.ListAssociations(cluster, "", "", store.Page{Limit: max})
			if err != nil {
				return internalf("counting associations of %s: %w", cluster, err)
			}
			if len(existing) >= max {
				return newErr(http.StatusBadRequest, CodeLimitExceeded, cluster, "", "The cluster %s has reached its limit of %d pod identity associations.", cluster, max)
			}
		}
		if err := tx.CreateAssociation(a); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errDuplicate
			}
			return internalf("creating association: %w", err)
		}
		if in.ClientRequestToken != "" {
			if err := tx.PutIdempotencyToken(createScope(cluster), in.ClientRequestToken, a.ID); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return errDuplicate
				}
				return internalf("recording client request token: %w", err)
			}
		}
		result = a
		return nil
	})
	if errors.Is(err, errDuplicate) || errors.Is(err, store.ErrConflict) {
		return s.createConflict(ctx, in)
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return &CreatePodIdentityAssociationOutput{Association: AssociationAPI(result)}, nil
}

// createConflict answers a create that lost a uniqueness race: the same
// request token committed first (a retry: return its result), or another
// association holds the key (409).
func (s *Service) createConflict(ctx context.Context, in *CreatePodIdentityAssociationInput) (*CreatePodIdentityAssociationOutput, error) {
	var out *store.Association
	err := s.cfg.Store.View(ctx, func(tx store.Tx) error {
		if in.ClientRequestToken != "" {
			prev, err := replayCreate(tx, in)
			if err != nil || prev != nil {
				out = prev
				return err
			}
		}
		existing, err := tx.FindAssociation(in.ClusterName, in.Namespace, in.ServiceAccount)
		if errors.Is(err, store.ErrNotFound) {
			// The holder was deleted since; the caller may retry.
			return newErr(http.StatusConflict, CodeInUse, in.ClusterName, "", "A conflicting association change is in progress; try again.")
		}
		if err != nil {
			return internalf("finding association: %w", err)
		}
		return inUse(in.ClusterName, "Association already exists: %s", existing.ID)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &CreatePodIdentityAssociationOutput{Association: AssociationAPI(out)}, nil
}

// replayCreate returns the association an earlier create with the same
// client request token made, nil if the token is new, or an error when the
// token was used for a different request.
func replayCreate(tx store.Tx, in *CreatePodIdentityAssociationInput) (*store.Association, error) {
	id, err := tx.GetIdempotencyToken(createScope(in.ClusterName), in.ClientRequestToken)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, internalf("reading client request token: %w", err)
	}
	prev, err := tx.GetAssociation(in.ClusterName, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidRequest(in.ClusterName, "The association created with this clientRequestToken no longer exists.")
	}
	if err != nil {
		return nil, internalf("reading association %s: %w", id, err)
	}
	disable := in.DisableSessionTags != nil && *in.DisableSessionTags
	if prev.Namespace != in.Namespace || prev.ServiceAccount != in.ServiceAccount || prev.RoleARN != in.RoleArn ||
		prev.TargetRoleARN != in.TargetRoleArn || prev.DisableSessionTags != disable || prev.Policy != in.Policy {
		return nil, invalidRequest(in.ClusterName, "The clientRequestToken was already used for a different request.")
	}
	return prev, nil
}

// checkCreateAssociation validates a create request's fields.
func (s *Service) checkCreateAssociation(in *CreatePodIdentityAssociationInput, external bool) error {
	c := in.ClusterName
	if err := checkNamespace(c, in.Namespace); err != nil {
		return err
	}
	if err := checkServiceAccount(c, in.ServiceAccount); err != nil {
		return err
	}
	if in.RoleArn == "" {
		return invalidParam(c, "The parameter roleArn must not be empty.")
	}
	if err := s.checkRoleARN(c, "roleArn", in.RoleArn, !external); err != nil {
		return err
	}
	if in.TargetRoleArn != "" {
		if err := s.checkRoleARN(c, "targetRoleArn", in.TargetRoleArn, false); err != nil {
			return err
		}
	}
	if in.Policy != "" {
		if in.DisableSessionTags == nil || !*in.DisableSessionTags {
			return invalidParam(c, "The parameter policy can only be used when disableSessionTags is set to true.")
		}
		if err := checkPolicyDocument(c, in.Policy); err != nil {
			return err
		}
	}
	if err := checkTags(in.Tags, func(f string, a ...any) *Error { return invalidParam(c, f, a...) }); err != nil {
		return err
	}
	return checkRequestToken(c, in.ClientRequestToken)
}

func checkRequestToken(cluster, tok string) error {
	if len(tok) > maxRequestToken {
		return invalidParam(cluster, "The parameter clientRequestToken must be at most %d characters long.", maxRequestToken)
	}
	return nil
}

// checkRoleARN validates the syntax of a role ARN parameter; sameAccount
// requires the role to be in the server's account.
func (s *Service) checkRoleARN(cluster, param, arn string, sameAccount bool) error {
	account, _, ok := roleARNParts(arn)
	if !ok {
		return invalidParam(cluster, "The parameter %s is not a valid IAM role ARN: %s", param, truncate(arn, 200))
	}
	if sameAccount && account != s.cfg.AccountID {
		return invalidParam(cluster, "The role %s must be in the same account as the cluster (%s).", truncate(arn, 200), s.cfg.AccountID)
	}
	return nil
}

// externalRoles reports whether cluster's roles live outside podid.
func (s *Service) externalRoles(ctx context.Context, cluster string) bool {
	return s.cfg.RoleValidator != nil && s.cfg.RoleValidator.ExternalRoles(ctx, cluster)
}

// validateExternalRole asks the RoleValidator about a role of a cluster
// whose roles live outside podid (outside any store transaction: it may
// call AWS).
func (s *Service) validateExternalRole(ctx context.Context, cluster, roleArn string, external bool) error {
	if !external || s.cfg.SkipRoleValidation {
		return nil
	}
	if err := s.cfg.RoleValidator.ValidateRole(ctx, cluster, roleArn); err != nil {
		return invalidParam(cluster, "%s", err.Error())
	}
	return nil
}

// checkRole verifies that roleArn names an existing role of this account
// whose trust policy admits EKS Pod Identity.
func (s *Service) checkRole(tx store.Tx, cluster, roleArn string) error {
	if s.cfg.SkipRoleValidation {
		return nil
	}
	account, name, _ := roleARNParts(roleArn)
	r, err := tx.GetRole(account, name)
	if errors.Is(err, store.ErrNotFound) {
		return invalidParam(cluster, "Role provided in the request does not exist")
	}
	if err != nil {
		return internalf("reading role %s: %w", name, err)
	}
	if r.ARN != roleArn {
		return invalidParam(cluster, "Role provided in the request does not exist")
	}
	if !trustsPodIdentity(r.AssumeRolePolicy) {
		return invalidParam(cluster, "Trust policy of the role provided is invalid")
	}
	return nil
}

// DescribePodIdentityAssociation returns one association.
func (s *Service) DescribePodIdentityAssociation(ctx context.Context, in *DescribePodIdentityAssociationInput) (*DescribePodIdentityAssociationOutput, error) {
	if err := s.authorize(ctx, "eks:DescribePodIdentityAssociation", s.associationARN(in.ClusterName, in.AssociationID), nil); err != nil {
		return nil, err
	}
	if err := checkAssociationID(in.ClusterName, in.AssociationID); err != nil {
		return nil, err
	}
	var a *store.Association
	err := s.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		a, err = getAssociation(tx, in.ClusterName, in.AssociationID)
		return err
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &DescribePodIdentityAssociationOutput{Association: AssociationAPI(a)}, nil
}

// getAssociation reads an association, with EKS's not-found errors for
// the cluster and the association.
func getAssociation(tx store.Tx, cluster, id string) (*store.Association, error) {
	if _, err := tx.GetCluster(cluster); err != nil {
		return nil, clusterLookupErr(cluster, err)
	}
	a, err := tx.GetAssociation(cluster, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(cluster, "No pod identity association found for ID: %s", id)
	}
	if err != nil {
		return nil, internalf("reading association %s: %w", id, err)
	}
	return a, nil
}

// clusterLookupErr maps a GetCluster failure.
func clusterLookupErr(cluster string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return clusterNotFound(cluster)
	}
	return internalf("reading cluster %s: %w", cluster, err)
}

// storeErr passes API errors through and wraps anything else (a store
// failure) as a server fault.
func storeErr(err error) error {
	var ee *Error
	if errors.As(err, &ee) {
		return ee
	}
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae
	}
	return internal(err)
}

// ListPodIdentityAssociations lists a cluster's associations in
// associationId order, optionally filtered by namespace and service
// account. nextToken is opaque, present only when more results follow.
func (s *Service) ListPodIdentityAssociations(ctx context.Context, in *ListPodIdentityAssociationsInput) (*ListPodIdentityAssociationsOutput, error) {
	c := in.ClusterName
	if err := s.authorize(ctx, "eks:ListPodIdentityAssociations", s.clusterARN(c), nil); err != nil {
		return nil, err
	}
	limit, err := checkMaxResults(c, in.MaxResults)
	if err != nil {
		return nil, err
	}
	if len(in.Namespace) > 253 || len(in.ServiceAccount) > 253 {
		return nil, invalidParam(c, "The namespace and serviceAccount filters must be at most 253 characters long.")
	}
	after, err := decodePageToken(c, in.NextToken, "pia", c, in.Namespace, in.ServiceAccount)
	if err != nil {
		return nil, err
	}
	var list []*store.Association
	err = s.cfg.Store.View(ctx, func(tx store.Tx) error {
		if _, err := tx.GetCluster(c); err != nil {
			return clusterLookupErr(c, err)
		}
		var err error
		list, err = tx.ListAssociations(c, in.Namespace, in.ServiceAccount, store.Page{After: after, Limit: limit + 1})
		if err != nil {
			return internalf("listing associations of %s: %w", c, err)
		}
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	out := &ListPodIdentityAssociationsOutput{Associations: make([]PodIdentityAssociationSummary, 0, min(len(list), limit))}
	if len(list) > limit {
		list = list[:limit]
		out.NextToken = encodePageToken(list[len(list)-1].ID, "pia", c, in.Namespace, in.ServiceAccount)
	}
	for _, a := range list {
		out.Associations = append(out.Associations, PodIdentityAssociationSummary{
			ClusterName: a.Cluster, Namespace: a.Namespace, ServiceAccount: a.ServiceAccount,
			AssociationArn: a.ARN, AssociationID: a.ID, OwnerArn: a.OwnerARN,
		})
	}
	return out, nil
}

// UpdatePodIdentityAssociation changes an association's role, target
// role, session-tag setting or policy.
func (s *Service) UpdatePodIdentityAssociation(ctx context.Context, in *UpdatePodIdentityAssociationInput) (*UpdatePodIdentityAssociationOutput, error) {
	c := in.ClusterName
	if err := s.authorize(ctx, "eks:UpdatePodIdentityAssociation", s.associationARN(c, in.AssociationID), nil); err != nil {
		return nil, err
	}
	if err := checkAssociationID(c, in.AssociationID); err != nil {
		return nil, err
	}
	if in.RoleArn == nil && in.TargetRoleArn == nil && in.DisableSessionTags == nil && in.Policy == nil {
		return nil, invalidParam(c, "You must specify at least one of roleArn, targetRoleArn, disableSessionTags or policy.")
	}
	external := s.externalRoles(ctx, c)
	if in.RoleArn != nil {
		if *in.RoleArn == "" {
			return nil, invalidParam(c, "The parameter roleArn must not be empty.")
		}
		if err := s.checkRoleARN(c, "roleArn", *in.RoleArn, !external); err != nil {
			return nil, err
		}
	}
	if in.TargetRoleArn != nil && *in.TargetRoleArn != "" {
		if err := s.checkRoleARN(c, "targetRoleArn", *in.TargetRoleArn, false); err != nil {
			return nil, err
		}
	}
	if in.Policy != nil && *in.Policy != "" {
		if err := checkPolicyDocument(c, *in.Policy); err != nil {
			return nil, err
		}
	}
	if err := checkRequestToken(c, in.ClientRequestToken); err != nil {
		return nil, err
	}
	if in.RoleArn != nil {
		if err := s.authorizePassRole(ctx, *in.RoleArn, passedToPods); err != nil {
			return nil, err
		}
	}
	if in.TargetRoleArn != nil && *in.TargetRoleArn != "" {
		if err := s.authorizePassTargetRole(ctx, *in.TargetRoleArn); err != nil {
			return nil, err
		}
	}
	if in.RoleArn != nil {
		if err := s.validateExternalRole(ctx, c, *in.RoleArn, external); err != nil {
			return nil, err
		}
	}

	var result *store.Association
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		a, err := getAssociation(tx, c, in.AssociationID)
		if err != nil {
			return err
		}
		if in.ClientRequestToken != "" {
			_, err := tx.GetIdempotencyToken(updateScope(c, a.ID), in.ClientRequestToken)
			if err == nil {
				result = a // a retry of an update already applied
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return internalf("reading client request token: %w", err)
			}
		}
		if a.OwnerARN != "" {
			return invalidRequest(c, "The pod identity association %s is owned by the add-on %s and can only be changed through the add-on.", a.ID, a.OwnerARN)
		}
		next := *a
		if in.RoleArn != nil && *in.RoleArn != a.RoleARN {
			if !external {
				if err := s.checkRole(tx, c, *in.RoleArn); err != nil {
					return err
				}
			}
			next.RoleARN = *in.RoleArn
		}
		if in.TargetRoleArn != nil {
			next.TargetRoleARN = *in.TargetRoleArn
		}
		if in.DisableSessionTags != nil {
			next.DisableSessionTags = *in.DisableSessionTags
		}
		if in.Policy != nil {
			next.Policy = *in.Policy
		}
		if next.Policy != "" && !next.DisableSessionTags {
			return invalidParam(c, "The parameter policy can only be used when disableSessionTags is set to true.")
		}
		switch {
		case next.TargetRoleARN == "":
			next.ExternalID = ""
		case next.ExternalID == "":
			next.ExternalID = s.externalID(c, a.Namespace, a.ServiceAccount)
		}
		next.ModifiedAt = maxTime(s.now(), a.ModifiedAt)
		if err := tx.UpdateAssociation(&next); err != nil {
			return internalf("updating association %s: %w", a.ID, err)
		}
		if in.ClientRequestToken != "" {
			if err := tx.PutIdempotencyToken(updateScope(c, a.ID), in.ClientRequestToken, a.ID); err != nil {
				return internalf("recording client request token: %w", err)
			}
		}
		result = &next
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &UpdatePodIdentityAssociationOutput{Association: AssociationAPI(result)}, nil
}

// DeletePodIdentityAssociation deletes an association and returns it.
func (s *Service) DeletePodIdentityAssociation(ctx context.Context, in *DeletePodIdentityAssociationInput) (*DeletePodIdentityAssociationOutput, error) {
	c := in.ClusterName
	if err := s.authorize(ctx, "eks:DeletePodIdentityAssociation", s.associationARN(c, in.AssociationID), nil); err != nil {
		return nil, err
	}
	if err := checkAssociationID(c, in.AssociationID); err != nil {
		return nil, err
	}
	var result *store.Association
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		a, err := getAssociation(tx, c, in.AssociationID)
		if err != nil {
			return err
		}
		if a.OwnerARN != "" {
			return invalidRequest(c, "The pod identity association %s is owned by the add-on %s and can only be deleted through the add-on.", a.ID, a.OwnerARN)
		}
		if err := tx.DeleteAssociation(c, a.ID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return notFound(c, "No pod identity association found for ID: %s", a.ID)
			}
			return internalf("deleting association %s: %w", a.ID, err)
		}
		result = a
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &DeletePodIdentityAssociationOutput{Association: AssociationAPI(result)}, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// externalID is the externalId of an association with a target role, in
// the form AWS documents for the target role's sts:ExternalId condition:
// REGION/ACCOUNT/CLUSTER/NAMESPACE/SERVICE-ACCOUNT. It depends only on the
// association's key, so it is the same after an update and after the
// association is deleted and created again. Associations created before
// podid used this form keep their stored (random) externalId until their
// target role is removed, so trust policies written for them keep working.
func (s *Service) externalID(cluster, namespace, serviceAccount string) string {
	return s.cfg.Region + "/" + s.cfg.AccountID + "/" + cluster + "/" + namespace + "/" + serviceAccount
}
