package eks

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/podid/podid/internal/ids"
	"github.com/podid/podid/internal/store"
)

// seed100k stores n associations over 10 clusters directly (10,000 per
// transaction): cluster-(i%10), ns-(i%100), sa-i.
func seed100k(b testing.TB, e *env, n int) {
	b.Helper()
	for c := range 10 {
		e.hostedCluster(fmt.Sprintf("cluster-%d", c))
	}
	const batch = 10_000
	for start := 0; start < n; start += batch {
		err := e.st.Update(context.Background(), func(tx store.Tx) error {
			for i := start; i < min(start+batch, n); i++ {
				cluster := fmt.Sprintf("cluster-%d", i%10)
				id := ids.NewAssociationID()
				a := &store.Association{
					ID: id, ARN: e.svc.associationARN(cluster, id), Cluster: cluster,
					Namespace: fmt.Sprintf("ns-%d", i%100), ServiceAccount: fmt.Sprintf("sa-%d", i),
					RoleARN: "arn:aws:iam::123456789000:role/r", Tags: map[string]string{}, CreatedAt: testStart, ModifiedAt: testStart,
				}
				if err := tx.CreateAssociation(a); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkCreateAssociation measures CreatePodIdentityAssociation through
// the service API (authorization, validation incl. role lookup and trust
// check, one SQLite write transaction with its change event).
func BenchmarkCreateAssociation(b *testing.B) {
	e := newEnv(b)
	e.hostedCluster("c1")
	role := e.role("r", trustPodIdentity)
	ctx := rootCtx()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_, err := e.svc.CreatePodIdentityAssociation(ctx, &CreatePodIdentityAssociationInput{
			ClusterName: "c1", Namespace: "ns", ServiceAccount: fmt.Sprintf("sa-%d", i), RoleArn: role, ClientRequestToken: fmt.Sprintf("tok-%d", i),
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDescribeAssociation measures DescribePodIdentityAssociation
// through the service API, in parallel, with 1,000 associations stored.
func BenchmarkDescribeAssociation(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.SkipRoleValidation = true })
	e.hostedCluster("c1")
	ctx := rootCtx()
	idList := make([]string, 1000)
	for i := range idList {
		out, err := e.svc.CreatePodIdentityAssociation(ctx, &CreatePodIdentityAssociationInput{ClusterName: "c1", Namespace: "ns", ServiceAccount: fmt.Sprintf("sa-%d", i), RoleArn: "arn:aws:iam::123456789000:role/r"})
		if err != nil {
			b.Fatal(err)
		}
		idList[i] = out.Association.AssociationID
	}
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := idList[n.Add(1)%int64(len(idList))]
			if _, err := e.svc.DescribePodIdentityAssociation(ctx, &DescribePodIdentityAssociationInput{ClusterName: "c1", AssociationID: id}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDescribeAssociationSDK measures Describe end to end: the Go
// SDK client, HTTP on loopback, routing, the service and JSON encoding.
func BenchmarkDescribeAssociationSDK(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.SkipRoleValidation = true })
	e.hostedCluster("c1")
	out, err := e.svc.CreatePodIdentityAssociation(rootCtx(), &CreatePodIdentityAssociationInput{ClusterName: "c1", Namespace: "ns", ServiceAccount: "sa", RoleArn: "arn:aws:iam::123456789000:role/r"})
	if err != nil {
		b.Fatal(err)
	}
	in := &awseks.DescribePodIdentityAssociationInput{ClusterName: aws.String("c1"), AssociationId: aws.String(out.Association.AssociationID)}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.eks.DescribePodIdentityAssociation(context.Background(), in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFeedLatency measures the time from a committed create to its
// event reaching a change-feed subscriber.
func BenchmarkFeedLatency(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.SkipRoleValidation = true })
	e.hostedCluster("c1")
	s := e.subscribe(b, e.srv.URL, "c1", 0)
	s.expect(b, "reset", "synced")
	ctx := rootCtx()
	b.ResetTimer()
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := e.svc.CreatePodIdentityAssociation(ctx, &CreatePodIdentityAssociationInput{ClusterName: "c1", Namespace: "ns", ServiceAccount: fmt.Sprintf("sa-%d", i), RoleArn: "arn:aws:iam::123456789000:role/r"}); err != nil {
			b.Fatal(err)
		}
		if ev := s.next(b); ev.Type != "created" {
			b.Fatalf("event %+v", ev)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/change")
}
