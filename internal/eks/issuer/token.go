package issuer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/podid/podid/internal/ids"
)

// Token lifetimes, as kube-apiserver bounds TokenRequest expirationSeconds.
const (
	// DefaultTokenTTL is the lifetime of a token minted with ttl 0: EKS's
	// projected-token expirationSeconds (86400).
	DefaultTokenTTL = 24 * time.Hour
	// MinTokenTTL is Kubernetes' minimum expirationSeconds.
	MinTokenTTL = 10 * time.Minute
	// MaxTokenTTL is the longest lifetime podid mints.
	MaxTokenTTL = 48 * time.Hour
)

// maxAudiences bounds the aud claim.
const maxAudiences = 16

var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// IsDNSLabel reports whether s is an RFC 1123 label of at most 63
// characters (a valid Kubernetes namespace name).
func IsDNSLabel(s string) bool { return len(s) <= 63 && dns1123Label.MatchString(s) }

// IsDNSSubdomain reports whether s is an RFC 1123 subdomain of at most 253
// characters (a valid Kubernetes service account, pod or node name).
func IsDNSSubdomain(s string) bool { return len(s) <= 253 && dns1123Subdomain.MatchString(s) }

// PodToken describes the pod a token is bound to.
type PodToken struct {
	Namespace      string
	ServiceAccount string
	PodName        string
	// PodUID is the pod's UID; a random UUID when empty.
	PodUID string
	// Node is the node the pod runs on; the node claim is left out when empty.
	Node      string
	Audiences []string
	// TTL is the token lifetime; 0 means DefaultTokenTTL.
	TTL time.Duration
}

// tokenClaims is the payload of a pod-bound service-account token, with
// the members kube-apiserver writes. aud is always an array, as
// kube-apiserver writes it.
type tokenClaims struct {
	Audience  []string  `json:"aud"`
	Expiry    int64     `json:"exp"`
	IssuedAt  int64     `json:"iat"`
	Issuer    string    `json:"iss"`
	ID        string    `json:"jti"`
	K8s       k8sClaims `json:"kubernetes.io"`
	NotBefore int64     `json:"nbf"`
	Subject   string    `json:"sub"`
}

type k8sClaims struct {
	Namespace      string   `json:"namespace"`
	Node           *nameUID `json:"node,omitempty"`
	Pod            nameUID  `json:"pod"`
	ServiceAccount nameUID  `json:"serviceaccount"`
}

type nameUID struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// MintPodToken returns a pod-bound service-account token for a hosted
// cluster, signed with the cluster's active key: the token the kubelet
// would project into the pod. It is the Go form of Mint for callers that
// prefer positional arguments.
func (i *Issuer) MintPodToken(ctx context.Context, cluster, namespace, serviceAccount, podName, podUID, node string, audiences []string, ttl time.Duration) (string, error) {
	tok, _, err := i.Mint(ctx, cluster, PodToken{
		Namespace: namespace, ServiceAccount: serviceAccount, PodName: podName, PodUID: podUID,
		Node: node, Audiences: audiences, TTL: ttl,
	})
	return tok, err
}

// Mint returns a pod-bound token for p and its expiry. Invalid input
// yields an error wrapping ErrInvalidArgument; a cluster without keys
// ErrNoKeys.
func (i *Issuer) Mint(ctx context.Context, cluster string, p PodToken) (string, time.Time, error) {
	if err := p.validate(); err != nil {
		return "", time.Time{}, err
	}
	ks, err := i.keys(ctx, cluster, false)
	if err != nil {
		return "", time.Time{}, err
	}
	if ks.signer == nil {
		return "", time.Time{}, ErrNoKeys
	}
	ttl := p.TTL
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	podUID := p.PodUID
	if podUID == "" {
		podUID = ids.NewUUID()
	}
	now := i.cfg.Now().UTC()
	exp := now.Add(ttl).Truncate(time.Second)
	claims := tokenClaims{
		Audience:  p.Audiences,
		Expiry:    exp.Unix(),
		IssuedAt:  now.Unix(),
		Issuer:    i.URL(cluster),
		ID:        ids.NewUUID(),
		NotBefore: now.Unix(),
		Subject:   "system:serviceaccount:" + p.Namespace + ":" + p.ServiceAccount,
		K8s: k8sClaims{
			Namespace:      p.Namespace,
			Pod:            nameUID{Name: p.PodName, UID: podUID},
			ServiceAccount: nameUID{Name: p.ServiceAccount, UID: stableUID("serviceaccount", cluster, p.Namespace, p.ServiceAccount)},
		},
	}
	if p.Node != "" {
		claims.K8s.Node = &nameUID{Name: p.Node, UID: stableUID("node", cluster, p.Node)}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issuer: encoding claims: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: Algorithm, Key: jose.JSONWebKey{Key: ks.signer, KeyID: ks.signerKID}}, nil)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issuer: creating signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issuer: signing token: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issuer: serializing token: %w", err)
	}
	return tok, exp, nil
}

func (p *PodToken) validate() error {
	switch {
	case !IsDNSLabel(p.Namespace):
		return fmt.Errorf("%w: namespace %q is not a valid Kubernetes namespace name", ErrInvalidArgument, p.Namespace)
	case !IsDNSSubdomain(p.ServiceAccount):
		return fmt.Errorf("%w: serviceAccount %q is not a valid Kubernetes service account name", ErrInvalidArgument, p.ServiceAccount)
	case !IsDNSSubdomain(p.PodName):
		return fmt.Errorf("%w: podName %q is not a valid Kubernetes pod name", ErrInvalidArgument, p.PodName)
	case p.Node != "" && !IsDNSSubdomain(p.Node):
		return fmt.Errorf("%w: nodeName %q is not a valid Kubernetes node name", ErrInvalidArgument, p.Node)
	case len(p.PodUID) > 128:
		return fmt.Errorf("%w: podUid is longer than 128 characters", ErrInvalidArgument)
	case len(p.Audiences) == 0:
		return fmt.Errorf("%w: at least one audience is required", ErrInvalidArgument)
	case len(p.Audiences) > maxAudiences:
		return fmt.Errorf("%w: at most %d audiences are allowed", ErrInvalidArgument, maxAudiences)
	case p.TTL != 0 && (p.TTL < MinTokenTTL || p.TTL > MaxTokenTTL):
		return fmt.Errorf("%w: the token lifetime must be between %d and %d seconds", ErrInvalidArgument, int(MinTokenTTL.Seconds()), int(MaxTokenTTL.Seconds()))
	}
	for _, a := range p.Audiences {
		if a == "" || len(a) > 256 {
			return fmt.Errorf("%w: audiences must be 1 to 256 characters", ErrInvalidArgument)
		}
	}
	return nil
}

// stableUID derives a UUID-shaped identifier from names, so that the same
// service account or node always carries the same UID in its tokens
// (podid-hosted clusters have no API objects to take UIDs from).
func stableUID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x50 // name-based (version 5 layout)
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
