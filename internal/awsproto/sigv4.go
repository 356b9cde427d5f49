package awsproto

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// SigV4 constants.
const (
	// DefaultMaxSkew is AWS's tolerance between a request's signing time
	// and the server's clock.
	DefaultMaxSkew = 15 * time.Minute
	// MaxPresignExpires is the largest X-Amz-Expires AWS accepts (7 days).
	MaxPresignExpires = 604800
	// UnsignedPayload is the X-Amz-Content-Sha256 value of a request whose
	// body is not covered by its signature.
	UnsignedPayload = "UNSIGNED-PAYLOAD"

	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	sigV4Terminator = "aws4_request"
	amzDateLayout   = "20060102T150405Z"
)

// SecretLookup resolves an access key ID (and, for temporary credentials,
// its session token) to the secret access key that signs with it and to the
// identity the key stands for. The verifier treats identity as opaque and
// hands it back in [Verified].
//
// For an unknown key, a key that does not match its session token, or a
// missing token for a temporary key, LookupSecret returns the *Error from
// [InvalidClientTokenID]; for expired temporary credentials, the one from
// [ExpiredToken]. Any other error is treated as an internal failure.
type SecretLookup interface {
	LookupSecret(ctx context.Context, accessKeyID, sessionToken string) (secret string, identity any, err error)
}

// Verifier verifies AWS Signature Version 4 requests, in the Authorization
// header form and the presigned query-string form.
//
// A Verifier keeps a small cache of derived signing keys; it is safe for
// concurrent use and must not be copied after first use.
type Verifier struct {
	// Lookup resolves access keys. Required.
	Lookup SecretLookup
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// MaxSkew is the accepted difference between the signing time and Now;
	// zero means DefaultMaxSkew (15 minutes, as AWS).
	MaxSkew time.Duration
	// AllowRegion reports whether the credential scope's region is served
	// for the scope's service; nil accepts every non-empty region.
	AllowRegion func(service, region string) bool
	// ServedRegion, when set, is the region podid serves: a request
	// refused by AllowRegion is told it, after AWS's own sentence.
	ServedRegion string

	keys signingKeyCache
}

// Verified is the outcome of a successful verification. Its strings are
// taken from the request's credential scope.
type Verified struct {
	AccessKeyID string
	Service     string
	Region      string
	// Identity is what SecretLookup returned for the access key.
	Identity any
}

// Verify checks the SigV4 signature of r, whose body has already been read
// into body. Checks run in AWS's order: the authorization data is parsed
// and validated, the signing time is checked against the clock (and the
// presigned expiry), the access key is looked up, and only then is the
// signature computed and compared in constant time. Every failure is an
// *Error carrying AWS's code, status and message; no message ever contains
// a signature, secret or session token.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (*Verified, error) {
	var a sigAuth
	if e := v.precheck(r, &a); e != nil {
		return nil, e
	}
	if v.Lookup == nil {
		return nil, Internal("InternalFailure", fmt.Errorf("sigv4: verifier has no secret lookup"))
	}
	secret, identity, err := v.Lookup.LookupSecret(ctx, a.accessKeyID, a.sessionToken)
	if err != nil {
		return nil, lookupError(err)
	}

	var payloadBuf [64]byte
	payload, e := payloadHash(&a, body, &payloadBuf)
	if e != nil {
		return nil, e
	}

	key := v.keys.get(secret, a.scopeDate, a.region, a.service)

	var crBuf [1024]byte
	cr := appendCanonicalRequest(crBuf[:0], r, &a, payload)
	crHash := sha256.Sum256(cr)

	var stsBuf [256]byte
	sts := appendStringToSign(stsBuf[:0], &a, &crHash)
	mac := hmacSHA256(key[:], sts)

	var want, got [64]byte
	hex.Encode(want[:], mac[:])
	if len(a.signature) != len(got) {
		return nil, errSignatureMismatch(msgSignatureMismatch)
	}
	copy(got[:], a.signature)
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return nil, errSignatureMismatch(msgSignatureMismatch)
	}
	return &Verified{
		AccessKeyID: a.accessKeyID,
		Service:     a.service,
		Region:      a.region,
		Identity:    identity,
	}, nil
}

// Precheck runs the checks of [Verifier.Verify] that need neither the body
// nor a key: the authorization data's shape (and no repeated SigV4
// header), the credential scope and the signing time. The edge calls it
// before reading a body, so a request refused by it costs no body memory.
// Verify runs the same checks again.
func (v *Verifier) Precheck(r *http.Request) error {
	var a sigAuth
	if e := v.precheck(r, &a); e != nil {
		return e
	}
	return nil
}

