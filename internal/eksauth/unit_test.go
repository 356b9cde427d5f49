package eksauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/podid/podid/internal/ids"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/sqlite"
)

var unitNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fakeIssuer records its calls and mints fake credentials.
type fakeIssuer struct {
	mu    sync.Mutex
	calls []*AssumeInput
	err   error
}

func (f *fakeIssuer) mint(in *AssumeInput) *Credentials {
	role := in.RoleARN[strings.LastIndexByte(in.RoleARN, '/')+1:]
	return &Credentials{AccessKeyID: "ASIAFAKE", SecretAccessKey: "secret", SessionToken: "token", Expiration: unitNow.Add(in.Duration),
		AssumedRoleARN: "arn:aws:sts::123456789012:assumed-role/" + role + "/" + in.SessionName, AssumedRoleID: "AROAFAKE:" + in.SessionName}
}

func (f *fakeIssuer) AssumeAsService(_ context.Context, in *AssumeInput) (*Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in)
	if f.err != nil {
		return nil, f.err
	}
	return f.mint(in), nil
}

func (f *fakeIssuer) AssumeFromSession(_ context.Context, _ *Credentials, in *AssumeInput) (*Credentials, error) {
	return f.AssumeAsService(context.Background(), in)
}

// fakeAuthz allows everything but the "denied" caller.
type fakeAuthz struct{}

func (fakeAuthz) Authorize(_ context.Context, p *auth.Principal, action, resource string, _ map[string][]string) error {
	if p.Name == "denied" {
		return &auth.DeniedError{Message: "User: " + p.ARN + " is not authorized to perform: " + action + " on resource: " + resource}
	}
	return nil
}

// fakeAssocs is a fixed association table.
type fakeAssocs map[[3]string]*store.Association

func (f fakeAssocs) Lookup(_ context.Context, c, ns, sa string) (*store.Association, bool) {
	a, ok := f[[3]string{c, ns, sa}]
	return a, ok
}

// unit is a Service over a real SQLite store with fake collaborators.
type unit struct {
	svc    *Service
	st     store.Store
	issuer *fakeIssuer
	key    *rsa.PrivateKey
	now    time.Time
}

const unitIssuer = "https://issuer.example/c1"

func newUnit(t testing.TB, mod func(*Config)) *unit {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	u := &unit{st: st, issuer: &fakeIssuer{}, key: key, now: unitNow}
	putCluster(t, st, &store.Cluster{Name: "c1", ARN: "arn:aws:eks:us-west-2:123456789012:cluster/c1", Kind: store.ClusterExternal, IssuerURL: unitIssuer, JWKS: string(jwks)})
	assocs := fakeAssocs{
		{"c1", "carts", "carts"}: {ID: "a-0000000000000000a", ARN: "arn:aws:eks:us-west-2:123456789012:podidentityassociation/c1/a-0000000000000000a", Cluster: "c1", Namespace: "carts", ServiceAccount: "carts", RoleARN: "arn:aws:iam::123456789012:role/pod"},
		{"c1", "carts", "target"}: {ID: "a-0000000000000000b", Cluster: "c1", Namespace: "carts", ServiceAccount: "target", RoleARN: "arn:aws:iam::123456789012:role/pod",
			TargetRoleARN: "arn:aws:iam::123456789012:role/target", ExternalID: "ext-id", Policy: `{"Version":"2012-10-17","Statement":[]}`, DisableSessionTags: true},
		{"c1", "carts", "notags"}: {ID: "a-0000000000000000c", Cluster: "c1", Namespace: "carts", ServiceAccount: "notags", RoleARN: "arn:aws:iam::123456789012:role/pod", DisableSessionTags: true, Policy: "{}"},
	}
	cfg := Config{Store: st, Associations: assocs, Authorizer: fakeAuthz{}, CredentialIssuer: u.issuer, Keys: &ClusterKeys{},
		AccountID: "123456789012", Region: "us-west-2", Now: func() time.Time { return u.now }}
	if mod != nil {
		mod(&cfg)
	}
	u.svc, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func putCluster(t testing.TB, st store.Store, c *store.Cluster) {
	t.Helper()
	if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.CreateCluster(c) }); err != nil {
		t.Fatal(err)
	}
}

