package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/podid/podid/internal/store"
)

const region = "us-west-2"

func newCluster(name string) *store.Cluster {
	return &store.Cluster{
		Name:      name,
		ARN:       "arn:aws:eks:" + region + ":" + acct + ":cluster/" + name,
		Kind:      store.ClusterHosted,
		Status:    "ACTIVE",
		Version:   "1.33",
		RoleARN:   "arn:aws:iam::" + acct + ":role/eks",
		IssuerURL: "https://podid.example/clusters/" + name,
		Spec:      `{"resourcesVpcConfig":{}}`,
		Tags:      map[string]string{"env": "dev", "owner": "team"},
		CreatedAt: at(0),
	}
}

func newAddon(cluster, name string) *store.Addon {
	return &store.Addon{
		Cluster:               cluster,
		Name:                  name,
		ARN:                   "arn:aws:eks:" + region + ":" + acct + ":addon/" + cluster + "/" + name + "/x",
		Version:               "v1.0.0-eksbuild.1",
		Status:                "CREATING",
		Health:                `{"issues":[]}`,
		ServiceAccountRoleARN: "arn:aws:iam::" + acct + ":role/addon",
		ConfigurationValues:   `{"replicas":2}`,
		Tags:                  map[string]string{"a": "b"},
		CreatedAt:             at(1),
		ModifiedAt:            at(1),
	}
}

// assocID builds a valid-looking association ID (a- + 17 characters).
func assocID(n int) string { return fmt.Sprintf("a-%017d", n) }

func newAssociation(cluster string, n int, namespace, sa string) *store.Association {
	id := assocID(n)
	return &store.Association{
		ID:             id,
		ARN:            "arn:aws:eks:" + region + ":" + acct + ":podidentityassociation/" + cluster + "/" + id,
		Cluster:        cluster,
		Namespace:      namespace,
		ServiceAccount: sa,
		RoleARN:        "arn:aws:iam::" + acct + ":role/app",
		Tags:           map[string]string{"app": sa},
		CreatedAt:      at(2),
		ModifiedAt:     at(2),
	}
}

func createAll[T any](t *testing.T, s store.Store, create func(store.Tx, T) error, items ...T) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for _, it := range items {
			if err := create(tx, it); err != nil {
				return err
			}
		}
		return nil
	})
}

func createCluster(tx store.Tx, c *store.Cluster) error         { return tx.CreateCluster(c) }
func createAssociation(tx store.Tx, a *store.Association) error { return tx.CreateAssociation(a) }

func testClusters(t *testing.T, s store.Store) {
	c := newCluster("dev")
	c.JWKS = `{"keys":[]}`
	createAll(t, s, createCluster, c)
	got := mustGet(t, s, func(tx store.Tx) (*store.Cluster, error) { return tx.GetCluster("dev") })
	checkEqual(t, "GetCluster", got, c)
	_, err := get(t, s, func(tx store.Tx) (*store.Cluster, error) { return tx.GetCluster("Dev") })
	wantErr(t, "cluster names are exact", err, store.ErrNotFound)
	wantErr(t, "CreateCluster same name", write(t, s, func(tx store.Tx) error { return tx.CreateCluster(newCluster("dev")) }), store.ErrConflict)

	upd := *c
	upd.ARN, upd.Kind, upd.CreatedAt = "arn:ignored", store.ClusterExternal, at(80)
	upd.Status, upd.Version, upd.RoleARN = "UPDATING", "1.34", "arn:aws:iam::"+acct+":role/new"
	upd.IssuerURL, upd.JWKS, upd.Spec = "https://issuer.example", "", `{}`
	upd.Tags = map[string]string{"only": "one"}
	update(t, s, func(tx store.Tx) error { return tx.UpdateCluster(&upd) })
	want := upd
	want.ARN, want.Kind, want.CreatedAt = c.ARN, c.Kind, c.CreatedAt
	got = mustGet(t, s, func(tx store.Tx) (*store.Cluster, error) { return tx.GetCluster("dev") })
	checkEqual(t, "after UpdateCluster", got, &want)
	wantErr(t, "UpdateCluster missing", write(t, s, func(tx store.Tx) error { return tx.UpdateCluster(newCluster("ghost")) }), store.ErrNotFound)

	createAll(t, s, createCluster, newCluster("prod"), newCluster("Alpha"), newCluster("beta"))
	name := func(c *store.Cluster) string { return c.Name }
	paged := pageThrough(t, s, 3, func(tx store.Tx, p store.Page) ([]*store.Cluster, error) { return tx.ListClusters(p) }, name)
	checkEqual(t, "ListClusters", keysOf(paged, name), []string{"Alpha", "beta", "dev", "prod"})

	update(t, s, func(tx store.Tx) error { return tx.DeleteCluster("prod") })
	wantErr(t, "DeleteCluster again", write(t, s, func(tx store.Tx) error { return tx.DeleteCluster("prod") }), store.ErrNotFound)
}

