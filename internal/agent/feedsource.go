package agent

import (
	"context"

	"github.com/podid/podid/internal/eks/feed"
)

// FeedSource is an EventSource reading podid's association change feed.
// The client resumes across reconnects by itself; when it cannot (a new
// subscription, or the server no longer has the revision) the stream
// starts with a reset, which becomes a Resync: every cached entry is
// re-checked with EKS Auth within half a minute.
type FeedSource struct {
	Client *feed.Client
}

// Watch implements EventSource.
func (s FeedSource) Watch(ctx context.Context, fn func(Event)) error {
	return s.Client.Subscribe(ctx, 0, func(_ context.Context, ev feed.Event) error {
		if e, ok := fromFeed(ev); ok {
			fn(e)
		}
		return nil
	})
}

// fromFeed maps a feed event to an agent event; snapshot, synced and
// heartbeat lines carry no change and map to nothing.
func fromFeed(ev feed.Event) (Event, bool) {
	var t EventType
	switch ev.Type {
	case feed.TypeReset:
		return Event{Type: Resync, Cluster: ev.Cluster}, true
	case feed.TypeCreated:
		t = AssociationCreated
	case feed.TypeUpdated:
		t = AssociationUpdated
	case feed.TypeDeleted:
		t = AssociationDeleted
	default:
		return Event{}, false
	}
	a := ev.Association
	if a == nil {
		return Event{}, false
	}
	cluster := ev.Cluster
	if cluster == "" {
		cluster = a.ClusterName
	}
	return Event{Type: t, Cluster: cluster, Namespace: a.Namespace, ServiceAccount: a.ServiceAccount, AssociationID: a.AssociationID}, true
}
