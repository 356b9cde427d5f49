package eksauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/store"
)

// agentClaims are a kube-apiserver projected token's claims for the agent
// pod on node-1, with the agents' audience.
func agentClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": unitIssuer, "sub": "system:serviceaccount:kube-system:eks-pod-identity-agent", "aud": []string{k8s.AgentAudience},
		"exp": now.Add(time.Hour).Unix(), "iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(),
		"kubernetes.io": map[string]any{"namespace": "kube-system", "pod": map[string]any{"name": "eks-pod-identity-agent-x7k2p", "uid": "agent-uid-1"},
			"serviceaccount": map[string]any{"name": "eks-pod-identity-agent", "uid": "sa-uid"}, "node": map[string]any{"name": "node-1", "uid": "n1"}},
	}
}

// lineAudit runs an Auditor writing JSON lines for u's service; stop
// flushes it and returns the records.
func lineAudit(t *testing.T, u *unit) (stop func() []map[string]any) {
	lines := &lockedBuffer{}
	a := NewAuditor(AuditorConfig{Store: u.st, Lines: lines, Now: func() time.Time { return u.now }, AggregateWindow: -1})
	u.svc.cfg.Audit = a
	ctx, cancel := context.WithCancel(context.Background())
	go a.Run(ctx)
	return func() []map[string]any {
		cancel()
		<-a.Flushed()
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(lines.String()), "\n") {
			var m map[string]any
			if l != "" {
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("audit line %q: %v", l, err)
				}
				out = append(out, m)
			}
		}
		return out
	}
}

func TestAssumeRoleForAgent(t *testing.T) {
	u := newUnit(t, func(c *Config) { c.AgentIssuer = nil })
	u.svc.cfg.AgentIssuer = u.issuer
	stop := lineAudit(t, u)
	ctx := auth.WithRequestInfo(context.Background(), auth.RequestInfo{SourceIP: "10.0.0.7"})
	out, err := u.svc.AssumeRoleForAgent(ctx, &Input{ClusterName: "c1", Token: u.token(t, agentClaims(u.now))})
	if err != nil {
		t.Fatal(err)
	}
	if out.NodeName != "node-1" || out.PodName != "eks-pod-identity-agent-x7k2p" || out.Credentials.AccessKeyID != "ASIAFAKE" ||
		out.AssumedRoleUser.ARN != "arn:aws:sts::123456789012:assumed-role/podid-agent-c1/node-node-1" ||
		out.Credentials.Expiration != u.now.Add(DefaultAgentSessionDuration).Unix() {
		t.Errorf("output %+v", out)
	}
	if len(u.issuer.calls) != 1 {
		t.Fatalf("%d issuer calls", len(u.issuer.calls))
	}
	in := u.issuer.calls[0]
	want := AssumeInput{ServicePrincipal: "agent.podid.dev", RoleARN: "arn:aws:iam::123456789012:role/podid/podid-agent-c1", SessionName: "node-node-1",
		Tags: []Tag{{Key: "podid:node-name", Value: "node-1"}}, Duration: time.Hour,
		SourceARN: "arn:aws:eks:us-west-2:123456789012:cluster/c1", SourceAccount: "123456789012"}
	if in.ServicePrincipal != want.ServicePrincipal || in.RoleARN != want.RoleARN || in.SessionName != want.SessionName || !slices.Equal(in.Tags, want.Tags) ||
		in.Duration != want.Duration || in.SourceARN != want.SourceARN || in.SourceAccount != want.SourceAccount || in.Policy != "" || len(in.TransitiveTagKeys) != 0 {
		t.Errorf("issuer input %+v, want %+v", *in, want)
	}
	recs := stop()
	if len(recs) != 1 {
		t.Fatalf("audit records %v", recs)
	}
	r := recs[0]
	for k, v := range map[string]any{"kind": AgentAuditKind, "decision": "issued", "cluster": "c1", "node": "node-1", "podName": "eks-pod-identity-agent-x7k2p",
		"podUid": "agent-uid-1", "namespace": "kube-system", "serviceAccount": "eks-pod-identity-agent", "roleArn": want.RoleARN, "sessionName": "node-node-1",
		"accessKeyId": "ASIAFAKE", "sourceIp": "10.0.0.7", "caller": "system:serviceaccount:kube-system:eks-pod-identity-agent"} {
		if r[k] != v {
			t.Errorf("audit %s = %v, want %v", k, r[k], v)
		}
	}
}

