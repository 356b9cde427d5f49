// Package feed is the client of podid's association change feed: a
// long-lived, SigV4-signed NDJSON stream of every pod identity association
// change of one cluster, in revision order, resumable from a revision.
// Webhooks and agents subscribe to learn of a create, update or delete
// within a second and purge stale credentials at once.
//
// The stream is GET /podid/v1/clusters/NAME/association-events?after=REV,
// signed for the service "eks". Each line is one Event:
//
//   - after=0 starts with a snapshot: a "reset" event (forget all state),
//     one "snapshot" event per current association, then "synced" carrying
//     the revision the snapshot reflects;
//   - then, and for after>0 from the start, "created", "updated" and
//     "deleted" events, each with its revision, strictly increasing;
//   - "heartbeat" lines keep the connection alive and advance the resume
//     point past other clusters' revisions.
//
// A revision ahead of the server's latest is refused with 410 Gone; the
// client then resubscribes from 0 (a new snapshot).
package feed

import "time"

// Event types.
const (
	TypeReset     = "reset"
	TypeSnapshot  = "snapshot"
	TypeSynced    = "synced"
	TypeCreated   = "created"
	TypeUpdated   = "updated"
	TypeDeleted   = "deleted"
	TypeHeartbeat = "heartbeat"
)

// Path returns the stream's path for a cluster.
func Path(cluster string) string {
	return "/podid/v1/clusters/" + cluster + "/association-events"
}

// Event is one line of the stream.
type Event struct {
	Type string `json:"type"`
	// Revision is the change's revision; for reset, snapshot and synced
	// the revision the snapshot reflects; for heartbeat the point the
	// stream has reached.
	Revision int64  `json:"revision"`
	Cluster  string `json:"cluster"`
	// Time is when the change was made (changes only).
	Time time.Time `json:"time,omitzero"`
	// Association is the state after the change (before it, for deleted),
	// and the current state for snapshot.
	Association *Association `json:"association,omitempty"`
}

// Association is a pod identity association with the members of EKS's
// PodIdentityAssociation.
type Association struct {
	ClusterName        string            `json:"clusterName"`
	Namespace          string            `json:"namespace"`
	ServiceAccount     string            `json:"serviceAccount"`
	RoleArn            string            `json:"roleArn"`
	AssociationArn     string            `json:"associationArn"`
	AssociationID      string            `json:"associationId"`
	TargetRoleArn      string            `json:"targetRoleArn,omitempty"`
	ExternalID         string            `json:"externalId,omitempty"`
	DisableSessionTags bool              `json:"disableSessionTags"`
	Policy             string            `json:"policy,omitempty"`
	OwnerArn           string            `json:"ownerArn,omitempty"`
	Tags               map[string]string `json:"tags"`
	CreatedAt          time.Time         `json:"createdAt"`
	ModifiedAt         time.Time         `json:"modifiedAt"`
}
