package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/podid/podid/internal/cputime"
	"github.com/podid/podid/internal/store"
)

// Run with:
//
//	go test ./internal/store/sqlite -run '^$' -bench . -benchmem -benchtime 2s
//
// Figures are recorded in docs/perf-store.md.

func openBench(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchAssociation(cluster string, i int) *store.Association {
	id := fmt.Sprintf("a-%017d", i)
	now := time.Unix(1_750_000_000, 0)
	return &store.Association{
		ID:             id,
		ARN:            "arn:aws:eks:us-west-2:111122223333:podidentityassociation/" + cluster + "/" + id,
		Cluster:        cluster,
		Namespace:      fmt.Sprintf("ns-%03d", i%500),
		ServiceAccount: fmt.Sprintf("sa-%07d", i),
		RoleARN:        "arn:aws:iam::111122223333:role/app-role",
		OwnerARN:       "",
		Tags:           map[string]string{"team": "payments", "env": "prod"},
		CreatedAt:      now,
		ModifiedAt:     now,
	}
}

func seedClusters(b *testing.B, s *Store, names ...string) {
	b.Helper()
	err := s.Update(b.Context(), func(tx store.Tx) error {
		for _, n := range names {
			if err := tx.CreateCluster(&store.Cluster{Name: n, Kind: store.ClusterHosted, Status: "ACTIVE"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCreateAssociation is one Update per association (insert plus its
// event, one durable commit each).
func BenchmarkCreateAssociation(b *testing.B) {
	s := openBench(b)
	seedClusters(b, s, "c")
	b.ReportAllocs()
	defer cputime.Start().Report(b)
	i := 0
	for b.Loop() {
		a := benchAssociation("c", i)
		i++
		if err := s.Update(b.Context(), func(tx store.Tx) error { return tx.CreateAssociation(a) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStore100k measures reads against 100,000 stored associations
// spread over 4 clusters.
func BenchmarkStore100k(b *testing.B) {
	const n = 100_000
	clusters := []string{"c0", "c1", "c2", "c3"}
	s := openBench(b)
	seedClusters(b, s, clusters...)
	const batch = 5_000
	for start := 0; start < n; start += batch {
		err := s.Update(b.Context(), func(tx store.Tx) error {
			for i := start; i < start+batch; i++ {
				if err := tx.CreateAssociation(benchAssociation(clusters[i%len(clusters)], i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}

	b.Run("FindAssociation", func(b *testing.B) {
		b.ReportAllocs()
		defer cputime.Start().Report(b)
		i := 0
		for b.Loop() {
			j := (i * 7919) % n
			a := benchAssociation(clusters[j%len(clusters)], j)
			i++
			err := s.View(b.Context(), func(tx store.Tx) error {
				got, err := tx.FindAssociation(a.Cluster, a.Namespace, a.ServiceAccount)
				if err == nil && got.ID != a.ID {
					err = fmt.Errorf("found %s, want %s", got.ID, a.ID)
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("FindAssociationParallel", func(b *testing.B) {
		b.ReportAllocs()
		defer cputime.Start().Report(b)
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				j := (i * 7919) % n
				a := benchAssociation(clusters[j%len(clusters)], j)
				i++
				err := s.View(b.Context(), func(tx store.Tx) error {
					_, err := tx.FindAssociation(a.Cluster, a.Namespace, a.ServiceAccount)
					return err
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})

	b.Run("ListAllAssociations", func(b *testing.B) {
		b.ReportAllocs()
		defer cputime.Start().Report(b)
		for b.Loop() {
			err := s.View(b.Context(), func(tx store.Tx) error {
				as, err := tx.ListAllAssociations()
				if err == nil && len(as) != n {
					err = fmt.Errorf("listed %d, want %d", len(as), n)
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("ListAssociationEvents1000", func(b *testing.B) {
		b.ReportAllocs()
		defer cputime.Start().Report(b)
		i := int64(0)
		for b.Loop() {
			after := (i * 997) % (n - 1000)
			i++
			err := s.View(b.Context(), func(tx store.Tx) error {
				es, err := tx.ListAssociationEvents("", after, 1000)
				if err == nil && len(es) != 1000 {
					err = fmt.Errorf("listed %d events", len(es))
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetRole reads one role (with tags and a trust policy) by name,
// case-insensitively, among 1,000.
func BenchmarkGetRole(b *testing.B) {
	s := openBench(b)
	const n = 1000
	err := s.Update(b.Context(), func(tx store.Tx) error {
		for i := range n {
			name := fmt.Sprintf("Role-%04d", i)
			if err := tx.CreateRole(&store.Role{Account: "123456789012",
				ID: fmt.Sprintf("AROA%016d", i), Name: name, Path: "/", ARN: "arn:aws:iam::111122223333:role/" + name,
				AssumeRolePolicy:   `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`,
				MaxSessionDuration: 3600, Tags: []store.Tag{{Key: "team", Value: "a"}}, CreatedAt: time.Unix(1_750_000_000, 0),
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer cputime.Start().Report(b)
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("role-%04d", (i*31)%n)
		i++
		if err := s.View(b.Context(), func(tx store.Tx) error { _, err := tx.GetRole("123456789012", name); return err }); err != nil {
			b.Fatal(err)
		}
	}
}
