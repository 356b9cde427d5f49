package awsproto

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sigAuth is the authorization data of a request, before any verification.
// Its strings point into the request's header or query.
type sigAuth struct {
	presigned bool

	credential  string // AKID/date/region/service/terminator
	accessKeyID string
	scope       string // date/region/service/terminator
	scopeDate   string
	region      string
	service     string
	terminator  string

	signedHeaders string
	signature     string

	// dateStamp is the signing time in ISO-8601 basic format, as it goes
	// into the string to sign.
	dateStamp [16]byte
	date      time.Time
	// expires is X-Amz-Expires in seconds (presigned only); 0 when absent.
	expires int64

	sessionToken  string
	contentSHA256 string
}

// Names of the SigV4 headers and query parameters.
const (
	hdrAuthorization = "Authorization"
	hdrAmzDate       = "X-Amz-Date"
	hdrDate          = "Date"
	hdrSecurityToken = "X-Amz-Security-Token"
	hdrContentSHA256 = "X-Amz-Content-Sha256"

	qAlgorithm     = "X-Amz-Algorithm"
	qCredential    = "X-Amz-Credential"
	qDate          = "X-Amz-Date"
	qExpires       = "X-Amz-Expires"
	qSignedHeaders = "X-Amz-SignedHeaders"
	qSignature     = "X-Amz-Signature"
	qSecurityToken = "X-Amz-Security-Token"
	qContentSHA256 = "X-Amz-Content-Sha256"
)

// IsSigned reports whether r carries SigV4 authorization data at all: an
// Authorization header or a presigned query string. It does not say the
// data is valid; unsigned requests (STS AssumeRoleWithWebIdentity) are the
// ones for which it is false.
func IsSigned(r *http.Request) bool {
	if firstHeader(r.Header, hdrAuthorization) != "" {
		return true
	}
	raw := rawQuery(r)
	if raw == "" {
		return false
	}
	var p presignParams
	scanPresign(raw, &p, false)
	return p.has&(hasAlg|hasCred|hasSig) != 0
}

// ScopeOf returns the service and region of r's credential scope, from the
// Authorization header or the presigned query, for routing before
// verification. It verifies nothing; ok is false when r carries no
// parsable SigV4 credential.
func ScopeOf(r *http.Request) (service, region string, ok bool) {
	var cred string
	if h := firstHeader(r.Header, hdrAuthorization); h != "" {
		alg, rest := cutScheme(h)
		if alg != sigV4Algorithm {
			return "", "", false
		}
		for rest != "" {
			var tok string
			tok, rest = nextAuthToken(rest)
			if c, found := strings.CutPrefix(tok, "Credential="); found {
				cred = c
				break
			}
		}
	} else if raw := rawQuery(r); raw != "" {
		var p presignParams
		scanPresign(raw, &p, true)
		cred = p.cred
	}
	var a sigAuth
	if cred == "" || !splitCredential(cred, &a) || a.service == "" {
		return "", "", false
	}
	return a.service, a.region, true
}

// parseAuth extracts and validates the authorization data of r, without
// looking at the clock or any key.
func parseAuth(r *http.Request, a *sigAuth) *Error {
	if e := checkSingleHeaders(r.Header); e != nil {
		return e
	}
	if h := firstHeader(r.Header, hdrAuthorization); h != "" {
		return parseHeaderAuth(r, h, a)
	}
	var p presignParams
	scanPresign(rawQuery(r), &p, true)
	if p.has&(hasAlg|hasCred|hasSig) != 0 {
		return parseQueryAuth(r, &p, a)
	}
	return errMissingAuth()
}

