package postgres

import (
	"encoding/json"
	"fmt"
	"github.com/jackc/pgx/v5/pgtype"
	"time"

	"github.com/podid/podid/internal/store"
)

// ---- Clusters ----

const clusterCols = `name, arn, kind, status, version, role_arn, issuer_url, jwks, spec, tags, created_at`

const (
	sqlClusterInsert = `INSERT INTO clusters (` + clusterCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlClusterGet    = `SELECT ` + clusterCols + ` FROM clusters WHERE name = ?`
	sqlClusterExists = `SELECT count(*) FROM clusters WHERE name = ?`
	sqlClusterUpdate = `UPDATE clusters SET status = ?, version = ?, role_arn = ?, issuer_url = ?, jwks = ?, spec = ?, tags = ?
	WHERE name = ?`
	sqlClusterDelete = `DELETE FROM clusters WHERE name = ?`
	sqlClusterList   = `SELECT ` + clusterCols + ` FROM clusters WHERE name > ? ORDER BY name LIMIT ?`
)

func scanCluster(sc scanner) (*store.Cluster, error) {
	var c store.Cluster
	var tags []byte
	var created pgtype.Timestamptz
	if err := sc.Scan(&c.Name, &c.ARN, &c.Kind, &c.Status, &c.Version, &c.RoleARN, &c.IssuerURL, &c.JWKS, &c.Spec,
		&tags, &created); err != nil {
		return nil, err
	}
	var err error
	if c.Tags, err = decMap(tags); err != nil {
		return nil, err
	}
	c.CreatedAt = decTime(created)
	return &c, nil
}

// CreateCluster inserts c; ErrConflict if the name exists.
func (t *tx) CreateCluster(c *store.Cluster) error {
	if c == nil {
		return errNil("create cluster")
	}
	tags, err := encMap(c.Tags)
	if err != nil {
		return fmt.Errorf("postgres: create cluster %q: %w", c.Name, err)
	}
	_, err = t.exec(sqlClusterInsert, c.Name, c.ARN, c.Kind, c.Status, c.Version, c.RoleARN, c.IssuerURL, c.JWKS, c.Spec,
		tags, encTime(c.CreatedAt))
	return mapErr(err, "postgres: create cluster %q", c.Name)
}

// GetCluster finds a cluster by name.
func (t *tx) GetCluster(name string) (*store.Cluster, error) {
	c, err := one(t, scanCluster, sqlClusterGet, name)
	return c, mapErr(err, "postgres: get cluster %q", name)
}

// UpdateCluster replaces Status, Version, RoleARN, IssuerURL, JWKS, Spec and
// Tags; Name, ARN, Kind and CreatedAt never change.
func (t *tx) UpdateCluster(c *store.Cluster) error {
	if c == nil {
		return errNil("update cluster")
	}
	tags, err := encMap(c.Tags)
	if err != nil {
		return fmt.Errorf("postgres: update cluster %q: %w", c.Name, err)
	}
	return t.execOne(fmt.Sprintf("postgres: update cluster %q", c.Name), sqlClusterUpdate,
		c.Status, c.Version, c.RoleARN, c.IssuerURL, c.JWKS, c.Spec, tags, c.Name)
}

// DeleteCluster deletes a cluster with its add-ons and its pod identity
// associations, appending a deleted event for each association.
func (t *tx) DeleteCluster(name string) error {
	if err := t.lockEvents(); err != nil {
		return err
	}
	if err := t.clusterExists(name); err != nil {
		return err
	}
	assocs, err := list(t, scanAssociation, sqlAssocListCluster, name)
	if err != nil {
		return mapErr(err, "postgres: delete cluster %q", name)
	}
	for _, a := range assocs {
		if err := t.deleteAssociation(a); err != nil {
			return err
		}
	}
	return t.execOne(fmt.Sprintf("postgres: delete cluster %q", name), sqlClusterDelete, name)
}

