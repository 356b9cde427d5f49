package eks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestIndexFollowsStore: the index loads existing associations and then
// applies creates, updates, deletes and cluster deletion as they happen.
func TestIndexFollowsStore(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SkipRoleValidation = true })
	e.hostedCluster("c1")
	e.hostedCluster("c2")
	ctx := rootCtx()
	mk := func(cluster, ns, sa string) string {
		t.Helper()
		out, err := e.svc.CreatePodIdentityAssociation(ctx, &CreatePodIdentityAssociationInput{ClusterName: cluster, Namespace: ns, ServiceAccount: sa, RoleArn: "arn:aws:iam::123456789000:role/r"})
		if err != nil {
			t.Fatal(err)
		}
		return out.Association.AssociationID
	}
	pre := mk("c1", "ns", "pre")
	x, err := NewIndex(context.Background(), e.st)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := x.Lookup("c1", "ns", "pre"); !ok || a.ID != pre || x.Len() != 1 {
		t.Fatalf("initial load: %v %v", a, ok)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Run = %v", err)
		}
	}()
	sync := func() {
		t.Helper()
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer wcancel()
		if err := x.WaitFor(wctx, latestRevision(t, e.st)); err != nil {
			t.Fatal(err)
		}
	}

	id := mk("c1", "ns", "sa")
	mk("c2", "ns", "sa")
	sync()
	if a, ok := x.Lookup("c1", "ns", "sa"); !ok || a.ID != id {
		t.Errorf("after create: %v %v", a, ok)
	}
	if a, ok := x.Lookup("c2", "ns", "sa"); !ok || a.Cluster != "c2" {
		t.Errorf("other cluster: %v %v", a, ok)
	}
	if _, err := e.svc.UpdatePodIdentityAssociation(ctx, &UpdatePodIdentityAssociationInput{ClusterName: "c1", AssociationID: id, RoleArn: aws.String("arn:aws:iam::123456789000:role/r2")}); err != nil {
		t.Fatal(err)
	}
	sync()
	if a, _ := x.Lookup("c1", "ns", "sa"); a.RoleARN != "arn:aws:iam::123456789000:role/r2" {
		t.Errorf("after update: %+v", a)
	}
	if _, err := e.svc.DeletePodIdentityAssociation(ctx, &DeletePodIdentityAssociationInput{ClusterName: "c1", AssociationID: id}); err != nil {
		t.Fatal(err)
	}
	sync()
	if _, ok := x.Lookup("c1", "ns", "sa"); ok {
		t.Error("deleted association still indexed")
	}
	// Re-created under the same key with a new ID, then the cluster goes.
	mk("c1", "ns", "sa")
	if _, err := e.svc.DeleteCluster(ctx, &DeleteClusterInput{Name: "c2"}); err != nil {
		t.Fatal(err)
	}
	sync()
	if _, ok := x.Lookup("c1", "ns", "sa"); !ok {
		t.Error("re-created association missing")
	}
	if _, ok := x.Lookup("c2", "ns", "sa"); ok {
		t.Error("association of a deleted cluster still indexed")
	}
	if x.Len() != 2 || x.Revision() != latestRevision(t, e.st) {
		t.Errorf("Len %d Revision %d", x.Len(), x.Revision())
	}
}

// BenchmarkIndexLookup measures Lookup with 100,000 associations stored
// (goal: under 5 µs) and reports the index's heap use. The store is
// seeded once; the sub-benchmark is what b.N scales.
func BenchmarkIndexLookup(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.SkipRoleValidation = true })
	const n = 100_000
	start := time.Now()
	seed100k(b, e, n)
	seeded := time.Since(start)
	heapBefore := heapInUse()
	start = time.Now()
	x, err := NewIndex(context.Background(), e.st)
	if err != nil {
		b.Fatal(err)
	}
	loaded := time.Since(start)
	heapAfter := heapInUse()
	if x.Len() != n {
		b.Fatalf("index has %d entries", x.Len())
	}
	b.Logf("seeded %d associations in %v; index built in %v; index heap %.1f MiB (%.0f B/association)",
		n, seeded.Round(time.Millisecond), loaded.Round(time.Millisecond), float64(heapAfter-heapBefore)/(1<<20), float64(heapAfter-heapBefore)/n)
	keys := make([][3]string, 1024)
	for i := range keys {
		j := (i * 7919) % n
		keys[i] = [3]string{fmt.Sprintf("cluster-%d", j%10), fmt.Sprintf("ns-%d", j%100), fmt.Sprintf("sa-%d", j)}
	}
	b.Run("100k", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				k := keys[i&1023]
				if _, ok := x.Lookup(k[0], k[1], k[2]); !ok {
					b.Fatal("lookup missed")
				}
				i++
			}
		})
		b.ReportMetric(float64(heapAfter-heapBefore)/n, "heapB/assoc")
	})
	b.Run("100k-miss", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, ok := x.Lookup("cluster-1", "ns-1", "nobody"); ok {
				b.Fatal("hit")
			}
		}
	})
}