func (v *Verifier) precheck(r *http.Request, a *sigAuth) *Error {
	if e := parseAuth(r, a); e != nil {
		return e
	}
	if e := v.checkScope(a); e != nil {
		return e
	}
	return checkTime(a, v.now(), v.maxSkew())
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultMaxSkew
}

// checkScope validates the credential scope against the signing time and
// the served regions.
func (v *Verifier) checkScope(a *sigAuth) *Error {
	if a.terminator != sigV4Terminator {
		return errSignatureMismatch(fmt.Sprintf("Credential should be scoped with a valid terminator: 'aws4_request', not '%s'. ", echo(a.terminator)))
	}
	if a.scopeDate != string(a.dateStamp[:8]) {
		return errSignatureMismatch(fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			echo(a.scopeDate), string(a.dateStamp[:8]), string(a.dateStamp[:])))
	}
	if a.service == "" {
		return errSignatureMismatch("Credential should be scoped to a valid service. ")
	}
	if a.region == "" || (v.AllowRegion != nil && !v.AllowRegion(a.service, a.region)) {
		msg := fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", echo(a.region))
		if v.ServedRegion != "" && a.region != "" {
			msg += fmt.Sprintf("This endpoint serves region '%s' (AWS_REGION=%s). ", v.ServedRegion, v.ServedRegion)
		}
		return errSignatureMismatch(msg)
	}
	return nil
}

// checkTime applies the clock-skew window and, for presigned requests with
// X-Amz-Expires, the expiry.
func checkTime(a *sigAuth, now time.Time, skew time.Duration) *Error {
	mins := int(skew / time.Minute)
	if late := now.Add(skew); a.date.After(late) {
		return errSignatureMismatch(fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %d min.)",
			string(a.dateStamp[:]), late.UTC().Format(amzDateLayout), now.UTC().Format(amzDateLayout), mins))
	}
	if a.presigned && a.expires > 0 {
		if now.After(a.date.Add(time.Duration(a.expires) * time.Second)) {
			return errRequestExpired()
		}
		return nil
	}
	if early := now.Add(-skew); a.date.Before(early) {
		return errSignatureMismatch(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %d min.)",
			string(a.dateStamp[:]), early.UTC().Format(amzDateLayout), now.UTC().Format(amzDateLayout), mins))
	}
	return nil
}

// payloadHash returns the payload hash for the canonical request: the
// client's X-Amz-Content-Sha256 when it equals the body's SHA-256 (or, for
// S3 only, is UNSIGNED-PAYLOAD), else the body's SHA-256 computed here. A
// declared hash that differs from the body means the body is not the one
// signed. An S3 presigned URL that declares no hash signs UNSIGNED-PAYLOAD,
// as S3 does.
//
// Only S3 accepts an unsigned payload: for every other service (IAM, STS,
// EKS, EKS Auth, DynamoDB) the body is what the request does, and a
// signature that does not cover it would let a body be swapped under it.
// There UNSIGNED-PAYLOAD is a declared hash that does not match the body.
func payloadHash(a *sigAuth, body []byte, buf *[64]byte) ([]byte, *Error) {
	if a.service == "s3" && (a.contentSHA256 == UnsignedPayload || (a.contentSHA256 == "" && a.presigned)) {
		return buf[:copy(buf[:], UnsignedPayload)], nil
	}
	sum := sha256.Sum256(body)
	hex.Encode(buf[:], sum[:])
	if a.contentSHA256 != "" {
		if !equalFoldASCII(a.contentSHA256, buf[:]) {
			return nil, errSignatureMismatch(msgSignatureMismatch)
		}
		if a.contentSHA256 != string(buf[:]) {
			// Same hash in uppercase hex: sign what the client declared.
			copy(buf[:], a.contentSHA256)
		}
	}
	return buf[:], nil
}

func equalFoldASCII(s string, b []byte) bool {
	if len(s) != len(b) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c, d := s[i], b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// appendStringToSign builds AWS's string to sign:
// algorithm, request time, credential scope and the canonical request hash.
func appendStringToSign(b []byte, a *sigAuth, crHash *[32]byte) []byte {
	b = append(b, sigV4Algorithm...)
	b = append(b, '\n')
	b = append(b, a.dateStamp[:]...)
	b = append(b, '\n')
	b = append(b, a.scope...)
	b = append(b, '\n')
	var h [64]byte
	hex.Encode(h[:], crHash[:])
	return append(b, h[:]...)
}

// lookupError passes the lookup's *Error through and hides anything else
// behind an internal failure.
func lookupError(err error) error {
	var ae *Error
	if errors.As(err, &ae) && ae != nil {
		return ae
	}
	return Internal("InternalFailure", fmt.Errorf("sigv4: looking up access key: %w", err))
}
