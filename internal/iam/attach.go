package iam

import (
	"context"
	"errors"
	"strings"

	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/store"
)

// AttachPolicyInput is the request of AttachRolePolicy (Name is the role
// name) and AttachUserPolicy (the user name); also of the Detach operations.
type AttachPolicyInput struct {
	Name      string
	PolicyARN string
}

// ListAttachedPoliciesInput is the request of ListAttachedRolePolicies and
// ListAttachedUserPolicies.
type ListAttachedPoliciesInput struct {
	Name       string
	PathPrefix string
	Marker     string
	MaxItems   *int
}

// AttachedPolicy is a managed policy attached to a role or user.
type AttachedPolicy struct {
	PolicyName string
	PolicyARN  string
}

// ListAttachedPoliciesOutput is the result of ListAttachedRolePolicies and
// ListAttachedUserPolicies.
type ListAttachedPoliciesOutput struct {
	AttachedPolicies []AttachedPolicy
	IsTruncated      bool
	Marker           string
}

// PutInlinePolicyInput is the request of PutRolePolicy and PutUserPolicy.
type PutInlinePolicyInput struct {
	Name           string
	PolicyName     string
	PolicyDocument string
}

// InlinePolicyInput names an inline policy (GetRolePolicy, DeleteRolePolicy,
// GetUserPolicy, DeleteUserPolicy).
type InlinePolicyInput struct {
	Name       string
	PolicyName string
}

// InlinePolicyOutput is the result of GetRolePolicy and GetUserPolicy.
type InlinePolicyOutput struct {
	Policy *store.InlinePolicy
}

// ListInlinePoliciesInput is the request of ListRolePolicies and ListUserPolicies.
type ListInlinePoliciesInput struct {
	Name     string
	Marker   string
	MaxItems *int
}

// ListInlinePoliciesOutput is the result of ListRolePolicies and ListUserPolicies.
type ListInlinePoliciesOutput struct {
	PolicyNames []string
	IsTruncated bool
	Marker      string
}

// holder describes a principal kind (role or user) for the operations both
// kinds share.
type holder struct {
	kind store.PrincipalKind
	noun string // "Role" or "User", in action names
	// member is the principal's name member; nameMax its length limit for
	// names of entities that must exist.
	member  string
	nameMax int
	// quotaName names the attachment quota.
	quotaName string
	noSuchPol func(name string) error
}

var (
	roleHolder = holder{
		kind: store.KindRole, noun: "Role", member: "roleName", nameMax: maxNameLen,
		quotaName: "PoliciesPerRole",
		noSuchPol: func(n string) error { return noSuchRolePolicy(n) },
	}
	userHolder = holder{
		kind: store.KindUser, noun: "User", member: "userName", nameMax: maxExistingUserLen,
		quotaName: "PoliciesPerUser",
		noSuchPol: func(n string) error { return noSuchUserPolicy(n) },
	}
)

// authorizeHolder authorizes action on the role or user. Whether it exists
// is checked afterwards, inside the operation's transaction.
func (s *Service) authorizeHolder(ctx context.Context, h holder, action, name string, extra map[string][]string) error {
	if h.kind == store.KindRole {
		_, err := s.authorizeRole(ctx, action, name, extra)
		return err
	}
	_, err := s.authorizeUser(ctx, action, name, extra)
	return err
}

// requireHolderTx checks inside a transaction that the role or user exists.
func (s *Service) requireHolderTx(tx store.Tx, h holder, name string) error {
	if h.kind == store.KindRole {
		_, err := getRoleTx(tx, s.account, name)
		return err
	}
	_, err := getUserTx(tx, s.account, name)
	return err
}