// parseHeaderAuth parses the header form:
// Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…
func parseHeaderAuth(r *http.Request, h string, a *sigAuth) *Error {
	alg, rest := cutScheme(h)
	if alg != sigV4Algorithm {
		return errUnsupportedAlgorithm(alg)
	}
	var haveCred, haveSigned, haveSig, emptySig bool
	for rest != "" {
		var tok string
		tok, rest = nextAuthToken(rest)
		if tok == "" {
			continue
		}
		k, val, found := strings.Cut(tok, "=")
		if !found {
			shown := tok
			if emptySig {
				shown = redacted
			}
			return errIncomplete("'" + echo(shown) + "' not a valid key=value pair (missing equal-sign) in Authorization header: '" + redactAuthorization(h) + "'.")
		}
		emptySig = false
		switch k {
		case "Credential":
			if !haveCred {
				a.credential, haveCred = val, true
			}
		case "SignedHeaders":
			if !haveSigned {
				a.signedHeaders, haveSigned = val, true
			}
		case "Signature":
			if !haveSig {
				a.signature, haveSig = val, true
				emptySig = val == ""
			}
		}
	}
	amzDate := firstHeader(r.Header, hdrAmzDate)
	httpDate := ""
	if amzDate == "" {
		httpDate = firstHeader(r.Header, hdrDate)
	}
	if !haveCred || !haveSig || !haveSigned || (amzDate == "" && httpDate == "") {
		var b strings.Builder
		if !haveCred {
			b.WriteString("Authorization header requires 'Credential' parameter. ")
		}
		if !haveSig {
			b.WriteString("Authorization header requires 'Signature' parameter. ")
		}
		if !haveSigned {
			b.WriteString("Authorization header requires 'SignedHeaders' parameter. ")
		}
		if amzDate == "" && httpDate == "" {
			b.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
		}
		b.WriteString("Authorization=")
		b.WriteString(redactAuthorization(h))
		return errIncomplete(b.String())
	}
	if e := setCredential(a); e != nil {
		return e
	}
	if amzDate != "" {
		if !parseAmzDate(amzDate, a) {
			return errBadDate(amzDate)
		}
	} else {
		t, err := http.ParseTime(httpDate)
		if err != nil {
			return errBadDate(httpDate)
		}
		a.date = t.UTC().Truncate(time.Second)
		a.date.AppendFormat(a.dateStamp[:0], amzDateLayout)
	}
	if e := checkSignedHeaders(a.signedHeaders); e != nil {
		return e
	}
	a.sessionToken = firstHeader(r.Header, hdrSecurityToken)
	a.contentSHA256 = firstHeader(r.Header, hdrContentSHA256)
	return nil
}

// presignParams are the SigV4 query parameters of a presigned request.
type presignParams struct {
	alg, cred, sig, signed, date, expires, token, contentSHA256 string
	has                                                         uint8
}

const (
	hasAlg = 1 << iota
	hasCred
	hasSig
	hasSigned
	hasDate
	hasExpires
	hasToken
	hasContentSHA256
)

// scanPresign collects the X-Amz-* parameters of a query in one pass; the
// first occurrence of each wins.
// Values are decoded only when values is true.
func scanPresign(raw string, p *presignParams, values bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if len(k) < len("X-Amz-Date") {
			continue
		}
		if strings.ContainsAny(k, "%+") {
			k = queryUnescape(k)
		}
		var bit uint8
		var dst *string
		switch k {
		case qAlgorithm:
			bit, dst = hasAlg, &p.alg
		case qCredential:
			bit, dst = hasCred, &p.cred
		case qSignature:
			bit, dst = hasSig, &p.sig
		case qSignedHeaders:
			bit, dst = hasSigned, &p.signed
		case qDate:
			bit, dst = hasDate, &p.date
		case qExpires:
			bit, dst = hasExpires, &p.expires
		case qSecurityToken:
			bit, dst = hasToken, &p.token
		case qContentSHA256:
			bit, dst = hasContentSHA256, &p.contentSHA256
		default:
			continue
		}
		if p.has&bit == 0 {
			p.has |= bit
			if values {
				*dst = queryUnescape(v)
			}
		}
	}
}

// parseQueryAuth parses the presigned form, whose authorization data is in
// the X-Amz-* query parameters.
func parseQueryAuth(r *http.Request, p *presignParams, a *sigAuth) *Error {
	a.presigned = true
	const required = hasAlg | hasCred | hasSig | hasSigned | hasDate
	if p.has&required != required {
		var b strings.Builder
		for _, m := range []struct {
			name string
			bit  uint8
		}{{qAlgorithm, hasAlg}, {qCredential, hasCred}, {qSignature, hasSig}, {qSignedHeaders, hasSigned}, {qDate, hasDate}} {
			if p.has&m.bit == 0 {
				b.WriteString("AWS query-string parameters must include '" + m.name + "'. ")
			}
		}
		b.WriteString("Re-examine the query-string parameters.")
		return errIncomplete(b.String())
	}
	if p.alg != sigV4Algorithm {
		return errUnsupportedAlgorithm(p.alg)
	}
	a.credential, a.signature, a.signedHeaders = p.cred, p.sig, p.signed
	if e := setCredential(a); e != nil {
		return e
	}
	if !parseAmzDate(p.date, a) {
		return errBadDate(p.date)
	}
	if e := checkSignedHeaders(a.signedHeaders); e != nil {
		return e
	}
	if p.has&hasExpires != 0 {
		n, err := strconv.ParseInt(p.expires, 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(p.expires, "-"):
			return errIncomplete("X-Amz-Expires must be less than a week (in seconds) that is 604800")
		case errors.Is(err, strconv.ErrRange):
			return errIncomplete("X-Amz-Expires must be non-negative")
		case err != nil:
			return errIncomplete("X-Amz-Expires should be a number")
		case n < 0:
			return errIncomplete("X-Amz-Expires must be non-negative")
		case n == 0:
			return errIncomplete("X-Amz-Expires must be at least 1 second")
		case n > MaxPresignExpires:
			return errIncomplete("X-Amz-Expires must be less than a week (in seconds) that is 604800")
		}
		a.expires = n
	}
	if p.has&hasToken != 0 {
		a.sessionToken = p.token
	} else {
		a.sessionToken = firstHeader(r.Header, hdrSecurityToken)
	}
	if h := firstHeader(r.Header, hdrContentSHA256); h != "" {
		a.contentSHA256 = h
	} else {
		a.contentSHA256 = p.contentSHA256
	}
	return nil
}

