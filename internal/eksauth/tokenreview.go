package eksauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authnclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/client-go/rest"
)

// The user "extra" keys a kube-apiserver sets for a pod-bound
// service-account token (TokenReview status.user.extra).
const (
	ExtraPodName  = "authentication.kubernetes.io/pod-name"
	ExtraPodUID   = "authentication.kubernetes.io/pod-uid"
	ExtraNodeName = "authentication.kubernetes.io/node-name"
	ExtraNodeUID  = "authentication.kubernetes.io/node-uid"
)

// Review is a TokenReview's answer.
type Review struct {
	Authenticated bool
	// Error is the API server's reason for not authenticating.
	Error     string
	Username  string
	UID       string
	Audiences []string
	Extra     map[string][]string
}

// TokenReviewer asks a cluster's API server about a token (TokenReview,
// authentication.k8s.io/v1). The API server checks the signature, the
// audiences, the validity window and that the pod (and secret or node) the
// token is bound to still exists with the same UID.
type TokenReviewer interface {
	// Review reviews token for audiences in cluster. An error means the
	// API server could not be asked (or refused podid), not that the token
	// is bad.
	Review(ctx context.Context, cluster, token string, audiences []string) (*Review, error)
}

// ClusterAPI is how podid reaches an external cluster's API server. Never
// log it.
type ClusterAPI struct {
	// Endpoint is the API server's https URL.
	Endpoint string
	// CAData is the PEM CA bundle (nil: the system roots).
	CAData []byte
	// BearerToken authenticates podid; its identity needs create on
	// tokenreviews.authentication.k8s.io (system:auth-delegator).
	BearerToken string
}

// ClusterAPIs returns the API server access of external clusters.
type ClusterAPIs interface {
	// ClusterAPI returns cluster's API access, or nil when podid has none.
	ClusterAPI(ctx context.Context, cluster string) (*ClusterAPI, error)
}

// ErrNoClusterAPI means podid has no access to the cluster's API server.
var ErrNoClusterAPI = errors.New("eksauth: podid has no API access to the cluster")

// KubeReviewer is the TokenReviewer that calls kube-apiserver with
// client-go. It keeps one client per cluster and reads the cluster's access
// again after ClientTTL (a changed endpoint, CA or token is picked up then).
type KubeReviewer struct {
	APIs ClusterAPIs
	// Timeout bounds one review (default 2 s: the node agent gives EKS
	// Auth one second per call and retries).
	Timeout time.Duration
	// ClientTTL bounds how long a cluster's client is reused (default 30 s).
	ClientTTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu      sync.Mutex
	clients map[string]*reviewClient
}

type reviewClient struct {
	fingerprint [32]byte
	loaded      time.Time
	client      authnclient.TokenReviewInterface
}

// NewKubeReviewer returns a reviewer for the clusters apis gives access to.
func NewKubeReviewer(apis ClusterAPIs) *KubeReviewer {
	return &KubeReviewer{APIs: apis}
}

// Review implements TokenReviewer.
func (k *KubeReviewer) Review(ctx context.Context, cluster, token string, audiences []string) (*Review, error) {
	client, err := k.client(ctx, cluster)
	if err != nil {
		return nil, err
	}
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr, err := client.Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token, Audiences: audiences}}, metav1.CreateOptions{})
	if err != nil {
		// client-go's errors name the URL and status, never the token.
		return nil, fmt.Errorf("TokenReview on cluster %s: %w", cluster, err)
	}
	st := tr.Status
	out := &Review{
		Authenticated: st.Authenticated,
		Error:         st.Error,
		Username:      st.User.Username,
		UID:           st.User.UID,
		Audiences:     st.Audiences,
	}
	if len(st.User.Extra) > 0 {
		out.Extra = make(map[string][]string, len(st.User.Extra))
		for key, v := range st.User.Extra {
			out.Extra[key] = []string(v)
		}
	}
	return out, nil
}

func (k *KubeReviewer) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// client returns the cluster's TokenReview client, building it when the
// cached one is older than ClientTTL and the access changed.
func (k *KubeReviewer) client(ctx context.Context, cluster string) (authnclient.TokenReviewInterface, error) {
	ttl := k.ClientTTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	now := k.now()
	k.mu.Lock()
	rc := k.clients[cluster]
	k.mu.Unlock()
	if rc != nil && now.Sub(rc.loaded) < ttl && !now.Before(rc.loaded) {
		return rc.client, nil
	}
	if k.APIs == nil {
		return nil, ErrNoClusterAPI
	}
	access, err := k.APIs.ClusterAPI(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("API access of cluster %s: %w", cluster, err)
	}
	if access == nil || access.Endpoint == "" {
		return nil, ErrNoClusterAPI
	}
	fp := fingerprint(access)
	if rc != nil && rc.fingerprint == fp {
		k.store(cluster, &reviewClient{fingerprint: fp, loaded: now, client: rc.client})
		return rc.client, nil
	}
	cfg := &rest.Config{
		Host:            access.Endpoint,
		BearerToken:     access.BearerToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: access.CAData},
		UserAgent:       "podid-eks-auth",
		// JSON, which every API server speaks (client-go would otherwise
		// send protobuf for built-in types).
		ContentConfig: rest.ContentConfig{ContentType: "application/json", AcceptContentTypes: "application/json"},
		// EKS Auth has its own per-cluster rate limit; client-go's default
		// of 5 requests per second would be the bottleneck.
		QPS:   500,
		Burst: 1000,
	}
	c, err := authnclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for cluster %s: %w", cluster, err)
	}
	client := c.TokenReviews()
	k.store(cluster, &reviewClient{fingerprint: fp, loaded: now, client: client})
	return client, nil
}

func (k *KubeReviewer) store(cluster string, rc *reviewClient) {
	k.mu.Lock()
	if k.clients == nil {
		k.clients = map[string]*reviewClient{}
	}
	k.clients[cluster] = rc
	k.mu.Unlock()
}

func fingerprint(a *ClusterAPI) [32]byte {
	h := sha256.New()
	for _, p := range [][]byte{[]byte(a.Endpoint), a.CAData, []byte(a.BearerToken)} {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
