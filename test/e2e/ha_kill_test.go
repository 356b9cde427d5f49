package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
)

// TestKillDuringCreates: `podid server` is killed with SIGKILL in the middle
// of 1,000 association creates (four clients at once, no SDK retries); the
// server that comes back on the same store has every association whose
// create was acknowledged. On SQLite the restarted process opens the same
// data directory; on PostgreSQL another replica takes over.
func TestKillDuringCreates(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		env := []string{"PODID_MASTER_KEY=" + newMasterKey(t)}
		killDuringCreates(t, func() *replica { return launchReplica(t, dir, env) })
	})
	t.Run("postgres", func(t *testing.T) {
		url := postgresServer(t).NewDatabase(t)
		env := []string{"PODID_MASTER_KEY=" + newMasterKey(t), "PODID_DATABASE_URL=" + url}
		killDuringCreates(t, func() *replica { return launchReplica(t, "", env) })
	})
}

func killDuringCreates(t *testing.T, start func() *replica) {
	const total, workers, killAfter = 1000, 4, 400
	a := start()
	a.waitReady(t)
	f := newEAFixture(t, a.server)
	f.cluster(t, "kill")
	role := f.role(t, "kill-app", workshopTrust)

	client := a.eksClient(a.root())
	var mu sync.Mutex
	acked := map[string]string{} // service account → association ID
	var next, acks atomic.Int64
	var wg sync.WaitGroup
	ctx := context.Background()
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				sa := fmt.Sprintf("sa-%04d", i)
				out, err := client.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
					ClusterName: aws.String("kill"), Namespace: aws.String("load"), ServiceAccount: aws.String(sa), RoleArn: aws.String(role)})
				if err != nil {
					return // the server is gone; this create was not acknowledged
				}
				mu.Lock()
				acked[sa] = aws.ToString(out.Association.AssociationId)
				mu.Unlock()
				acks.Add(1)
			}
		})
	}
	waitCount(t, &acks, killAfter)
	a.kill(t)
	wg.Wait()
	if len(acked) >= total {
		t.Fatalf("all %d creates finished before the kill; the test proves nothing", total)
	}

	b := start()
	b.waitReady(t)
	got := map[string]string{}
	p := eks.NewListPodIdentityAssociationsPaginator(b.eksClient(b.root()), &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("kill")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("listing after the restart: %v", err)
		}
		for _, s := range page.Associations {
			got[aws.ToString(s.ServiceAccount)] = aws.ToString(s.AssociationId)
		}
	}
	lost := 0
	for sa, id := range acked {
		if got[sa] != id {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged association %s (%s) is %q after the kill", sa, id, got[sa])
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged creates lost", lost, len(acked))
	}
	t.Logf("%d creates acknowledged before SIGKILL, %d stored afterwards", len(acked), len(got))
}
