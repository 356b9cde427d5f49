package iam

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/store"
)

// Policy is a customer managed policy with the counts IAM reports.
type Policy struct {
	*store.ManagedPolicy
	// AttachmentCount is the number of roles and users it is attached to.
	AttachmentCount int
	// PermissionsBoundaryUsageCount is the number of roles and users that
	// use it as their permissions boundary.
	PermissionsBoundaryUsageCount int
}

// CreatePolicyInput is CreatePolicy's request.
type CreatePolicyInput struct {
	PolicyName     string
	Path           string // "/" when empty
	PolicyDocument string
	Description    string
	Tags           []store.Tag
}

// PolicyOutput is the result of CreatePolicy and GetPolicy.
type PolicyOutput struct {
	Policy *Policy
}

// GetPolicyInput is GetPolicy's request.
type GetPolicyInput struct {
	PolicyARN string
}

// Policy scopes of ListPolicies.
const (
	ScopeAll   = "All"
	ScopeAWS   = "AWS"
	ScopeLocal = "Local"
)

// Policy usage filters of ListPolicies.
const (
	UsagePermissionsPolicy   = "PermissionsPolicy"
	UsagePermissionsBoundary = "PermissionsBoundary"
)

// ListPoliciesInput is ListPolicies' request.
type ListPoliciesInput struct {
	Scope             string // All when empty
	OnlyAttached      bool
	PathPrefix        string
	PolicyUsageFilter string
	Marker            string
	MaxItems          *int
}

// ListPoliciesOutput is ListPolicies' result.
type ListPoliciesOutput struct {
	Policies    []*Policy
	IsTruncated bool
	Marker      string
}

// DeletePolicyInput is DeletePolicy's request.
type DeletePolicyInput struct {
	PolicyARN string
}

// CreatePolicyVersionInput is CreatePolicyVersion's request.
type CreatePolicyVersionInput struct {
	PolicyARN      string
	PolicyDocument string
	SetAsDefault   bool
}

// PolicyVersionOutput is the result of CreatePolicyVersion and GetPolicyVersion.
type PolicyVersionOutput struct {
	PolicyVersion *store.PolicyVersion
}

// GetPolicyVersionInput is GetPolicyVersion's request.
type GetPolicyVersionInput struct {
	PolicyARN string
	VersionID string
}

// ListPolicyVersionsInput is ListPolicyVersions' request.
type ListPolicyVersionsInput struct {
	PolicyARN string
	Marker    string
	MaxItems  *int
}

// ListPolicyVersionsOutput is ListPolicyVersions' result, newest first.
type ListPolicyVersionsOutput struct {
	Versions    []*store.PolicyVersion
	IsTruncated bool
	Marker      string
}

// SetDefaultPolicyVersionInput is SetDefaultPolicyVersion's request.
type SetDefaultPolicyVersionInput struct {
	PolicyARN string
	VersionID string
}

// DeletePolicyVersionInput is DeletePolicyVersion's request.
type DeletePolicyVersionInput struct {
	PolicyARN string
	VersionID string
}

// getPolicyTx reads a local managed policy; anything else is NoSuchEntity.
func (s *Service) getPolicyTx(tx store.Tx, arn string) (*store.ManagedPolicy, error) {
	a, err := parsePolicyARN(arn)
	if err != nil {
		return nil, err
	}
	if !s.local(a) {
		return nil, noSuchPolicy(arn)
	}
	p, err := tx.GetPolicy(arn)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noSuchPolicy(arn)
	}
	return p, err
}

