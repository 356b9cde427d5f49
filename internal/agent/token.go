package agent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/podid/podid/internal/k8s"
)

// MaxTokenBytes bounds the Authorization header the agent accepts. Real
// projected service-account tokens are about 1 KB; longer values are
// refused before any parsing.
const MaxTokenBytes = 16 << 10

// nbfLeeway is how far in the future a token's nbf may be: kubelet writes
// a token the moment the API server issues it, and a node clock a little
// behind the API server's must not turn a fresh token into a 400. EKS Auth
// applies its own leeway when it verifies the token.
const nbfLeeway = 60 * time.Second

// Token parse failures. The handler answers them with 400, as the official
// agent does, without calling EKS Auth.
var (
	errTokenMalformed = errors.New("token is malformed")
	errTokenExpired   = errors.New("token has invalid claims: token is expired")
	errTokenNotYet    = errors.New("token has invalid claims: token is not valid yet")
)

// claims are the parts of a service-account token the agent uses. They
// come from an unverified token: they may pick a cache entry to compare
// against, but never grant anything by themselves.
type claims struct {
	Namespace      string
	ServiceAccount string
	PodUID         string
	// Exp and Nbf are Unix seconds; zero when the claim is absent.
	Exp int64
	Nbf int64
}

// podKey identifies a cached entry: one pod of one service account.
type podKey struct {
	Namespace      string
	ServiceAccount string
	PodUID         string
}

func (c *claims) key() podKey {
	return podKey{Namespace: c.Namespace, ServiceAccount: c.ServiceAccount, PodUID: c.PodUID}
}

// knownAlgs are the JWS algorithms golang-jwt (which the official agent uses
// to parse tokens) knows; a token naming another is refused there too.
var knownAlgs = map[string]bool{
	"HS256": true, "HS384": true, "HS512": true,
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true, "none": true,
}

// tokenShapeOK reports whether s has the shape EKS Auth's model requires of
// a token: three non-empty dot-separated segments of base64url characters
// (with optional '=' padding), at most MaxTokenBytes. A token of this shape
// can be embedded in a JSON string without escaping. It is the server's own
// check (k8s.LooksLikeJWT), so agent and EKS Auth refuse the same strings.
func tokenShapeOK(s string) bool {
	return len(s) <= MaxTokenBytes && k8s.LooksLikeJWT(s)
}

// decodeSegment decodes one base64url JWT segment, with or without padding.
func decodeSegment(seg string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
}

// parseToken parses a service-account token without verifying it, the way
// the official agent does before deciding to call EKS Auth: the header must
// name a known algorithm, the payload must be a JSON object whose registered
// claims have the right types. Kubernetes claims that are missing or of the
// wrong type leave the corresponding fields empty.
func parseToken(tok string) (*claims, error) {
	if !tokenShapeOK(tok) {
		return nil, errTokenMalformed
	}
	h, rest, _ := strings.Cut(tok, ".")
	p, _, _ := strings.Cut(rest, ".")

	hb, err := decodeSegment(h)
	if err != nil {
		return nil, fmt.Errorf("%w: header: illegal base64 data", errTokenMalformed)
	}
	alg, ok := fastAlg(hb)
	if !ok {
		if alg, err = headerAlg(hb); err != nil {
			return nil, err
		}
	}
	if !knownAlgs[alg] {
		return nil, fmt.Errorf("%w: signing method (alg) is unavailable", errTokenMalformed)
	}

	pb, err := decodeSegment(p)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: illegal base64 data", errTokenMalformed)
	}
	if c, ok := fastClaims(pb); ok {
		return c, nil
	}
	return payloadClaims(pb)
}

