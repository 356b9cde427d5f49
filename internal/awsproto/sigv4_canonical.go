package awsproto

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// appendCanonicalRequest builds the SigV4 canonical request of r the way
// AWS builds it:
//
//	METHOD
//	canonical URI (every service but S3: normalized path, each byte outside
//	  A-Za-z0-9-._~/ percent-encoded again; S3: the path as sent)
//	canonical query (each name and value decoded then re-encoded, sorted)
//	canonical headers (lowercase name ":" trimmed value, in SignedHeaders order)
//	signed headers
//	payload hash
func appendCanonicalRequest(b []byte, r *http.Request, a *sigAuth, payload []byte) []byte {
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	b = append(b, method...)
	b = append(b, '\n')
	if a.service == "s3" {
		b = appendS3CanonicalURI(b, requestPath(r))
	} else {
		b = appendCanonicalURI(b, requestPath(r))
	}
	b = append(b, '\n')
	b = appendCanonicalQuery(b, rawQuery(r), a.presigned)
	b = append(b, '\n')
	b = appendCanonicalHeaders(b, r, a.signedHeaders)
	b = append(b, '\n')
	b = append(b, a.signedHeaders...)
	b = append(b, '\n')
	return append(b, payload...)
}

// requestPath returns the path as the client sent it, still
// percent-encoded: from the request line when r came from a server, else
// from the URL.
func requestPath(r *http.Request) string {
	if uri := r.RequestURI; uri != "" {
		if i := strings.IndexByte(uri, '?'); i >= 0 {
			uri = uri[:i]
		}
		if uri != "" && uri[0] != '/' {
			// Absolute form (http://host/path) or "*".
			if i := strings.Index(uri, "://"); i >= 0 {
				uri = uri[i+3:]
				if j := strings.IndexByte(uri, '/'); j >= 0 {
					return uri[j:]
				}
				return "/"
			}
		}
		return uri
	}
	if r.URL == nil {
		return "/"
	}
	if op := r.URL.Opaque; op != "" {
		// As the SDKs read it: //host/path or /path.
		if i := strings.IndexByte(op, '?'); i >= 0 {
			op = op[:i]
		}
		op = strings.TrimPrefix(op, "//")
		if i := strings.IndexByte(op, '/'); i >= 0 {
			return op[i:]
		}
		return "/"
	}
	return r.URL.EscapedPath()
}

// appendCanonicalURI normalizes the raw path (dot segments and repeated
// slashes removed, as AWS does for every service but S3) and encodes it a
// second time.
func appendCanonicalURI(b []byte, raw string) []byte {
	if raw == "" {
		return append(b, '/')
	}
	if PathNeedsNormalize(raw) {
		raw = normalizePath(raw)
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if isUnreserved(c) || c == '/' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
	}
	return b
}

// appendS3CanonicalURI appends S3's canonical URI: the path exactly as the
// client sent it, already percent-encoded once, neither normalized nor
// encoded again. Every S3 client signs the path it sends, so "//", "." and
// ".." segments and encoded '?' and '#' keep their meaning.
func appendS3CanonicalURI(b []byte, raw string) []byte {
	if raw == "" {
		return append(b, '/')
	}
	return append(b, raw...)
}

// PathNeedsNormalize reports whether p has an empty, "." or ".." segment
// other than the empty ones its leading and trailing slashes make: a path
// that SigV4's normalization, or an upstream that cleans paths, would turn
// into another path. The canonical request and the gateway's S3 keys both
// use it.
func PathNeedsNormalize(p string) bool {
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		seg := p[start:i]
		inner := start > 0 && i < len(p)
		if seg == "." || seg == ".." || (seg == "" && inner) {
			return true
		}
		start = i + 1
	}
	return false
}

