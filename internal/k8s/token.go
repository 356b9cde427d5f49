// Package k8s verifies Kubernetes service-account tokens (projected,
// pod-bound JWTs) against a cluster's signing keys, and fetches those keys
// from an issuer's OIDC discovery document.
package k8s

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	jsonv2 "github.com/go-json-experiment/json"
)

// PodIdentityAudience is the audience of tokens EKS Auth accepts.
const PodIdentityAudience = "pods.eks.amazonaws.com"

// AgentAudience is the audience of the node agents' own projected tokens,
// which podid's agent exchange (POST /podid/v1/clusters/NAME/assume-role-for-agent)
// accepts. EKS Auth refuses them (its audience is PodIdentityAudience), and
// the agent exchange refuses pods' tokens, so neither token opens the other
// door.
const AgentAudience = "podid.dev/agent"

// MaxTokenBytes bounds the size of a token podid will parse. Real projected
// tokens are around 1 KB; 16 KiB leaves room for long names and claims.
const MaxTokenBytes = 16 << 10

// DefaultLeeway is the clock leeway applied to exp, nbf and iat: tokens
// are accepted up to this long after expiry or before their start, to
// absorb clock skew between the API server and podid.
const DefaultLeeway = 60 * time.Second

// Verification failures. Callers map them to their protocol's errors.
var (
	// ErrInvalidToken means the token is malformed, not signed by the
	// cluster's keys, for another issuer or audience, or lacks the pod
	// claims.
	ErrInvalidToken = errors.New("invalid service account token")
	// ErrExpiredToken means the token's validity window does not include now.
	ErrExpiredToken = errors.New("expired service account token")
)

// Claims are the claims of a pod-bound service-account token that podid
// relies on.
type Claims struct {
	Issuer             string
	Subject            string
	Audience           []string
	Expiry             time.Time
	NotBefore          time.Time
	IssuedAt           time.Time
	ID                 string
	Namespace          string
	ServiceAccountName string
	ServiceAccountUID  string
	PodName            string
	PodUID             string
	NodeName           string
	NodeUID            string
}

// KeySource returns the keys that may have signed a token with the given
// key ID. refresh asks the source to refetch its keys (an unknown kid may
// mean the cluster rotated its keys); sources rate-limit refreshes.
type KeySource interface {
	Keys(ctx context.Context, kid string, refresh bool) ([]jose.JSONWebKey, error)
}

// Expect is what a token must say to be accepted.
type Expect struct {
	Issuer   string
	Audience string
	Now      time.Time
	Leeway   time.Duration
}

// allowedAlgs are the signature algorithms a Kubernetes API server uses
// for service-account tokens. "none" and HMAC are never accepted.
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512}

type k8sClaims struct {
	Namespace string `json:"namespace"`
	Pod       *struct {
		Name string `json:"name"`
		UID  string `json:"uid"`
	} `json:"pod"`
	ServiceAccount *struct {
		Name string `json:"name"`
		UID  string `json:"uid"`
	} `json:"serviceaccount"`
	Node *struct {
		Name string `json:"name"`
		UID  string `json:"uid"`
	} `json:"node"`
}

// tokenClaims is the payload of a service-account token, decoded once
// after the signature verifies. Names match exactly (no case folding) and a
// duplicated name is an error, so no other JSON reader can see a
// different token than this one.
type tokenClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
	K8s       *k8sClaims       `json:"kubernetes.io"`
}

// Verify checks raw's signature against keys, then its issuer, audience,
// validity window and pod claims, and returns the claims. Errors wrap
// ErrInvalidToken or ErrExpiredToken and never contain the token.
func Verify(ctx context.Context, raw string, keys KeySource, want Expect) (*Claims, error) {
	return verify(ctx, raw, keys, want, true)
}

// verify is Verify, with the fast path for kube-apiserver RS256 tokens
// (fastjws.go) when fast is set.
func verify(ctx context.Context, raw string, keys KeySource, want Expect, fast bool) (*Claims, error) {
	if len(raw) == 0 || len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: token size %d out of range", ErrInvalidToken, len(raw))
	}
	var ft *fastJWS
	if fast {
		ft, fast = parseFastJWS(raw)
	}
	var tok *jose.JSONWebSignature
	joseParse := func() error {
		if tok != nil {
			return nil
		}
		t, err := jose.ParseSignedCompact(raw, allowedAlgs)
		if err != nil {
			return fmt.Errorf("%w: not a signed JWT with an accepted algorithm", ErrInvalidToken)
		}
		if len(t.Signatures) != 1 {
			return fmt.Errorf("%w: want exactly one signature", ErrInvalidToken)
		}
		tok = t
		return nil
	}
	var kid, alg string
	if fast {
		kid, alg = ft.kid, string(jose.RS256)
	} else {
		if err := joseParse(); err != nil {
			return nil, err
		}
		kid, alg = tok.Signatures[0].Header.KeyID, tok.Signatures[0].Header.Algorithm
	}
	var payload []byte
	verified := false
	for attempt := 0; attempt < 2 && !verified; attempt++ {
		cands, err := keys.Keys(ctx, kid, attempt == 1)
		if err != nil {
			if attempt == 1 {
				return nil, fmt.Errorf("fetching signing keys: %w", err)
			}
			continue
		}
		for _, k := range cands {
			if !k.Valid() || !k.IsPublic() {
				continue
			}
			if k.Use != "" && k.Use != "sig" {
				continue
			}
			if k.Algorithm != "" && k.Algorithm != alg {
				continue
			}
			if fast {
				if ok, handled := ft.verify(k.Key); handled {
					if ok {
						payload, verified = ft.payload, true
						break
					}
					continue
				}
				// Another key type: go-jose checks it.
				if err := joseParse(); err != nil {
					return nil, err
				}
			}
			if p, err := tok.Verify(k.Key); err == nil {
				payload, verified = p, true
				break
			}
		}
	}
	if !verified {
		return nil, fmt.Errorf("%w: signature does not verify with the cluster's keys", ErrInvalidToken)
	}
	var tc *tokenClaims
	if fast {
		tc, fast = fastClaims(payload)
	}
	if !fast {
		tc = new(tokenClaims)
		if err := jsonv2.Unmarshal(payload, tc); err != nil {
			return nil, fmt.Errorf("%w: the claims are not a valid JSON object", ErrInvalidToken)
		}
	}
	return checkClaims(tc, want)
}