// ListClusters lists clusters by name.
func (t *tx) ListClusters(p store.Page) ([]*store.Cluster, error) {
	cs, err := list(t, scanCluster, sqlClusterList, p.After, limit(p.Limit))
	return cs, mapErr(err, "postgres: list clusters")
}

// clusterExists returns ErrNotFound unless the cluster exists.
func (t *tx) clusterExists(name string) error {
	var n int
	r, err := t.row(sqlClusterExists, name)
	if err == nil {
		err = r.Scan(&n)
	}
	if err != nil {
		return mapErr(err, "postgres: cluster %q", name)
	}
	if n == 0 {
		return notFound("postgres: cluster %q", name)
	}
	return nil
}

// ---- Add-ons ----

const addonCols = `cluster, name, arn, version, status, health, service_account_role_arn, configuration_values,
	tags, created_at, modified_at`

const (
	sqlAddonInsert = `INSERT INTO addons (` + addonCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlAddonGet    = `SELECT ` + addonCols + ` FROM addons WHERE cluster = ? AND name = ?`
	sqlAddonUpdate = `UPDATE addons SET version = ?, status = ?, health = ?, service_account_role_arn = ?,
	configuration_values = ?, tags = ?, modified_at = ? WHERE cluster = ? AND name = ?`
	sqlAddonDelete = `DELETE FROM addons WHERE cluster = ? AND name = ?`
	sqlAddonList   = `SELECT ` + addonCols + ` FROM addons WHERE cluster = ? AND name > ? ORDER BY name LIMIT ?`
)

func scanAddon(sc scanner) (*store.Addon, error) {
	var a store.Addon
	var tags []byte
	var created, modified pgtype.Timestamptz
	if err := sc.Scan(&a.Cluster, &a.Name, &a.ARN, &a.Version, &a.Status, &a.Health, &a.ServiceAccountRoleARN,
		&a.ConfigurationValues, &tags, &created, &modified); err != nil {
		return nil, err
	}
	var err error
	if a.Tags, err = decMap(tags); err != nil {
		return nil, err
	}
	a.CreatedAt, a.ModifiedAt = decTime(created), decTime(modified)
	return &a, nil
}

// CreateAddon inserts a; ErrNotFound if the cluster does not exist,
// ErrConflict if the add-on exists.
func (t *tx) CreateAddon(a *store.Addon) error {
	if a == nil {
		return errNil("create addon")
	}
	if err := t.clusterExists(a.Cluster); err != nil {
		return err
	}
	tags, err := encMap(a.Tags)
	if err != nil {
		return fmt.Errorf("postgres: create addon %q/%q: %w", a.Cluster, a.Name, err)
	}
	_, err = t.exec(sqlAddonInsert, a.Cluster, a.Name, a.ARN, a.Version, a.Status, a.Health, a.ServiceAccountRoleARN,
		a.ConfigurationValues, tags, encTime(a.CreatedAt), encTime(a.ModifiedAt))
	return mapErr(err, "postgres: create addon %q/%q", a.Cluster, a.Name)
}

// GetAddon finds an add-on of a cluster.
func (t *tx) GetAddon(cluster, name string) (*store.Addon, error) {
	a, err := one(t, scanAddon, sqlAddonGet, cluster, name)
	return a, mapErr(err, "postgres: get addon %q/%q", cluster, name)
}

// UpdateAddon replaces Version, Status, Health, ServiceAccountRoleARN,
// ConfigurationValues, Tags and ModifiedAt; ARN and CreatedAt never change.
func (t *tx) UpdateAddon(a *store.Addon) error {
	if a == nil {
		return errNil("update addon")
	}
	tags, err := encMap(a.Tags)
	if err != nil {
		return fmt.Errorf("postgres: update addon %q/%q: %w", a.Cluster, a.Name, err)
	}
	return t.execOne(fmt.Sprintf("postgres: update addon %q/%q", a.Cluster, a.Name), sqlAddonUpdate,
		a.Version, a.Status, a.Health, a.ServiceAccountRoleARN, a.ConfigurationValues, tags, encTime(a.ModifiedAt),
		a.Cluster, a.Name)
}

