package eks

import (
	"context"
	"errors"
	"strings"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/store"
)

// TagResourceInput is the input of TagResource.
type TagResourceInput struct {
	ResourceArn string            `json:"-"`
	Tags        map[string]string `json:"tags"`
}

// UntagResourceInput is the input of UntagResource.
type UntagResourceInput struct {
	ResourceArn string
	TagKeys     []string
}

// ListTagsForResourceInput is the input of ListTagsForResource.
type ListTagsForResourceInput struct {
	ResourceArn string
}

// ListTagsForResourceOutput is the output of ListTagsForResource.
type ListTagsForResourceOutput struct {
	Tags map[string]string `json:"tags"`
}

// taggable is a resource named by an EKS ARN.
type taggable struct {
	kind    string // cluster, addon, podidentityassociation
	cluster string
	name    string // add-on name or association ID
	arn     string
}

// parseResourceARN parses an EKS resource ARN of this server's account and
// region. A malformed ARN is BadRequestException; an ARN of another account
// or region or of an unsupported type names nothing here (NotFoundException).
func (s *Service) parseResourceARN(resourceARN string) (*taggable, error) {
	if resourceARN == "" {
		return nil, badRequest("The resourceArn must not be empty.")
	}
	if len(resourceARN) > 1024 {
		return nil, badRequest("The resourceArn is not a valid ARN.")
	}
	a, err := arn.Parse(resourceARN)
	if err != nil || !strings.HasPrefix(a.Partition, "aws") || a.Service != "eks" {
		return nil, badRequest("%s is not a valid EKS resource ARN.", truncate(resourceARN, 200))
	}
	if a.Region != s.cfg.Region || a.AccountID != s.cfg.AccountID {
		return nil, tagNotFound("Resource %s was not found.", truncate(resourceARN, 200))
	}
	res := strings.Split(a.Resource, "/")
	t := &taggable{kind: res[0], arn: resourceARN}
	switch {
	case t.kind == "cluster" && len(res) == 2:
		t.cluster = res[1]
	case t.kind == "podidentityassociation" && len(res) == 3:
		t.cluster, t.name = res[1], res[2]
		if !ids.IsAssociationID(t.name) {
			return nil, tagNotFound("Resource %s was not found.", truncate(resourceARN, 200))
		}
	case t.kind == "addon" && len(res) == 4:
		t.cluster, t.name = res[1], res[2]
	case t.kind == "cluster" || t.kind == "podidentityassociation" || t.kind == "addon":
		return nil, badRequest("%s is not a valid EKS resource ARN.", truncate(resourceARN, 200))
	default:
		return nil, tagNotFound("Resource %s was not found.", truncate(resourceARN, 200))
	}
	if !validClusterName(t.cluster) {
		return nil, tagNotFound("Resource %s was not found.", truncate(resourceARN, 200))
	}
	return t, nil
}

// loadTags returns the resource's tags, and a function storing new tags
// in the same transaction.
func loadTags(tx store.Tx, t *taggable) (map[string]string, func(map[string]string) error, error) {
	missing := tagNotFound("Resource %s was not found.", truncate(t.arn, 200))
	wrap := func(err error) error {
		if errors.Is(err, store.ErrNotFound) {
			return missing
		}
		return internalf("reading %s: %w", t.kind, err)
	}
	switch t.kind {
	case "cluster":
		c, err := tx.GetCluster(t.cluster)
		if err != nil {
			return nil, nil, wrap(err)
		}
		if c.ARN != t.arn {
			return nil, nil, missing
		}
		return c.Tags, func(tags map[string]string) error {
			c.Tags = tags
			return tx.UpdateCluster(c)
		}, nil
	case "addon":
		a, err := tx.GetAddon(t.cluster, t.name)
		if err != nil {
			return nil, nil, wrap(err)
		}
		if a.ARN != t.arn {
			return nil, nil, missing
		}
		return a.Tags, func(tags map[string]string) error {
			a.Tags = tags
			return tx.UpdateAddon(a)
		}, nil
	default:
		a, err := tx.GetAssociation(t.cluster, t.name)
		if err != nil {
			return nil, nil, wrap(err)
		}
		return a.Tags, func(tags map[string]string) error {
			a.Tags = tags
			return tx.UpdateAssociation(a)
		}, nil
	}
}

// TagResource adds or overwrites tags on an association, cluster or
// add-on; tags not named are kept.
func (s *Service) TagResource(ctx context.Context, in *TagResourceInput) error {
	t, err := s.parseResourceARN(in.ResourceArn)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, "eks:TagResource", t.arn, tagContext(in.Tags)); err != nil {
		return err
	}
	if len(in.Tags) == 0 {
		return badRequest("The request must contain at least one tag.")
	}
	if err := checkTags(in.Tags, badRequest); err != nil {
		return err
	}
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		cur, save, err := loadTags(tx, t)
		if err != nil {
			return err
		}
		next := copyTags(cur)
		for k, v := range in.Tags {
			next[k] = v
		}
		if len(next) > maxTags {
			return badRequest("The resource would have %d tags; the limit is %d.", len(next), maxTags)
		}
		if err := save(next); err != nil {
			return internalf("storing tags: %w", err)
		}
		return nil
	})
	return storeErrOrNil(err)
}

// UntagResource removes tags by key; absent keys are ignored.
func (s *Service) UntagResource(ctx context.Context, in *UntagResourceInput) error {
	t, err := s.parseResourceARN(in.ResourceArn)
	if err != nil {
		return err
	}
	extra := map[string][]string(nil)
	if len(in.TagKeys) > 0 {
		extra = map[string][]string{"aws:TagKeys": in.TagKeys}
	}
	if err := s.authorize(ctx, "eks:UntagResource", t.arn, extra); err != nil {
		return err
	}
	if len(in.TagKeys) == 0 {
		return badRequest("The request must contain at least one tag key.")
	}
	if len(in.TagKeys) > maxTags {
		return badRequest("At most %d tag keys can be removed at once.", maxTags)
	}
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		cur, save, err := loadTags(tx, t)
		if err != nil {
			return err
		}
		next := copyTags(cur)
		for _, k := range in.TagKeys {
			delete(next, k)
		}
		if err := save(next); err != nil {
			return internalf("storing tags: %w", err)
		}
		return nil
	})
	return storeErrOrNil(err)
}

// ListTagsForResource returns a resource's tags.
func (s *Service) ListTagsForResource(ctx context.Context, in *ListTagsForResourceInput) (*ListTagsForResourceOutput, error) {
	t, err := s.parseResourceARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "eks:ListTagsForResource", t.arn, nil); err != nil {
		return nil, err
	}
	var tags map[string]string
	err = s.cfg.Store.View(ctx, func(tx store.Tx) error {
		cur, _, err := loadTags(tx, t)
		tags = cur
		return err
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &ListTagsForResourceOutput{Tags: copyTags(tags)}, nil
}

func storeErrOrNil(err error) error {
	if err == nil {
		return nil
	}
	return storeErr(err)
}