// authorizePolicy validates a policy ARN, authorizes action on it (with its
// tags when it exists) and returns the policy (nil when missing).
func (s *Service) authorizePolicy(ctx context.Context, action, arn string) (*store.ManagedPolicy, error) {
	a, err := parsePolicyARN(arn)
	if err != nil {
		return nil, err
	}
	var p *store.ManagedPolicy
	if s.local(a) {
		err = s.view(ctx, func(tx store.Tx) error {
			var gerr error
			p, gerr = tx.GetPolicy(arn)
			if errors.Is(gerr, store.ErrNotFound) {
				p = nil
				return nil
			}
			return gerr
		})
		if err != nil {
			return nil, err
		}
	}
	var extra map[string][]string
	if p != nil {
		extra = resourceTagContext(nil, p.Tags)
	}
	if err := s.authorize(ctx, action, arn, extra); err != nil {
		return nil, err
	}
	return p, nil
}

// boundaryUsage counts, for every policy ARN, the roles and users using it
// as their permissions boundary.
func boundaryUsage(tx store.Tx, account string) (map[string]int, error) {
	out := map[string]int{}
	roles, err := tx.ListRoles(account, "/", store.Page{})
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		if r.PermissionsBoundary != "" {
			out[r.PermissionsBoundary]++
		}
	}
	users, err := tx.ListUsers(account, "/", store.Page{})
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if u.PermissionsBoundary != "" {
			out[u.PermissionsBoundary]++
		}
	}
	return out, nil
}

// withCounts adds the attachment and boundary counts to a policy.
func withCounts(tx store.Tx, p *store.ManagedPolicy, usage map[string]int) (*Policy, error) {
	n, err := tx.CountPolicyAttachments(p.ARN)
	if err != nil {
		return nil, err
	}
	return &Policy{ManagedPolicy: p, AttachmentCount: n, PermissionsBoundaryUsageCount: usage[p.ARN]}, nil
}

// CreatePolicy creates a customer managed policy with version v1 as its default.
func (s *Service) CreatePolicy(ctx context.Context, in *CreatePolicyInput) (*PolicyOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	v.name(in.PolicyName, "policyName", maxPolicyNameLen)
	v.policyPath(in.Path, "path")
	v.document(in.PolicyDocument, "policyDocument")
	v.length(in.Description, "description", 0, maxDescriptionLen)
	v.tags(in.Tags, "tags")
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkTagRules(in.Tags); err != nil {
		return nil, err
	}
	path := orRoot(in.Path)
	arn := s.policyARN(path, in.PolicyName)
	if err := s.authorize(ctx, "iam:CreatePolicy", arn, tagContext(nil, in.Tags)); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		if err := s.authorize(ctx, "iam:TagPolicy", arn, tagContext(nil, in.Tags)); err != nil {
			return nil, err
		}
	}
	if err := s.checkDocument(ctx, in.PolicyDocument, policy.KindManaged); err != nil {
		return nil, err
	}
	now := s.clock()
	p := &store.ManagedPolicy{
		Account:          s.account,
		ID:               ids.NewPolicyID(),
		Name:             in.PolicyName,
		Path:             path,
		ARN:              arn,
		DefaultVersionID: "v1",
		Description:      in.Description,
		Tags:             in.Tags,
		CreatedAt:        now,
		UpdatedAt:        now,
	}
	exists := alreadyExists("A policy called %s already exists. Duplicate names are not allowed.", in.PolicyName)
	err := s.update(ctx, func(tx store.Tx) error {
		// Names are unique in the account whatever the path.
		all, err := tx.ListPolicies(s.account, "/", store.Page{})
		if err != nil {
			return err
		}
		for _, q := range all {
			if strings.EqualFold(q.Name, in.PolicyName) {
				return exists
			}
		}
		if err := tx.CreatePolicy(p); errors.Is(err, store.ErrConflict) {
			return exists
		} else if err != nil {
			return err
		}
		return tx.PutPolicyVersion(&store.PolicyVersion{
			PolicyARN: arn, VersionID: "v1", Document: in.PolicyDocument, IsDefault: true, CreatedAt: now,
		})
	})
	if err != nil {
		return nil, err
	}
	return &PolicyOutput{Policy: &Policy{ManagedPolicy: p}}, nil
}

