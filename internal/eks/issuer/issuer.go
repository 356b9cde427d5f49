// Package issuer makes podid the service-account token issuer of its hosted
// clusters. Each hosted cluster has its own RSA-2048 signing key, kept in
// the store sealed by the server's keyring; the issuer serves the cluster's
// OIDC discovery document and JWKS under its issuer URL, mints pod-bound
// projected tokens with the claims a kube-apiserver writes, and hands the
// public keys to EKS Auth (KeySource) without an HTTP round trip.
package issuer

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/store"
)

// Keyring seals and opens key material with the server's master key.
// *secrets.Keyring satisfies it.
type Keyring interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(sealed, additionalData []byte) ([]byte, error)
}

// Config configures an Issuer.
type Config struct {
	// Store holds the sealed signing keys (store.ServerKey with Purpose
	// "cluster-signing/NAME").
	Store store.Store
	// Keyring seals private keys; the additional data is
	// secrets.ServerKeyAD(purpose, key ID).
	Keyring Keyring
	// BaseURL is the server's public base URL (scheme, host, optional
	// port and path prefix, no trailing slash). A cluster's issuer URL is
	// BaseURL + "/clusters/NAME/oidc".
	BaseURL string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// CacheTTL bounds how long opened keys are reused before the store is
	// read again (default 30 s). Create and Retire drop the cache at once.
	CacheTTL time.Duration
}

// Issuer is the token issuer of podid-hosted clusters. It is safe for
// concurrent use.
type Issuer struct {
	cfg Config

	mu    sync.Mutex
	cache map[string]*keySet // by cluster name
}

// keySet is the opened key material of one cluster.
type keySet struct {
	signer    *rsa.PrivateKey // the active key; nil if none
	signerKID string
	public    []jose.JSONWebKey // every non-retired key, newest first
	loadedAt  time.Time         // when the store was read; also rate-limits forced rereads
}

// Errors returned by the issuer.
var (
	// ErrNoKeys means the cluster has no signing key: it is not a hosted
	// cluster, or it was deleted.
	ErrNoKeys = errors.New("issuer: cluster has no signing key")
	// ErrInvalidArgument marks a request the caller must fix (a bad name,
	// audience or lifetime). The message says what.
	ErrInvalidArgument = errors.New("issuer: invalid argument")
)

// Algorithm is the signature algorithm of hosted-cluster tokens.
const Algorithm = jose.RS256

// PurposePrefix prefixes the store.ServerKey Purpose of cluster signing keys.
const PurposePrefix = "cluster-signing/"

// Purpose returns the store.ServerKey Purpose of a cluster's signing keys.
func Purpose(cluster string) string { return PurposePrefix + cluster }