// DeleteAddon deletes an add-on.
func (t *tx) DeleteAddon(cluster, name string) error {
	return t.execOne(fmt.Sprintf("postgres: delete addon %q/%q", cluster, name), sqlAddonDelete, cluster, name)
}

// ListAddons lists a cluster's add-ons by name.
func (t *tx) ListAddons(cluster string, p store.Page) ([]*store.Addon, error) {
	as, err := list(t, scanAddon, sqlAddonList, cluster, p.After, limit(p.Limit))
	return as, mapErr(err, "postgres: list addons of %q", cluster)
}

// ---- Pod identity associations ----

const assocCols = `cluster, id, arn, namespace, service_account, role_arn, target_role_arn, external_id,
	disable_session_tags, policy, owner_arn, tags, created_at, modified_at`

const (
	sqlAssocInsert = `INSERT INTO associations (` + assocCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlAssocGet    = `SELECT ` + assocCols + ` FROM associations WHERE cluster = ? AND id = ?`
	sqlAssocFind   = `SELECT ` + assocCols + ` FROM associations
	WHERE cluster = ? AND namespace = ? AND service_account = ?`
	sqlAssocUpdate = `UPDATE associations SET role_arn = ?, target_role_arn = ?, external_id = ?,
	disable_session_tags = ?, policy = ?, tags = ?, modified_at = ? WHERE cluster = ? AND id = ?`
	sqlAssocDelete      = `DELETE FROM associations WHERE cluster = ? AND id = ?`
	sqlAssocListCluster = `SELECT ` + assocCols + ` FROM associations WHERE cluster = ? ORDER BY id`
	sqlAssocListAll     = `SELECT ` + assocCols + ` FROM associations ORDER BY cluster, id`
	sqlAssocList        = `SELECT ` + assocCols + ` FROM associations
	WHERE cluster = ? AND id > ? ORDER BY id LIMIT ?`
	sqlAssocListNS = `SELECT ` + assocCols + ` FROM associations
	WHERE cluster = ? AND namespace = ? AND id > ? ORDER BY id LIMIT ?`
	sqlAssocListSA = `SELECT ` + assocCols + ` FROM associations
	WHERE cluster = ? AND service_account = ? AND id > ? ORDER BY id LIMIT ?`
	sqlAssocListNSSA = `SELECT ` + assocCols + ` FROM associations
	WHERE cluster = ? AND namespace = ? AND service_account = ? AND id > ? ORDER BY id LIMIT ?`

	// The notification is delivered to every listener when the transaction
	// commits (identical ones within a transaction are folded into one).
	sqlEventInsert = `WITH e AS (
		INSERT INTO association_events (type, cluster, association, time) VALUES (?, ?, ?, ?) RETURNING revision)
	SELECT pg_notify('` + EventChannel + `', revision::text) FROM e`
	sqlEventList = `SELECT revision, type, cluster, association, time FROM association_events
	WHERE revision > ? ORDER BY revision LIMIT ?`
	sqlEventListCluster = `SELECT revision, type, cluster, association, time FROM association_events
	WHERE cluster = ? AND revision > ? ORDER BY revision LIMIT ?`
	sqlLatestRevision = `SELECT COALESCE(MAX(revision), 0) FROM association_events`
)

func scanAssociation(sc scanner) (*store.Association, error) {
	var a store.Association
	var tags []byte
	var created, modified pgtype.Timestamptz
	if err := sc.Scan(&a.Cluster, &a.ID, &a.ARN, &a.Namespace, &a.ServiceAccount, &a.RoleARN, &a.TargetRoleARN,
		&a.ExternalID, &a.DisableSessionTags, &a.Policy, &a.OwnerARN, &tags, &created, &modified); err != nil {
		return nil, err
	}
	var err error
	if a.Tags, err = decMap(tags); err != nil {
		return nil, err
	}
	a.CreatedAt, a.ModifiedAt = decTime(created), decTime(modified)
	return &a, nil
}

