package awsproto

import (
	"net/http"
	"strings"
)

// AWS error codes of SigV4 verification (awsQuery names, as IAM and STS
// send them).
const (
	CodeIncompleteSignature        = "IncompleteSignature"
	CodeSignatureDoesNotMatch      = "SignatureDoesNotMatch"
	CodeInvalidClientTokenID       = "InvalidClientTokenId"
	CodeExpiredToken               = "ExpiredToken"
	CodeRequestExpired             = "RequestExpired"
	CodeMissingAuthenticationToken = "MissingAuthenticationToken"
)

const msgSignatureMismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// InvalidClientTokenID returns AWS's error for an access key that does not
// exist (or a session token that is not valid for it): 403
// InvalidClientTokenId. SecretLookup implementations return it.
func InvalidClientTokenID() *Error {
	return &Error{Code: CodeInvalidClientTokenID, Message: "The security token included in the request is invalid.", Status: http.StatusForbidden, Sender: true}
}

// ExpiredToken returns AWS's error for expired temporary credentials: 403
// ExpiredToken. SecretLookup implementations return it.
func ExpiredToken() *Error {
	return &Error{Code: CodeExpiredToken, Message: "The security token included in the request is expired", Status: http.StatusForbidden, Sender: true}
}

func errIncomplete(msg string) *Error {
	return &Error{Code: CodeIncompleteSignature, Message: msg, Status: http.StatusBadRequest, Sender: true}
}

func errSignatureMismatch(msg string) *Error {
	return &Error{Code: CodeSignatureDoesNotMatch, Message: msg, Status: http.StatusForbidden, Sender: true}
}

func errMissingAuth() *Error {
	return &Error{Code: CodeMissingAuthenticationToken, Message: "Request is missing Authentication Token", Status: http.StatusForbidden, Sender: true}
}

func errRequestExpired() *Error {
	return &Error{Code: CodeRequestExpired, Message: "Request has expired.", Status: http.StatusBadRequest, Sender: true}
}

func errBadDate(s string) *Error {
	return errIncomplete("Date must be in ISO-8601 'basic format'. Got '" + echo(s) + "'. See http://en.wikipedia.org/wiki/ISO_8601")
}

// errUnsupportedAlgorithm answers an authorization scheme other than
// AWS4-HMAC-SHA256. The scheme is echoed only when it looks like an AWS
// algorithm name: a bearer token sent by mistake must not come back.
func errUnsupportedAlgorithm(alg string) *Error {
	if looksLikeAlgorithm(alg) {
		return errIncomplete("Unsupported AWS 'algorithm': '" + alg + "'.")
	}
	return errIncomplete("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. " +
		"Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
}

func looksLikeAlgorithm(s string) bool {
	if len(s) < 3 || len(s) > 32 || !strings.HasPrefix(s, "AWS") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// RestJSONAuthError translates a SigV4 error into the names AWS's JSON and
// restJson1 services (EKS and the like) use for it: InvalidSignatureException,
// UnrecognizedClientException, ExpiredTokenException,
// IncompleteSignatureException and MissingAuthenticationTokenException.
// Other errors are returned unchanged.
func RestJSONAuthError(e *Error) *Error {
	if e == nil {
		return nil
	}
	out := *e
	switch e.Code {
	case CodeSignatureDoesNotMatch:
		out.Code = "InvalidSignatureException"
	case CodeRequestExpired:
		out.Code, out.Status = "InvalidSignatureException", http.StatusForbidden
	case CodeInvalidClientTokenID:
		out.Code = "UnrecognizedClientException"
	case CodeExpiredToken:
		out.Code = "ExpiredTokenException"
	case CodeIncompleteSignature:
		out.Code = "IncompleteSignatureException"
	case CodeMissingAuthenticationToken:
		out.Code, out.Message = "MissingAuthenticationTokenException", "Missing Authentication Token"
	default:
		return e
	}
	return &out
}

const (
	redacted = "<redacted>"
	echoMax  = 256
)

// echo makes client input safe to quote in a message: at most echoMax
// bytes, with control and non-ASCII bytes shown as '?'.
func echo(s string) string {
	cut := false
	if len(s) > echoMax {
		s, cut = s[:echoMax], true
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			clean = false
			break
		}
	}
	if !clean {
		b := []byte(s)
		for i, c := range b {
			if c < 0x20 || c > 0x7e {
				b[i] = '?'
			}
		}
		s = string(b)
	}
	if cut {
		s += "..."
	}
	return s
}

// redactAuthorization returns the Authorization header for quoting in a
// message, with the Signature value (and anything in its place) replaced.
func redactAuthorization(h string) string {
	var b strings.Builder
	rest := h
	for {
		i := strings.Index(rest, "Signature=")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		i += len("Signature=")
		b.WriteString(rest[:i])
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] == ' ' || rest[j] == '\t') {
			j++
		}
		for j < len(rest) && !isAuthSep(rest[j]) {
			j++
		}
		b.WriteString(redacted)
		rest = rest[j:]
	}
	return echo(b.String())
}
