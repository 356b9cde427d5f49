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
		return updateHolderTagsTx(tx, h, name, func(have []store.Tag) ([]store.Tag, error) {
			merged := mergeTags(have, tags)
			if len(merged) > maxTags {
				return nil, limitExceeded("The number of tags has reached the maximum limit.")
			}
			return merged, nil
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
		return updateHolderTagsTx(tx, h, name, func(have []store.Tag) ([]store.Tag, error) {
			return removeTags(have, keys), nil
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

// updateHolderTagsTx replaces a role's or user's tags with what edit makes
// of them, inside a transaction.
func updateHolderTagsTx(tx store.Tx, h holder, name string, edit func([]store.Tag) ([]store.Tag, error)) error {
	if h.kind == store.KindRole {
		r, err := getRoleTx(tx, name)
		if err != nil {
			return err
		}
		if r.Tags, err = edit(r.Tags); err != nil {
			return err
		}
		return tx.UpdateRole(r)
	}
	u, err := getUserTx(tx, name)
	if err != nil {
		return err
	}
	if u.Tags, err = edit(u.Tags); err != nil {
		return err
	}
	return tx.UpdateUser(u)
}