func testAddons(t *testing.T, s store.Store) {
	createAll(t, s, createCluster, newCluster("c1"), newCluster("c2"))
	addons := []*store.Addon{newAddon("c1", "vpc-cni"), newAddon("c1", "eks-pod-identity-agent"), newAddon("c1", "coredns"), newAddon("c2", "kube-proxy")}
	createAll(t, s, func(tx store.Tx, a *store.Addon) error { return tx.CreateAddon(a) }, addons...)
	got := mustGet(t, s, func(tx store.Tx) (*store.Addon, error) { return tx.GetAddon("c1", "vpc-cni") })
	checkEqual(t, "GetAddon", got, addons[0])
	_, err := get(t, s, func(tx store.Tx) (*store.Addon, error) { return tx.GetAddon("c2", "vpc-cni") })
	wantErr(t, "GetAddon in another cluster", err, store.ErrNotFound)
	wantErr(t, "CreateAddon twice", write(t, s, func(tx store.Tx) error { return tx.CreateAddon(newAddon("c1", "coredns")) }), store.ErrConflict)
	wantErr(t, "CreateAddon in a missing cluster", write(t, s, func(tx store.Tx) error { return tx.CreateAddon(newAddon("ghost", "coredns")) }), store.ErrNotFound)

	name := func(a *store.Addon) string { return a.Name }
	paged := pageThrough(t, s, 2, func(tx store.Tx, p store.Page) ([]*store.Addon, error) { return tx.ListAddons("c1", p) }, name)
	checkEqual(t, "ListAddons", keysOf(paged, name), []string{"coredns", "eks-pod-identity-agent", "vpc-cni"})
	none := mustGet(t, s, func(tx store.Tx) ([]*store.Addon, error) { return tx.ListAddons("ghost", store.Page{}) })
	checkEqual(t, "ListAddons of a missing cluster", none, []*store.Addon(nil))

	upd := *addons[0]
	upd.ARN, upd.CreatedAt = "arn:ignored", at(90)
	upd.Version, upd.Status, upd.Health = "v1.1.0-eksbuild.1", "ACTIVE", `{"issues":[{"code":"X"}]}`
	upd.ServiceAccountRoleARN, upd.ConfigurationValues, upd.Tags, upd.ModifiedAt = "", "", nil, at(9)
	update(t, s, func(tx store.Tx) error { return tx.UpdateAddon(&upd) })
	want := upd
	want.ARN, want.CreatedAt = addons[0].ARN, addons[0].CreatedAt
	got = mustGet(t, s, func(tx store.Tx) (*store.Addon, error) { return tx.GetAddon("c1", "vpc-cni") })
	checkEqual(t, "after UpdateAddon", got, &want)
	wantErr(t, "UpdateAddon missing", write(t, s, func(tx store.Tx) error { return tx.UpdateAddon(newAddon("c2", "coredns")) }), store.ErrNotFound)

	update(t, s, func(tx store.Tx) error { return tx.DeleteAddon("c1", "vpc-cni") })
	wantErr(t, "DeleteAddon again", write(t, s, func(tx store.Tx) error { return tx.DeleteAddon("c1", "vpc-cni") }), store.ErrNotFound)

	// Deleting a cluster deletes its add-ons.
	update(t, s, func(tx store.Tx) error { return tx.DeleteCluster("c1") })
	update(t, s, func(tx store.Tx) error { return tx.CreateCluster(newCluster("c1")) })
	none = mustGet(t, s, func(tx store.Tx) ([]*store.Addon, error) { return tx.ListAddons("c1", store.Page{}) })
	checkEqual(t, "add-ons of a re-created cluster", none, []*store.Addon(nil))
}

