package eksauth

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podid/podid/internal/kubeapi"
	"github.com/podid/podid/internal/store"
)

// apiServer speaks the TokenReview API (authentication.k8s.io/v1) the way
// kube-apiserver does, over TLS on 127.0.0.1: it authenticates podid's
// bearer token, then answers from its table of live tokens.
type apiServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	status  int
	reviews map[string]map[string]any // token → status
	calls   atomic.Int64
}

const podidBearer = "podid-reviewer-token"

func newAPIServer(t *testing.T) *apiServer {
	a := &apiServer{status: http.StatusCreated, reviews: map[string]map[string]any{}}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+podidBearer {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`)
			return
		}
		var tr struct {
			APIVersion, Kind string
			Spec             struct {
				Token     string   `json:"token"`
				Audiences []string `json:"audiences"`
			} `json:"spec"`
		}
		if r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&tr); err != nil || tr.Kind != "TokenReview" || tr.APIVersion != "authentication.k8s.io/v1" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		status, code := a.reviews[tr.Spec.Token], a.status
		a.mu.Unlock()
		if code != http.StatusCreated {
			w.WriteHeader(code)
			io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"internal error","code":500}`)
			return
		}
		if status == nil || !slices.Equal(tr.Spec.Audiences, []string{"pods.eks.amazonaws.com"}) {
			status = map[string]any{"authenticated": false, "error": "[invalid bearer token, token lookup failed]"}
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
			"metadata": map[string]any{"creationTimestamp": nil}, "spec": tr.Spec, "status": status})
	}))
	// The untrusting client's handshake failure is expected; keep it out
	// of the test output.
	a.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	return a
}

func (a *apiServer) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.srv.Certificate().Raw})
}

// live registers token as a pod-bound token of carts/SA.
func (a *apiServer) live(token, sa, pod, podUID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reviews[token] = map[string]any{"authenticated": true, "audiences": []string{"pods.eks.amazonaws.com"},
		"user": map[string]any{"username": "system:serviceaccount:carts:" + sa, "uid": "sa-uid",
			"groups": []string{"system:serviceaccounts", "system:serviceaccounts:carts", "system:authenticated"},
			"extra": map[string][]string{ExtraPodName: {pod}, ExtraPodUID: {podUID}, ExtraNodeName: {"node-1"}, ExtraNodeUID: {"n1"},
				"authentication.kubernetes.io/credential-id": {"JTI=1"}}}}
}

func (a *apiServer) set(token string, status map[string]any) {
	a.mu.Lock()
	a.reviews[token] = status
	a.mu.Unlock()
}

// fakeAPIs gives access to one API server and counts lookups.
type fakeAPIs struct {
	access  *kubeapi.Access
	lookups atomic.Int64
}

func (f *fakeAPIs) ClusterAPI(_ context.Context, cluster string) (*kubeapi.Access, error) {
	f.lookups.Add(1)
	if cluster == "no-api" {
		return nil, nil
	}
	return f.access, nil
}

