package iam

import (
	"context"

	"github.com/podid/podid/internal/store"
)

// tagHolder adds tags to a role or user, or replaces the values of
// existing keys (TagRole, TagUser).
func (s *Service) tagHolder(ctx context.Context, h holder, name string, tags []store.Tag) error {
	var v violations
	v.name(name, h.member, h.nameMax)
	if len(tags) == 0 {
		v.null("tags")
	}
	v.tags(tags, "tags")
	if err := v.err(); err != nil {
		return err
	}
	if err := checkTagRules(tags); err != nil {
		return err
	}
	if err := s.authorizeHolder(ctx, h, "iam:Tag"+h.noun, name, tagContext(nil, tags)); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		return s.updateHolderTx(tx, h, name, func(have *[]store.Tag, _ *string) error {
			merged := mergeTags(*have, tags)
			if len(merged) > maxTags {
				return limitExceeded("The number of tags has reached the maximum limit.")
			}
			*have = merged
			return nil
		})
	})
}

// untagHolder removes tags from a role or user; absent keys are ignored
// (UntagRole, UntagUser).
func (s *Service) untagHolder(ctx context.Context, h holder, name string, keys []string) error {
	var v violations
	v.name(name, h.member, h.nameMax)
	v.tagKeys(keys, "tagKeys")
	if err := v.err(); err != nil {
		return err
	}
	if err := s.authorizeHolder(ctx, h, "iam:Untag"+h.noun, name, withKey(nil, "aws:TagKeys", keys...)); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		return s.updateHolderTx(tx, h, name, func(have *[]store.Tag, _ *string) error {
			*have = removeTags(*have, keys)
			return nil
		})
	})
}

// listHolderTags lists a role's or user's tags (ListRoleTags,
// ListUserTags).
func (s *Service) listHolderTags(ctx context.Context, h holder, name, marker string, maxItems *int) (*ListTagsOutput, error) {
	var v violations
	v.name(name, h.member, h.nameMax)
	v.paging(marker, maxItems)
	if err := v.err(); err != nil {
		return nil, err
	}
	action := "iam:List" + h.noun + "Tags"
	var have []store.Tag
	if h.kind == store.KindRole {
		r, err := s.authorizeRole(ctx, action, name, nil)
		if err != nil {
			return nil, err
		}
		if r == nil {
			return nil, noSuchRole(name)
		}
		have = r.Tags
	} else {
		u, err := s.authorizeUser(ctx, action, name, nil)
		if err != nil {
			return nil, err
		}
		if u == nil {
			return nil, noSuchUser(name)
		}
		have = u.Tags
	}
	tags, next, err := slicePage(have, marker, pageSize(maxItems))
	if err != nil {
		return nil, err
	}
	return &ListTagsOutput{Tags: tags, IsTruncated: next != "", Marker: next}, nil
}

// putHolderBoundary sets a managed policy as a role's or user's
// permissions boundary (PutRolePermissionsBoundary,
// PutUserPermissionsBoundary).
func (s *Service) putHolderBoundary(ctx context.Context, h holder, nameMax int, name, boundary string) error {
	var v violations
	v.name(name, h.member, nameMax)
	v.arn(boundary, "permissionsBoundary", true)
	if err := v.err(); err != nil {
		return err
	}
	extra := withKey(nil, "iam:PermissionsBoundary", boundary)
	if err := s.authorizeHolder(ctx, h, "iam:Put"+h.noun+"PermissionsBoundary", name, extra); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		return s.updateHolderTx(tx, h, name, func(_ *[]store.Tag, have *string) error {
			if err := s.requireBoundary(tx, boundary); err != nil {
				return err
			}
			*have = boundary
			return nil
		})
	})
}

// deleteHolderBoundary removes a role's or user's permissions boundary
// (DeleteRolePermissionsBoundary, DeleteUserPermissionsBoundary).
func (s *Service) deleteHolderBoundary(ctx context.Context, h holder, nameMax int, name string) error {
	var v violations
	v.name(name, h.member, nameMax)
	if err := v.err(); err != nil {
		return err
	}
	if err := s.authorizeHolder(ctx, h, "iam:Delete"+h.noun+"PermissionsBoundary", name, nil); err != nil {
		return err
	}
	return s.update(ctx, func(tx store.Tx) error {
		return s.updateHolderTx(tx, h, name, func(_ *[]store.Tag, have *string) error {
			*have = ""
			return nil
		})
	})
}

// updateHolderTx reads a role or user inside a transaction, lets edit
// change its tags and permissions boundary, and writes it back.
func (s *Service) updateHolderTx(tx store.Tx, h holder, name string, edit func(tags *[]store.Tag, boundary *string) error) error {
	if h.kind == store.KindRole {
		r, err := getRoleTx(tx, s.account, name)
		if err != nil {
			return err
		}
		if err := edit(&r.Tags, &r.PermissionsBoundary); err != nil {
			return err
		}
		return tx.UpdateRole(r)
	}
	u, err := getUserTx(tx, s.account, name)
	if err != nil {
		return err
	}
	if err := edit(&u.Tags, &u.PermissionsBoundary); err != nil {
		return err
	}
	return tx.UpdateUser(u)
}
