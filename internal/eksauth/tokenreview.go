package eksauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authnclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/client-go/rest"

	"github.com/podid/podid/internal/kubeapi"
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

// ClusterAPIs returns the API server access of external clusters. The
// identity of podid's bearer token there needs create on
// tokenreviews.authentication.k8s.io (system:auth-delegator).
type ClusterAPIs interface {
	// ClusterAPI returns cluster's API access, or nil when podid has none.
	ClusterAPI(ctx context.Context, cluster string) (*kubeapi.Access, error)
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
	// ClientTTL bounds how long a cluster's access is reused before it is
	// read again (default 30 s).
	ClientTTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	clients  kubeapi.ClientCache[authnclient.TokenReviewInterface]
	mu       sync.Mutex
	accesses map[string]loadedAccess // by cluster
}

type loadedAccess struct {
	access *kubeapi.Access
	loaded time.Time
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

// client returns the cluster's TokenReview client. The cluster's access is
// read again once it is older than ClientTTL, and a client is built only
// when that access changed.
func (k *KubeReviewer) client(ctx context.Context, cluster string) (authnclient.TokenReviewInterface, error) {
	access, err := k.access(ctx, cluster)
	if err != nil {
		return nil, err
	}
	return k.clients.Get(cluster, access, func(a *kubeapi.Access) (authnclient.TokenReviewInterface, error) {
		cfg := a.RESTConfig("podid-eks-auth")
		// JSON, which every API server speaks (client-go would otherwise
		// send protobuf for built-in types).
		cfg.ContentConfig = rest.ContentConfig{ContentType: "application/json", AcceptContentTypes: "application/json"}
		// EKS Auth has its own per-cluster rate limit; client-go's default
		// of 5 requests per second would be the bottleneck.
		cfg.QPS, cfg.Burst = 500, 1000
		c, err := authnclient.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		return c.TokenReviews(), nil
	})
}

// access returns the cluster's API access, read from APIs at most once per
// ClientTTL.
func (k *KubeReviewer) access(ctx context.Context, cluster string) (*kubeapi.Access, error) {
	ttl := k.ClientTTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	now := k.now()
	k.mu.Lock()
	la, ok := k.accesses[cluster]
	k.mu.Unlock()
	if ok && now.Sub(la.loaded) < ttl && !now.Before(la.loaded) {
		return la.access, nil
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
	k.mu.Lock()
	if k.accesses == nil {
		k.accesses = map[string]loadedAccess{}
	}
	k.accesses[cluster] = loadedAccess{access: access, loaded: now}
	k.mu.Unlock()
	return access, nil
}
