package eks

import (
	"context"
	"testing"

	"github.com/podid/podid/internal/auth"
)

// TestClustersOfAnotherAccount: clusters belong to the server's primary
// account. A caller of another hosted account lists none, and is refused
// a cluster of the primary account even as that account's root (a
// cross-account resource without a resource policy).
func TestClustersOfAnotherAccount(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("c1")
	other := auth.WithPrincipal(context.Background(), auth.RootPrincipal("aws", "210987654321", "AKIAOTHERACCOUNT0001"))
	out, err := e.svc.ListClusters(other, &ListClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Clusters == nil || len(out.Clusters) != 0 {
		t.Errorf("another account lists %#v, want []", out.Clusters)
	}
	own := auth.WithPrincipal(context.Background(), auth.RootPrincipal("aws", testAccount, "AKIAOWNACCOUNT000001"))
	if out, err := e.svc.ListClusters(own, &ListClustersInput{}); err != nil || len(out.Clusters) != 1 {
		t.Errorf("the primary account lists %v, %v", out, err)
	}
	_, err = e.svc.DescribeCluster(other, &DescribeClusterInput{Name: "c1"})
	if err == nil {
		t.Fatal("another account's root described the primary account's cluster")
	}
	want := "User: arn:aws:iam::210987654321:root is not authorized to perform: eks:DescribeCluster on resource: arn:aws:eks:us-west-2:" + testAccount + ":cluster/c1 because no resource-based policy allows the eks:DescribeCluster action"
	if e, ok := err.(*Error); !ok || e.AWS == nil || e.AWS.Message != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}
