package iam

import (
	"context"
	"errors"

	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/store"
)

// CreateRoleInput is CreateRole's request.
type CreateRoleInput struct {
	RoleName                 string
	Path                     string // "/" when empty
	AssumeRolePolicyDocument string
	Description              string
	MaxSessionDuration       *int // 3600 when nil
	PermissionsBoundary      string
	Tags                     []store.Tag
}

// CreateRoleOutput is CreateRole's result.
type CreateRoleOutput struct {
	Role *store.Role
}

// GetRoleInput is GetRole's request.
type GetRoleInput struct {
	RoleName string
}

// GetRoleOutput is GetRole's result.
type GetRoleOutput struct {
	Role *store.Role
}

// ListRolesInput is ListRoles' request.
type ListRolesInput struct {
	PathPrefix string
	Marker     string
	MaxItems   *int
}

// ListRolesOutput is ListRoles' result. Marker is set when IsTruncated.
type ListRolesOutput struct {
	Roles       []*store.Role
	IsTruncated bool
	Marker      string
}

// UpdateRoleInput is UpdateRole's request; nil members are left unchanged.
type UpdateRoleInput struct {
	RoleName           string
	Description        *string
	MaxSessionDuration *int
}

// UpdateAssumeRolePolicyInput is UpdateAssumeRolePolicy's request.
type UpdateAssumeRolePolicyInput struct {
	RoleName       string
	PolicyDocument string
}

// DeleteRoleInput is DeleteRole's request.
type DeleteRoleInput struct {
	RoleName string
}

// TagRoleInput is TagRole's request.
type TagRoleInput struct {
	RoleName string
	Tags     []store.Tag
}

// UntagRoleInput is UntagRole's request.
type UntagRoleInput struct {
	RoleName string
	TagKeys  []string
}

// ListRoleTagsInput is ListRoleTags' request.
type ListRoleTagsInput struct {
	RoleName string
	Marker   string
	MaxItems *int
}

// ListTagsOutput is the result of ListRoleTags and ListUserTags.
type ListTagsOutput struct {
	Tags        []store.Tag
	IsTruncated bool
	Marker      string
}

// PutRolePermissionsBoundaryInput is PutRolePermissionsBoundary's request.
type PutRolePermissionsBoundaryInput struct {
	RoleName            string
	PermissionsBoundary string
}

// DeleteRolePermissionsBoundaryInput is DeleteRolePermissionsBoundary's request.
type DeleteRolePermissionsBoundaryInput struct {
	RoleName string
}

