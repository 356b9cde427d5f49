package console_test

import (
	"fmt"
	"html"
	"net/http"
	"testing"
	"time"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/store"
)

// TestTenThousandAssociations pages through 10,000 associations of one
// cluster (written to the store in one transaction) and filters them.
func TestTenThousandAssociations(t *testing.T) {
	e := newEnv(t, false)
	e.seed(t, 0)
	const n = 10000
	now := e.clock.Now()
	err := e.app.Store.Update(t.Context(), func(tx store.Tx) error {
		for i := range n {
			a := &store.Association{ID: ids.NewAssociationID(), Cluster: "c1", Namespace: fmt.Sprintf("ns-%05d", i), ServiceAccount: "sa",
				RoleARN: "arn:aws:iam::123456789012:role/other", CreatedAt: now, ModifiedAt: now}
			a.ARN = arn.PodIdentityAssociation("aws", app.DefaultRegion, app.DefaultAccountID, "c1", a.ID).String()
			if err := tx.CreateAssociation(a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.mustSignIn(e.key, e.secret)
	seen := map[string]bool{}
	path, pages := "/console/clusters/c1", 0
	start := time.Now()
	for path != "" {
		pages++
		resp, body := b.get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		rows := rowRE.FindAllStringSubmatch(body, -1)
		if len(rows) == 0 || len(rows) > 50 {
			t.Fatalf("page %d has %d rows", pages, len(rows))
		}
		for _, m := range rows {
			if seen[m[1]] {
				t.Fatalf("%s shown twice", m[1])
			}
			seen[m[1]] = true
		}
		path = ""
		if m := nextRE.FindStringSubmatch(body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	t.Logf("%d pages in %v", pages, time.Since(start))
	if len(seen) != n || pages != n/50 {
		t.Fatalf("saw %d associations on %d pages, want %d on %d", len(seen), pages, n, n/50)
	}
	_, body := b.get("/console/clusters/c1?namespace=ns-04321")
	if got := rowRE.FindAllStringSubmatch(body, -1); len(got) != 1 || got[0][1] != "ns-04321" {
		t.Fatalf("filtered rows: %v", got)
	}
}