// normalizePath removes dot segments and empty segments (RFC 3986 §5.2.4
// plus AWS's collapsing of repeated slashes), keeping a leading and a
// trailing slash.
func normalizePath(p string) string {
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	var b strings.Builder
	if p[0] == '/' {
		b.WriteByte('/')
	}
	b.WriteString(strings.Join(out, "/"))
	if p[len(p)-1] == '/' && len(out) > 0 {
		b.WriteByte('/')
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

// isUnreserved reports whether c is in RFC 3986's unreserved set, which
// SigV4 leaves unencoded.
func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

// appendQueryComponent decodes a raw query name or value (leniently, as
// queryUnescape) and appends its SigV4 encoding.
func appendQueryComponent(b []byte, raw string) []byte {
	for i := 0; i < len(raw); i++ {
		c, n := decodeQueryByte(raw, i)
		i += n
		if isUnreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return b
}

// qpair locates one encoded name=value pair in a scratch buffer.
type qpair struct{ k0, k1, v1 int32 }

// appendCanonicalQuery appends the canonical query string: every pair's
// name and value decoded and re-encoded, then sorted by name and value.
// Presigned requests leave out their X-Amz-Signature.
func appendCanonicalQuery(b []byte, raw string, presigned bool) []byte {
	if raw == "" {
		return b
	}
	var scratchArr [512]byte
	var pairsArr [32]qpair
	scratch, pairs := scratchArr[:0], pairsArr[:0]
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k0 := len(scratch)
		scratch = appendQueryComponent(scratch, k)
		k1 := len(scratch)
		if presigned && string(scratch[k0:k1]) == qSignature {
			scratch = scratch[:k0]
			continue
		}
		scratch = appendQueryComponent(scratch, v)
		pairs = append(pairs, qpair{int32(k0), int32(k1), int32(len(scratch))})
	}
	slices.SortFunc(pairs, func(x, y qpair) int {
		if c := bytes.Compare(scratch[x.k0:x.k1], scratch[y.k0:y.k1]); c != 0 {
			return c
		}
		return bytes.Compare(scratch[x.k1:x.v1], scratch[y.k1:y.v1])
	})
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, scratch[p.k0:p.k1]...)
		b = append(b, '=')
		b = append(b, scratch[p.k1:p.v1]...)
	}
	return b
}

// appendCanonicalHeaders appends "name:value\n" for each signed header, in
// the order the client listed them. Values are trimmed and runs of spaces
// folded to one; repeated headers are joined with commas.
func appendCanonicalHeaders(b []byte, r *http.Request, signed string) []byte {
	for rest := signed; ; {
		name, next, more := strings.Cut(rest, ";")
		b = append(b, name...)
		b = append(b, ':')
		b = appendHeaderValue(b, r, name)
		b = append(b, '\n')
		if !more {
			return b
		}
		rest = next
	}
}

func appendHeaderValue(b []byte, r *http.Request, name string) []byte {
	if name == "host" {
		host := r.Host
		if host == "" && r.URL != nil {
			host = r.URL.Host
		}
		return appendTrimmed(b, host)
	}
	vals := headerValues(r.Header, name)
	if len(vals) == 0 && name == "content-length" && r.ContentLength > 0 {
		// A request built in-process carries its length outside Header.
		return strconv.AppendInt(b, r.ContentLength, 10)
	}
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTrimmed(b, v)
	}
	return b
}

// appendTrimmed appends v without leading and trailing blanks and with
// each run of spaces folded to a single space.
func appendTrimmed(b []byte, v string) []byte {
	i, j := 0, len(v)
	for i < j && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	for j > i && (v[j-1] == ' ' || v[j-1] == '\t') {
		j--
	}
	space := false
	for ; i < j; i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}

// headerValues looks a lowercase header name up in h, whose keys are in
// canonical MIME form, without allocating for names of usual length.
func headerValues(h http.Header, name string) []string {
	if len(name) > 64 {
		return h[http.CanonicalHeaderKey(name)]
	}
	var buf [64]byte
	k := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z':
			if upper {
				c -= 'a' - 'A'
			}
		case 'A' <= c && c <= 'Z':
			if !upper {
				c += 'a' - 'A'
			}
		case !isTokenByte(c):
			// net/textproto keeps such names as they are.
			return h[name]
		}
		k[i] = c
		upper = c == '-'
	}
	return h[string(k)]
}

// isTokenByte reports whether c may appear in an HTTP header name.
func isTokenByte(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