// podClaims are a kube-apiserver token's claims for carts/SA on node-1.
func podClaims(now time.Time, sa string) map[string]any {
	return map[string]any{
		"iss": unitIssuer, "sub": "system:serviceaccount:carts:" + sa, "aud": []string{"pods.eks.amazonaws.com"},
		"exp": now.Add(time.Hour).Unix(), "iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(),
		"kubernetes.io": map[string]any{"namespace": "carts", "pod": map[string]any{"name": "carts-7c9d8b6d4-x2x8p", "uid": "uid-1"},
			"serviceaccount": map[string]any{"name": sa, "uid": "sa-uid"}, "node": map[string]any{"name": "node-1", "uid": "n1"}},
	}
}

func (u *unit) token(t testing.TB, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: u.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func agentCtx(name string, tags map[string]string) context.Context {
	p := &auth.Principal{Type: auth.User, AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:user/" + name, Name: name}
	if tags != nil {
		p.Type = auth.AssumedRole
		p.Session = &auth.Session{Type: auth.AssumedRole, RoleName: "node", Tags: tags}
	}
	return auth.WithPrincipal(context.Background(), p)
}

func code(err error) string {
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	if err != nil {
		return "non-protocol error: " + err.Error()
	}
	return ""
}

func TestSessionName(t *testing.T) {
	uuid := "5af5e7ac-5754-49ea-b28f-2c2a2eb95fbb"
	for _, c := range []struct{ cluster, pod, want string }{
		// The observed real name (spec §7.2), 62 characters.
		{"k8s-wl-dev-cluster", "engine-booking-5d8f7-abcde", "eks-k8s-wl-dev-engine-boo-" + uuid},
		{"eks-workshop", "carts-7c9d8b6d4-x2x8p", "eks-eks-worksh-carts-7c9d-" + uuid},
		{"c", "p", "eks-c-p-" + uuid},
		{"my_cluster", "pod.with.dots", "eks-my_cluster-pod.with.d-" + uuid},
		{"c", "pod:with/odd*", "eks-c-pod-with-o-" + uuid},
	} {
		got := SessionName(c.cluster, c.pod, uuid)
		if got != c.want {
			t.Errorf("SessionName(%q, %q) = %q, want %q", c.cluster, c.pod, got, c.want)
		}
		if len(got) > 64 {
			t.Errorf("%q is longer than 64", got)
		}
	}
	if u := ids.NewUUID(); len(u) != 36 || u[14] != '4' || !strings.ContainsRune("89ab", rune(u[19])) {
		t.Errorf("ids.NewUUID() = %q, not a version 4 UUID", u)
	}
}

func TestValidClusterName(t *testing.T) {
	for name, want := range map[string]bool{
		"eks-workshop": true, "a": true, "A_1-b": true, "0abc": true, strings.Repeat("a", 100): true,
		"": false, "-a": false, "_a": false, "a.b": false, "a/b": false, "a b": false, strings.Repeat("a", 101): false, "ünï": false,
	} {
		if got := validClusterName(name); got != want {
			t.Errorf("validClusterName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestKeyedBuckets(t *testing.T) {
	l := newKeyedBuckets(2, 3)
	now := unitNow
	for i := 0; i < 3; i++ {
		if !l.take("a", now) {
			t.Fatalf("call %d refused within the burst", i)
		}
	}
	if l.take("a", now) || l.has("a", now) {
		t.Error("call beyond the burst allowed")
	}
	if !l.has("b", now) || !l.take("b", now) {
		t.Error("another key's bucket is shared")
	}
	if !l.has("a", now.Add(500*time.Millisecond)) || !l.take("a", now.Add(500*time.Millisecond)) || l.take("a", now.Add(500*time.Millisecond)) {
		t.Error("refill of 2/s gives one token in 500 ms")
	}
	// A clock going backwards does not add tokens.
	if l.take("a", now.Add(-time.Hour)) {
		t.Error("clock skew refilled the bucket")
	}
	// has never creates a bucket.
	l.has("c", now)
	if l.len() != 2 {
		t.Errorf("%d buckets, want 2", l.len())
	}
	free := newKeyedBuckets(0, 0)
	for i := 0; i < 1000; i++ {
		if !free.take("a", now) {
			t.Fatal("unlimited limiter refused")
		}
	}
	if free.len() != 0 {
		t.Error("an unlimited limiter keeps buckets")
	}
}

// TestKeyedBucketsBounded: a flood of distinct keys never holds more than
// the bound; idle (refilled) buckets are dropped to make room, and active
// ones keep limiting.
func TestKeyedBucketsBounded(t *testing.T) {
	l := newKeyedBuckets(1, 2)
	now := unitNow
	l.take("active", now)
	l.take("active", now)
	const bound = maxBucketsPerShard * bucketShards
	for i := range 2 * bound {
		l.take(fmt.Sprintf("k%d", i), now) // each bucket left half full: active
	}
	if n := l.len(); n > bound {
		t.Errorf("%d buckets, more than the bound %d", n, bound)
	}
	if l.take("active", now) {
		t.Error("the active bucket was dropped")
	}
	// Later, the buckets have refilled: idle ones make room for new keys.
	later := now.Add(10 * time.Second)
	for i := range bound / 2 {
		l.take(fmt.Sprintf("n%d", i), later)
	}
	if n := l.len(); n > bound || n < bound/2 {
		t.Errorf("%d buckets after idle ones were swept, want at most %d and most of the new keys", n, bound)
	}
	l.take("x", later)
	if l.take("x", later); l.take("x", later) {
		t.Error("a new key after the sweep is not limited")
	}
}

func TestModeOf(t *testing.T) {
	for _, c := range []struct {
		name string
		c    store.Cluster
		want verifyMode
	}{
		{"hosted", store.Cluster{Kind: store.ClusterHosted, IssuerURL: "http://x"}, verifyMode{keys: true}},
		{"hosted ignores the tag", store.Cluster{Kind: store.ClusterHosted, Tags: map[string]string{TokenReviewTag: "true"}}, verifyMode{keys: true}},
		{"external with issuer", store.Cluster{Kind: store.ClusterExternal, IssuerURL: "https://x"}, verifyMode{keys: true}},
		{"external with issuer and tag", store.Cluster{Kind: store.ClusterExternal, IssuerURL: "https://x", Tags: map[string]string{TokenReviewTag: " TRUE "}}, verifyMode{keys: true, review: true}},
		{"external, tag false", store.Cluster{Kind: store.ClusterExternal, IssuerURL: "https://x", Tags: map[string]string{TokenReviewTag: "false"}}, verifyMode{keys: true}},
		{"external API only", store.Cluster{Kind: store.ClusterExternal}, verifyMode{review: true}},
	} {
		if got := modeOf(&c.c); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestCheckFetchURL(t *testing.T) {
	for _, c := range []struct {
		url      string
		loopback bool
		ok       bool
	}{
		{"https://oidc.example/id/X", false, true},
		{"HTTPS://oidc.example", false, true},
		{"http://oidc.example/id/X", true, false},
		{"http://127.0.0.1:8080/x", false, false},
		{"http://127.0.0.1:8080/x", true, true},
		{"http://[::1]:8080/x", true, true},
		{"http://localhost/x", true, true},
		{"http://127.0.0.1.evil.example/x", true, false},
		{"http://user@127.0.0.1/x", true, true},
		{"http://127.0.0.1@evil.example/x", true, false},
		{"http://10.0.0.1/x", true, false},
		{"ftp://127.0.0.1/x", true, false},
		{"file:///etc/passwd", true, false},
		{"127.0.0.1/x", true, false},
	} {
		err := checkFetchURL(c.url, c.loopback)
		if (err == nil) != c.ok {
			t.Errorf("checkFetchURL(%q, loopback=%v) = %v, want ok=%v", c.url, c.loopback, err, c.ok)
		}
	}
}

func TestMapIssuerError(t *testing.T) {
	for _, c := range []struct {
		in     error
		code   string
		status int
	}{
		{awsproto.Errorf(403, "AccessDenied", "User: x is not authorized"), "AccessDeniedException", 400},
		{awsproto.Errorf(400, "ValidationError", "bad"), "InvalidParameterException", 400},
		{awsproto.Errorf(400, "PackedPolicyTooLarge", "too big"), "InvalidParameterException", 400},
		{awsproto.Errorf(400, "MalformedPolicyDocument", "bad"), "InvalidParameterException", 400},
		{awsproto.Errorf(400, "Throttling", "slow down"), "ThrottlingException", 429},
		{awsproto.Errorf(403, "ExpiredToken", "x"), "InternalServerException", 500},
		{awsproto.Errorf(503, "ServiceUnavailable", "x"), "ServiceUnavailableException", 503},
		{awsproto.Errorf(400, "IDPRejectedClaim", "x"), "InvalidRequestException", 400},
		{errors.New("boom"), "InternalServerException", 500},
	} {
		var ae *awsproto.Error
		if !errors.As(mapIssuerError(c.in), &ae) || ae.Code != c.code || ae.Status != c.status {
			t.Errorf("mapIssuerError(%v) = %v, want %s %d", c.in, ae, c.code, c.status)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	u := newUnit(t, nil)
	base := u.svc.cfg
	for name, mod := range map[string]func(*Config){
		"no store":           func(c *Config) { c.Store = nil },
		"no issuer":          func(c *Config) { c.CredentialIssuer = nil },
		"no account":         func(c *Config) { c.AccountID = "" },
		"duration too short": func(c *Config) { c.SessionDuration = 10 * time.Minute },
		"duration too long":  func(c *Config) { c.SessionDuration = 13 * time.Hour },
		"negative rate":      func(c *Config) { c.RateLimit = -1 },
	} {
		cfg := base
		mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// TestServiceCalls checks what the service asks of the CredentialIssuer: tags,
// transitive keys, durations, session policy placement, externalId and the
// aws:SourceArn / aws:SourceAccount of the cluster.
func TestServiceCalls(t *testing.T) {
	u := newUnit(t, nil)
	ctx := agentCtx("agent", nil)
	out, err := u.svc.AssumeRoleForPodIdentity(ctx, &Input{ClusterName: "c1", Token: u.token(t, podClaims(u.now, "carts"))})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.issuer.calls) != 1 {
		t.Fatalf("%d issuer calls", len(u.issuer.calls))
	}
	c := u.issuer.calls[0]
	wantTags := []Tag{{Key: "eks-cluster-arn", Value: "arn:aws:eks:us-west-2:123456789012:cluster/c1"}, {Key: "eks-cluster-name", Value: "c1"}, {Key: "kubernetes-namespace", Value: "carts"},
		{Key: "kubernetes-service-account", Value: "carts"}, {Key: "kubernetes-pod-name", Value: "carts-7c9d8b6d4-x2x8p"}, {Key: "kubernetes-pod-uid", Value: "uid-1"}}
	if len(c.Tags) != 6 || strings.Join(c.TransitiveTagKeys, ",") != strings.Join(SessionTagKeys, ",") {
		t.Errorf("tags %v transitive %v", c.Tags, c.TransitiveTagKeys)
	}
	for i, tag := range wantTags {
		if i < len(c.Tags) && c.Tags[i] != tag {
			t.Errorf("tag %d = %v, want %v", i, c.Tags[i], tag)
		}
	}
	if c.Duration != 6*time.Hour || c.SourceARN != "arn:aws:eks:us-west-2:123456789012:cluster/c1" || c.SourceAccount != "123456789012" || c.Policy != "" || c.ExternalID != "" {
		t.Errorf("first hop %+v", c)
	}
	if out.Credentials.Expiration != unitNow.Add(6*time.Hour).Unix() || out.Audience != "pods.eks.amazonaws.com" || out.PodIdentityAssociation.AssociationID != "a-0000000000000000a" {
		t.Errorf("output %+v", out)
	}

	// Target role: no tags (disabled), the policy on the second hop only,
	// externalId, one hour.
	u.issuer.calls = nil
	if _, err := u.svc.AssumeRoleForPodIdentity(ctx, &Input{ClusterName: "c1", Token: u.token(t, podClaims(u.now, "target"))}); err != nil {
		t.Fatal(err)
	}
	if len(u.issuer.calls) != 2 {
		t.Fatalf("%d issuer calls, want 2", len(u.issuer.calls))
	}
	first, second := u.issuer.calls[0], u.issuer.calls[1]
	if len(first.Tags) != 0 || first.Policy != "" || first.RoleARN != "arn:aws:iam::123456789012:role/pod" {
		t.Errorf("first hop %+v", first)
	}
	if second.RoleARN != "arn:aws:iam::123456789012:role/target" || second.ExternalID != "ext-id" || second.Duration != time.Hour || second.Policy == "" || second.SessionName != first.SessionName {
		t.Errorf("second hop %+v", second)
	}

	// Session tags disabled, policy on the only hop.
	u.issuer.calls = nil
	if _, err := u.svc.AssumeRoleForPodIdentity(ctx, &Input{ClusterName: "c1", Token: u.token(t, podClaims(u.now, "notags"))}); err != nil {
		t.Fatal(err)
	}
	if c := u.issuer.calls[0]; len(c.Tags) != 0 || len(c.TransitiveTagKeys) != 0 || c.Policy != "{}" {
		t.Errorf("disabled tags: %+v", c)
	}

	// An issuer refusal is AccessDeniedException.
	u.issuer.err = awsproto.Errorf(403, "AccessDenied", "User: pods.eks.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/pod")
	_, err = u.svc.AssumeRoleForPodIdentity(ctx, &Input{ClusterName: "c1", Token: u.token(t, podClaims(u.now, "carts"))})
	if code(err) != "AccessDeniedException" {
		t.Errorf("issuer refusal: %v", err)
	}
}

func TestNodeBinding(t *testing.T) {
	u := newUnit(t, nil)
	tok := u.token(t, podClaims(u.now, "carts"))
	noNode := podClaims(u.now, "carts")
	delete(noNode["kubernetes.io"].(map[string]any), "node")
	const (
		mismatch = "The calling agent runs on node node-2, but the token belongs to a pod on another node."
		noClaim2 = "The calling agent runs on node node-2, but the token names no node."
		noClaim1 = "The calling agent runs on node node-1, but the token names no node."
	)
	for _, c := range []struct {
		name  string
		ctx   context.Context
		token string
		msg   string // the AccessDeniedException's message, "" for an issuance
	}{
		{"unbound agent", agentCtx("agent", nil), tok, ""},
		{"bound to the token's node", agentCtx("agent", map[string]string{NodeNameTag: "node-1"}), tok, ""},
		{"tag key in another case", agentCtx("agent", map[string]string{"PodID:Node-Name": "node-2"}), tok, mismatch},
		{"bound to another node", agentCtx("agent", map[string]string{NodeNameTag: "node-2"}), tok, mismatch},
		{"token without a node claim", agentCtx("agent", map[string]string{NodeNameTag: "node-2"}), u.token(t, noNode), noClaim2},
		{"token without a node claim, agent of the pod's node", agentCtx("agent", map[string]string{NodeNameTag: "node-1"}), u.token(t, noNode), noClaim1},
		{"token without a node claim, unbound agent", agentCtx("agent", nil), u.token(t, noNode), ""},
		{"session without the tag", agentCtx("agent", map[string]string{"other": "x"}), tok, ""},
	} {
		_, err := u.svc.AssumeRoleForPodIdentity(c.ctx, &Input{ClusterName: "c1", Token: c.token})
		var ae *awsproto.Error
		switch {
		case c.msg == "" && err != nil:
			t.Errorf("%s: %v, want an issuance", c.name, err)
		case c.msg != "" && (!errors.As(err, &ae) || ae.Code != "AccessDeniedException" || ae.Status != http.StatusBadRequest || ae.Message != c.msg):
			t.Errorf("%s: %v, want AccessDeniedException %q", c.name, err, c.msg)
		}
	}
}

// TestNodeMismatchAudited: a node-bound agent presenting another node's pod
// token is refused with AccessDeniedException naming its node, and the
// refusal is audited with both nodes, the pod and the caller.
func TestNodeMismatchAudited(t *testing.T) {
	u := newUnit(t, nil)
	lines := &lockedBuffer{}
	a := NewAuditor(AuditorConfig{Store: u.st, Lines: lines, Retention: 24 * time.Hour, Now: func() time.Time { return unitNow }})
	u.svc.cfg.Audit = a
	ctx, cancel := context.WithCancel(context.Background())
	go a.Run(ctx)
	_, err := u.svc.AssumeRoleForPodIdentity(agentCtx("node-b", map[string]string{NodeNameTag: "node-2"}), &Input{ClusterName: "c1", Token: u.token(t, podClaims(u.now, "carts"))})
	var ae *awsproto.Error
	if !errors.As(err, &ae) || ae.Code != "AccessDeniedException" || ae.Status != http.StatusBadRequest ||
		ae.Message != "The calling agent runs on node node-2, but the token belongs to a pod on another node." {
		t.Errorf("mismatch: %v", err)
	}
	if len(u.issuer.calls) != 0 {
		t.Errorf("credentials were issued: %+v", u.issuer.calls)
	}
	cancel()
	<-a.Flushed()
	got := strings.Split(strings.TrimSpace(lines.String()), "\n")
	if len(got) != 1 {
		t.Fatalf("%d audit lines, want 1:\n%s", len(got), lines.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(got[0]), &rec); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"decision": "refused", "errorCode": "AccessDeniedException", "cluster": "c1",
		"reason": "the calling agent is bound to node node-2, the token to node node-1",
		"node":   "node-1", "namespace": "carts", "serviceAccount": "carts", "podName": "carts-7c9d8b6d4-x2x8p", "podUid": "uid-1",
		"caller": "arn:aws:iam::123456789012:user/node-b",
	} {
		if rec[k] != want {
			t.Errorf("audit %s = %v, want %v (record %s)", k, rec[k], want, got[0])
		}
	}
}

// TestUnsignedAndDenied: no caller, and a caller the authorizer refuses.
func TestUnsignedAndDenied(t *testing.T) {
	u := newUnit(t, nil)
	tok := u.token(t, podClaims(u.now, "carts"))
	_, err := u.svc.AssumeRoleForPodIdentity(context.Background(), &Input{ClusterName: "c1", Token: tok})
	var ae *awsproto.Error
	if !errors.As(err, &ae) || ae.Code != "AccessDeniedException" || ae.Status != http.StatusBadRequest {
		t.Errorf("unsigned: %v", err)
	}
	_, err = u.svc.AssumeRoleForPodIdentity(agentCtx("denied", nil), &Input{ClusterName: "c1", Token: tok})
	if !errors.As(err, &ae) || ae.Code != "AccessDeniedException" || ae.Status != http.StatusBadRequest ||
		ae.Message != "User: arn:aws:iam::123456789012:user/denied is not authorized to perform: eks-auth:AssumeRoleForPodIdentity on resource: arn:aws:eks:us-west-2:123456789012:cluster/c1" {
		t.Errorf("denied: %v", err)
	}
}

func TestServiceAccountUser(t *testing.T) {
	for u, want := range map[string][2]string{
		"system:serviceaccount:carts:carts": {"carts", "carts"},
		"system:serviceaccount:ns:a:b":      {},
		"system:serviceaccount::sa":         {},
		"system:serviceaccount:ns:":         {},
		"system:serviceaccount:ns":          {},
		"system:node:ip-10-0-0-1":           {},
		"admin":                             {},
	} {
		ns, sa, ok := serviceAccountUser(u)
		if ok != (want[0] != "") || ns != want[0] && ok || sa != want[1] && ok {
			t.Errorf("serviceAccountUser(%q) = %q %q %v", u, ns, sa, ok)
		}
	}
}