func testAssociations(t *testing.T, s store.Store) {
	createAll(t, s, createCluster, newCluster("c1"), newCluster("c2"))
	a := newAssociation("c1", 1, "default", "app")
	a.TargetRoleARN = "arn:aws:iam::999988887777:role/target"
	a.ExternalID = "ext-123"
	a.DisableSessionTags = true
	a.Policy = `{"Version":"2012-10-17","Statement":[]}`
	a.OwnerARN = "arn:aws:eks:" + region + ":" + acct + ":addon/c1/x/y"
	createAll(t, s, createAssociation, a)

	got := mustGet(t, s, func(tx store.Tx) (*store.Association, error) { return tx.GetAssociation("c1", a.ID) })
	checkEqual(t, "GetAssociation", got, a)
	got = mustGet(t, s, func(tx store.Tx) (*store.Association, error) { return tx.FindAssociation("c1", "default", "app") })
	checkEqual(t, "FindAssociation", got, a)
	for _, c := range []struct{ cluster, ns, sa string }{
		{"c2", "default", "app"}, {"c1", "Default", "app"}, {"c1", "default", "App"}, {"c1", "default", "other"},
	} {
		_, err := get(t, s, func(tx store.Tx) (*store.Association, error) { return tx.FindAssociation(c.cluster, c.ns, c.sa) })
		wantErr(t, fmt.Sprintf("FindAssociation %v", c), err, store.ErrNotFound)
	}
	_, err := get(t, s, func(tx store.Tx) (*store.Association, error) { return tx.GetAssociation("c2", a.ID) })
	wantErr(t, "GetAssociation in another cluster", err, store.ErrNotFound)

	conflicts := []struct {
		name string
		a    *store.Association
		want error
	}{
		{"same service account", newAssociation("c1", 2, "default", "app"), store.ErrConflict},
		{"same ID", newAssociation("c1", 1, "default", "other"), store.ErrConflict},
		{"missing cluster", newAssociation("ghost", 3, "default", "app"), store.ErrNotFound},
	}
	for _, c := range conflicts {
		wantErr(t, "CreateAssociation "+c.name, write(t, s, func(tx store.Tx) error { return tx.CreateAssociation(c.a) }), c.want)
	}
	// The same key in another cluster, or a different case, is another key.
	createAll(t, s, createAssociation, newAssociation("c2", 2, "default", "app"), newAssociation("c1", 4, "default", "App"))

	upd := *a
	upd.ARN, upd.Namespace, upd.ServiceAccount, upd.OwnerARN, upd.CreatedAt = "arn:ignored", "ignored", "ignored", "", at(95)
	upd.RoleARN, upd.TargetRoleARN, upd.ExternalID = "arn:aws:iam::"+acct+":role/new", "", ""
	upd.DisableSessionTags, upd.Policy, upd.Tags, upd.ModifiedAt = false, "", map[string]string{"x": "y"}, at(20)
	update(t, s, func(tx store.Tx) error { return tx.UpdateAssociation(&upd) })
	want := upd
	want.ARN, want.Namespace, want.ServiceAccount, want.OwnerARN, want.CreatedAt = a.ARN, a.Namespace, a.ServiceAccount, a.OwnerARN, a.CreatedAt
	got = mustGet(t, s, func(tx store.Tx) (*store.Association, error) { return tx.GetAssociation("c1", a.ID) })
	checkEqual(t, "after UpdateAssociation", got, &want)
	wantErr(t, "UpdateAssociation missing", write(t, s, func(tx store.Tx) error { return tx.UpdateAssociation(newAssociation("c1", 99, "x", "y")) }), store.ErrNotFound)

	update(t, s, func(tx store.Tx) error { return tx.DeleteAssociation("c1", a.ID) })
	wantErr(t, "DeleteAssociation again", write(t, s, func(tx store.Tx) error { return tx.DeleteAssociation("c1", a.ID) }), store.ErrNotFound)
	_, err = get(t, s, func(tx store.Tx) (*store.Association, error) { return tx.FindAssociation("c1", "default", "app") })
	wantErr(t, "FindAssociation after delete", err, store.ErrNotFound)
	// The key is free again.
	createAll(t, s, createAssociation, newAssociation("c1", 5, "default", "app"))
}