func (s *Service) attach(ctx context.Context, h holder, nameMax int, in *AttachPolicyInput) error {
	var v violations
	v.name(in.Name, h.member, nameMax)
	v.arn(in.PolicyARN, "policyArn", true)
	if err := v.err(); err != nil {
		return err
	}
	a, err := parsePolicyARN(in.PolicyARN)
	if err != nil {
		return err
	}
	extra := withKey(nil, "iam:PolicyARN", in.PolicyARN)
	if err := s.authorizeHolder(ctx, h, "iam:Attach"+h.noun+"Policy", in.Name, extra); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		if err := s.requireHolderTx(tx, h, in.Name); err != nil {
			return err
		}
		if !s.local(a) {
			return notAttachable(in.PolicyARN)
		}
		if _, err := tx.GetPolicy(in.PolicyARN); errors.Is(err, store.ErrNotFound) {
			return notAttachable(in.PolicyARN)
		} else if err != nil {
			return err
		}
		have, err := tx.ListAttachedPolicies(h.kind, s.account, in.Name, store.Page{})
		if err != nil {
			return err
		}
		for _, arn := range have {
			if arn == in.PolicyARN {
				return nil // attaching twice is not an error in IAM
			}
		}
		if len(have) >= maxAttachedPolicies {
			return limitExceeded("Cannot exceed quota for %s: %d", h.quotaName, maxAttachedPolicies)
		}
		if err := tx.AttachPolicy(h.kind, s.account, in.Name, in.PolicyARN); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		return nil
	})
}

func (s *Service) detach(ctx context.Context, h holder, nameMax int, in *AttachPolicyInput) error {
	var v violations
	v.name(in.Name, h.member, nameMax)
	v.arn(in.PolicyARN, "policyArn", true)
	if err := v.err(); err != nil {
		return err
	}
	if _, err := parsePolicyARN(in.PolicyARN); err != nil {
		return err
	}
	extra := withKey(nil, "iam:PolicyARN", in.PolicyARN)
	if err := s.authorizeHolder(ctx, h, "iam:Detach"+h.noun+"Policy", in.Name, extra); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		if err := s.requireHolderTx(tx, h, in.Name); err != nil {
			return err
		}
		err := tx.DetachPolicy(h.kind, s.account, in.Name, in.PolicyARN)
		if errors.Is(err, store.ErrNotFound) {
			return noSuchPolicy(in.PolicyARN)
		}
		return err
	})
}

func (s *Service) listAttached(ctx context.Context, h holder, nameMax int, in *ListAttachedPoliciesInput) (*ListAttachedPoliciesOutput, error) {
	var v violations
	v.name(in.Name, h.member, nameMax)
	v.policyPath(in.PathPrefix, "pathPrefix")
	v.paging(in.Marker, in.MaxItems)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.authorizeHolder(ctx, h, "iam:ListAttached"+h.noun+"Policies", in.Name, nil); err != nil {
		return nil, err
	}
	prefix := orRoot(in.PathPrefix)
	out := &ListAttachedPoliciesOutput{}
	err := s.view(ctx, func(tx store.Tx) error {
		if err := s.requireHolderTx(tx, h, in.Name); err != nil {
			return err
		}
		arns, next, err := collect(in.Marker, pageSize(in.MaxItems),
			func(after string, n int) ([]string, error) {
				return tx.ListAttachedPolicies(h.kind, s.account, in.Name, store.Page{After: after, Limit: n})
			},
			func(arn string) string { return arn },
			func(arn string) (bool, error) {
				a, ok := parseIAMARN(arn)
				return ok && strings.HasPrefix(a.path, prefix), nil
			})
		if err != nil {
			return err
		}
		for _, arn := range arns {
			a, _ := parseIAMARN(arn)
			out.AttachedPolicies = append(out.AttachedPolicies, AttachedPolicy{PolicyName: a.name, PolicyARN: arn})
		}
		out.Marker, out.IsTruncated = next, next != ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) putInline(ctx context.Context, h holder, in *PutInlinePolicyInput) error {
	var v violations
	v.name(in.Name, h.member, h.nameMax)
	v.name(in.PolicyName, "policyName", maxPolicyNameLen)
	v.document(in.PolicyDocument, "policyDocument")
	if err := v.err(); err != nil {
		return err
	}
	if err := s.authorizeHolder(ctx, h, "iam:Put"+h.noun+"Policy", in.Name, nil); err != nil {
		return err
	}
	if err := s.checkDocument(ctx, in.PolicyDocument, policy.KindInline); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		if err := s.requireHolderTx(tx, h, in.Name); err != nil {
			return err
		}
		others, err := tx.ListInlinePolicies(h.kind, s.account, in.Name, store.Page{})
		if err != nil {
			return err
		}
		total := policy.NonWhitespaceLen(in.PolicyDocument)
		for _, o := range others {
			if !strings.EqualFold(o.PolicyName, in.PolicyName) {
				total += policy.NonWhitespaceLen(o.Document)
			}
		}
		if err := policy.InlineSizeError(strings.ToLower(h.noun), in.Name, total); err != nil {
			return documentError(err)
		}
		return tx.PutInlinePolicy(&store.InlinePolicy{
			Account: s.account,
			Kind:    h.kind, PrincipalName: in.Name, PolicyName: in.PolicyName, Document: in.PolicyDocument,
		})
	})
}

