package console

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// trustPolicyText is a trust policy as stored: the document, which a
// client may have submitted URL-encoded.
func trustPolicyText(doc string) string {
	if !strings.HasPrefix(strings.TrimSpace(doc), "{") {
		if d, err := url.QueryUnescape(doc); err == nil {
			return d
		}
	}
	return doc
}

// prettyJSON indents a policy document for reading (as given when it is
// not JSON).
func prettyJSON(doc string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(doc), "", "  ") != nil {
		return doc
	}
	return buf.String()
}
