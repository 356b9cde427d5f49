package issuer

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
)

// Paths under a cluster's issuer URL.
const (
	// DiscoveryPath is the OIDC discovery document.
	DiscoveryPath = "/.well-known/openid-configuration"
	// JWKSPath is the key set, where EKS serves it ("/keys").
	JWKSPath = "/keys"
	// KubeJWKSPath is the key set where kube-apiserver serves it.
	KubeJWKSPath = "/openid/v1/jwks"
)

var clusterNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]*$`)

// splitPublicPath parses /clusters/NAME/oidc/<doc>, relative to the base
// URL's path, and returns the cluster and the document path.
func (i *Issuer) splitPublicPath(path string) (cluster, doc string, ok bool) {
	rest, found := strings.CutPrefix(path, "/clusters/")
	if !found {
		return "", "", false
	}
	cluster, doc, found = strings.Cut(rest, "/oidc/")
	if !found || len(cluster) > 100 || !clusterNameRE.MatchString(cluster) {
		return "", "", false
	}
	doc = "/" + doc
	switch doc {
	case DiscoveryPath, JWKSPath, KubeJWKSPath:
		return cluster, doc, true
	}
	return "", "", false
}

// IsPublicPath reports whether path (as the server sees it, without the
// base URL's own path prefix) is one of the unauthenticated issuer
// documents: /clusters/NAME/oidc/.well-known/openid-configuration,
// /clusters/NAME/oidc/keys or /clusters/NAME/oidc/openid/v1/jwks.
func (i *Issuer) IsPublicPath(path string) bool {
	_, _, ok := i.splitPublicPath(path)
	return ok
}

// discovery is the OIDC discovery document of a hosted cluster, with the
// members kube-apiserver serves.
type discovery struct {
	Issuer                           string   `json:"issuer"`
	JWKSURI                          string   `json:"jwks_uri"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
}

// Discovery returns the OIDC discovery document of a hosted cluster.
func (i *Issuer) Discovery(cluster string) any {
	iss := i.URL(cluster)
	return discovery{
		Issuer:                           iss,
		JWKSURI:                          iss + JWKSPath,
		ResponseTypesSupported:           []string{"id_token"},
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{string(Algorithm)},
		ClaimsSupported:                  []string{"sub", "iss"},
	}
}

// ServeHTTP serves the public issuer documents of hosted clusters (GET and
// HEAD only, no authentication, as OIDC discovery requires). Any other
// path or an unknown cluster gets a JSON 404.
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cluster, doc, ok := i.splitPublicPath(r.URL.Path)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "Method Not Allowed"})
		return
	}
	set, err := i.JWKS(r.Context(), cluster)
	if errors.Is(err, ErrNoKeys) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	if doc == DiscoveryPath {
		writeJSON(w, http.StatusOK, i.Discovery(cluster))
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	writeJSONTyped(w, http.StatusOK, set)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	writeJSONTyped(w, status, v)
}

func writeJSONTyped(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"Internal Server Error"}`)
	}
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