// GetPolicy returns a managed policy's metadata (not its document).
func (s *Service) GetPolicy(ctx context.Context, in *GetPolicyInput) (*PolicyOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	v.arn(in.PolicyARN, "policyArn", true)
	if err := v.err(); err != nil {
		return nil, err
	}
	if _, err := s.authorizePolicy(ctx, "iam:GetPolicy", in.PolicyARN); err != nil {
		return nil, err
	}
	var out *Policy
	err := s.view(ctx, func(tx store.Tx) error {
		p, err := s.getPolicyTx(tx, in.PolicyARN)
		if err != nil {
			return err
		}
		usage, err := boundaryUsage(tx, s.account)
		if err != nil {
			return err
		}
		out, err = withCounts(tx, p, usage)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &PolicyOutput{Policy: out}, nil
}

// ListPolicies lists managed policies. podid holds no AWS managed
// policies, so Scope=AWS lists nothing and Local equals All.
func (s *Service) ListPolicies(ctx context.Context, in *ListPoliciesInput) (*ListPoliciesOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	if in.Scope != "" && in.Scope != ScopeAll && in.Scope != ScopeAWS && in.Scope != ScopeLocal {
		v.add(in.Scope, "scope", "Member must satisfy enum value set: [All, AWS, Local]")
	}
	v.policyPath(in.PathPrefix, "pathPrefix")
	if in.PolicyUsageFilter != "" && in.PolicyUsageFilter != UsagePermissionsPolicy && in.PolicyUsageFilter != UsagePermissionsBoundary {
		v.add(in.PolicyUsageFilter, "policyUsageFilter", "Member must satisfy enum value set: [PermissionsPolicy, PermissionsBoundary]")
	}
	v.paging(in.Marker, in.MaxItems)
	if err := v.err(); err != nil {
		return nil, err
	}
	prefix := orRoot(in.PathPrefix)
	if err := s.authorize(ctx, "iam:ListPolicies", s.policyARN(prefix, ""), nil); err != nil {
		return nil, err
	}
	out := &ListPoliciesOutput{}
	if in.Scope == ScopeAWS {
		return out, nil
	}
	err := s.view(ctx, func(tx store.Tx) error {
		usage, err := boundaryUsage(tx, s.account)
		if err != nil {
			return err
		}
		counted := map[string]*Policy{}
		keep := func(p *store.ManagedPolicy) (bool, error) {
			c, err := withCounts(tx, p, usage)
			if err != nil {
				return false, err
			}
			counted[p.ARN] = c
			if !in.OnlyAttached {
				return true, nil
			}
			switch in.PolicyUsageFilter {
			case UsagePermissionsPolicy:
				return c.AttachmentCount > 0, nil
			case UsagePermissionsBoundary:
				return c.PermissionsBoundaryUsageCount > 0, nil
			}
			return c.AttachmentCount > 0 || c.PermissionsBoundaryUsageCount > 0, nil
		}
		ps, next, err := collect(in.Marker, pageSize(in.MaxItems),
			func(after string, n int) ([]*store.ManagedPolicy, error) {
				return tx.ListPolicies(s.account, prefix, store.Page{After: after, Limit: n})
			},
			func(p *store.ManagedPolicy) string { return p.ARN }, keep)
		if err != nil {
			return err
		}
		for _, p := range ps {
			out.Policies = append(out.Policies, counted[p.ARN])
		}
		out.Marker, out.IsTruncated = next, next != ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeletePolicy deletes a managed policy that is attached nowhere, is no
// entity's permissions boundary and has only its default version left.
func (s *Service) DeletePolicy(ctx context.Context, in *DeletePolicyInput) error {
	s = s.forCaller(ctx)
	var v violations
	v.arn(in.PolicyARN, "policyArn", true)
	if err := v.err(); err != nil {
		return err
	}
	if _, err := s.authorizePolicy(ctx, "iam:DeletePolicy", in.PolicyARN); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		p, err := s.getPolicyTx(tx, in.PolicyARN)
		if err != nil {
			return err
		}
		n, err := tx.CountPolicyAttachments(p.ARN)
		if err != nil {
			return err
		}
		usage, err := boundaryUsage(tx, s.account)
		if err != nil {
			return err
		}
		if n > 0 || usage[p.ARN] > 0 {
			return deleteConflict("Cannot delete a policy attached to entities.")
		}
		versions, err := tx.ListPolicyVersions(p.ARN)
		if err != nil {
			return err
		}
		if len(versions) > 1 {
			return deleteConflict("This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.")
		}
		for _, ver := range versions {
			if err := tx.DeletePolicyVersion(p.ARN, ver.VersionID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return tx.DeletePolicy(p.ARN)
	})
}

// versionNumber is N of "vN" (0 when the ID has another form).
func versionNumber(id string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "v"))
	if err != nil || !strings.HasPrefix(id, "v") {
		return 0
	}
	return n
}

// CreatePolicyVersion adds a version to a managed policy (at most five),
// optionally making it the default.
func (s *Service) CreatePolicyVersion(ctx context.Context, in *CreatePolicyVersionInput) (*PolicyVersionOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	v.arn(in.PolicyARN, "policyArn", true)
	v.document(in.PolicyDocument, "policyDocument")
	if err := v.err(); err != nil {
		return nil, err
	}
	if _, err := s.authorizePolicy(ctx, "iam:CreatePolicyVersion", in.PolicyARN); err != nil {
		return nil, err
	}
	if err := s.checkDocument(ctx, in.PolicyDocument, policy.KindManaged); err != nil {
		return nil, err
	}
	var out *store.PolicyVersion
	err := s.update(ctx, func(tx store.Tx) error {
		p, err := s.getPolicyTx(tx, in.PolicyARN)
		if err != nil {
			return err
		}
		versions, err := tx.ListPolicyVersions(p.ARN)
		if err != nil {
			return err
		}
		if len(versions) >= maxVersions {
			return limitExceeded("A managed policy can have up to %d versions. Before you create a new version, you must delete an existing version.", maxVersions)
		}
		next := 0
		for _, ver := range versions {
			next = max(next, versionNumber(ver.VersionID))
		}
		now := s.clock()
		out = &store.PolicyVersion{
			PolicyARN: p.ARN,
			VersionID: "v" + strconv.Itoa(next+1),
			Document:  in.PolicyDocument,
			IsDefault: in.SetAsDefault,
			CreatedAt: now,
		}
		if err := tx.PutPolicyVersion(out); err != nil {
			return err
		}
		if in.SetAsDefault {
			if err := setDefault(tx, p, versions, out.VersionID); err != nil {
				return err
			}
		}
		p.UpdatedAt = now
		return tx.UpdatePolicy(p)
	})
	if err != nil {
		return nil, err
	}
	return &PolicyVersionOutput{PolicyVersion: out}, nil
}

// setDefault marks versionID as p's default and clears the flag on the
// others; the caller saves p.
func setDefault(tx store.Tx, p *store.ManagedPolicy, versions []*store.PolicyVersion, versionID string) error {
	for _, ver := range versions {
		isDefault := ver.VersionID == versionID
		if ver.IsDefault != isDefault {
			ver.IsDefault = isDefault
			if err := tx.PutPolicyVersion(ver); err != nil {
				return err
			}
		}
	}
	p.DefaultVersionID = versionID
	return nil
}

// GetPolicyVersion returns one version of a managed policy with its document.
func (s *Service) GetPolicyVersion(ctx context.Context, in *GetPolicyVersionInput) (*PolicyVersionOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	v.arn(in.PolicyARN, "policyArn", true)
	v.versionID(in.VersionID, "versionId")
	if err := v.err(); err != nil {
		return nil, err
	}
	if _, err := s.authorizePolicy(ctx, "iam:GetPolicyVersion", in.PolicyARN); err != nil {
		return nil, err
	}
	var out *store.PolicyVersion
	err := s.view(ctx, func(tx store.Tx) error {
		p, err := s.getPolicyTx(tx, in.PolicyARN)
		if err != nil {
			return err
		}
		out, err = tx.GetPolicyVersion(p.ARN, in.VersionID)
		if errors.Is(err, store.ErrNotFound) {
			return noSuchVersion(in.PolicyARN, in.VersionID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &PolicyVersionOutput{PolicyVersion: out}, nil
}

// ListPolicyVersions lists a managed policy's versions, newest first.
func (s *Service) ListPolicyVersions(ctx context.Context, in *ListPolicyVersionsInput) (*ListPolicyVersionsOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	v.arn(in.PolicyARN, "policyArn", true)
	v.paging(in.Marker, in.MaxItems)
	if err := v.err(); err != nil {
		return nil, err
	}
	if _, err := s.authorizePolicy(ctx, "iam:ListPolicyVersions", in.PolicyARN); err != nil {
		return nil, err
	}
	var all []*store.PolicyVersion
	err := s.view(ctx, func(tx store.Tx) error {
		p, err := s.getPolicyTx(tx, in.PolicyARN)
		if err != nil {
			return err
		}
		all, err = tx.ListPolicyVersions(p.ARN)
		return err
	})
	if err != nil {
		return nil, err
	}
	page, next, err := slicePage(all, in.Marker, pageSize(in.MaxItems))
	if err != nil {
		return nil, err
	}
	return &ListPolicyVersionsOutput{Versions: page, IsTruncated: next != "", Marker: next}, nil
}

// SetDefaultPolicyVersion makes an existing version the policy's default.
func (s *Service) SetDefaultPolicyVersion(ctx context.Context, in *SetDefaultPolicyVersionInput) error {
	s = s.forCaller(ctx)
	var v violations
	v.arn(in.PolicyARN, "policyArn", true)
	v.versionID(in.VersionID, "versionId")
	if err := v.err(); err != nil {
		return err
	}
	if _, err := s.authorizePolicy(ctx, "iam:SetDefaultPolicyVersion", in.PolicyARN); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		p, err := s.getPolicyTx(tx, in.PolicyARN)
		if err != nil {
			return err
		}
		versions, err := tx.ListPolicyVersions(p.ARN)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(versions, func(ver *store.PolicyVersion) bool { return ver.VersionID == in.VersionID }) {
			return noSuchVersion(in.PolicyARN, in.VersionID)
		}
		if err := setDefault(tx, p, versions, in.VersionID); err != nil {
			return err
		}
		return tx.UpdatePolicy(p)
	})
}

// DeletePolicyVersion deletes a version that is not the default.
func (s *Service) DeletePolicyVersion(ctx context.Context, in *DeletePolicyVersionInput) error {
	s = s.forCaller(ctx)
	var v violations
	v.arn(in.PolicyARN, "policyArn", true)
	v.versionID(in.VersionID, "versionId")
	if err := v.err(); err != nil {
		return err
	}
	if _, err := s.authorizePolicy(ctx, "iam:DeletePolicyVersion", in.PolicyARN); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		p, err := s.getPolicyTx(tx, in.PolicyARN)
		if err != nil {
			return err
		}
		ver, err := tx.GetPolicyVersion(p.ARN, in.VersionID)
		if errors.Is(err, store.ErrNotFound) {
			return noSuchVersion(in.PolicyARN, in.VersionID)
		} else if err != nil {
			return err
		}
		if ver.IsDefault || p.DefaultVersionID == in.VersionID {
			return deleteConflict("Cannot delete the default version of a policy.")
		}
		if err := tx.DeletePolicyVersion(p.ARN, in.VersionID); err != nil {
			return err
		}
		// UpdateDate is the creation time of the newest remaining version.
		rest, err := tx.ListPolicyVersions(p.ARN)
		if err != nil {
			return err
		}
		p.UpdatedAt = p.CreatedAt
		for _, r := range rest {
			if r.CreatedAt.After(p.UpdatedAt) {
				p.UpdatedAt = r.CreatedAt
			}
		}
		return tx.UpdatePolicy(p)
	})
}
