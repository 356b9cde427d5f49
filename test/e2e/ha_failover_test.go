package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/podid/podid/internal/store/postgres/pgtest"
)

// TestHADatabaseFailover loses the database primary: a primary with a
// synchronous streaming standby (pg_basebackup, synchronous_standby_names),
// two podid replicas on a multi-host URL with target_session_attrs=read-write,
// a client creating associations through one replica; the primary is killed
// with SIGKILL, the standby promoted with pg_ctl promote. podid writes again
// within 10 s of the promotion, and every create it acknowledged before or
// after is there.
func TestHADatabaseFailover(t *testing.T) {
	ctx := t.Context()
	began := time.Now()
	phase := func(what string) { t.Logf("%v: %s", time.Since(began).Round(time.Millisecond), what) }
	primary, err := pgtest.Start(ctx, pgtest.Options{Settings: pgtest.ReplicationSettings})
	if errors.Is(err, pgtest.ErrNoBinaries) {
		pgtest.Unavailable(t)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Stop)
	if err := primary.Exec(ctx, "postgres", "CREATE DATABASE podid"); err != nil {
		t.Fatal(err)
	}
	phase("primary up")
	standby, err := primary.StartStandby(ctx, "standby1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standby.Stop)
	if err := primary.SetSynchronousStandby(ctx, "standby1"); err != nil {
		t.Fatal(err)
	}
	phase("synchronous standby streaming")
	url := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d,127.0.0.1:%d/podid?sslmode=disable&target_session_attrs=read-write&connect_timeout=2",
		pgtest.Superuser, pgtest.Password, primary.Port, standby.Port)
	env := []string{"PODID_MASTER_KEY=" + newMasterKey(t), "PODID_DATABASE_URL=" + url}
	a := launchReplica(t, "", env, "--public-url", haPublicURL)
	b := launchReplica(t, "", env, "--public-url", haPublicURL)
	a.waitReady(t)
	b.waitReady(t)
	f := newEAFixture(t, a.server)
	f.cluster(t, "failover")
	role := f.role(t, "failover-app", workshopTrust)

	client := a.eksClient(a.root())
	acked := map[string]string{}
	i := 0
	create := func() error {
		sa := fmt.Sprintf("sa-%04d", i)
		i++
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, err := client.CreatePodIdentityAssociation(cctx, &eks.CreatePodIdentityAssociationInput{
			ClusterName: aws.String("failover"), Namespace: aws.String("load"), ServiceAccount: aws.String(sa), RoleArn: aws.String(role)})
		if err == nil {
			acked[sa] = aws.ToString(out.Association.AssociationId)
		}
		return err
	}
	for range 50 {
		if err := create(); err != nil {
			t.Fatalf("create before the failover: %v", err)
		}
	}

	phase("50 creates acknowledged")
	primary.Kill()
	phase("primary killed")
	if err := create(); err == nil {
		t.Log("a create succeeded right after the primary was killed (a pooled connection answered first)")
	}
	phase("one create tried")
	promoted := time.Now()
	if err := standby.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for {
		if lastErr = create(); lastErr == nil {
			break
		}
		if time.Since(promoted) > 10*time.Second {
			t.Fatalf("podid did not write through the promoted standby within 10 s: %v", lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("first acknowledged write %v after pg_ctl promote", time.Since(promoted).Round(time.Millisecond))
	for range 20 {
		if err := create(); err != nil {
			t.Fatalf("create after the failover: %v", err)
		}
	}

	phase("20 creates after the failover")
	// Every acknowledged create is on the promoted primary, read through
	// the other replica.
	got := map[string]string{}
	p := eks.NewListPodIdentityAssociationsPaginator(b.eksClient(b.root()), &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("failover")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("listing through %s after the failover: %v", b.URL, err)
		}
		for _, s := range page.Associations {
			got[aws.ToString(s.ServiceAccount)] = aws.ToString(s.AssociationId)
		}
	}
	var lost []string
	for sa, id := range acked {
		if got[sa] != id {
			lost = append(lost, sa)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d acknowledged creates lost in the failover: %s", len(lost), len(acked), strings.Join(lost, " "))
	}
	noPassword(t, a, b)
}
