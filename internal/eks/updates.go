package eks

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/podid/podid/internal/store"
)

// Update statuses (EKS's UpdateStatus enum).
const (
	UpdateInProgress = "InProgress"
	UpdateFailed     = "Failed"
	UpdateCancelled  = "Cancelled"
	UpdateSuccessful = "Successful"
)

// UpdateTypeAddon is the type of an UpdateAddon update.
const UpdateTypeAddon = "AddonUpdate"

// DescribeUpdateInput is the input of DescribeUpdate.
type DescribeUpdateInput struct {
	ClusterName   string
	UpdateID      string
	AddonName     string
	NodegroupName string
}

// ListUpdatesInput is the input of ListUpdates.
type ListUpdatesInput struct {
	ClusterName   string
	AddonName     string
	NodegroupName string
	MaxResults    *int
	NextToken     string
}

// ListUpdatesOutput is the output of ListUpdates.
type ListUpdatesOutput struct {
	UpdateIDs []string `json:"updateIds"`
	NextToken string   `json:"nextToken,omitempty"`
}

func updateNotFound(cluster, addon, id string) *Error {
	return newErr(http.StatusNotFound, CodeNotFound, cluster, addon, "No update found for ID: %s", truncate(id, 100))
}

func nodegroupNotFound(cluster, name string) *Error {
	return notFound(cluster, "No node group found for name: %s.", truncate(name, 100))
}

// updateRecord builds the stored form of an update.
func updateRecord(cluster, addon string, u *Update) *store.UpdateRecord {
	params, _ := json.Marshal(u.Params)
	errs, _ := json.Marshal(u.Errors)
	rec := &store.UpdateRecord{Cluster: cluster, ID: u.ID, Addon: addon, Type: u.Type, Status: u.Status, Params: string(params), Errors: string(errs)}
	if u.CreatedAt != nil {
		rec.CreatedAt = u.CreatedAt.Time
	}
	return rec
}

// updateAPI converts a stored update to EKS's shape.
func updateAPI(r *store.UpdateRecord) *Update {
	u := &Update{ID: r.ID, Status: r.Status, Type: r.Type, CreatedAt: ts(r.CreatedAt)}
	if err := json.Unmarshal([]byte(r.Params), &u.Params); err != nil || u.Params == nil {
		u.Params = []UpdateParam{}
	}
	if err := json.Unmarshal([]byte(r.Errors), &u.Errors); err != nil || u.Errors == nil {
		u.Errors = []ErrorDetail{}
	}
	for i := range u.Errors {
		if u.Errors[i].ResourceIDs == nil {
			u.Errors[i].ResourceIDs = []string{}
		}
	}
	return u
}

