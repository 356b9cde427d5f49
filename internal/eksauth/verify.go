package eksauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/store"
)

// How a cluster's tokens are checked.
type verifyMode struct {
	keys   bool // signature against the issuer's keys (JWKS)
	review bool // the cluster's TokenReview API
}

// modeOf says how tokens of c are checked: hosted clusters with podid's
// own keys; external clusters with their issuer's keys when they have an
// issuer, with TokenReview when they have no issuer or carry
// TokenReviewTag=true.
func modeOf(c *store.Cluster) verifyMode {
	if c.Kind == store.ClusterHosted {
		return verifyMode{keys: true}
	}
	m := verifyMode{keys: c.IssuerURL != ""}
	m.review = !m.keys || strings.EqualFold(strings.TrimSpace(c.Tags[TokenReviewTag]), "true")
	return m
}

// verify checks a pod's token for cluster c and returns its claims, or the
// protocol error (with the audit reason in rec).
func (s *Service) verify(ctx context.Context, c *store.Cluster, token string, now time.Time, rec *auditFields) (*k8s.Claims, *awsproto.Error) {
	return s.verifyAudience(ctx, c, token, now, rec, k8s.PodIdentityAudience)
}

// verifyAudience is verify for tokens of the given audience (pods' tokens:
// k8s.PodIdentityAudience; agents' own tokens: k8s.AgentAudience).
func (s *Service) verifyAudience(ctx context.Context, c *store.Cluster, token string, now time.Time, rec *auditFields, audience string) (*k8s.Claims, *awsproto.Error) {
	mode := modeOf(c)
	var claims *k8s.Claims
	if mode.keys {
		keys, err := s.cfg.Keys.KeySource(ctx, c)
		if err != nil {
			rec.Reason = "signing keys: " + err.Error()
			return nil, s.keysUnavailable(ctx, c, err)
		}
		issuer := c.IssuerURL
		if c.Kind == store.ClusterHosted {
			// podid's current issuer URL for the cluster (the one its
			// tokens carry), should the public URL have changed since the
			// cluster was created.
			if is, ok := keys.(interface{ Issuer() string }); ok && is.Issuer() != "" {
				issuer = is.Issuer()
			}
		}
		claims, err = k8s.Verify(ctx, token, keys, k8s.Expect{Issuer: issuer, Audience: audience, Now: now, Leeway: s.cfg.Leeway})
		if err != nil {
			rec.Reason = err.Error()
			switch {
			case errors.Is(err, k8s.ErrExpiredToken):
				return nil, expiredToken()
			case errors.Is(err, k8s.ErrInvalidToken):
				return nil, invalidToken()
			}
			return nil, s.keysUnavailable(ctx, c, err)
		}
	}
	if mode.review {
		rc, aerr := s.review(ctx, c, token, now, claims, rec, audience)
		if aerr != nil {
			return nil, aerr
		}
		claims = rc
	}
	return claims, nil
}

// keysUnavailable is the error when a cluster's keys cannot be had: the
// token may well be good, so it is a retryable server-side condition.
func (s *Service) keysUnavailable(ctx context.Context, c *store.Cluster, err error) *awsproto.Error {
	s.cfg.Logger.WarnContext(ctx, "cluster signing keys unavailable", "cluster", c.Name, "issuer", c.IssuerURL, "err", err)
	return &awsproto.Error{Code: "ServiceUnavailableException", Status: 503, Cause: err,
		Message: fmt.Sprintf("The signing keys of cluster %s could not be fetched. Try again later.", c.Name)}
}