// New returns an Issuer.
func New(cfg Config) (*Issuer, error) {
	if cfg.Store == nil {
		return nil, errors.New("issuer: Config.Store is required")
	}
	if cfg.Keyring == nil {
		return nil, errors.New("issuer: Config.Keyring is required")
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.BaseURL == "" {
		return nil, errors.New("issuer: Config.BaseURL is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 30 * time.Second
	}
	return &Issuer{cfg: cfg, cache: map[string]*keySet{}}, nil
}

// URL returns the issuer URL of a hosted cluster (the iss claim of its
// tokens and identity.oidc.issuer in DescribeCluster).
func (i *Issuer) URL(cluster string) string {
	return i.cfg.BaseURL + "/clusters/" + cluster + "/oidc"
}

// KeyID returns the key ID of a public key the way kube-apiserver derives
// it: the unpadded base64url SHA-256 of its PKIX DER encoding.
func KeyID(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("issuer: encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// GenerateKey creates a new RSA-2048 signing key for cluster and returns it
// sealed, ready for Tx.PutServerKey. It does the slow key generation
// outside any transaction; the caller stores the key in the transaction
// that creates the cluster and then calls Forget.
func (i *Issuer) GenerateKey(cluster string) (*store.ServerKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("issuer: generating signing key: %w", err)
	}
	kid, err := KeyID(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("issuer: encoding signing key: %w", err)
	}
	sealed, err := i.cfg.Keyring.Seal(der, secrets.ServerKeyAD(Purpose(cluster), kid))
	if err != nil {
		return nil, fmt.Errorf("issuer: sealing signing key: %w", err)
	}
	return &store.ServerKey{
		ID:        kid,
		Purpose:   Purpose(cluster),
		Sealed:    sealed,
		Active:    true,
		CreatedAt: i.cfg.Now().UTC().Truncate(time.Millisecond),
	}, nil
}

// Retire makes every signing key of cluster unusable, inside the caller's
// transaction (the cluster is being deleted). The store has no delete for
// server keys, so each key is overwritten with a tombstone: inactive and
// without key material. Call Forget after the transaction commits.
func (i *Issuer) Retire(tx store.Tx, cluster string) error {
	keys, err := tx.ListServerKeys(Purpose(cluster))
	if err != nil {
		return fmt.Errorf("issuer: listing keys of %s: %w", cluster, err)
	}
	for _, k := range keys {
		if len(k.Sealed) == 0 && !k.Active {
			continue
		}
		t := *k
		t.Sealed = nil
		t.Active = false
		if err := tx.PutServerKey(&t); err != nil {
			return fmt.Errorf("issuer: retiring key of %s: %w", cluster, err)
		}
	}
	return nil
}

// Forget drops the cached keys of cluster, so that the next use reads the
// store. Call it after a transaction that changed the cluster's keys.
func (i *Issuer) Forget(cluster string) {
	i.mu.Lock()
	delete(i.cache, cluster)
	i.mu.Unlock()
}

// keys returns the opened keys of cluster, from the cache while fresh.
// force rereads the store, at most once a second per cluster.
func (i *Issuer) keys(ctx context.Context, cluster string, force bool) (*keySet, error) {
	now := i.cfg.Now()
	i.mu.Lock()
	ks := i.cache[cluster]
	if ks != nil && now.Sub(ks.loadedAt) < i.cfg.CacheTTL && (!force || now.Sub(ks.loadedAt) < time.Second) {
		i.mu.Unlock()
		return ks, nil
	}
	i.mu.Unlock()

	var stored []*store.ServerKey
	err := i.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		stored, err = tx.ListServerKeys(Purpose(cluster))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("issuer: reading keys of %s: %w", cluster, err)
	}
	fresh, err := i.open(stored)
	if err != nil {
		return nil, err
	}
	if len(fresh.public) == 0 {
		// Unknown clusters are not cached: names come from requests, and
		// a cache of misses would grow without bound.
		i.Forget(cluster)
		return nil, ErrNoKeys
	}
	fresh.loadedAt = now
	i.mu.Lock()
	i.cache[cluster] = fresh
	i.mu.Unlock()
	return fresh, nil
}

// open unseals stored keys. Tombstones (no key material) are skipped.
func (i *Issuer) open(stored []*store.ServerKey) (*keySet, error) {
	live := make([]*store.ServerKey, 0, len(stored))
	for _, k := range stored {
		if len(k.Sealed) > 0 {
			live = append(live, k)
		}
	}
	sort.SliceStable(live, func(a, b int) bool { return live[a].CreatedAt.After(live[b].CreatedAt) })
	ks := &keySet{}
	for _, k := range live {
		der, err := i.cfg.Keyring.Open(k.Sealed, secrets.ServerKeyAD(k.Purpose, k.ID))
		if err != nil {
			return nil, fmt.Errorf("issuer: opening key %s: %w", k.ID, err)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("issuer: parsing key %s: %w", k.ID, err)
		}
		priv, ok := parsed.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("issuer: key %s is not an RSA key", k.ID)
		}
		ks.public = append(ks.public, jose.JSONWebKey{Key: &priv.PublicKey, KeyID: k.ID, Algorithm: string(Algorithm), Use: "sig"})
		if k.Active && ks.signer == nil {
			ks.signer, ks.signerKID = priv, k.ID
		}
	}
	return ks, nil
}

// JWKS returns the public keys of a hosted cluster, newest first.
// ErrNoKeys means the cluster is not hosted here.
func (i *Issuer) JWKS(ctx context.Context, cluster string) (*jose.JSONWebKeySet, error) {
	ks, err := i.keys(ctx, cluster, false)
	if err != nil {
		return nil, err
	}
	return &jose.JSONWebKeySet{Keys: append([]jose.JSONWebKey(nil), ks.public...)}, nil
}

// KeySource returns the verification keys of one hosted cluster for
// k8s.Verify, read from the store (through the cache) without HTTP.
func (i *Issuer) KeySource(cluster string) *KeySource {
	return &KeySource{issuer: i, cluster: cluster}
}

// KeySource is the key source of one hosted cluster. It implements the
// k8s.KeySource interface.
type KeySource struct {
	issuer  *Issuer
	cluster string
}

// Keys returns the cluster's public keys with key ID kid (all of them when
// kid is empty). refresh rereads the store (rate-limited to once a second).
func (s *KeySource) Keys(ctx context.Context, kid string, refresh bool) ([]jose.JSONWebKey, error) {
	ks, err := s.issuer.keys(ctx, s.cluster, refresh)
	if err != nil {
		return nil, err
	}
	if kid == "" {
		return append([]jose.JSONWebKey(nil), ks.public...), nil
	}
	for _, k := range ks.public {
		if k.KeyID == kid {
			return []jose.JSONWebKey{k}, nil
		}
	}
	return nil, nil
}

// Issuer returns the issuer URL tokens of this cluster carry.
func (s *KeySource) Issuer() string { return s.issuer.URL(s.cluster) }

// KeySet returns, as JSON, the key set of the podid-hosted cluster whose
// issuer URL is issuerURL (a trailing slash aside); ok is false for any
// other issuer, and when the cluster's keys cannot be read. STS asks it
// first (sts.KeySetSource), so AssumeRoleWithWebIdentity verifies hosted
// clusters' tokens without fetching podid's own documents over the network.
func (i *Issuer) KeySet(ctx context.Context, issuerURL string) ([]byte, bool, error) {
	issuerURL = strings.TrimSuffix(issuerURL, "/")
	rest, ok := strings.CutSuffix(issuerURL, "/oidc")
	if !ok {
		return nil, false, nil
	}
	at := strings.LastIndex(rest, "/clusters/")
	if at < 0 {
		return nil, false, nil
	}
	cluster := rest[at+len("/clusters/"):]
	if i.URL(cluster) != issuerURL {
		return nil, false, nil
	}
	set, err := i.JWKS(ctx, cluster)
	if err != nil {
		return nil, false, nil
	}
	b, err := json.Marshal(set)
	return b, err == nil, err
}