// TestAssumeRoleForAgentRefusals: each way an agent token is refused, with
// its exact code and message, and each refusal audited with its reason.
func TestAssumeRoleForAgentRefusals(t *testing.T) {
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherJWKS, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &other.PublicKey, KeyID: "k2", Algorithm: "RS256", Use: "sig"}}})
	for _, c := range []struct {
		name, cluster string
		claims        func(m map[string]any)
		token         func(t *testing.T, u *unit) string // instead of claims
		noIssuer      bool
		issuerErr     error
		code, msg     string
		reason        string
	}{
		{name: "a pod's service account", claims: func(m map[string]any) {
			m["sub"] = "system:serviceaccount:carts:carts"
			m["kubernetes.io"].(map[string]any)["namespace"] = "carts"
			m["kubernetes.io"].(map[string]any)["serviceaccount"] = map[string]any{"name": "carts", "uid": "x"}
		}, code: "AccessDeniedException", msg: "The token belongs to service account carts/carts; only the agent's service account kube-system/eks-pod-identity-agent may call AssumeRoleForAgent.",
			reason: "service account carts/carts is not the agent's kube-system/eks-pod-identity-agent"},
		{name: "another service account in kube-system", claims: func(m map[string]any) {
			m["sub"] = "system:serviceaccount:kube-system:coredns"
			m["kubernetes.io"].(map[string]any)["serviceaccount"] = map[string]any{"name": "coredns", "uid": "x"}
		}, code: "AccessDeniedException", reason: "service account kube-system/coredns is not the agent's kube-system/eks-pod-identity-agent"},
		{name: "the pods' audience", claims: func(m map[string]any) { m["aud"] = []string{k8s.PodIdentityAudience} },
			code: "InvalidTokenException", msg: "The specified Kubernetes service account token is invalid.", reason: "invalid service account token: audience does not contain podid.dev/agent"},
		{name: "no node claim", claims: func(m map[string]any) { delete(m["kubernetes.io"].(map[string]any), "node") },
			code: "AccessDeniedException", msg: "The agent's token names no node: project the token of a pod scheduled on a node (Kubernetes 1.30 or later puts the node in it).",
			reason: "the agent's token names no node"},
		{name: "no pod claim", claims: func(m map[string]any) { delete(m["kubernetes.io"].(map[string]any), "pod") },
			code: "InvalidTokenException"},
		{name: "expired", claims: func(m map[string]any) {
			m["exp"] = unitNow.Add(-time.Hour).Unix()
			m["iat"] = unitNow.Add(-2 * time.Hour).Unix()
			m["nbf"] = m["iat"]
		},
			code: "ExpiredTokenException", msg: "The specified Kubernetes service account token is expired."},
		{name: "another cluster's token", cluster: "c2", code: "InvalidTokenException"},
		{name: "bad signature", token: func(t *testing.T, u *unit) string {
			good := u.token(t, agentClaims(u.now))
			p := strings.Split(good, ".")
			sig := []byte(p[2])
			if sig[5] == 'A' { // another base64url letter: other signature bytes
				sig[5] = 'B'
			} else {
				sig[5] = 'A'
			}
			return p[0] + "." + p[1] + "." + string(sig)
		}, code: "InvalidTokenException", reason: "invalid service account token: signature does not verify with the cluster's keys"},
		{name: "signed by another key", token: func(_ *testing.T, u *unit) string {
			s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: other}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
			tok, _ := jwt.Signed(s).Claims(agentClaims(u.now)).Serialize()
			return tok
		}, code: "InvalidTokenException"},
		{name: "not a JWT", token: func(*testing.T, *unit) string { return "not-a-token" }, code: "InvalidParameterException",
			msg: "The token must be a JSON Web Token of three base64url segments, at most 16384 bytes long."},
		{name: "unknown cluster", cluster: "nope", code: "ResourceNotFoundException", msg: "No cluster found for name: nope."},
		{name: "invalid cluster name", cluster: "a/b", code: "InvalidParameterException"},
		{name: "no agent issuer", noIssuer: true, code: "ServiceUnavailableException", msg: "podid's agent exchange is not configured on this server."},
		{name: "the role's trust refuses", issuerErr: awsproto.Errorf(403, "AccessDenied", "Not authorized to perform sts:AssumeRole"),
			code: "AccessDeniedException", msg: "Not authorized to perform sts:AssumeRole", reason: "agent role arn:aws:iam::123456789012:role/podid/podid-agent-c1: AccessDenied: Not authorized to perform sts:AssumeRole"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := newUnit(t, nil)
			putCluster(t, u.st, &store.Cluster{Name: "c2", ARN: "arn:aws:eks:us-west-2:123456789012:cluster/c2", Kind: store.ClusterExternal, IssuerURL: "https://issuer.example/c2", JWKS: string(otherJWKS)})
			if !c.noIssuer {
				u.svc.cfg.AgentIssuer = u.issuer
			}
			u.issuer.err = c.issuerErr
			stop := lineAudit(t, u)
			m := agentClaims(u.now)
			if c.claims != nil {
				c.claims(m)
			}
			tok := u.token(t, m)
			if c.token != nil {
				tok = c.token(t, u)
			}
			cluster := "c1"
			if c.cluster != "" {
				cluster = c.cluster
			}
			_, err := u.svc.AssumeRoleForAgent(context.Background(), &Input{ClusterName: cluster, Token: tok})
			if code(err) != c.code {
				t.Fatalf("code %q (%v), want %s", code(err), err, c.code)
			}
			if ae := err.(*awsproto.Error); c.msg != "" && ae.Message != c.msg {
				t.Errorf("message %q, want %q", ae.Message, c.msg)
			}
			if c.issuerErr == nil && len(u.issuer.calls) != 0 {
				t.Errorf("credentials issued: %+v", u.issuer.calls[0])
			}
			recs := stop()
			if len(recs) != 1 || recs[0]["decision"] != "refused" || recs[0]["errorCode"] != c.code || recs[0]["kind"] != AgentAuditKind {
				t.Fatalf("audit records %v", recs)
			}
			if c.reason != "" && recs[0]["reason"] != c.reason {
				t.Errorf("audit reason %q, want %q", recs[0]["reason"], c.reason)
			}
		})
	}
}

