package backend

import (
	"fmt"
	"testing"
	"time"

	"github.com/podid/podid/internal/cputime"
	"github.com/podid/podid/internal/store"
)

// Run with (both backends in the same run; figures in docs/performance.md):
//
//	go test ./internal/store/backend -run '^$' -bench . -benchtime 2s -count 3

// eachBackend runs fn on a fresh SQLite store and a fresh PostgreSQL
// database (a local throwaway server: loopback round trips, no network).
func eachBackend(b *testing.B, fn func(b *testing.B, st store.Store)) {
	b.Run("sqlite", func(b *testing.B) {
		st, _, err := Open(b.Context(), Config{DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		fn(b, st)
	})
	b.Run("postgres", func(b *testing.B) {
		if pgsrv == nil {
			b.Skip("no PostgreSQL binaries")
		}
		st, _, err := Open(b.Context(), Config{URL: pgsrv.NewDatabase(b)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		fn(b, st)
	})
}

func benchAssociation(i int) *store.Association {
	id := fmt.Sprintf("a-%017d", i)
	now := time.Unix(1_750_000_000, 0)
	return &store.Association{
		ID: id, ARN: "arn:aws:eks:us-west-2:111122223333:podidentityassociation/c/" + id, Cluster: "c",
		Namespace: fmt.Sprintf("ns-%03d", i%500), ServiceAccount: fmt.Sprintf("sa-%07d", i),
		RoleARN: "arn:aws:iam::111122223333:role/app-role", Tags: map[string]string{"team": "payments", "env": "prod"},
		CreatedAt: now, ModifiedAt: now,
	}
}

func seed(b *testing.B, st store.Store, n int) {
	b.Helper()
	err := st.Update(b.Context(), func(tx store.Tx) error {
		if err := tx.CreateCluster(&store.Cluster{Name: "c", Kind: store.ClusterHosted, Status: "ACTIVE"}); err != nil {
			return err
		}
		for i := range n {
			if err := tx.CreateAssociation(benchAssociation(1_000_000 + i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCreateAssociation is one Update per association: the insert,
// its change-feed event and a durable commit (SQLite: synchronous=FULL;
// PostgreSQL: a WAL flush at commit).
func BenchmarkCreateAssociation(b *testing.B) {
	eachBackend(b, func(b *testing.B, st store.Store) {
		seed(b, st, 0)
		b.ReportAllocs()
		defer cputime.Start().Report(b)
		i := 0
		for b.Loop() {
			a := benchAssociation(i)
			i++
			if err := st.Update(b.Context(), func(tx store.Tx) error { return tx.CreateAssociation(a) }); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDescribeAssociation reads one association by ID among 1,000 in
// a View (what DescribePodIdentityAssociation does).
func BenchmarkDescribeAssociation(b *testing.B) {
	eachBackend(b, func(b *testing.B, st store.Store) {
		const n = 1000
		seed(b, st, n)
		b.ReportAllocs()
		defer cputime.Start().Report(b)
		i := 0
		for b.Loop() {
			id := fmt.Sprintf("a-%017d", 1_000_000+(i*31)%n)
			i++
			if err := st.View(b.Context(), func(tx store.Tx) error { _, err := tx.GetAssociation("c", id); return err }); err != nil {
				b.Fatal(err)
			}
		}
	})
}
