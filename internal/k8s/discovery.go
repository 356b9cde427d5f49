package k8s

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// RemoteKeys fetches a cluster's signing keys from its issuer's OIDC
// discovery document (ISSUER/.well-known/openid-configuration → jwks_uri)
// and caches them. An unknown key ID triggers a refresh, at most once per
// MinRefresh, so a flood of forged kids cannot turn into a flood of fetches.
type RemoteKeys struct {
	Issuer     string
	Client     *http.Client
	MinRefresh time.Duration
	MaxAge     time.Duration
	Now        func() time.Time

	mu        sync.Mutex
	set       jose.JSONWebKeySet
	fetchedAt time.Time
	triedAt   time.Time
	lastErr   error
}

// NewRemoteKeys returns a key source for issuer using client (with its own
// timeouts) for fetches.
func NewRemoteKeys(issuer string, client *http.Client) *RemoteKeys {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return &RemoteKeys{Issuer: strings.TrimSuffix(issuer, "/"), Client: client, MinRefresh: 10 * time.Second, MaxAge: time.Hour, Now: time.Now}
}

// maxDocBytes bounds discovery and JWKS documents.
const maxDocBytes = 1 << 20

// Keys implements KeySource.
func (r *RemoteKeys) Keys(ctx context.Context, kid string, refresh bool) ([]jose.JSONWebKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.Now()
	stale := r.fetchedAt.IsZero() || now.Sub(r.fetchedAt) > r.MaxAge
	if !stale && !refresh {
		return r.pick(kid), nil
	}
	if !stale && refresh && len(r.pick(kid)) > 0 {
		return r.pick(kid), nil
	}
	if !r.triedAt.IsZero() && now.Sub(r.triedAt) < r.MinRefresh {
		if r.fetchedAt.IsZero() {
			return nil, fmt.Errorf("signing keys unavailable: %w", r.lastErr)
		}
		return r.pick(kid), nil
	}
	r.triedAt = now
	set, err := r.fetch(ctx)
	if err != nil {
		r.lastErr = err
		if r.fetchedAt.IsZero() {
			return nil, err
		}
		return r.pick(kid), nil // keep serving the last good keys
	}
	r.set, r.fetchedAt, r.lastErr = set, now, nil
	return r.pick(kid), nil
}

func (r *RemoteKeys) pick(kid string) []jose.JSONWebKey {
	if kid == "" {
		return r.set.Keys
	}
	return r.set.Key(kid)
}

func (r *RemoteKeys) fetch(ctx context.Context) (jose.JSONWebKeySet, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := r.getJSON(ctx, r.Issuer+"/.well-known/openid-configuration", &doc); err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("discovery document of %s: %w", r.Issuer, err)
	}
	if strings.TrimSuffix(doc.Issuer, "/") != r.Issuer {
		return jose.JSONWebKeySet{}, fmt.Errorf("discovery document names issuer %q, want %q", doc.Issuer, r.Issuer)
	}
	if doc.JWKSURI == "" {
		return jose.JSONWebKeySet{}, errors.New("discovery document has no jwks_uri")
	}
	var set jose.JSONWebKeySet
	if err := r.getJSON(ctx, doc.JWKSURI, &set); err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("JWKS of %s: %w", r.Issuer, err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return jose.JSONWebKeySet{}, errors.New("JWKS contains a private key")
		}
	}
	return set, nil
}

func (r *RemoteKeys) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return err
	}
	if len(b) > maxDocBytes {
		return fmt.Errorf("GET %s: document larger than %d bytes", url, maxDocBytes)
	}
	return json.Unmarshal(b, v)
}