// review confirms token with the cluster's TokenReview API. verified are
// the claims of the signature check when one was done (nil otherwise); the
// review must agree with them.
func (s *Service) review(ctx context.Context, c *store.Cluster, token string, now time.Time, verified *k8s.Claims, rec *auditFields, audience string) (*k8s.Claims, *awsproto.Error) {
	if s.cfg.Reviewer == nil {
		rec.Reason = "TokenReview is not configured"
		return nil, unavailable("Tokens of cluster %s are checked with its TokenReview API, which podid cannot reach.", c.Name)
	}
	// The unverified claims only classify a refusal (expired or invalid)
	// and check the issuer; the API server's answer decides.
	raw, perr := peekClaims(token)
	if perr != nil {
		rec.Reason = "TokenReview: " + perr.Error()
		return nil, invalidToken()
	}
	if c.IssuerURL != "" && raw.Issuer != c.IssuerURL {
		rec.Reason = fmt.Sprintf("issuer %q is not the cluster's issuer", raw.Issuer)
		return nil, invalidToken()
	}
	res, err := s.cfg.Reviewer.Review(ctx, c.Name, token, []string{audience})
	if err != nil {
		rec.Reason = "TokenReview: " + err.Error()
		s.cfg.Logger.WarnContext(ctx, "TokenReview failed", "cluster", c.Name, "err", err)
		return nil, &awsproto.Error{Code: "ServiceUnavailableException", Status: 503, Cause: err,
			Message: fmt.Sprintf("The API server of cluster %s could not review the token. Try again later.", c.Name)}
	}
	if !res.Authenticated {
		rec.Reason = "TokenReview: not authenticated"
		if res.Error != "" {
			rec.Reason += ": " + truncate(res.Error, 300)
		}
		if raw.expiredAt(now, s.cfg.Leeway) {
			return nil, expiredToken()
		}
		return nil, invalidToken()
	}
	if !slices.Contains(res.Audiences, audience) {
		rec.Reason = "TokenReview: audiences do not contain " + audience
		return nil, invalidToken()
	}
	ns, sa, ok := serviceAccountUser(res.Username)
	podName, podUID := first(res.Extra[ExtraPodName]), first(res.Extra[ExtraPodUID])
	if !ok || podName == "" || podUID == "" {
		rec.Reason = "TokenReview: the token is not a pod-bound service account token"
		return nil, invalidToken()
	}
	out := &k8s.Claims{
		Issuer: raw.Issuer, Subject: res.Username, Audience: res.Audiences,
		Namespace: ns, ServiceAccountName: sa, ServiceAccountUID: res.UID,
		PodName: podName, PodUID: podUID,
		NodeName: first(res.Extra[ExtraNodeName]), NodeUID: first(res.Extra[ExtraNodeUID]),
	}
	if verified != nil && (verified.Namespace != ns || verified.ServiceAccountName != sa || verified.PodName != podName || verified.PodUID != podUID ||
		(out.NodeName != "" && verified.NodeName != out.NodeName)) {
		// The node too: node binding compares the agent's node with the
		// signed claim, which the API server's answer must confirm.
		rec.Reason = "TokenReview disagrees with the token's claims"
		return nil, invalidToken()
	}
	if verified != nil {
		// The signature-checked claims carry the times and the node.
		return verified, nil
	}
	return out, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// serviceAccountUser splits system:serviceaccount:NS:NAME.
func serviceAccountUser(u string) (ns, name string, ok bool) {
	rest, ok := strings.CutPrefix(u, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	ns, name, ok = strings.Cut(rest, ":")
	return ns, name, ok && ns != "" && name != "" && !strings.Contains(name, ":")
}

// peeked are claims read without verifying the signature.
type peeked struct {
	Issuer    string   `json:"iss"`
	Expiry    *float64 `json:"exp"`
	NotBefore *float64 `json:"nbf"`
}

func (p *peeked) expiredAt(now time.Time, leeway time.Duration) bool {
	if p.Expiry != nil && now.After(time.Unix(int64(*p.Expiry), 0).Add(leeway)) {
		return true
	}
	return p.NotBefore != nil && now.Add(leeway).Before(time.Unix(int64(*p.NotBefore), 0))
}

// peekClaims decodes a compact JWS's payload without verifying it.
func peekClaims(token string) (*peeked, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, errors.New("payload is not base64url")
	}
	var p peeked
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, errors.New("payload is not a JSON object")
	}
	return &p, nil
}