// DescribeUpdate returns an update of a cluster or, with AddonName, of
// one of its add-ons. An add-on update InProgress settles when it is
// described: Successful once the add-on is ACTIVE, Failed (with the
// add-on's health issues) when it is still DEGRADED AddonCreateTimeout
// after the update, Cancelled when the add-on was deleted meanwhile.
func (s *Service) DescribeUpdate(ctx context.Context, in *DescribeUpdateInput) (*UpdateOutput, error) {
	c := in.ClusterName
	if !validClusterName(c) {
		return nil, clusterNotFound(c)
	}
	if in.NodegroupName != "" {
		if err := s.authorize(ctx, "eks:DescribeUpdate", s.clusterARN(c), nil); err != nil {
			return nil, err
		}
		return nil, nodegroupNotFound(c, in.NodegroupName)
	}
	var addon *store.Addon
	if in.AddonName != "" {
		a, err := s.authorizeAddon(ctx, "eks:DescribeUpdate", c, in.AddonName)
		if err != nil {
			return nil, err
		}
		addon = a
	} else if err := s.authorize(ctx, "eks:DescribeUpdate", s.clusterARN(c), nil); err != nil {
		return nil, err
	}
	var rec *store.UpdateRecord
	err := s.cfg.Store.View(ctx, func(tx store.Tx) error {
		if _, err := tx.GetCluster(c); err != nil {
			return clusterLookupErr(c, err)
		}
		r, err := tx.GetUpdate(c, in.UpdateID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && r.Addon != in.AddonName) {
			return updateNotFound(c, in.AddonName, in.UpdateID)
		}
		if err != nil {
			return internalf("reading update %s: %w", in.UpdateID, err)
		}
		rec = r
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	if rec.Status == UpdateInProgress && addon != nil {
		s.settleAddonUpdate(ctx, addon, rec)
	}
	return &UpdateOutput{Update: updateAPI(rec)}, nil
}

// settleAddonUpdate moves an add-on update InProgress to its outcome when
// the add-on's state decides it, and stores it; rec is updated in place.
func (s *Service) settleAddonUpdate(ctx context.Context, a *store.Addon, rec *store.UpdateRecord) {
	s.refreshAddonStatus(ctx, a)
	next := *rec
	switch {
	case a.CreatedAt.After(rec.CreatedAt):
		next.Status = UpdateCancelled // the add-on was deleted and created again
	case a.Status == AddonActive:
		next.Status = UpdateSuccessful
	case a.Status == AddonDegraded && !s.now().Before(rec.CreatedAt.Add(AddonCreateTimeout)):
		next.Status = UpdateFailed
		var details []ErrorDetail
		for _, is := range parseIssues(a.Health) {
			details = append(details, ErrorDetail{ErrorCode: is.Code, ErrorMessage: is.Message, ResourceIDs: is.ResourceIDs})
		}
		b, _ := json.Marshal(details)
		next.Errors = string(b)
	default:
		return
	}
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.GetUpdate(rec.Cluster, rec.ID)
		if err != nil {
			return err
		}
		if cur.Status != UpdateInProgress {
			next = *cur // settled meanwhile
			return nil
		}
		return tx.PutUpdate(&next)
	})
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.ErrorContext(ctx, "storing update status", "cluster", rec.Cluster, "update", rec.ID, "err", err)
		}
		return
	}
	*rec = next
}

// ListUpdates lists the IDs of a cluster's updates or, with AddonName,
// of one add-on's, sorted by ID.
func (s *Service) ListUpdates(ctx context.Context, in *ListUpdatesInput) (*ListUpdatesOutput, error) {
	c := in.ClusterName
	if !validClusterName(c) {
		return nil, clusterNotFound(c)
	}
	if in.AddonName != "" {
		if _, err := s.authorizeAddon(ctx, "eks:ListUpdates", c, in.AddonName); err != nil {
			return nil, err
		}
	} else if err := s.authorize(ctx, "eks:ListUpdates", s.clusterARN(c), nil); err != nil {
		return nil, err
	}
	if in.NodegroupName != "" {
		return nil, nodegroupNotFound(c, in.NodegroupName)
	}
	limit, err := checkMaxResults(c, in.MaxResults)
	if err != nil {
		return nil, err
	}
	after, err := decodePageToken(c, in.NextToken, "updates", c, in.AddonName)
	if err != nil {
		return nil, err
	}
	var list []*store.UpdateRecord
	err = s.cfg.Store.View(ctx, func(tx store.Tx) error {
		if _, err := tx.GetCluster(c); err != nil {
			return clusterLookupErr(c, err)
		}
		var err error
		list, err = tx.ListUpdates(c, in.AddonName, store.Page{After: after, Limit: limit + 1})
		if err != nil {
			return internalf("listing updates: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	out := &ListUpdatesOutput{UpdateIDs: make([]string, 0, len(list))}
	if len(list) > limit {
		list = list[:limit]
		out.NextToken = encodePageToken(list[len(list)-1].ID, "updates", c, in.AddonName)
	}
	for _, u := range list {
		out.UpdateIDs = append(out.UpdateIDs, u.ID)
	}
	return out, nil
}
