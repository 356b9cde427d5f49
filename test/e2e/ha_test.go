package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/podid/podid/internal/eks/feed"
	"github.com/podid/podid/internal/store/postgres/pgtest"
)

// haPublicURL is the public URL every replica of a test shares (as behind a
// load balancer); nothing is fetched from it.
const haPublicURL = "http://podid-ha.invalid:8080"

// TestHAReplicas runs three `podid server` processes on one PostgreSQL
// database (docs/high-availability.md): they start together on an empty
// database and bootstrap one account; an association created through one
// is described through the others at once; a pod token minted by one
// replica's hosted-cluster issuer is exchanged on another, and the session
// that replica seals opens on a third; then one replica is killed with
// SIGKILL while clients load the other two, and no request to them fails.
func TestHAReplicas(t *testing.T) {
	pg := postgresServer(t)
	url := pg.NewDatabase(t)
	env := []string{"PODID_MASTER_KEY=" + newMasterKey(t)}
	// One replica takes the URL as a flag, the others from the environment.
	// Replicas share one public URL (the Service's, in Kubernetes): hosted
	// clusters' issuer URLs are built from it.
	// The load below exchanges one pod's token many times a second: the
	// per-pod issuance limit is lifted for it.
	a := launchReplica(t, "", env, "--database-url", url, "--public-url", haPublicURL, "--eks-auth-pod-rate", "0")
	b := launchReplica(t, "", append(env, "PODID_DATABASE_URL="+url), "--public-url", haPublicURL, "--eks-auth-pod-rate", "0")
	c := launchReplica(t, "", append(env, "PODID_DATABASE_URL="+url), "--public-url", haPublicURL, "--eks-auth-pod-rate", "0")
	for _, r := range []*replica{a, b, c} {
		r.waitReady(t)
	}
	if a.RootKey != b.RootKey || a.RootKey != c.RootKey {
		t.Fatalf("replicas started together bootstrapped different root keys: %s %s %s", a.RootKey, b.RootKey, c.RootKey)
	}

	ctx := t.Context()
	f := newEAFixture(t, a.server)
	f.cluster(t, "ha")
	podRole := f.role(t, "ha-app", workshopTrust)
	agent := f.user(t, "ha-agent", eaAllowEKSAuth)
	created, err := a.eksClient(a.root()).CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("ha"), Namespace: aws.String("default"), ServiceAccount: aws.String("app"), RoleArn: aws.String(podRole)})
	if err != nil {
		t.Fatalf("CreatePodIdentityAssociation through %s: %v", a.URL, err)
	}
	id := aws.ToString(created.Association.AssociationId)
	for _, r := range []*replica{b, c} {
		d, err := r.eksClient(r.root()).DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{
			ClusterName: aws.String("ha"), AssociationId: aws.String(id)})
		if err != nil {
			t.Fatalf("DescribePodIdentityAssociation through %s right after the create: %v", r.URL, err)
		}
		if aws.ToString(d.Association.RoleArn) != podRole || aws.ToString(d.Association.AssociationArn) != aws.ToString(created.Association.AssociationArn) {
			t.Errorf("association described through %s: %+v", r.URL, d.Association)
		}
	}

	// The token comes from a's issuer; c verifies it with the shared
	// signing key and answers from its index, which follows a's write
	// through LISTEN/NOTIFY (a short lag is allowed, a second at most is
	// expected).
	token := f.podToken(t, "ha", "default", "app", "app-1", "")
	pc := exchangeEventually(t, c, agent, "ha", token, 10*time.Second)
	who, err := sts.NewFromConfig(b.goConfig(pc)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity on %s with a session sealed by %s: %v", b.URL, c.URL, err)
	}
	if arn := aws.ToString(who.Arn); !strings.Contains(arn, ":assumed-role/ha-app/") {
		t.Errorf("caller on %s = %s, want the pod role's session", b.URL, arn)
	}

	// Load b and c (describe and EKS Auth) while a dies.
	var requests, failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		r := []*replica{b, c}[i%2]
		client := r.eksClient(r.root())
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if _, err = client.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{
					ClusterName: aws.String("ha"), AssociationId: aws.String(id)}); err == nil {
					var status int
					var body []byte
					status, body, err = assumeForPod(r.server, agent, "ha", token)
					if err == nil && status != 200 {
						err = fmt.Errorf("EKS Auth on %s: HTTP %d %s", r.URL, status, body)
					}
				}
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	waitCount(t, &requests, 40)
	a.kill(t)
	before := requests.Load()
	// Writes go on through b and are served by c.
	created2, err := b.eksClient(b.root()).CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("ha"), Namespace: aws.String("default"), ServiceAccount: aws.String("worker"), RoleArn: aws.String(podRole)})
	if err != nil {
		t.Fatalf("CreatePodIdentityAssociation through %s after %s died: %v", b.URL, a.URL, err)
	}
	if _, err := c.eksClient(c.root()).DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{
		ClusterName: aws.String("ha"), AssociationId: created2.Association.AssociationId}); err != nil {
		t.Errorf("the association created through %s is not described through %s: %v", b.URL, c.URL, err)
	}
	// A token minted by b now (a is gone) is exchanged on c.
	exchangeEventually(t, c, agent, "ha", (&eaFixture{s: b.server}).podToken(t, "ha", "default", "worker", "worker-1", ""), 10*time.Second)
	waitCount(t, &requests, before+40)
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d requests to the surviving replicas failed while %s died; first: %v", n, requests.Load(), a.URL, firstErr.Load())
	}
	noPassword(t, a, b, c)
}