// TestTokenReview: clusters checked through their API server, alone (no
// issuer) or after the signature check (TokenReviewTag).
func TestTokenReview(t *testing.T) {
	api := newAPIServer(t)
	apis := &fakeAPIs{access: &kubeapi.Access{Endpoint: api.srv.URL, CAData: api.caPEM(), BearerToken: podidBearer}}
	reviewer := NewKubeReviewer(apis)
	u := newUnit(t, func(c *Config) { c.Reviewer = reviewer })
	jwks := u.st // the unit's store
	var c1 *store.Cluster
	jwks.View(context.Background(), func(tx store.Tx) error { c1, _ = tx.GetCluster("c1"); return nil })
	putCluster(t, u.st, &store.Cluster{Name: "api-only", Kind: store.ClusterExternal})
	putCluster(t, u.st, &store.Cluster{Name: "no-api", Kind: store.ClusterExternal})
	putCluster(t, u.st, &store.Cluster{Name: "both", Kind: store.ClusterExternal, IssuerURL: unitIssuer, JWKS: c1.JWKS, Tags: map[string]string{TokenReviewTag: "true"}})
	assocs := u.svc.cfg.Associations.(fakeAssocs)
	for _, c := range []string{"api-only", "no-api", "both"} {
		assocs[[3]string{c, "carts", "carts"}] = &store.Association{ID: "a-" + c, RoleARN: "arn:aws:iam::123456789012:role/pod"}
	}

	good := u.token(t, podClaims(u.now, "carts"))
	api.live(good, "carts", "carts-7c9d8b6d4-x2x8p", "uid-1")
	deleted := u.token(t, podClaims(u.now.Add(-time.Second), "carts")) // another pod's token, since deleted
	api.set(deleted, map[string]any{"authenticated": false, "error": `[pod "carts-old" not found]`})
	expiredClaims := podClaims(u.now.Add(-3*time.Hour), "carts")
	expired := u.token(t, expiredClaims)
	otherPod := u.token(t, podClaims(u.now.Add(-2*time.Second), "carts"))
	api.live(otherPod, "carts", "carts-other", "uid-2")
	wrongAud := u.token(t, podClaims(u.now.Add(-3*time.Second), "carts"))
	api.set(wrongAud, map[string]any{"authenticated": true, "audiences": []string{"https://kubernetes.default.svc"},
		"user": map[string]any{"username": "system:serviceaccount:carts:carts", "extra": map[string][]string{ExtraPodName: {"p"}, ExtraPodUID: {"u"}}}})
	legacy := u.token(t, podClaims(u.now.Add(-4*time.Second), "carts"))
	api.set(legacy, map[string]any{"authenticated": true, "audiences": []string{"pods.eks.amazonaws.com"},
		"user": map[string]any{"username": "system:serviceaccount:carts:carts"}})
	otherNode := u.token(t, podClaims(u.now.Add(-7*time.Second), "carts")) // signed for node-1
	api.live(otherNode, "carts", "carts-7c9d8b6d4-x2x8p", "uid-1")
	api.mu.Lock()
	api.reviews[otherNode]["user"].(map[string]any)["extra"].(map[string][]string)[ExtraNodeName] = []string{"node-2"}
	api.mu.Unlock()
	notSA := u.token(t, podClaims(u.now.Add(-5*time.Second), "carts"))
	api.set(notSA, map[string]any{"authenticated": true, "audiences": []string{"pods.eks.amazonaws.com"},
		"user": map[string]any{"username": "admin", "extra": map[string][]string{ExtraPodName: {"p"}, ExtraPodUID: {"u"}}}})

	for _, c := range []struct {
		name, cluster, token, want string
	}{
		{"API only, live pod", "api-only", good, ""},
		{"API only, deleted pod", "api-only", deleted, "InvalidTokenException"},
		{"API only, expired token", "api-only", expired, "ExpiredTokenException"},
		{"API only, audience not granted", "api-only", wrongAud, "InvalidTokenException"},
		{"API only, not pod-bound", "api-only", legacy, "InvalidTokenException"},
		{"API only, not a service account", "api-only", notSA, "InvalidTokenException"},
		{"API only, not a JWT payload", "api-only", "eyJhbGciOiJSUzI1NiJ9.bm90LWpzb24.c2ln", "InvalidTokenException"},
		{"keys and review, live pod", "both", good, ""},
		{"keys and review, deleted pod", "both", deleted, "InvalidTokenException"},
		{"keys and review disagree", "both", otherPod, "InvalidTokenException"},
		{"keys and review disagree on the node", "both", otherNode, "InvalidTokenException"},
		{"keys and review, expired (signature check first)", "both", expired, "ExpiredTokenException"},
		{"no API access", "no-api", good, "ServiceUnavailableException"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: c.cluster, Token: c.token})
			if code(err) != c.want {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if err == nil && (out.Subject.Namespace != "carts" || out.Subject.ServiceAccount != "carts") {
				t.Errorf("subject %+v", out.Subject)
			}
		})
	}
	// The pod identity of an API-only exchange comes from the review.
	u.issuer.calls = nil
	if _, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "api-only", Token: otherPod}); err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, tag := range u.issuer.calls[0].Tags {
		tags[tag.Key] = tag.Value
	}
	if tags["kubernetes-pod-name"] != "carts-other" || tags["kubernetes-pod-uid"] != "uid-2" {
		t.Errorf("tags %v", tags)
	}
	// Node binding on an API-only cluster: the node is the review's
	// node-name extra (the payload, unverified there, has no node claim).
	noNodeClaims := podClaims(u.now.Add(-6*time.Second), "carts")
	delete(noNodeClaims["kubernetes.io"].(map[string]any), "node")
	reviewedNode := u.token(t, noNodeClaims)
	api.live(reviewedNode, "carts", "carts-7c9d8b6d4-x2x8p", "uid-1")
	for node, want := range map[string]string{"node-1": "", "node-2": "AccessDeniedException"} {
		_, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", map[string]string{NodeNameTag: node}), &Input{ClusterName: "api-only", Token: reviewedNode})
		if code(err) != want {
			t.Errorf("API only, agent bound to %s: %v, want %q", node, err, want)
		}
	}
	// One client per cluster, reused.
	if n := apis.lookups.Load(); n > 3 {
		t.Errorf("%d access lookups for 3 clusters", n)
	}

	// The API server failing or refusing podid: ServiceUnavailableException.
	api.mu.Lock()
	api.status = http.StatusInternalServerError
	api.mu.Unlock()
	if _, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "api-only", Token: good}); code(err) != "ServiceUnavailableException" {
		t.Errorf("API server 500: %v", err)
	}
	api.mu.Lock()
	api.status = http.StatusCreated
	api.mu.Unlock()
	bad := NewKubeReviewer(&fakeAPIs{access: &kubeapi.Access{Endpoint: api.srv.URL, CAData: api.caPEM(), BearerToken: "wrong"}})
	_, err := bad.Review(context.Background(), "api-only", good, []string{"pods.eks.amazonaws.com"})
	if err == nil || strings.Contains(err.Error(), good) || strings.Contains(err.Error(), "wrong") {
		t.Errorf("unauthorized reviewer: %v (must fail without echoing secrets)", err)
	}
	untrusted := NewKubeReviewer(&fakeAPIs{access: &kubeapi.Access{Endpoint: api.srv.URL, BearerToken: podidBearer}})
	if _, err := untrusted.Review(context.Background(), "api-only", good, nil); err == nil {
		t.Error("a server whose CA is not given was trusted")
	}
	if _, err := NewKubeReviewer(&fakeAPIs{}).Review(context.Background(), "no-api", good, nil); !errors.Is(err, ErrNoClusterAPI) {
		t.Errorf("no access: %v", err)
	}
}

// TestTokenReviewNotConfigured: a cluster that needs TokenReview on a
// server without a reviewer is refused as unavailable.
func TestTokenReviewNotConfigured(t *testing.T) {
	u := newUnit(t, nil)
	putCluster(t, u.st, &store.Cluster{Name: "api-only", Kind: store.ClusterExternal})
	_, err := u.svc.AssumeRoleForPodIdentity(agentCtx("agent", nil), &Input{ClusterName: "api-only", Token: u.token(t, podClaims(u.now, "carts"))})
	if code(err) != "ServiceUnavailableException" {
		t.Errorf("got %v", err)
	}
}
