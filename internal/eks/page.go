package eks

import (
	"encoding/base64"
	"strings"
)

// Page tokens are opaque to clients: base64url of the listing kind, the
// sort key of the last item returned and the filters of the listing, so a
// token is valid only for the listing that produced it. Each page's token
// names a different last item, so a token is never repeated, and the last
// page carries none.

// maxPageTokenLen bounds the tokens decodePageToken reads. The longest
// token podid makes (an association listing with a 100-character cluster
// name and both 253-character filters) is under 900 characters.
const maxPageTokenLen = 4096

func encodePageToken(after string, scope ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(append(scope, after), "\x00")))
}

// decodePageToken returns the sort key a token resumes after ("" for no
// token). A token from another listing or not made here is
// InvalidParameterException.
func decodePageToken(cluster, tok string, scope ...string) (string, error) {
	if tok == "" {
		return "", nil
	}
	if len(tok) > maxPageTokenLen {
		return "", invalidParam(cluster, "The parameter nextToken is not valid.")
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", invalidParam(cluster, "The parameter nextToken is not valid.")
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != len(scope)+1 || parts[len(parts)-1] == "" {
		return "", invalidParam(cluster, "The parameter nextToken is not valid.")
	}
	for i, sc := range scope {
		if parts[i] != sc {
			return "", invalidParam(cluster, "The parameter nextToken is not valid for this request.")
		}
	}
	return parts[len(parts)-1], nil
}

// checkMaxResults validates maxResults (1..100; nil means not given: 100)
// and returns the page size.
func checkMaxResults(cluster string, n *int) (int, error) {
	if n == nil {
		return maxResultsLimit, nil
	}
	if *n < 1 || *n > maxResultsLimit {
		return 0, invalidParam(cluster, "The parameter maxResults must be between 1 and %d.", maxResultsLimit)
	}
	return *n, nil
}