// waitCount waits until n reaches at least want.
func waitCount(t *testing.T, n *atomic.Int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for n.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests in 60s, want %d", n.Load(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exchangeEventually calls EKS Auth on r until it issues credentials or d
// passes, and returns them.
func exchangeEventually(t *testing.T, r *replica, agent creds, cluster, token string, d time.Duration) creds {
	t.Helper()
	start := time.Now()
	for {
		status, body, err := assumeForPod(r.server, agent, cluster, token)
		if err == nil && status == 200 {
			var out map[string]any
			if err := json.Unmarshal(body, &out); err != nil {
				t.Fatal(err)
			}
			t.Logf("EKS Auth on %s issued credentials %v after the association was created elsewhere", r.URL, time.Since(start).Round(time.Millisecond))
			return podCredsEA(out)
		}
		if time.Since(start) > d {
			t.Fatalf("EKS Auth on %s: HTTP %d %s %v (after %v)", r.URL, status, body, err, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHAFeedAcrossReplicas: an agent's change-feed subscription to one
// replica carries changes made through another, each well within a second
// (asserted with a generous deadline; BenchmarkHAFeedLatency measures it).
func TestHAFeedAcrossReplicas(t *testing.T) {
	a, b, podRole := twoReplicas(t)
	lat := feedLatencies(t, a, b, podRole, 20)
	slices.Sort(lat)
	for _, l := range lat {
		if l > 10*time.Second {
			t.Errorf("a change made through %s reached a subscriber of %s after %v", a.URL, b.URL, l)
		}
	}
	t.Logf("feed latency across replicas over %d changes: p50 %v, max %v", len(lat), lat[len(lat)/2], lat[len(lat)-1])
}

// BenchmarkHAFeedLatency measures how long a change made through one
// replica takes to reach a change-feed subscriber of another (p50, p99).
func BenchmarkHAFeedLatency(b *testing.B) {
	a, r, podRole := twoReplicas(b)
	b.ResetTimer()
	lat := feedLatencies(b, a, r, podRole, b.N)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// twoReplicas starts two replicas on a fresh database with a hosted cluster
// "ha" and a pod role.
func twoReplicas(t testing.TB) (a, b *replica, podRole string) {
	t.Helper()
	pg := postgresServer(t)
	url := pg.NewDatabase(t)
	env := []string{"PODID_MASTER_KEY=" + newMasterKey(t), "PODID_DATABASE_URL=" + url}
	a, b = launchReplica(t, "", env, "--public-url", haPublicURL), launchReplica(t, "", env, "--public-url", haPublicURL)
	a.waitReady(t)
	b.waitReady(t)
	f := newEAFixture(t, a.server)
	f.cluster(t, "ha")
	return a, b, f.role(t, "ha-app", workshopTrust)
}

// feedLatencies subscribes to b's change feed for cluster ha, creates n
// associations through a one after another, and returns how long each took
// to arrive.
func feedLatencies(t testing.TB, a, b *replica, podRole string, n int) []time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fc, err := feed.New(feed.Config{Endpoint: b.URL, Cluster: "ha", Region: b.Region, Credentials: staticCreds(b.root())})
	if err != nil {
		t.Fatal(err)
	}
	arrived := make(chan string, n+16)
	synced := make(chan struct{}, 1)
	go fc.Subscribe(ctx, 0, func(_ context.Context, ev feed.Event) error {
		switch ev.Type {
		case feed.TypeSynced:
			select {
			case synced <- struct{}{}:
			default:
			}
		case feed.TypeCreated:
			arrived <- ev.Association.ServiceAccount
		}
		return nil
	})
	select {
	case <-synced:
	case <-time.After(30 * time.Second):
		t.Fatal("the feed subscription to b did not sync")
	}
	client := a.eksClient(a.root())
	var lat []time.Duration
	for i := range n {
		sa := fmt.Sprintf("sa-%d-%d", time.Now().UnixNano(), i)
		start := time.Now()
		if _, err := client.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
			ClusterName: aws.String("ha"), Namespace: aws.String("feed"), ServiceAccount: aws.String(sa), RoleArn: aws.String(podRole)}); err != nil {
			t.Fatalf("create through %s: %v", a.URL, err)
		}
		select {
		case got := <-arrived:
			if got != sa {
				t.Fatalf("feed carried %s, want %s", got, sa)
			}
			lat = append(lat, time.Since(start))
		case <-time.After(10 * time.Second):
			t.Fatalf("the change made through %s did not reach b's subscriber within 10s", a.URL)
		}
	}
	return lat
}

// TestHAGatewayOnPostgres: a standalone `podid gateway` given the servers'
// database URL (and their master key) decides with the identities written
// through a server replica: the root is allowed through to DynamoDB, a user
// created through the replica without a policy is denied with DynamoDB's
// AccessDeniedException. Its log names the backend and hides the password.
func TestHAGatewayOnPostgres(t *testing.T) {
	url := postgresServer(t).NewDatabase(t)
	key := newMasterKey(t)
	a := launchReplica(t, "", []string{"PODID_MASTER_KEY=" + key, "PODID_DATABASE_URL=" + url})
	a.waitReady(t)
	f := newEAFixture(t, a.server)
	nobody := f.user(t, "no-policy")

	port := freePort(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PODID_MASTER_KEY=" + key, "PODID_DATABASE_URL=" + url,
		"AWS_ACCESS_KEY_ID=" + s3rverCreds, "AWS_SECRET_ACCESS_KEY=" + s3rverCreds}
	p := startProc(t, "podid gateway", env, podidBin, "gateway", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", t.TempDir(),
		"--account-id", a.AccountID, "--region", a.Region, "--dynamodb-upstream", startDynalite(t))
	via := *a.server
	via.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, "podid gateway", via.URL, p)

	via.aws(t, a.root(), "dynamodb", "create-table", "--table-name", "ha-table", "--attribute-definitions", "AttributeName=pk,AttributeType=S",
		"--key-schema", "AttributeName=pk,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
	wantCode(t, via.awsErr(t, nobody, "dynamodb", "describe-table", "--table-name", "ha-table"), "AccessDeniedException")
	logs := p.String()
	if !strings.Contains(logs, "backend=postgres") || strings.Contains(logs, pgtest.Password) {
		t.Errorf("gateway log: want the PostgreSQL backend named and no password:\n%s", logs)
	}
}
