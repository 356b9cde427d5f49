package awsproto

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Params are the parameters of an awsQuery request (IAM, STS), decoded from
// the form body or, for GET requests and presigned URLs, the query string.
type Params struct {
	url.Values
}

// Limits of the awsQuery decoder, applied before a parameter is decoded.
// AWS publishes no such figures; these are podid's, far above what any
// action takes (CreateRole with 50 tags and AssumeRole with 10 policy ARNs,
// 50 tags and 50 transitive keys each stay below 200 parameters).
const (
	// MaxQueryParams bounds the parameters of one request.
	MaxQueryParams = 1000
	// MaxQueryParamName bounds one parameter's name in bytes (the longest
	// name an action takes, such as PolicyArns.member.10.arn, is far
	// shorter).
	MaxQueryParamName = 128
)

// ParseParams decodes an awsQuery form body. It refuses malformed encoding
// with a MalformedQueryString-style client error rather than guessing, and
// a body over the decoder's limits (MaxQueryParams, MaxQueryParamName) with
// a ValidationError before decoding anything.
func ParseParams(body string) (Params, error) {
	if err := CheckQueryLimits(body); err != nil {
		return Params{}, err
	}
	v, err := url.ParseQuery(body)
	if err != nil {
		return Params{}, Errorf(http.StatusBadRequest, "MalformedQueryString", "The request's query string is not valid.")
	}
	return Params{v}, nil
}

// CheckQueryLimits applies MaxQueryParams and MaxQueryParamName to a raw
// (still encoded) query string or form body in one pass, without decoding
// it.
func CheckQueryLimits(raw string) error {
	n := 0
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		n++
		if n > MaxQueryParams {
			return Errorf(http.StatusBadRequest, "ValidationError", "The request has more than %d parameters.", MaxQueryParams)
		}
		name, _, _ := strings.Cut(pair, "=")
		if len(name) > MaxQueryParamName {
			return Errorf(http.StatusBadRequest, "ValidationError", "A parameter name is longer than %d bytes.", MaxQueryParamName)
		}
	}
	return nil
}

// Has reports whether name was sent (even empty).
func (p Params) Has(name string) bool {
	_, ok := p.Values[name]
	return ok
}

// List returns the members of a list parameter encoded as name.member.1,
// name.member.2, … in index order. It stops at the first missing index.
// Its cost is linear in the number of members.
func (p Params) List(name string) []string {
	var out []string
	prefix := name + ".member."
	for i := 1; ; i++ {
		v, ok := p.Values[prefix+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// Structs returns the members of a list of structures encoded as
// name.member.N.Field, each as a map from field name to value, in index
// order up to the first missing index. It looks at each parameter once, so
// its cost is linear in the number of parameters (it used to scan every
// parameter for every member).
func (p Params) Structs(name string) []map[string]string {
	prefix := name + ".member."
	var byIndex map[int]map[string]string
	for k, v := range p.Values {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		idx, field, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		i, ok := memberIndex(idx)
		if !ok {
			continue
		}
		if byIndex == nil {
			byIndex = map[int]map[string]string{}
		}
		m := byIndex[i]
		if m == nil {
			m = map[string]string{}
			byIndex[i] = m
		}
		m[field] = v[0]
	}
	var out []map[string]string
	for i := 1; ; i++ {
		m, ok := byIndex[i]
		if !ok {
			return out
		}
		out = append(out, m)
	}
}

// memberIndex parses a list member's index as the SDKs write it: a
// positive decimal number without sign or leading zeros.
func memberIndex(s string) (int, bool) {
	if s == "" || len(s) > 9 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// Int returns an integer parameter; ok is false when absent. A value that is
// not an integer is a ValidationError.
func (p Params) Int(name string) (n int, ok bool, err error) {
	s, present := p.Values[name]
	if !present {
		return 0, false, nil
	}
	n, convErr := strconv.Atoi(s[0])
	if convErr != nil {
		return 0, true, Errorf(http.StatusBadRequest, "ValidationError", "Value '%s' at '%s' failed to satisfy constraint: Member must be a number", s[0], lowerFirst(name))
	}
	return n, true, nil
}

// Bool returns a boolean parameter ("true"/"false"); ok is false when absent.
func (p Params) Bool(name string) (b bool, ok bool, err error) {
	s, present := p.Values[name]
	if !present {
		return false, false, nil
	}
	switch strings.ToLower(s[0]) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, true, Errorf(http.StatusBadRequest, "ValidationError", "Value '%s' at '%s' failed to satisfy constraint: Member must be a boolean", s[0], lowerFirst(name))
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// WriteQueryResponse writes a successful awsQuery response:
// <ActionResponse xmlns><ActionResult>result</ActionResult><ResponseMetadata>…
// result is marshalled with encoding/xml; its own element name is replaced
// by ActionResult. A nil result writes an empty result element.
func WriteQueryResponse(w http.ResponseWriter, action, xmlns, requestID string, result any) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.WriteHeader(http.StatusOK)
	writeQueryBody(w, action, xmlns, requestID, result)
}

func writeQueryBody(w io.Writer, action, xmlns, requestID string, result any) {
	io.WriteString(w, `<`+action+`Response xmlns="`+xmlns+`">`+"\n")
	if result == nil {
		io.WriteString(w, "  <"+action+"Result/>\n")
	} else {
		enc := xml.NewEncoder(w)
		enc.Indent("  ", "  ")
		start := xml.StartElement{Name: xml.Name{Local: action + "Result"}}
		if err := enc.EncodeElement(result, start); err != nil {
			// Only a programming error (an unsupported type) can get here.
			panic("awsproto: cannot encode " + action + " result: " + err.Error())
		}
		enc.Flush()
		io.WriteString(w, "\n")
	}
	io.WriteString(w, "  <ResponseMetadata>\n    <RequestId>"+requestID+"</RequestId>\n  </ResponseMetadata>\n</"+action+"Response>\n")
}

// WriteQueryError writes an awsQuery XML error body with the error's status.
func WriteQueryError(w http.ResponseWriter, xmlns, requestID string, e *Error) {
	typ := "Sender"
	if !e.Sender {
		typ = "Receiver"
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.WriteHeader(e.Status)
	var b strings.Builder
	b.WriteString(`<ErrorResponse xmlns="` + xmlns + `">` + "\n  <Error>\n    <Type>" + typ + "</Type>\n    <Code>")
	xml.EscapeText(&b, []byte(e.Code))
	b.WriteString("</Code>\n    <Message>")
	xml.EscapeText(&b, []byte(e.Message))
	b.WriteString("</Message>\n  </Error>\n  <RequestId>" + requestID + "</RequestId>\n</ErrorResponse>\n")
	io.WriteString(w, b.String())
}

// EncodePolicyDocument URL-encodes a policy document as IAM returns it
// (RFC 3986: everything but A-Z a-z 0-9 - _ . ~ is percent-encoded, spaces
// as %20), preserving the stored text exactly.
func EncodePolicyDocument(doc string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(doc) * 2)
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
