package agent

import (
	"context"
	"time"
)

// EventType says what changed.
type EventType string

// Event types. Association events purge every cached pod of the
// (namespace, serviceAccount) pair; PodDeleted purges that pod; Resync
// means events may have been lost, so every entry is re-checked with
// EKS Auth soon (spread over half a minute).
const (
	AssociationCreated EventType = "AssociationCreated"
	AssociationUpdated EventType = "AssociationUpdated"
	AssociationDeleted EventType = "AssociationDeleted"
	PodDeleted         EventType = "PodDeleted"
	Resync             EventType = "Resync"
)

// resyncSpread spreads the re-checks a Resync event triggers.
const resyncSpread = 30 * time.Second

// Event is one change reported by a change feed. Cluster may be empty;
// when set, events for other clusters are ignored.
type Event struct {
	Type           EventType
	Cluster        string
	Namespace      string
	ServiceAccount string
	AssociationID  string
	// PodUID names the pod of a PodDeleted event.
	PodUID string
}

// EventSource is a change feed: podid's association change feed, or a
// watch on the node's pods. Watch delivers events to fn, in order, until
// ctx ends or the feed fails; it returns nil only when ctx ended. fn is
// cheap and never blocks. A source that reconnects without being able to
// resume where it left off delivers a Resync first. The agent calls Watch
// again, with backoff, after it returns an error.
type EventSource interface {
	Watch(ctx context.Context, fn func(Event)) error
}

// HandleEvent applies one change to the cache at once: association
// changes and pod deletions purge the matching entries (and void EKS Auth
// calls in flight, so their answers are not cached). It is what each
// EventSource's events are fed to, and is exported so that callers with
// their own event plumbing can use it directly.
func (a *Agent) HandleEvent(ev Event) {
	if ev.Cluster != "" && ev.Cluster != a.cfg.ClusterName {
		return
	}
	a.metrics.events.WithLabelValues(eventLabel(ev.Type)).Inc()
	switch ev.Type {
	case AssociationCreated, AssociationUpdated, AssociationDeleted:
		n := a.cache.purge(func(e *entry) bool {
			return e.key.Namespace == ev.Namespace && e.key.ServiceAccount == ev.ServiceAccount
		}, "association_changed")
		// A token refused for want of an association may be accepted now.
		a.cache.neg.clear()
		a.log.Debug("association changed", "type", ev.Type, "namespace", ev.Namespace, "serviceAccount", ev.ServiceAccount, "purged", n)
	case PodDeleted:
		n := a.cache.purge(func(e *entry) bool {
			return e.key.PodUID == ev.PodUID && (ev.Namespace == "" || e.key.Namespace == ev.Namespace)
		}, "pod_deleted")
		a.log.Debug("pod deleted", "namespace", ev.Namespace, "podUID", ev.PodUID, "purged", n)
	case Resync:
		a.cache.neg.clear()
		a.cache.resync(resyncSpread)
	}
}

// watch runs one event source until ctx ends, reconnecting with backoff.
func (a *Agent) watch(ctx context.Context, src EventSource) {
	delay := time.Second
	for {
		a.metrics.feedUp.Inc()
		start := time.Now()
		err := src.Watch(ctx, a.HandleEvent)
		a.metrics.feedUp.Dec()
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			delay = time.Second
		}
		a.log.Warn("change feed disconnected; retrying", "error", err, "retryIn", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, 30*time.Second)
	}
}