func testAssociationListing(t *testing.T, s store.Store) {
	createAll(t, s, createCluster, newCluster("b"), newCluster("a"), newCluster("c"))
	var all []*store.Association
	n := 0
	for _, cl := range []string{"b", "a"} {
		for _, ns := range []string{"ns1", "ns2"} {
			for _, sa := range []string{"sa1", "sa2", "sa3"} {
				n++
				// IDs are not in insertion order.
				all = append(all, newAssociation(cl, (n*7919)%1000, ns, sa))
			}
		}
	}
	createAll(t, s, createAssociation, all...)
	id := func(a *store.Association) string { return a.ID }
	filter := func(cluster, ns, sa string) []string {
		var ids []string
		for _, a := range all {
			if a.Cluster == cluster && (ns == "" || a.Namespace == ns) && (sa == "" || a.ServiceAccount == sa) {
				ids = append(ids, a.ID)
			}
		}
		return sorted(ids)
	}
	for _, c := range []struct{ cluster, ns, sa string }{
		{"a", "", ""}, {"b", "", ""}, {"a", "ns1", ""}, {"b", "", "sa2"}, {"b", "ns2", "sa3"}, {"c", "", ""}, {"a", "ns9", ""},
	} {
		for _, size := range []int{0, 1, 4} {
			var got []*store.Association
			if size == 0 {
				got = mustGet(t, s, func(tx store.Tx) ([]*store.Association, error) {
					return tx.ListAssociations(c.cluster, c.ns, c.sa, store.Page{})
				})
			} else {
				got = pageThrough(t, s, size, func(tx store.Tx, p store.Page) ([]*store.Association, error) {
					return tx.ListAssociations(c.cluster, c.ns, c.sa, p)
				}, id)
			}
			checkEqual(t, fmt.Sprintf("ListAssociations %v page %d", c, size), keysOf(got, id), filter(c.cluster, c.ns, c.sa))
			for _, a := range got {
				if a.Cluster != c.cluster || (c.ns != "" && a.Namespace != c.ns) || (c.sa != "" && a.ServiceAccount != c.sa) {
					t.Errorf("ListAssociations %v returned %+v", c, a)
				}
			}
		}
	}

	everything := mustGet(t, s, func(tx store.Tx) ([]*store.Association, error) { return tx.ListAllAssociations() })
	var wantKeys []string
	for _, cl := range []string{"a", "b"} {
		for _, id := range filter(cl, "", "") {
			wantKeys = append(wantKeys, cl+"/"+id)
		}
	}
	checkEqual(t, "ListAllAssociations order", keysOf(everything, func(a *store.Association) string { return a.Cluster + "/" + a.ID }), wantKeys)
	byKey := map[string]*store.Association{}
	for _, a := range all {
		byKey[a.Cluster+"/"+a.ID] = a
	}
	for _, a := range everything {
		checkEqual(t, "ListAllAssociations record", a, byKey[a.Cluster+"/"+a.ID])
	}
}

// testAssociationUniquenessConcurrent races 50 creates of one
// (cluster, namespace, service account): exactly one wins and every other
// gets ErrConflict, never a backend busy/lock error.
func testAssociationUniquenessConcurrent(t *testing.T, s store.Store) {
	createAll(t, s, createCluster, newCluster("race"))
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.Update(t.Context(), func(tx store.Tx) error {
				if i%2 == 0 {
					// Checking first, as a service would, must not change
					// the outcome.
					if _, err := tx.FindAssociation("race", "default", "app"); err == nil {
						return fmt.Errorf("found: %w", store.ErrConflict)
					}
				}
				return tx.CreateAssociation(newAssociation("race", i, "default", "app"))
			})
		})
	}
	close(start)
	wg.Wait()
	var ok, conflict int
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrConflict):
			conflict++
		default:
			t.Errorf("create %d: unexpected error %v", i, err)
		}
	}
	if ok != 1 || conflict != n-1 {
		t.Errorf("got %d successes and %d conflicts, want 1 and %d", ok, conflict, n-1)
	}
	list := mustGet(t, s, func(tx store.Tx) ([]*store.Association, error) { return tx.ListAllAssociations() })
	if len(list) != 1 {
		t.Errorf("stored %d associations, want 1", len(list))
	}
	events := mustGet(t, s, func(tx store.Tx) ([]*store.AssociationEvent, error) { return tx.ListAssociationEvents("", 0, 0) })
	if len(events) != 1 {
		t.Errorf("stored %d events, want 1", len(events))
	}
}