// CreateAssociation inserts a and appends a created event. ErrNotFound if
// the cluster does not exist; ErrConflict if (Cluster, Namespace,
// ServiceAccount) or (Cluster, ID) is taken.
func (t *tx) CreateAssociation(a *store.Association) error {
	if a == nil {
		return errNil("create association")
	}
	if err := t.lockEvents(); err != nil {
		return err
	}
	if err := t.clusterExists(a.Cluster); err != nil {
		return err
	}
	tags, err := encMap(a.Tags)
	if err != nil {
		return fmt.Errorf("postgres: create association %q/%q: %w", a.Cluster, a.ID, err)
	}
	_, err = t.exec(sqlAssocInsert, a.Cluster, a.ID, a.ARN, a.Namespace, a.ServiceAccount, a.RoleARN, a.TargetRoleARN,
		a.ExternalID, a.DisableSessionTags, a.Policy, a.OwnerARN, tags, encTime(a.CreatedAt), encTime(a.ModifiedAt))
	if err != nil {
		return mapErr(err, "postgres: create association %q/%q for %s/%s", a.Cluster, a.ID, a.Namespace, a.ServiceAccount)
	}
	return t.appendEvent(store.EventCreated, a)
}

// GetAssociation finds an association by cluster and ID.
func (t *tx) GetAssociation(cluster, id string) (*store.Association, error) {
	a, err := one(t, scanAssociation, sqlAssocGet, cluster, id)
	return a, mapErr(err, "postgres: get association %q/%q", cluster, id)
}

// FindAssociation finds the association of a service account.
func (t *tx) FindAssociation(cluster, namespace, serviceAccount string) (*store.Association, error) {
	a, err := one(t, scanAssociation, sqlAssocFind, cluster, namespace, serviceAccount)
	return a, mapErr(err, "postgres: find association %q %s/%s", cluster, namespace, serviceAccount)
}

// UpdateAssociation replaces RoleARN, TargetRoleARN, ExternalID,
// DisableSessionTags, Policy, Tags and ModifiedAt (what EKS's
// UpdatePodIdentityAssociation can change) and appends an updated event
// carrying the stored result.
func (t *tx) UpdateAssociation(a *store.Association) error {
	if a == nil {
		return errNil("update association")
	}
	if err := t.lockEvents(); err != nil {
		return err
	}
	what := fmt.Sprintf("postgres: update association %q/%q", a.Cluster, a.ID)
	tags, err := encMap(a.Tags)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := t.execOne(what, sqlAssocUpdate, a.RoleARN, a.TargetRoleARN, a.ExternalID, a.DisableSessionTags, a.Policy,
		tags, encTime(a.ModifiedAt), a.Cluster, a.ID); err != nil {
		return err
	}
	stored, err := t.GetAssociation(a.Cluster, a.ID)
	if err != nil {
		return err
	}
	return t.appendEvent(store.EventUpdated, stored)
}

// DeleteAssociation deletes an association and appends a deleted event
// carrying its last state.
func (t *tx) DeleteAssociation(cluster, id string) error {
	if err := t.lockEvents(); err != nil {
		return err
	}
	a, err := t.GetAssociation(cluster, id)
	if err != nil {
		return err
	}
	return t.deleteAssociation(a)
}

func (t *tx) deleteAssociation(a *store.Association) error {
	if err := t.execOne(fmt.Sprintf("postgres: delete association %q/%q", a.Cluster, a.ID), sqlAssocDelete,
		a.Cluster, a.ID); err != nil {
		return err
	}
	return t.appendEvent(store.EventDeleted, a)
}