// headerAlg reads the header's alg with encoding/json, as golang-jwt does.
func headerAlg(hb []byte) (string, error) {
	var hdr struct {
		Alg any `json:"alg"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return "", fmt.Errorf("%w: header is not a JSON object", errTokenMalformed)
	}
	alg, ok := hdr.Alg.(string)
	if !ok {
		return "", fmt.Errorf("%w: signing method (alg) is unspecified", errTokenMalformed)
	}
	return alg, nil
}

// payloadClaims reads the claims with encoding/json, with golang-jwt's
// type rules: the reading every token the fast path (fastClaims) declines
// gets, and the reference it is fuzzed against.
func payloadClaims(pb []byte) (*claims, error) {
	var err error
	var reg struct {
		Exp *json.Number    `json:"exp"`
		Nbf *json.Number    `json:"nbf"`
		Iat *json.Number    `json:"iat"`
		Iss *string         `json:"iss"`
		Sub *string         `json:"sub"`
		Jti *string         `json:"jti"`
		Aud json.RawMessage `json:"aud"`
		K8s json.RawMessage `json:"kubernetes.io"`
	}
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	if err := dec.Decode(&reg); err != nil {
		return nil, fmt.Errorf("%w: claims are not a JSON object of the expected types", errTokenMalformed)
	}
	if !audOK(reg.Aud) {
		return nil, fmt.Errorf("%w: aud is neither a string nor an array of strings", errTokenMalformed)
	}
	c := &claims{}
	if c.Exp, err = numericDate(reg.Exp); err != nil {
		return nil, fmt.Errorf("%w: exp: %v", errTokenMalformed, err)
	}
	if c.Nbf, err = numericDate(reg.Nbf); err != nil {
		return nil, fmt.Errorf("%w: nbf: %v", errTokenMalformed, err)
	}
	if _, err = numericDate(reg.Iat); err != nil {
		return nil, fmt.Errorf("%w: iat: %v", errTokenMalformed, err)
	}

	var k8s struct {
		Namespace string `json:"namespace"`
		Pod       struct {
			UID string `json:"uid"`
		} `json:"pod"`
		ServiceAccount struct {
			Name string `json:"name"`
		} `json:"serviceaccount"`
	}
	if len(reg.K8s) > 0 && json.Unmarshal(reg.K8s, &k8s) == nil {
		c.Namespace, c.ServiceAccount, c.PodUID = k8s.Namespace, k8s.ServiceAccount.Name, k8s.Pod.UID
	}
	if (c.Namespace == "" || c.ServiceAccount == "") && reg.Sub != nil {
		if ns, sa, ok := parseSubject(*reg.Sub); ok {
			c.Namespace, c.ServiceAccount = ns, sa
		}
	}
	return c, nil
}

// validAt checks the time claims as golang-jwt's default validator does:
// the token is expired from its exp second on, and not valid before nbf
// (here with a small leeway for clock skew).
func (c *claims) validAt(now time.Time) error {
	s := now.Unix()
	if c.Exp != 0 && s >= c.Exp {
		return errTokenExpired
	}
	if c.Nbf != 0 && now.Add(nbfLeeway).Unix() < c.Nbf {
		return errTokenNotYet
	}
	return nil
}

// numericDate converts a JWT NumericDate (seconds, possibly fractional) to
// whole Unix seconds; nil gives 0.
func numericDate(n *json.Number) (int64, error) {
	if n == nil {
		return 0, nil
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("not a number")
	}
	if f < 1 || f > 1e15 {
		// Zero would read as "absent"; dates before 1970 or past year
		// 31 million are not dates kubelet writes.
		return 0, errors.New("out of range")
	}
	return int64(f), nil
}

// audOK reports whether a raw aud claim is absent, a string or an array of
// strings, the forms golang-jwt's ClaimStrings accepts.
func audOK(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return true
	}
	var ss []string
	return json.Unmarshal(raw, &ss) == nil
}

// parseSubject splits "system:serviceaccount:<ns>:<sa>".
func parseSubject(sub string) (ns, sa string, ok bool) {
	rest, ok := strings.CutPrefix(sub, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	ns, sa, ok = strings.Cut(rest, ":")
	if !ok || ns == "" || sa == "" || strings.Contains(sa, ":") {
		return "", "", false
	}
	return ns, sa, true
}
