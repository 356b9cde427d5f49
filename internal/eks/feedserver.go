package eks

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/podid/podid/internal/eks/feed"
	"github.com/podid/podid/internal/store"
)

// feedBatch is how many events one store read returns.
const feedBatch = 500

// FeedAssociation converts a stored association to its change-feed form.
func FeedAssociation(a *store.Association) *feed.Association {
	return &feed.Association{
		ClusterName:        a.Cluster,
		Namespace:          a.Namespace,
		ServiceAccount:     a.ServiceAccount,
		RoleArn:            a.RoleARN,
		AssociationArn:     a.ARN,
		AssociationID:      a.ID,
		TargetRoleArn:      a.TargetRoleARN,
		ExternalID:         a.ExternalID,
		DisableSessionTags: a.DisableSessionTags,
		Policy:             a.Policy,
		OwnerArn:           a.OwnerARN,
		Tags:               copyTags(a.Tags),
		CreatedAt:          a.CreatedAt,
		ModifiedAt:         a.ModifiedAt,
	}
}

// feedStream is one subscriber's connection.
type feedStream struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	enc *json.Encoder
	hb  time.Duration
}

func (f *feedStream) send(ev *feed.Event) error {
	_ = f.rc.SetWriteDeadline(time.Now().Add(2 * f.hb))
	return f.enc.Encode(ev)
}

func (f *feedStream) flush() error {
	err := f.rc.Flush()
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}

// checkFeed authorizes and validates a feed request before the stream
// starts: the caller needs eks:ListPodIdentityAssociations on the cluster.
func (s *Service) checkFeed(ctx context.Context, cluster, afterParam string) (int64, error) {
	if err := s.authorize(ctx, "eks:ListPodIdentityAssociations", s.clusterARN(cluster), nil); err != nil {
		return 0, err
	}
	var after int64
	if afterParam != "" {
		n, err := strconv.ParseInt(afterParam, 10, 64)
		if err != nil || n < 0 {
			return 0, invalidParam(cluster, "The parameter after must be a non-negative integer revision.")
		}
		after = n
	}
	if !validClusterName(cluster) {
		return 0, clusterNotFound(cluster)
	}
	err := s.cfg.Store.View(ctx, func(tx store.Tx) error {
		if _, err := tx.GetCluster(cluster); err != nil {
			return clusterLookupErr(cluster, err)
		}
		latest, err := tx.LatestRevision()
		if err != nil {
			return internalf("reading latest revision: %w", err)
		}
		if after > latest {
			return newErr(http.StatusGone, CodeInvalidRequest, cluster, "", "Revision %d is not available (the latest is %d); subscribe again from 0.", after, latest)
		}
		return nil
	})
	if err != nil {
		return 0, storeErr(err)
	}
	return after, nil
}

// serveFeed streams a cluster's association changes as NDJSON until the
// client goes away, the stream's maximum duration passes, or a write fails.
func (s *Service) serveFeed(w http.ResponseWriter, r *http.Request, cluster string) {
	ctx := r.Context()
	after, err := s.checkFeed(ctx, cluster, r.URL.Query().Get("after"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	f := &feedStream{w: w, rc: http.NewResponseController(w), enc: json.NewEncoder(w), hb: s.cfg.FeedHeartbeat}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FeedMaxDuration)
	defer cancel()
	if err := s.streamFeed(ctx, f, cluster, after); err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "association feed ended", "cluster", cluster, "err", err)
	}
}

// streamFeed writes the snapshot (after == 0) and then the live changes.
func (s *Service) streamFeed(ctx context.Context, f *feedStream, cluster string, after int64) error {
	cursor := after
	if after == 0 {
		rev, err := s.sendSnapshot(ctx, f, cluster)
		if err != nil {
			return err
		}
		cursor = rev
	}
	if err := f.flush(); err != nil {
		return err
	}
	// lastSent is when the stream last carried a line; an idle stream gets
	// a heartbeat every FeedHeartbeat. (WaitEvents may return early, at the
	// store's poll interval, so its timeout alone does not mark idleness.)
	// Heartbeats keep a connection alive, so they run on the wall clock,
	// not the service's injected one.
	lastSent := time.Now()
	for {
		var events []*store.AssociationEvent
		var latest int64
		err := s.cfg.Store.View(ctx, func(tx store.Tx) error {
			// latest first: everything of this cluster up to it is in
			// events when fewer than a full batch come back.
			var err error
			if latest, err = tx.LatestRevision(); err != nil {
				return err
			}
			events, err = tx.ListAssociationEvents(cluster, cursor, feedBatch)
			return err
		})
		if err != nil {
			return err
		}
		if w := s.cfg.FeedWaitsFor; w != nil && len(events) > 0 {
			// Bounded: a stalled index must not stall the feed.
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := w.WaitFor(wctx, events[len(events)-1].Revision); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "association index lags the feed", "revision", events[len(events)-1].Revision)
			}
			cancel()
		}
		for _, ev := range events {
			if err := f.send(&feed.Event{Type: ev.Type, Revision: ev.Revision, Cluster: cluster, Time: ev.Time.UTC(), Association: FeedAssociation(&ev.Association)}); err != nil {
				return err
			}
			cursor = ev.Revision
		}
		if len(events) == feedBatch {
			continue
		}
		cursor = max(cursor, latest)
		if len(events) > 0 {
			if err := f.flush(); err != nil {
				return err
			}
			lastSent = time.Now()
			continue
		}
		if idle := time.Since(lastSent); idle >= s.cfg.FeedHeartbeat {
			if err := f.send(&feed.Event{Type: feed.TypeHeartbeat, Revision: cursor, Cluster: cluster}); err != nil {
				return err
			}
			if err := f.flush(); err != nil {
				return err
			}
			lastSent = time.Now()
		}
		wait := s.cfg.FeedHeartbeat - time.Since(lastSent)
		if wait <= 0 {
			wait = s.cfg.FeedHeartbeat
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		err = s.cfg.Store.WaitEvents(wctx, cursor)
		timedOut := wctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !timedOut {
			return err
		}
	}
}

// sendSnapshot writes reset, the cluster's current associations and
// synced, all at one revision read in the same transaction as the
// associations. It returns that revision.
func (s *Service) sendSnapshot(ctx context.Context, f *feedStream, cluster string) (int64, error) {
	var rev int64
	var all []*store.Association
	err := s.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		if rev, err = tx.LatestRevision(); err != nil {
			return err
		}
		after := ""
		for {
			page, err := tx.ListAssociations(cluster, "", "", store.Page{After: after, Limit: 1000})
			if err != nil {
				return err
			}
			all = append(all, page...)
			if len(page) < 1000 {
				return nil
			}
			after = page[len(page)-1].ID
		}
	})
	if err != nil {
		return 0, err
	}
	if err := f.send(&feed.Event{Type: feed.TypeReset, Revision: rev, Cluster: cluster}); err != nil {
		return 0, err
	}
	for _, a := range all {
		if err := f.send(&feed.Event{Type: feed.TypeSnapshot, Revision: rev, Cluster: cluster, Association: FeedAssociation(a)}); err != nil {
			return 0, err
		}
	}
	if err := f.send(&feed.Event{Type: feed.TypeSynced, Revision: rev, Cluster: cluster}); err != nil {
		return 0, err
	}
	return rev, nil
}