// ListAssociations lists a cluster's associations by ID, filtered by
// namespace and service account when they are non-empty.
func (t *tx) ListAssociations(cluster, namespace, serviceAccount string, p store.Page) ([]*store.Association, error) {
	var as []*store.Association
	var err error
	switch {
	case namespace != "" && serviceAccount != "":
		as, err = list(t, scanAssociation, sqlAssocListNSSA, cluster, namespace, serviceAccount, p.After, limit(p.Limit))
	case namespace != "":
		as, err = list(t, scanAssociation, sqlAssocListNS, cluster, namespace, p.After, limit(p.Limit))
	case serviceAccount != "":
		as, err = list(t, scanAssociation, sqlAssocListSA, cluster, serviceAccount, p.After, limit(p.Limit))
	default:
		as, err = list(t, scanAssociation, sqlAssocList, cluster, p.After, limit(p.Limit))
	}
	return as, mapErr(err, "postgres: list associations of %q", cluster)
}

// ListAllAssociations returns every association sorted by (Cluster, ID).
func (t *tx) ListAllAssociations() ([]*store.Association, error) {
	as, err := list(t, scanAssociation, sqlAssocListAll)
	return as, mapErr(err, "postgres: list all associations")
}

// ---- Association change feed ----

// assocDoc is the JSON form of an association inside an event row. Its field
// names are part of the schema: change them only with a migration.
type assocDoc struct {
	ID                 string            `json:"id"`
	ARN                string            `json:"arn,omitempty"`
	Cluster            string            `json:"cluster"`
	Namespace          string            `json:"namespace"`
	ServiceAccount     string            `json:"serviceAccount"`
	RoleARN            string            `json:"roleArn,omitempty"`
	TargetRoleARN      string            `json:"targetRoleArn,omitempty"`
	ExternalID         string            `json:"externalId,omitempty"`
	DisableSessionTags bool              `json:"disableSessionTags,omitempty"`
	Policy             string            `json:"policy,omitempty"`
	OwnerARN           string            `json:"ownerArn,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	CreatedAt          *int64            `json:"createdAt,omitempty"`  // Unix ns
	ModifiedAt         *int64            `json:"modifiedAt,omitempty"` // Unix ns
}

func unixNano(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func fromUnixNano(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

func (t *tx) appendEvent(typ string, a *store.Association) error {
	doc, err := json.Marshal(assocDoc{
		ID: a.ID, ARN: a.ARN, Cluster: a.Cluster, Namespace: a.Namespace, ServiceAccount: a.ServiceAccount,
		RoleARN: a.RoleARN, TargetRoleARN: a.TargetRoleARN, ExternalID: a.ExternalID,
		DisableSessionTags: a.DisableSessionTags, Policy: a.Policy, OwnerARN: a.OwnerARN, Tags: a.Tags,
		CreatedAt: unixNano(a.CreatedAt), ModifiedAt: unixNano(a.ModifiedAt),
	})
	if err != nil {
		return fmt.Errorf("postgres: encode association event: %w", err)
	}
	if _, err := t.execPlain(sqlEventInsert, typ, a.Cluster, doc, encTime(t.s.opts.now())); err != nil {
		return mapErr(err, "postgres: append %s event for %q/%q", typ, a.Cluster, a.ID)
	}
	t.mu.Lock()
	t.wroteEvents = true
	t.mu.Unlock()
	return nil
}

func scanEvent(sc scanner) (*store.AssociationEvent, error) {
	var e store.AssociationEvent
	var doc []byte
	var at pgtype.Timestamptz
	if err := sc.Scan(&e.Revision, &e.Type, &e.Cluster, &doc, &at); err != nil {
		return nil, err
	}
	var d assocDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("decode event %d: %w", e.Revision, err)
	}
	e.Association = store.Association{
		ID: d.ID, ARN: d.ARN, Cluster: d.Cluster, Namespace: d.Namespace, ServiceAccount: d.ServiceAccount,
		RoleARN: d.RoleARN, TargetRoleARN: d.TargetRoleARN, ExternalID: d.ExternalID,
		DisableSessionTags: d.DisableSessionTags, Policy: d.Policy, OwnerARN: d.OwnerARN, Tags: d.Tags,
		CreatedAt: fromUnixNano(d.CreatedAt), ModifiedAt: fromUnixNano(d.ModifiedAt),
	}
	e.Time = decTime(at)
	return &e, nil
}

// ListAssociationEvents lists events with a revision above afterRevision, in
// revision order, for one cluster (every cluster when cluster is empty), at
// most limit of them (limit <= 0: all).
func (t *tx) ListAssociationEvents(cluster string, afterRevision int64, n int) ([]*store.AssociationEvent, error) {
	var es []*store.AssociationEvent
	var err error
	if cluster == "" {
		es, err = list(t, scanEvent, sqlEventList, afterRevision, limit(n))
	} else {
		es, err = list(t, scanEvent, sqlEventListCluster, cluster, afterRevision, limit(n))
	}
	return es, mapErr(err, "postgres: list association events")
}

// LatestRevision returns the highest event revision (0 if none).
func (t *tx) LatestRevision() (int64, error) {
	var rev int64
	r, err := t.row(sqlLatestRevision)
	if err == nil {
		err = r.Scan(&rev)
	}
	return rev, mapErr(err, "postgres: latest revision")
}

// ---- Update records ----

const updateCols = `cluster, id, addon, type, status, params, errors, created_at`

const (
	sqlUpdatePut = `INSERT INTO updates (` + updateCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (cluster, id) DO UPDATE SET addon = excluded.addon, type = excluded.type, status = excluded.status,
	params = excluded.params, errors = excluded.errors, created_at = excluded.created_at`
	sqlUpdateGet  = `SELECT ` + updateCols + ` FROM updates WHERE cluster = ? AND id = ?`
	sqlUpdateList = `SELECT ` + updateCols + ` FROM updates WHERE cluster = ? AND addon = ? AND id > ? ORDER BY id LIMIT ?`
)

func scanUpdate(sc scanner) (*store.UpdateRecord, error) {
	var u store.UpdateRecord
	var created pgtype.Timestamptz
	if err := sc.Scan(&u.Cluster, &u.ID, &u.Addon, &u.Type, &u.Status, &u.Params, &u.Errors, &created); err != nil {
		return nil, err
	}
	u.CreatedAt = decTime(created)
	return &u, nil
}

// PutUpdate inserts or replaces an update record by (Cluster, ID);
// ErrNotFound if the cluster does not exist.
func (t *tx) PutUpdate(u *store.UpdateRecord) error {
	if u == nil {
		return errNil("put update")
	}
	if err := t.clusterExists(u.Cluster); err != nil {
		return err
	}
	_, err := t.exec(sqlUpdatePut, u.Cluster, u.ID, u.Addon, u.Type, u.Status, u.Params, u.Errors, encTime(u.CreatedAt))
	return mapErr(err, "postgres: put update %q/%q", u.Cluster, u.ID)
}

// GetUpdate finds an update record of a cluster.
func (t *tx) GetUpdate(cluster, id string) (*store.UpdateRecord, error) {
	u, err := one(t, scanUpdate, sqlUpdateGet, cluster, id)
	return u, mapErr(err, "postgres: get update %q/%q", cluster, id)
}

// ListUpdates lists the update records of an add-on (or of the cluster
// itself when addon is empty) by ID.
func (t *tx) ListUpdates(cluster, addon string, p store.Page) ([]*store.UpdateRecord, error) {
	us, err := list(t, scanUpdate, sqlUpdateList, cluster, addon, p.After, limit(p.Limit))
	return us, mapErr(err, "postgres: list updates of %q/%q", cluster, addon)
}