// fakeReviewer answers TokenReviews from a table of live tokens; a token
// not in it (its pod deleted) is not authenticated.
type fakeReviewer struct {
	mu   sync.Mutex
	live map[string]*Review
}

func (f *fakeReviewer) Review(_ context.Context, _, token string, aud []string) (*Review, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.live[token]
	if !ok || !slices.Equal(aud, []string{k8s.AgentAudience}) {
		return &Review{Error: "[invalid bearer token, pod \"eks-pod-identity-agent-x7k2p\" not found]"}, nil
	}
	return r, nil
}

// TestAssumeRoleForAgentTokenReview: on a cluster checked with TokenReview
// (keys and the API server), an agent whose pod was deleted cannot
// refresh: the same token that was exchanged is refused once the API
// server no longer authenticates it.
func TestAssumeRoleForAgentTokenReview(t *testing.T) {
	rv := &fakeReviewer{live: map[string]*Review{}}
	u := newUnit(t, func(c *Config) { c.Reviewer = rv })
	u.svc.cfg.AgentIssuer = u.issuer
	if err := u.st.Update(context.Background(), func(tx store.Tx) error {
		c, err := tx.GetCluster("c1")
		if err != nil {
			return err
		}
		c.Tags = map[string]string{TokenReviewTag: "true"}
		return tx.UpdateCluster(c)
	}); err != nil {
		t.Fatal(err)
	}
	tok := u.token(t, agentClaims(u.now))
	rv.live[tok] = &Review{Authenticated: true, Username: "system:serviceaccount:kube-system:eks-pod-identity-agent", UID: "sa-uid", Audiences: []string{k8s.AgentAudience},
		Extra: map[string][]string{ExtraPodName: {"eks-pod-identity-agent-x7k2p"}, ExtraPodUID: {"agent-uid-1"}, ExtraNodeName: {"node-1"}, ExtraNodeUID: {"n1"}}}
	if _, err := u.svc.AssumeRoleForAgent(context.Background(), &Input{ClusterName: "c1", Token: tok}); err != nil {
		t.Fatal(err)
	}
	// The review's node must match the signed claim.
	rv.live[tok].Extra[ExtraNodeName] = []string{"node-2"}
	u.now = u.now.Add(2 * time.Second) // past the cluster cache
	if _, err := u.svc.AssumeRoleForAgent(context.Background(), &Input{ClusterName: "c1", Token: tok}); code(err) != "InvalidTokenException" {
		t.Errorf("review naming another node: %v", err)
	}
	delete(rv.live, tok) // the agent's pod is deleted
	_, err := u.svc.AssumeRoleForAgent(context.Background(), &Input{ClusterName: "c1", Token: tok})
	if code(err) != "InvalidTokenException" {
		t.Fatalf("deleted pod's refresh: %v", err)
	}
	if len(u.issuer.calls) != 1 {
		t.Errorf("%d issuances, want 1", len(u.issuer.calls))
	}
}