// setCredential splits a.credential into its five elements.
func setCredential(a *sigAuth) *Error {
	if !splitCredential(a.credential, a) {
		return errIncomplete("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '" + echo(a.credential) + "'")
	}
	return nil
}

// splitCredential splits AKID/date/region/service/terminator.
func splitCredential(cred string, a *sigAuth) bool {
	if strings.Count(cred, "/") != 4 {
		return false
	}
	akid, scope, _ := strings.Cut(cred, "/")
	date, rest, _ := strings.Cut(scope, "/")
	region, rest, _ := strings.Cut(rest, "/")
	service, term, _ := strings.Cut(rest, "/")
	a.accessKeyID, a.scope, a.scopeDate, a.region, a.service, a.terminator = akid, scope, date, region, service, term
	return true
}

// checkSignedHeaders requires host among the signed headers.
func checkSignedHeaders(list string) *Error {
	for rest := list; ; {
		name, next, more := strings.Cut(rest, ";")
		if name == "host" {
			return nil
		}
		if !more {
			break
		}
		rest = next
	}
	return errIncomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
}

// parseAmzDate parses YYYYMMDDTHHMMSSZ into a.date and a.dateStamp.
func parseAmzDate(s string, a *sigAuth) bool {
	if len(s) != 16 || s[8] != 'T' || s[15] != 'Z' {
		return false
	}
	num := func(i, j int) (int, bool) {
		n := 0
		for ; i < j; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(4, 6)
	d, ok3 := num(6, 8)
	h, ok4 := num(9, 11)
	mi, ok5 := num(11, 13)
	sec, ok6 := num(13, 15)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 {
		return false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if t.Day() != d { // 31 April and the like
		return false
	}
	a.date = t
	copy(a.dateStamp[:], s)
	return true
}

// cutScheme splits "SCHEME rest" after skipping leading blanks.
func cutScheme(h string) (scheme, rest string) {
	h = strings.TrimLeft(h, " \t")
	for i := 0; i < len(h); i++ {
		if h[i] == ' ' || h[i] == '\t' {
			return h[:i], h[i+1:]
		}
	}
	return h, ""
}

// nextAuthToken returns the next token of the Authorization header's
// parameter list; tokens are separated by commas and blanks.
func nextAuthToken(s string) (tok, rest string) {
	i := 0
	for i < len(s) && isAuthSep(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isAuthSep(s[j]) {
		j++
	}
	return s[i:j], s[j:]
}

func isAuthSep(c byte) bool { return c == ',' || c == ' ' || c == '\t' }

// firstHeader returns the first value of a header whose name is already in
// canonical form, without allocating.
// singleHeaders are the SigV4 headers a request may carry at most once: a
// second copy would let the signed value and the used value differ.
var singleHeaders = [...]string{hdrAuthorization, hdrAmzDate, hdrDate, hdrSecurityToken, hdrContentSHA256}

// checkSingleHeaders refuses a request that repeats a SigV4 header.
func checkSingleHeaders(h http.Header) *Error {
	for _, name := range singleHeaders {
		if len(h[name]) > 1 {
			return errIncomplete("The request has more than one " + name + " header.")
		}
	}
	return nil
}

func firstHeader(h http.Header, canonicalName string) string {
	if v := h[canonicalName]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func rawQuery(r *http.Request) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.RawQuery
}

// queryUnescape decodes a query component leniently: "+" is a space, and a
// "%" not followed by two hex digits stands for itself (the canonical query
// string then encodes it as %25, so nothing is lost or guessed).
func queryUnescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c, n := decodeQueryByte(s, i)
		b = append(b, c)
		i += n
	}
	return string(b)
}

// decodeQueryByte decodes the byte at s[i]; n is the number of extra bytes
// consumed.
func decodeQueryByte(s string, i int) (c byte, n int) {
	switch s[i] {
	case '+':
		return ' ', 0
	case '%':
		if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			return unhex(s[i+1])<<4 | unhex(s[i+2]), 2
		}
	}
	return s[i], 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