func (s *Service) getInline(ctx context.Context, h holder, in *InlinePolicyInput) (*InlinePolicyOutput, error) {
	var v violations
	v.name(in.Name, h.member, h.nameMax)
	v.name(in.PolicyName, "policyName", maxPolicyNameLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.authorizeHolder(ctx, h, "iam:Get"+h.noun+"Policy", in.Name, nil); err != nil {
		return nil, err
	}
	var out *store.InlinePolicy
	err := s.view(ctx, func(tx store.Tx) error {
		if err := s.requireHolderTx(tx, h, in.Name); err != nil {
			return err
		}
		var gerr error
		out, gerr = tx.GetInlinePolicy(h.kind, s.account, in.Name, in.PolicyName)
		if errors.Is(gerr, store.ErrNotFound) {
			return h.noSuchPol(in.PolicyName)
		}
		return gerr
	})
	if err != nil {
		return nil, err
	}
	return &InlinePolicyOutput{Policy: out}, nil
}

func (s *Service) listInline(ctx context.Context, h holder, in *ListInlinePoliciesInput) (*ListInlinePoliciesOutput, error) {
	var v violations
	v.name(in.Name, h.member, h.nameMax)
	v.paging(in.Marker, in.MaxItems)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.authorizeHolder(ctx, h, "iam:List"+h.noun+"Policies", in.Name, nil); err != nil {
		return nil, err
	}
	out := &ListInlinePoliciesOutput{PolicyNames: []string{}}
	err := s.view(ctx, func(tx store.Tx) error {
		if err := s.requireHolderTx(tx, h, in.Name); err != nil {
			return err
		}
		ps, next, err := collect(in.Marker, pageSize(in.MaxItems),
			func(after string, n int) ([]*store.InlinePolicy, error) {
				return tx.ListInlinePolicies(h.kind, s.account, in.Name, store.Page{After: after, Limit: n})
			},
			func(p *store.InlinePolicy) string { return p.PolicyName }, nil)
		if err != nil {
			return err
		}
		for _, p := range ps {
			out.PolicyNames = append(out.PolicyNames, p.PolicyName)
		}
		out.Marker, out.IsTruncated = next, next != ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) deleteInline(ctx context.Context, h holder, in *InlinePolicyInput) error {
	var v violations
	v.name(in.Name, h.member, h.nameMax)
	v.name(in.PolicyName, "policyName", maxPolicyNameLen)
	if err := v.err(); err != nil {
		return err
	}
	if err := s.authorizeHolder(ctx, h, "iam:Delete"+h.noun+"Policy", in.Name, nil); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		if err := s.requireHolderTx(tx, h, in.Name); err != nil {
			return err
		}
		err := tx.DeleteInlinePolicy(h.kind, s.account, in.Name, in.PolicyName)
		if errors.Is(err, store.ErrNotFound) {
			return h.noSuchPol(in.PolicyName)
		}
		return err
	})
}

// AttachRolePolicy attaches a managed policy to a role (at most ten).
func (s *Service) AttachRolePolicy(ctx context.Context, in *AttachPolicyInput) error {
	s = s.forCaller(ctx)
	return s.attach(ctx, roleHolder, maxNameLen, in)
}

// DetachRolePolicy detaches a managed policy from a role.
func (s *Service) DetachRolePolicy(ctx context.Context, in *AttachPolicyInput) error {
	s = s.forCaller(ctx)
	return s.detach(ctx, roleHolder, maxNameLen, in)
}

// ListAttachedRolePolicies lists the managed policies attached to a role.
func (s *Service) ListAttachedRolePolicies(ctx context.Context, in *ListAttachedPoliciesInput) (*ListAttachedPoliciesOutput, error) {
	s = s.forCaller(ctx)
	return s.listAttached(ctx, roleHolder, maxNameLen, in)
}

// AttachUserPolicy attaches a managed policy to a user (at most ten).
func (s *Service) AttachUserPolicy(ctx context.Context, in *AttachPolicyInput) error {
	s = s.forCaller(ctx)
	return s.attach(ctx, userHolder, maxNameLen, in)
}

// DetachUserPolicy detaches a managed policy from a user.
func (s *Service) DetachUserPolicy(ctx context.Context, in *AttachPolicyInput) error {
	s = s.forCaller(ctx)
	return s.detach(ctx, userHolder, maxNameLen, in)
}

// ListAttachedUserPolicies lists the managed policies attached to a user.
func (s *Service) ListAttachedUserPolicies(ctx context.Context, in *ListAttachedPoliciesInput) (*ListAttachedPoliciesOutput, error) {
	s = s.forCaller(ctx)
	return s.listAttached(ctx, userHolder, maxNameLen, in)
}

// PutRolePolicy adds or replaces an inline policy of a role.
func (s *Service) PutRolePolicy(ctx context.Context, in *PutInlinePolicyInput) error {
	s = s.forCaller(ctx)
	return s.putInline(ctx, roleHolder, in)
}

// GetRolePolicy returns an inline policy of a role.
func (s *Service) GetRolePolicy(ctx context.Context, in *InlinePolicyInput) (*InlinePolicyOutput, error) {
	s = s.forCaller(ctx)
	return s.getInline(ctx, roleHolder, in)
}

// ListRolePolicies lists the names of a role's inline policies.
func (s *Service) ListRolePolicies(ctx context.Context, in *ListInlinePoliciesInput) (*ListInlinePoliciesOutput, error) {
	s = s.forCaller(ctx)
	return s.listInline(ctx, roleHolder, in)
}

// DeleteRolePolicy deletes an inline policy of a role.
func (s *Service) DeleteRolePolicy(ctx context.Context, in *InlinePolicyInput) error {
	s = s.forCaller(ctx)
	return s.deleteInline(ctx, roleHolder, in)
}

// PutUserPolicy adds or replaces an inline policy of a user.
func (s *Service) PutUserPolicy(ctx context.Context, in *PutInlinePolicyInput) error {
	s = s.forCaller(ctx)
	return s.putInline(ctx, userHolder, in)
}

// GetUserPolicy returns an inline policy of a user.
func (s *Service) GetUserPolicy(ctx context.Context, in *InlinePolicyInput) (*InlinePolicyOutput, error) {
	s = s.forCaller(ctx)
	return s.getInline(ctx, userHolder, in)
}

// ListUserPolicies lists the names of a user's inline policies.
func (s *Service) ListUserPolicies(ctx context.Context, in *ListInlinePoliciesInput) (*ListInlinePoliciesOutput, error) {
	s = s.forCaller(ctx)
	return s.listInline(ctx, userHolder, in)
}

// DeleteUserPolicy deletes an inline policy of a user.
func (s *Service) DeleteUserPolicy(ctx context.Context, in *InlinePolicyInput) error {
	s = s.forCaller(ctx)
	return s.deleteInline(ctx, userHolder, in)
}
