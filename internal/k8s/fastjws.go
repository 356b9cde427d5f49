package k8s

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"unsafe"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The fast path of Verify, for the tokens a kube-apiserver writes: compact
// RS256 JWS, a header of alg, kid and typ, canonical base64url, claims of
// printable ASCII without escapes, nulls or nested unknown objects. Where
// go-jose parses the header twice through reflection, re-encodes the
// signing input and decodes the claims into maps, this reads each segment
// once. The signature check itself is the same call go-jose makes
// (rsa.VerifyPKCS1v15 over SHA-256 of the signing input), and the claims
// go through the same checks (checkClaims). Anything else — another
// algorithm, another key type, an unusual header or claim — is declined
// and takes the go-jose and json/v2 path, whose readings are
// authoritative. FuzzFastVerify checks that the two paths accept the same
// tokens with the same claims and refuse the same tokens with the same
// errors.

// fastJWS is a compact RS256 token split and decoded by parseFastJWS.
type fastJWS struct {
	kid          string
	signingInput string // header.payload, exactly as signed
	payload      []byte
	sig          []byte
}

// b64Canon is strict base64url without padding: a segment that decodes
// with it re-encodes to itself, so the signing input go-jose rebuilds from
// the decoded bytes equals the token's own.
var b64Canon = base64.RawURLEncoding.Strict()

// canonSegment reports whether s may be handed to b64Canon: not empty,
// and without line breaks, which the decoder would skip. Padding and any
// other byte outside the base64url alphabet make the decoder fail.
func canonSegment(s string) bool {
	return len(s) > 0 && strings.IndexByte(s, '\n') < 0 && strings.IndexByte(s, '\r') < 0
}

// parseFastJWS splits and decodes raw, or declines (ok false).
func parseFastJWS(raw string) (*fastJWS, bool) {
	h, rest, ok := strings.Cut(raw, ".")
	if !ok {
		return nil, false
	}
	p, s, ok := strings.Cut(rest, ".")
	if !ok || !canonSegment(h) || !canonSegment(p) || !canonSegment(s) {
		return nil, false
	}
	var hb [256]byte
	if b64Canon.DecodedLen(len(h)) > len(hb) {
		return nil, false
	}
	n, err := b64Canon.Decode(hb[:], bytesOf(h))
	if err != nil {
		return nil, false
	}
	kid, ok := fastHeader(hb[:n])
	if !ok {
		return nil, false
	}
	// One allocation for the payload and the signature.
	buf := make([]byte, b64Canon.DecodedLen(len(p))+b64Canon.DecodedLen(len(s)))
	pn, err := b64Canon.Decode(buf, bytesOf(p))
	if err != nil {
		return nil, false
	}
	sn, err := b64Canon.Decode(buf[pn:], bytesOf(s))
	if err != nil {
		return nil, false
	}
	return &fastJWS{kid: kid, signingInput: raw[:len(h)+1+len(p)], payload: buf[:pn:pn], sig: buf[pn : pn+sn]}, true
}

// verify checks the signature with key, as go-jose's Verify does for an
// RSA public key. handled is false for any other key type, which the
// caller then checks through go-jose.
func (t *fastJWS) verify(key any) (ok, handled bool) {
	pub, isRSA := key.(*rsa.PublicKey)
	if !isRSA || pub == nil {
		return false, false
	}
	d := sha256.New()
	_, _ = d.Write(bytesOf(t.signingInput))
	var sum [sha256.Size]byte
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d.Sum(sum[:0]), t.sig) == nil, true
}

// bytesOf views s as bytes without a copy, for readers that only read
// (the base64 decoder, the hash): the token is about 1 KB, and the copies
// were a third of the fast path's allocated bytes.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

var headerNames = []string{"alg", "kid", "typ"}

// fastHeader reads a header of alg (RS256 only), kid and typ, all strings.
func fastHeader(b []byte) (kid string, ok bool) {
	s := newScan(b)
	s.WS()
	var alg, k []byte
	f := fields{names: headerNames}
	if !s.object(&f, func(i int) bool {
		v, ok := s.Str()
		switch i {
		case 0:
			alg = v
		case 1:
			k = v
		case 2:
		default:
			return false // another header: go-jose decides what it means
		}
		return ok
	}) || !s.End() || string(alg) != string(jose.RS256) {
		return "", false
	}
	return string(k), true
}

var (
	claimNames = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "kubernetes.io"}
	k8sNames   = []string{"namespace", "pod", "serviceaccount", "node"}
	refNames   = []string{"name", "uid"}
)

// fastClaims reads the payload into tokenClaims as json/v2 would, or
// declines.
func fastClaims(b []byte) (*tokenClaims, bool) {
	s := newScan(b)
	s.WS()
	tc := &tokenClaims{}
	f := fields{names: claimNames}
	ok := s.object(&f, func(i int) bool {
		switch i {
		case 0:
			return s.strInto(&tc.Issuer)
		case 1:
			return s.strInto(&tc.Subject)
		case 2:
			return s.audience(&tc.Audience)
		case 3:
			return s.date(&tc.Expiry)
		case 4:
			return s.date(&tc.NotBefore)
		case 5:
			return s.date(&tc.IssuedAt)
		case 6:
			return s.strInto(&tc.ID)
		case 7:
			tc.K8s = &k8sClaims{}
			return s.k8s(tc.K8s)
		}
		return s.Skip()
	})
	if !ok || !s.End() {
		return nil, false
	}
	return tc, true
}

func (s *jscan) strInto(dst *string) bool {
	v, ok := s.Str()
	*dst = string(v)
	return ok
}

// date reads a number through jwt.NumericDate's own UnmarshalJSON, which
// json/v2 calls with the same bytes.
func (s *jscan) date(dst **jwt.NumericDate) bool {
	v, ok := s.Num()
	if !ok {
		return false
	}
	d := new(jwt.NumericDate)
	if d.UnmarshalJSON(v) != nil {
		return false // the json/v2 path words the error
	}
	*dst = d
	return true
}

// audience reads a string or an array of strings, as jwt.Audience does.
func (s *jscan) audience(dst *jwt.Audience) bool {
	if s.Peek() != '[' {
		v, ok := s.Str()
		*dst = jwt.Audience{string(v)}
		return ok
	}
	a := jwt.Audience{}
	ok := s.Array(func() bool {
		v, ok := s.Str()
		a = append(a, string(v))
		return ok
	})
	*dst = a
	return ok
}

func (s *jscan) k8s(k *k8sClaims) bool {
	f := fields{names: k8sNames}
	return s.object(&f, func(i int) bool {
		switch i {
		case 0:
			return s.strInto(&k.Namespace)
		case 1, 2, 3:
			var r struct {
				Name string `json:"name"`
				UID  string `json:"uid"`
			}
			rf := fields{names: refNames}
			if !s.object(&rf, func(j int) bool {
				switch j {
				case 0:
					return s.strInto(&r.Name)
				case 1:
					return s.strInto(&r.UID)
				}
				return s.Skip()
			}) {
				return false
			}
			switch i {
			case 1:
				k.Pod = &r
			case 2:
				k.ServiceAccount = &r
			default:
				k.Node = &r
			}
			return true
		}
		return s.Skip()
	})
}