// testConcurrentWriters runs many independent writers and readers at once:
// every write must succeed (a backend queues writers rather than failing
// with a lock error).
func testConcurrentWriters(t *testing.T, s store.Store) {
	const writers, readers = 40, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	for i := range writers {
		wg.Go(func() {
			errs <- s.Update(t.Context(), func(tx store.Tx) error {
				if err := tx.CreateRole(newRole(fmt.Sprintf("role-%02d", i), "/")); err != nil {
					return err
				}
				return tx.AppendAudit(&store.AuditRecord{ID: fmt.Sprintf("audit-%02d", i), Time: at(i), Kind: "sts:AssumeRole", Decision: "issued", Fields: "{}"})
			})
		})
	}
	for range readers {
		wg.Go(func() {
			errs <- s.View(t.Context(), func(tx store.Tx) error {
				_, err := tx.ListRoles(acct, "", store.Page{})
				return err
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent call: %v", err)
		}
	}
	roles := mustGet(t, s, func(tx store.Tx) ([]*store.Role, error) { return tx.ListRoles(acct, "", store.Page{}) })
	if len(roles) != writers {
		t.Errorf("stored %d roles, want %d", len(roles), writers)
	}
}

func newUpdate(cluster, id, addon string) *store.UpdateRecord {
	return &store.UpdateRecord{
		Cluster:   cluster,
		ID:        id,
		Addon:     addon,
		Type:      "AddonUpdate",
		Status:    "InProgress",
		Params:    `[{"type":"AddonVersion","value":"v1.3.4-eksbuild.1"}]`,
		Errors:    `[]`,
		CreatedAt: at(5),
	}
}

func testUpdates(t *testing.T, s store.Store) {
	createAll(t, s, createCluster, newCluster("c1"), newCluster("c2"))
	ups := []*store.UpdateRecord{
		newUpdate("c1", "0c", "eks-pod-identity-agent"), newUpdate("c1", "0a", "eks-pod-identity-agent"),
		newUpdate("c1", "0b", "eks-pod-identity-agent"), newUpdate("c1", "0d", "vpc-cni"),
		newUpdate("c1", "0e", ""), newUpdate("c2", "0f", "eks-pod-identity-agent"),
	}
	createAll(t, s, func(tx store.Tx, u *store.UpdateRecord) error { return tx.PutUpdate(u) }, ups...)
	got := mustGet(t, s, func(tx store.Tx) (*store.UpdateRecord, error) { return tx.GetUpdate("c1", "0a") })
	checkEqual(t, "GetUpdate", got, ups[1])
	_, err := get(t, s, func(tx store.Tx) (*store.UpdateRecord, error) { return tx.GetUpdate("c2", "0a") })
	wantErr(t, "GetUpdate in another cluster", err, store.ErrNotFound)
	wantErr(t, "PutUpdate in a missing cluster", write(t, s, func(tx store.Tx) error { return tx.PutUpdate(newUpdate("ghost", "1a", "")) }), store.ErrNotFound)

	id := func(u *store.UpdateRecord) string { return u.ID }
	paged := pageThrough(t, s, 2, func(tx store.Tx, p store.Page) ([]*store.UpdateRecord, error) {
		return tx.ListUpdates("c1", "eks-pod-identity-agent", p)
	}, id)
	checkEqual(t, "ListUpdates of an add-on", keysOf(paged, id), []string{"0a", "0b", "0c"})
	cl := mustGet(t, s, func(tx store.Tx) ([]*store.UpdateRecord, error) { return tx.ListUpdates("c1", "", store.Page{}) })
	checkEqual(t, "ListUpdates of the cluster", keysOf(cl, id), []string{"0e"})
	none := mustGet(t, s, func(tx store.Tx) ([]*store.UpdateRecord, error) { return tx.ListUpdates("ghost", "", store.Page{}) })
	checkEqual(t, "ListUpdates of a missing cluster", none, []*store.UpdateRecord(nil))

	// PutUpdate replaces: the lifecycle InProgress -> Failed.
	done := *ups[1]
	done.Status, done.Errors = "Failed", `[{"errorCode":"ClusterUnreachable"}]`
	update(t, s, func(tx store.Tx) error { return tx.PutUpdate(&done) })
	got = mustGet(t, s, func(tx store.Tx) (*store.UpdateRecord, error) { return tx.GetUpdate("c1", "0a") })
	checkEqual(t, "after PutUpdate", got, &done)

	// Deleting a cluster deletes its updates.
	update(t, s, func(tx store.Tx) error { return tx.DeleteCluster("c1") })
	update(t, s, func(tx store.Tx) error { return tx.CreateCluster(newCluster("c1")) })
	_, err = get(t, s, func(tx store.Tx) (*store.UpdateRecord, error) { return tx.GetUpdate("c1", "0a") })
	wantErr(t, "GetUpdate after the cluster's deletion", err, store.ErrNotFound)
}
