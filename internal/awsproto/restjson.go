package awsproto

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// WriteJSON writes a restJson1 success response.
func WriteJSON(w http.ResponseWriter, status int, requestID string, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.WriteHeader(status)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

// WriteJSONError writes a restJson1 error: the code in x-amzn-ErrorType and
// the body {"__type": code, "message": msg}.
func WriteJSONError(w http.ResponseWriter, requestID string, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.Header().Set("x-amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Code, e.Message})
}

// PathSegments splits the request's raw (still percent-encoded) path on "/"
// and decodes each segment on its own, so an encoded %2F inside a label (an
// ARN in /tags/{resourceArn}) stays inside its segment. ok is false when a
// segment is not valid percent-encoding.
func PathSegments(r *http.Request) (segs []string, ok bool) {
	raw := r.URL.EscapedPath()
	raw = strings.Trim(raw, "/")
	if raw == "" {
		return nil, true
	}
	parts := strings.Split(raw, "/")
	for i, p := range parts {
		d, err := url.PathUnescape(p)
		if err != nil {
			return nil, false
		}
		parts[i] = d
	}
	return parts, true
}