// TestAgentExchangeWire: the unsigned route, its refusals in restJson1's
// shape, and that EKS Auth's own path still needs a signature.
func TestAgentExchangeWire(t *testing.T) {
	u := newUnit(t, nil)
	u.svc.cfg.AgentIssuer = u.issuer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(awsproto.WithRequestID(r.Context(), "req-1"))
		u.svc.ServeHTTP(w, r)
	}))
	defer srv.Close()
	post := func(method, path, body string) (int, string, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), string(b)
	}
	status, _, body := post("POST", "/podid/v1/clusters/c1/assume-role-for-agent", `{"token":"`+u.token(t, agentClaims(u.now))+`"}`)
	var out AgentOutput
	if status != 200 || json.Unmarshal([]byte(body), &out) != nil || out.NodeName != "node-1" || out.Credentials.SecretAccessKey != "secret" {
		t.Errorf("exchange: %d %s", status, body)
	}
	for _, c := range []struct{ method, path, body, errType string }{
		{"POST", "/podid/v1/clusters/c1/assume-role-for-agent", `{"token":1}`, "InvalidParameterException"},
		{"POST", "/podid/v1/clusters/c1/assume-role-for-agent", ``, "InvalidParameterException"},
		{"GET", "/podid/v1/clusters/c1/assume-role-for-agent", ``, "UnknownOperationException"},
	} {
		if _, et, b := post(c.method, c.path, c.body); !strings.HasPrefix(et, c.errType) {
			t.Errorf("%s %s %q: %s %s", c.method, c.path, c.body, et, b)
		}
	}
	d := u.svc.Descriptor()
	if !slices.Equal(d.AnonymousPaths, []string{AgentPathPattern}) || !slices.Contains(d.UnsignedPaths, AgentPathPattern) || !slices.Contains(d.Operations, AgentOperation) {
		t.Errorf("descriptor %+v", d)
	}
}

func TestAgentRoleNames(t *testing.T) {
	if got := AgentRoleName("c1"); got != "podid-agent-c1" {
		t.Errorf("AgentRoleName(c1) = %s", got)
	}
	long := strings.Repeat("a", 100)
	if got := AgentRoleName(long); len(got) > 64 || !strings.HasPrefix(got, "podid-agent-"+strings.Repeat("a", 35)+"-") || got == AgentRoleName(long[:99]+"b") {
		t.Errorf("AgentRoleName(100 a) = %s", got)
	}
	if got := agentSessionName("ip-10-0-1-2.us-west-2.compute.internal"); got != "node-ip-10-0-1-2.us-west-2.compute.internal" {
		t.Errorf("session name %s", got)
	}
	if got := agentSessionName(strings.Repeat("n", 253)); len(got) != 64 {
		t.Errorf("long session name %d characters", len(got))
	}
	want := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"agent.podid.dev"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:SourceArn":"arn:aws:eks:us-west-2:123456789012:cluster/c1","aws:SourceAccount":"123456789012"}}}]}`
	if got := AgentTrustPolicy("", "us-west-2", "123456789012", "c1"); got != want {
		t.Errorf("trust policy %s", got)
	}
}
