package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
)

// The node agent end to end (issue 6): `podid agent` in a network namespace
// where 169.254.170.23 is local, podid server as EKS Auth, and unmodified
// SDK clients with the workshop's environment. Helpers and the namespace
// plumbing are in agent_helpers_test.go.

// Counters the tests read.
const (
	mRequestCalls = `podid_agent_eksauth_calls_total{code="OK",kind="request"}`
	mHits         = `podid_agent_cache_hits_total`
	mEntries      = `podid_agent_cache_entries`
	mRefreshOK    = `podid_agent_refreshes_total{result="ok"}`
	mRefreshFail  = `podid_agent_refreshes_total{result="failed"}`
	mRefreshSkip  = `podid_agent_refreshes_total{result="skipped_token_expired"}`
	mPurgedAssoc  = `podid_agent_cache_evictions_total{reason="association_changed"}`
)

// TestAgentSDKClients: the AWS CLI, boto3, the Go SDK v2 and the JS SDK v3,
// each unmodified and configured only by the workshop's environment
// (AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials,
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE), get the carts pod's role through
// the agent and call STS with it. The agent adds 169.254.170.23 and
// fd00:ec2::23 to the namespace's loopback itself (no init container), and
// the Go SDK, called a second time through the IPv6 address, is answered from
// the same cache entry.
func TestAgentSDKClients(t *testing.T) {
	t.Parallel()
	e := newAgentEnv(t, agentOptions{agentAddsAddress: true, agentArgs: []string{"--bind-hosts", "[" + agentHost6 + "]"}})
	if out := e.ns.ip(t, "addr", "show", "dev", "lo"); !strings.Contains(out, "inet "+agentHost+"/32 ") || !strings.Contains(out, "inet6 "+agentHost6+"/128 ") {
		t.Errorf("the agent did not add %s/32 and %s/128 to lo:\n%s", agentHost, agentHost6, out)
	}
	e.waitFor(t, "the agent's /readyz", 30*time.Second, func() (bool, string) {
		resp, err := e.http.Get(agentProbe + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})

	tokenFile := filepath.Join(e.dir, "eks-pod-identity-token")
	writeToken(t, tokenFile, e.token(t, newPod("carts", "carts", workshopPodName), 0))
	ipv6 := "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://[" + agentHost6 + "]/v1/credentials"
	clients := []struct {
		name string
		bin  string
		args []string
		env  string // overrides one variable of the workshop's environment
	}{
		{"aws-cli", "aws", []string{"sts", "get-caller-identity", "--query", "Arn", "--output", "text"}, ""},
		{"boto3", "python3", []string{"-c", pyIdentity}, ""},
		{"go-sdk-v2", goClient(t), nil, ""},
		{"js-sdk-v3", "node", []string{jsClient(t), "identity"}, ""},
		{"go-sdk-v2-ipv6", goClient(t), nil, ipv6},
	}
	arnRE := regexp.MustCompile(workshopARNRE)
	t.Run("clients", func(t *testing.T) {
		for _, c := range clients {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				env := e.clientEnv(tokenFile)
				if c.env != "" {
					env = append(env, c.env) // the last value of a variable wins
				}
				out, errOut, err := e.runEnv(env, c.bin, c.args...)
				if err != nil || !arnRE.MatchString(out) {
					t.Errorf("%s: %v; printed %q, want the carts role's session (%s)\nstderr: %s", c.name, err, out, workshopARNRE, errOut)
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	// Five processes, one pod, two address families: one EKS Auth exchange
	// served them all.
	m, err := e.metrics()
	if err != nil {
		t.Fatal(err)
	}
	if m[mRequestCalls] != 1 || m[mEntries] != 1 || m[`podid_agent_responses_total{code="200"}`] < 5 {
		t.Errorf("EKS Auth calls %v, cache entries %v, 200 answers %v; want 1, 1, ≥5",
			m[mRequestCalls], m[mEntries], m[`podid_agent_responses_total{code="200"}`])
	}
}

// TestAgentTokenRotation: kubelet replaces the pod's token. The new token
// is verified with EKS Auth once and then served from the pod's one cache
// entry, as is the token it replaced; an SDK reading the rotated token
// file gets the role.
func TestAgentTokenRotation(t *testing.T) {
	t.Parallel()
	e := newAgentEnv(t, agentOptions{})
	p := newPod("carts", "carts", workshopPodName)
	first := e.token(t, p, 0)
	c1 := e.creds(t, first)
	if again := e.creds(t, first); again != c1 {
		t.Errorf("a second request got other credentials: %s, then %s", c1.AccessKeyID, again.AccessKeyID)
	}
	if calls, hits := e.metric(t, mRequestCalls), e.metric(t, mHits); calls != 1 || hits != 1 {
		t.Fatalf("after two requests: %v EKS Auth calls and %v cache hits, want 1 and 1", calls, hits)
	}

	// Kubelet rotates the projected token: same pod, new token.
	second := e.token(t, p, 0)
	if second == first {
		t.Fatal("the second token equals the first")
	}
	tokenFile := filepath.Join(e.dir, "eks-pod-identity-token")
	writeToken(t, tokenFile, second)
	if out := e.mustRun(t, tokenFile, goClient(t)); !regexp.MustCompile(workshopARNRE).MatchString(out) {
		t.Errorf("Go SDK with the rotated token printed %q, want the carts role's session", out)
	}
	if calls, entries := e.metric(t, mRequestCalls), e.metric(t, mEntries); calls != 2 || entries != 1 {
		t.Errorf("after the rotation: %v EKS Auth calls and %v cache entries, want 2 (the new token verified once) and 1 (one pod)", calls, entries)
	}
	c2 := e.creds(t, second)
	if c2.AccessKeyID == c1.AccessKeyID {
		t.Errorf("the rotated token's exchange did not renew the pod's credentials (still %s)", c1.AccessKeyID)
	}
	// The token the pod rotated from is still answered, with the pod's
	// current credentials, and neither needs EKS Auth any more.
	if old := e.creds(t, first); old != c2 {
		t.Errorf("the previous token got %s, want the pod's current %s", old.AccessKeyID, c2.AccessKeyID)
	}
	if calls := e.metric(t, mRequestCalls); calls != 2 {
		t.Errorf("EKS Auth calls = %v after serving both tokens from the cache, want 2", calls)
	}
	if arn := e.callerARN(t, c2); !regexp.MustCompile(workshopARNRE).MatchString(arn) {
		t.Errorf("rotated credentials are %s", arn)
	}
}

// TestAgentUpstreamOutage: EKS Auth becomes unreachable (the node's path to
// podid server goes down: connection refused). A cached pod keeps being
// served its credentials, even though the background renewal fails (static
// stability); a pod never seen fails closed with 500; once EKS Auth is back
// both are served.
func TestAgentUpstreamOutage(t *testing.T) {
	t.Parallel()
	// Renewals are due 1.5 to 2 s after caching, so one fails during the
	// outage.
	e := newAgentEnv(t, agentOptions{agentArgs: []string{"--max-credential-retention-before-renewal", "2s"}})
	p := newPod("carts", "carts", workshopPodName)
	tok := e.token(t, p, 0)
	tokenFile := filepath.Join(e.dir, "eks-pod-identity-token")
	writeToken(t, tokenFile, tok)
	e.creds(t, tok)

	e.bridge.down()
	e.waitMetric(t, mRefreshFail, 30*time.Second, func(v float64) bool { return v >= 1 })
	cached := e.creds(t, tok)
	if arn := e.callerARN(t, cached); !regexp.MustCompile(workshopARNRE).MatchString(arn) {
		t.Errorf("credentials served during the outage are %s", arn)
	}
	// The SDKs resolve the cached credentials (they cannot call STS now).
	for _, c := range []struct {
		name string
		bin  string
		args []string
		want string
	}{
		{"boto3", "python3", []string{"-c", pyCredentials}, cached.AccessKeyID + " container-role"},
		{"go-sdk-v2", goClient(t), []string{"-credentials-only"}, cached.AccessKeyID + " "},
		{"js-sdk-v3", "node", []string{jsClient(t), "credentials"}, cached.AccessKeyID},
	} {
		if out := e.mustRun(t, tokenFile, c.bin, c.args...); !strings.HasPrefix(out, c.want) {
			t.Errorf("%s during the outage resolved %q, want %q…", c.name, out, c.want)
		}
	}
	if out := e.mustRun(t, tokenFile, "aws", "configure", "list"); !regexp.MustCompile(`access_key +\*+` + cached.AccessKeyID[len(cached.AccessKeyID)-4:] + ` +container-role`).MatchString(out) {
		t.Errorf("aws configure list during the outage:\n%s", out)
	}

	// A pod the agent has never seen cannot be verified: 500, fail closed.
	other := newPod("carts", "carts", "carts-7d9fc6b5d8-q8wz2")
	otherTok := e.token(t, other, 0)
	st, h, body := e.fetch(t, otherTok)
	if st != http.StatusInternalServerError || h.Get("Content-Type") != "text/plain; charset=utf-8" || !strings.HasPrefix(body, "call EKS Auth: ") {
		t.Errorf("a new pod during the outage: %d %s %q, want 500 text/plain \"call EKS Auth: …\"", st, h.Get("Content-Type"), body)
	}
	if strings.Contains(body, otherTok) || strings.Contains(body, e.node.Secret) {
		t.Error("the error leaks a token or the node's secret key")
	}

	e.bridge.up(t)
	e.waitFor(t, "the new pod to be served after the outage", 30*time.Second, func() (bool, string) {
		st, _, body, err := e.fetchErr(otherTok)
		return err == nil && st == http.StatusOK, body
	})
	if out := e.mustRun(t, tokenFile, "aws", "sts", "get-caller-identity", "--query", "Arn", "--output", "text"); !regexp.MustCompile(workshopARNRE).MatchString(out) {
		t.Errorf("AWS CLI after the outage printed %q", out)
	}
}

// TestAgentAssociationChange: updating the carts association purges the
// pod's cached credentials at once (podid's change feed) and the next
// request gets the new role; deleting it purges again and the next request
// gets EKS Auth's error passed through as the official agent passes it.
func TestAgentAssociationChange(t *testing.T) {
	t.Parallel()
	e := newAgentEnv(t, agentOptions{})
	p := newPod("carts", "carts", workshopPodName)
	tok := e.token(t, p, 0)
	tokenFile := filepath.Join(e.dir, "eks-pod-identity-token")
	writeToken(t, tokenFile, tok)
	if arn := e.callerARN(t, e.creds(t, tok)); !regexp.MustCompile(workshopARNRE).MatchString(arn) {
		t.Fatalf("first credentials are %s", arn)
	}
	ctx := context.Background()

	v2 := e.f.role(t, workshopRole+"-v2", trustPods)
	if _, err := e.f.eks.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{
		ClusterName: aws.String(e.cluster), AssociationId: aws.String(e.assoc), RoleArn: aws.String(v2),
	}); err != nil {
		t.Fatal(err)
	}
	took := e.waitMetric(t, mPurgedAssoc, 10*time.Second, func(v float64) bool { return v >= 1 })
	t.Logf("cached credentials purged %v after UpdatePodIdentityAssociation returned", took)
	if n := e.metric(t, mEntries); n != 0 {
		t.Errorf("cache entries after the update = %v, want 0", n)
	}
	wantV2 := "arn:aws:sts::123456789012:assumed-role/" + workshopRole + "-v2/eks-eks-worksh-carts-7d9f-"
	if arn := e.callerARN(t, e.creds(t, tok)); !strings.HasPrefix(arn, wantV2) {
		t.Errorf("after the update the agent serves %s, want %s…", arn, wantV2)
	}
	if out := e.mustRun(t, tokenFile, "node", jsClient(t), "identity"); !strings.HasPrefix(out, wantV2) {
		t.Errorf("JS SDK after the update printed %q, want %s…", out, wantV2)
	}

	if _, err := e.f.eks.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{
		ClusterName: aws.String(e.cluster), AssociationId: aws.String(e.assoc),
	}); err != nil {
		t.Fatal(err)
	}
	took = e.waitMetric(t, mPurgedAssoc, 10*time.Second, func(v float64) bool { return v >= 2 })
	t.Logf("cached credentials purged %v after DeletePodIdentityAssociation returned", took)
	st, h, body := e.fetch(t, tok)
	wantBody := regexp.MustCompile(`^\[[0-9a-f-]{36}\]: \(ResourceNotFoundException\): No Pod Identity Association found for cluster eks-workshop, namespace carts and service account carts\., fault: client\n$`)
	if st != http.StatusNotFound || h.Get("Content-Type") != "text/plain; charset=utf-8" || h.Get("X-Content-Type-Options") != "nosniff" || !wantBody.MatchString(body) {
		t.Errorf("after the delete: %d %q nosniff=%q %q; want 404 text/plain with %s", st, h.Get("Content-Type"), h.Get("X-Content-Type-Options"), body, wantBody)
	}
	// The pod's SDK now fails to get credentials.
	if out, errOut, err := e.run(tokenFile, "python3", "-c", pyIdentity); err == nil || !strings.Contains(errOut, "404") {
		t.Errorf("boto3 after the delete: err %v, stdout %q, stderr %s; want a credential error naming 404", err, out, errOut)
	}
}

// TestAgentPodDeletion: a deleted pod presents no new token (kubelet stops
// rotating it), so the newest token the agent holds for it runs out. The
// agent stops renewing that pod's credentials when its token is about to
// expire, instead of spending EKS Auth calls on a pod that is gone, while a
// live pod's credentials keep being renewed; once the token has expired it
// is refused without calling EKS Auth. The cluster is an external one whose
// tokens the test signs, so a token can live 20 s (podid's hosted clusters
// mint tokens of at least 10 minutes, as Kubernetes does).
func TestAgentPodDeletion(t *testing.T) {
	t.Parallel()
	// Renewals are due every 2.25 to 3 s.
	e := newAgentEnv(t, agentOptions{external: true, agentArgs: []string{"--max-credential-retention-before-renewal", "3s"}})
	live := newPod("carts", "carts", workshopPodName)
	gone := newPod("carts", "carts", "carts-7d9fc6b5d8-m4ztp")
	liveTok := e.token(t, live, time.Hour)
	const goneTTL = 20 * time.Second
	goneExp := time.Now().Add(goneTTL)
	goneTok := e.token(t, gone, goneTTL)

	l1, g1 := e.creds(t, liveTok), e.creds(t, goneTok)
	wantARN := "arn:aws:sts::123456789012:assumed-role/" + workshopRole + "/eks-onprem-wor-carts-7d9f-"
	if arn := e.callerARN(t, l1); !strings.HasPrefix(arn, wantARN) {
		t.Fatalf("live pod's credentials are %s, want %s…", arn, wantARN)
	}
	if g1.AccessKeyID == l1.AccessKeyID {
		t.Fatal("two pods share credentials")
	}

	// The deleted pod's renewal is skipped; the live pod is renewed.
	e.waitMetric(t, mRefreshSkip, 20*time.Second, func(v float64) bool { return v >= 1 })
	e.waitMetric(t, mRefreshOK, 20*time.Second, func(v float64) bool { return v >= 2 })
	if l2 := e.creds(t, liveTok); l2.AccessKeyID == l1.AccessKeyID {
		t.Errorf("the live pod's credentials were not renewed (still %s)", l1.AccessKeyID)
	}
	// Until its token expires the deleted pod's cached credentials are
	// still served (a pod may simply not have shown its newer token yet),
	// but they are never renewed.
	if time.Now().Before(goneExp) {
		if g2 := e.creds(t, goneTok); g2 != g1 {
			t.Errorf("the deleted pod's credentials changed (%s → %s): they were renewed", g1.AccessKeyID, g2.AccessKeyID)
		}
	}

	// The token expires: refused locally, EKS Auth is not asked.
	e.waitFor(t, "the deleted pod's token to be refused", goneTTL+15*time.Second, func() (bool, string) {
		st, _, body, err := e.fetchErr(goneTok)
		return err == nil && st == http.StatusBadRequest, body
	})
	st, h, body := e.fetch(t, goneTok)
	const wantBody = "Service account token failed basic claim validations: token has invalid claims: token is expired\n"
	if st != http.StatusBadRequest || h.Get("Content-Type") != "text/plain; charset=utf-8" || body != wantBody {
		t.Errorf("the expired token: %d %q %q, want 400 text/plain %q", st, h.Get("Content-Type"), body, wantBody)
	}
	m, err := e.metrics()
	if err != nil {
		t.Fatal(err)
	}
	if m[mRequestCalls] != 2 || m[mRefreshSkip] != 1 {
		t.Errorf("EKS Auth request calls %v, skipped renewals %v; want 2 (one per pod) and 1 (the deleted pod, once)", m[mRequestCalls], m[mRefreshSkip])
	}
	if e.creds(t, liveTok).AccessKeyID == "" {
		t.Error("the live pod is no longer served")
	}
}