func orRoot(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

// withKey adds one condition key to an authorization context.
func withKey(extra map[string][]string, key string, values ...string) map[string][]string {
	if extra == nil {
		extra = map[string][]string{}
	}
	extra[key] = values
	return extra
}

// getRoleTx reads a role inside a transaction; a missing role is IAM's
// NoSuchEntity.
func getRoleTx(tx store.Tx, account, name string) (*store.Role, error) {
	r, err := tx.GetRole(account, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noSuchRole(name)
	}
	return r, err
}

// lookupRole reads a role for authorization: its ARN (with its path) and
// tags when it exists, the path-less ARN when it does not. r is nil when
// the role does not exist.
func (s *Service) lookupRole(ctx context.Context, name string) (r *store.Role, arn string, extra map[string][]string, err error) {
	err = s.view(ctx, func(tx store.Tx) error {
		var gerr error
		r, gerr = tx.GetRole(s.account, name)
		if errors.Is(gerr, store.ErrNotFound) {
			r = nil
			return nil
		}
		return gerr
	})
	if err != nil {
		return nil, "", nil, err
	}
	if r == nil {
		return nil, s.roleARN("/", name), nil, nil
	}
	return r, r.ARN, resourceTagContext(nil, r.Tags), nil
}

// authorizeRole authorizes action on an existing role (or, when it does not
// exist, on its path-less ARN, so that a caller who may not act learns
// nothing about existence) and returns the role (nil when missing).
func (s *Service) authorizeRole(ctx context.Context, action, name string, extra map[string][]string) (*store.Role, error) {
	r, arn, rextra, err := s.lookupRole(ctx, name)
	if err != nil {
		return nil, err
	}
	for k, v := range extra {
		rextra = withKey(rextra, k, v...)
	}
	if err := s.authorize(ctx, action, arn, rextra); err != nil {
		return nil, err
	}
	return r, nil
}

// requireBoundary checks that a permissions boundary names an existing
// managed policy of this account.
func (s *Service) requireBoundary(tx store.Tx, arn string) error {
	a, err := parsePolicyARN(arn)
	if err != nil {
		return err
	}
	if !s.local(a) {
		return noSuchBoundary(arn)
	}
	if _, err := tx.GetPolicy(arn); errors.Is(err, store.ErrNotFound) {
		return noSuchBoundary(arn)
	} else if err != nil {
		return err
	}
	return nil
}

// CreateRole creates a role with its trust policy.
func (s *Service) CreateRole(ctx context.Context, in *CreateRoleInput) (*CreateRoleOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	v.name(in.RoleName, "roleName", maxNameLen)
	v.path(in.Path, "path")
	v.document(in.AssumeRolePolicyDocument, "assumeRolePolicyDocument")
	v.roleDescription(in.Description, "description")
	v.intRange(in.MaxSessionDuration, "maxSessionDuration", minSessionDuration, maxSessionDuration)
	v.arn(in.PermissionsBoundary, "permissionsBoundary", false)
	v.tags(in.Tags, "tags")
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkTagRules(in.Tags); err != nil {
		return nil, err
	}
	path := orRoot(in.Path)
	arn := s.roleARN(path, in.RoleName)
	extra := tagContext(nil, in.Tags)
	if in.PermissionsBoundary != "" {
		extra = withKey(extra, "iam:PermissionsBoundary", in.PermissionsBoundary)
	}
	if err := s.authorize(ctx, "iam:CreateRole", arn, extra); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		if err := s.authorize(ctx, "iam:TagRole", arn, tagContext(nil, in.Tags)); err != nil {
			return nil, err
		}
	}
	if err := s.checkDocument(ctx, in.AssumeRolePolicyDocument, policy.KindTrust); err != nil {
		return nil, err
	}
	msd := minSessionDuration
	if in.MaxSessionDuration != nil {
		msd = *in.MaxSessionDuration
	}
	r := &store.Role{
		Account:             s.account,
		ID:                  ids.NewRoleID(),
		Name:                in.RoleName,
		Path:                path,
		ARN:                 arn,
		AssumeRolePolicy:    in.AssumeRolePolicyDocument,
		Description:         in.Description,
		MaxSessionDuration:  msd,
		PermissionsBoundary: in.PermissionsBoundary,
		Tags:                in.Tags,
		CreatedAt:           s.clock(),
	}
	err := s.update(ctx, func(tx store.Tx) error {
		if in.PermissionsBoundary != "" {
			if err := s.requireBoundary(tx, in.PermissionsBoundary); err != nil {
				return err
			}
		}
		if _, err := tx.GetRole(s.account, in.RoleName); err == nil {
			return alreadyExists("Role with name %s already exists.", in.RoleName)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := tx.CreateRole(r); errors.Is(err, store.ErrConflict) {
			return alreadyExists("Role with name %s already exists.", in.RoleName)
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &CreateRoleOutput{Role: r}, nil
}

// GetRole returns a role, its trust policy and its last use.
func (s *Service) GetRole(ctx context.Context, in *GetRoleInput) (*GetRoleOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	v.name(in.RoleName, "roleName", maxNameLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	r, err := s.authorizeRole(ctx, "iam:GetRole", in.RoleName, nil)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, noSuchRole(in.RoleName)
	}
	return &GetRoleOutput{Role: r}, nil
}

// ListRoles lists roles by name, optionally under a path prefix.
func (s *Service) ListRoles(ctx context.Context, in *ListRolesInput) (*ListRolesOutput, error) {
	s = s.forCaller(ctx)
	var v violations
	v.pathPrefix(in.PathPrefix, "pathPrefix")
	v.paging(in.Marker, in.MaxItems)
	if err := v.err(); err != nil {
		return nil, err
	}
	prefix := orRoot(in.PathPrefix)
	if err := s.authorize(ctx, "iam:ListRoles", s.roleARN(prefix, ""), nil); err != nil {
		return nil, err
	}
	out := &ListRolesOutput{}
	err := s.view(ctx, func(tx store.Tx) error {
		roles, next, err := collect(in.Marker, pageSize(in.MaxItems),
			func(after string, n int) ([]*store.Role, error) {
				return tx.ListRoles(s.account, prefix, store.Page{After: after, Limit: n})
			},
			func(r *store.Role) string { return r.Name }, nil)
		out.Roles, out.Marker, out.IsTruncated = roles, next, next != ""
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateRole changes a role's description or maximum session duration.
func (s *Service) UpdateRole(ctx context.Context, in *UpdateRoleInput) error {
	s = s.forCaller(ctx)
	var v violations
	v.name(in.RoleName, "roleName", maxNameLen)
	if in.Description != nil {
		v.roleDescription(*in.Description, "description")
	}
	v.intRange(in.MaxSessionDuration, "maxSessionDuration", minSessionDuration, maxSessionDuration)
	if err := v.err(); err != nil {
		return err
	}
	if _, err := s.authorizeRole(ctx, "iam:UpdateRole", in.RoleName, nil); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		r, err := getRoleTx(tx, s.account, in.RoleName)
		if err != nil {
			return err
		}
		if in.Description != nil {
			r.Description = *in.Description
		}
		if in.MaxSessionDuration != nil {
			r.MaxSessionDuration = *in.MaxSessionDuration
		}
		return tx.UpdateRole(r)
	})
}

// UpdateAssumeRolePolicy replaces a role's trust policy.
func (s *Service) UpdateAssumeRolePolicy(ctx context.Context, in *UpdateAssumeRolePolicyInput) error {
	s = s.forCaller(ctx)
	var v violations
	v.name(in.RoleName, "roleName", maxNameLen)
	v.document(in.PolicyDocument, "policyDocument")
	if err := v.err(); err != nil {
		return err
	}
	if _, err := s.authorizeRole(ctx, "iam:UpdateAssumeRolePolicy", in.RoleName, nil); err != nil {
		return err
	}
	if err := s.checkDocument(ctx, in.PolicyDocument, policy.KindTrust); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		r, err := getRoleTx(tx, s.account, in.RoleName)
		if err != nil {
			return err
		}
		r.AssumeRolePolicy = in.PolicyDocument
		return tx.UpdateRole(r)
	})
}

// DeleteRole deletes a role that has no attached or inline policies left.
func (s *Service) DeleteRole(ctx context.Context, in *DeleteRoleInput) error {
	s = s.forCaller(ctx)
	var v violations
	v.name(in.RoleName, "roleName", maxNameLen)
	if err := v.err(); err != nil {
		return err
	}
	if _, err := s.authorizeRole(ctx, "iam:DeleteRole", in.RoleName, nil); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		if _, err := getRoleTx(tx, s.account, in.RoleName); err != nil {
			return err
		}
		attached, err := tx.ListAttachedPolicies(store.KindRole, s.account, in.RoleName, store.Page{Limit: 1})
		if err != nil {
			return err
		}
		if len(attached) > 0 {
			return deleteConflict("Cannot delete entity, must detach all policies first.")
		}
		inline, err := tx.ListInlinePolicies(store.KindRole, s.account, in.RoleName, store.Page{Limit: 1})
		if err != nil {
			return err
		}
		if len(inline) > 0 {
			return deleteConflict("Cannot delete entity, must delete policies first.")
		}
		return tx.DeleteRole(s.account, in.RoleName)
	})
}

// TagRole adds tags to a role or replaces the values of existing keys.
func (s *Service) TagRole(ctx context.Context, in *TagRoleInput) error {
	s = s.forCaller(ctx)
	return s.tagHolder(ctx, roleHolder, in.RoleName, in.Tags)
}

// UntagRole removes tags from a role; absent keys are ignored.
func (s *Service) UntagRole(ctx context.Context, in *UntagRoleInput) error {
	s = s.forCaller(ctx)
	return s.untagHolder(ctx, roleHolder, in.RoleName, in.TagKeys)
}

// ListRoleTags lists a role's tags.
func (s *Service) ListRoleTags(ctx context.Context, in *ListRoleTagsInput) (*ListTagsOutput, error) {
	s = s.forCaller(ctx)
	return s.listHolderTags(ctx, roleHolder, in.RoleName, in.Marker, in.MaxItems)
}

// PutRolePermissionsBoundary sets a managed policy as a role's permissions boundary.
func (s *Service) PutRolePermissionsBoundary(ctx context.Context, in *PutRolePermissionsBoundaryInput) error {
	s = s.forCaller(ctx)
	return s.putHolderBoundary(ctx, roleHolder, maxNameLen, in.RoleName, in.PermissionsBoundary)
}

// DeleteRolePermissionsBoundary removes a role's permissions boundary.
func (s *Service) DeleteRolePermissionsBoundary(ctx context.Context, in *DeleteRolePermissionsBoundaryInput) error {
	s = s.forCaller(ctx)
	return s.deleteHolderBoundary(ctx, roleHolder, maxNameLen, in.RoleName)
}