// checkClaims checks verified claims against want.
func checkClaims(tc *tokenClaims, want Expect) (*Claims, error) {
	std := jwt.Claims{Issuer: tc.Issuer, Subject: tc.Subject, Audience: tc.Audience, Expiry: tc.Expiry, NotBefore: tc.NotBefore, IssuedAt: tc.IssuedAt, ID: tc.ID}
	if want.Issuer != "" && std.Issuer != want.Issuer {
		return nil, fmt.Errorf("%w: issuer %q is not the cluster's issuer", ErrInvalidToken, std.Issuer)
	}
	if want.Audience != "" && !std.Audience.Contains(want.Audience) {
		return nil, fmt.Errorf("%w: audience does not contain %s", ErrInvalidToken, want.Audience)
	}
	if std.Expiry == nil {
		return nil, fmt.Errorf("%w: no exp claim", ErrInvalidToken)
	}
	leeway := want.Leeway
	if err := std.ValidateWithLeeway(jwt.Expected{Time: want.Now}, leeway); err != nil {
		if errors.Is(err, jwt.ErrExpired) || errors.Is(err, jwt.ErrNotValidYet) || errors.Is(err, jwt.ErrIssuedInTheFuture) {
			return nil, fmt.Errorf("%w: %v", ErrExpiredToken, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	c := &Claims{
		Issuer:   std.Issuer,
		Subject:  std.Subject,
		Audience: []string(std.Audience),
		Expiry:   std.Expiry.Time(),
		ID:       std.ID,
	}
	if std.NotBefore != nil {
		c.NotBefore = std.NotBefore.Time()
	}
	if std.IssuedAt != nil {
		c.IssuedAt = std.IssuedAt.Time()
	}
	k := tc.K8s
	if k == nil || k.Namespace == "" || k.ServiceAccount == nil || k.ServiceAccount.Name == "" || k.Pod == nil || k.Pod.Name == "" || k.Pod.UID == "" {
		return nil, fmt.Errorf("%w: missing kubernetes.io pod, namespace or service account claims", ErrInvalidToken)
	}
	c.Namespace = k.Namespace
	c.ServiceAccountName = k.ServiceAccount.Name
	c.ServiceAccountUID = k.ServiceAccount.UID
	c.PodName = k.Pod.Name
	c.PodUID = k.Pod.UID
	if k.Node != nil {
		c.NodeName, c.NodeUID = k.Node.Name, k.Node.UID
	}
	if want := "system:serviceaccount:" + c.Namespace + ":" + c.ServiceAccountName; c.Subject != want {
		return nil, fmt.Errorf("%w: subject does not match the kubernetes.io claims", ErrInvalidToken)
	}
	return c, nil
}

// StaticKeys is a fixed key set (an inline JWKS, or podid's own keys for a
// hosted cluster).
type StaticKeys struct {
	Set jose.JSONWebKeySet
}

// Keys implements KeySource.
func (s *StaticKeys) Keys(_ context.Context, kid string, _ bool) ([]jose.JSONWebKey, error) {
	if kid == "" {
		return s.Set.Keys, nil
	}
	return s.Set.Key(kid), nil
}

// ParseJWKS parses a JSON Web Key Set document.
func ParseJWKS(doc []byte) (*StaticKeys, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("parsing JWKS: %w", err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, errors.New("JWKS contains a private key")
		}
	}
	return &StaticKeys{Set: set}, nil
}

// LooksLikeJWT reports whether s has the shape of a compact JWS: three
// base64url segments. It is the cheap check done before any parsing.
func LooksLikeJWT(s string) bool {
	if len(s) == 0 || len(s) > MaxTokenBytes {
		return false
	}
	parts := 0
	segLen := 0
	for i := 0; i < len(s); i++ {
		// One table load per byte instead of a chain of range tests: the
		// scan over a ~1.1 KB token was about 6% of an exchange's CPU.
		switch jwtByte[s[i]] {
		case jwtDot:
			if segLen == 0 {
				return false
			}
			parts++
			segLen = 0
		case jwtB64:
			segLen++
		default:
			return false
		}
	}
	return parts == 2 && segLen > 0
}

const (
	jwtOther = iota
	jwtB64   // base64url alphabet and '=' padding
	jwtDot
)

// jwtByte classifies each byte for LooksLikeJWT.
var jwtByte = func() (t [256]uint8) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = jwtB64
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = jwtB64
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = jwtB64
	}
	t['-'], t['_'], t['='] = jwtB64, jwtB64, jwtB64
	t['.'] = jwtDot
	return t
}()
