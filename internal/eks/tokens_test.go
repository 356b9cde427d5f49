package eks

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/k8s"
)

// TestTokenEndpoint mints a pod-bound token over podid's REST extension
// and verifies it the way EKS Auth does (KeySource, no HTTP).
func TestTokenEndpoint(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("c1")
	if _, err := e.svc.RegisterCluster(rootCtx(), &RegisterClusterInput{Name: "ext", OIDCIssuerURL: "https://issuer.example"}); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/podid/v1/clusters/c1/tokens", `{"namespace":"carts","serviceAccount":"carts","podName":"carts-1","nodeName":"local","expirationSeconds":3600}`)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	tok, _ := r.Body["token"].(string)
	if exp, _ := r.Body["expirationTimestamp"].(float64); int64(exp) != testStart.Add(time.Hour).Unix() {
		t.Errorf("expirationTimestamp = %v", r.Body["expirationTimestamp"])
	}
	ks := e.svc.Issuer().KeySource("c1")
	c, err := k8s.Verify(context.Background(), tok, ks, k8s.Expect{Issuer: "https://podid.example/clusters/c1/oidc", Audience: k8s.PodIdentityAudience, Now: testStart})
	if err != nil {
		t.Fatal(err)
	}
	if c.Namespace != "carts" || c.ServiceAccountName != "carts" || c.PodName != "carts-1" || c.NodeName != "local" || c.PodUID == "" {
		t.Errorf("claims = %+v", c)
	}
	for _, tc := range []struct {
		name, path, body string
		status           int
		code, message    string
	}{
		{"external cluster", "/podid/v1/clusters/ext/tokens", `{"namespace":"a","serviceAccount":"b","podName":"c"}`, 400, "InvalidRequestException", "Cluster ext is not hosted by podid: its tokens come from its own API server."},
		{"unknown cluster", "/podid/v1/clusters/nope/tokens", `{"namespace":"a","serviceAccount":"b","podName":"c"}`, 404, "ResourceNotFoundException", "No cluster found for name: nope."},
		{"bad namespace", "/podid/v1/clusters/c1/tokens", `{"namespace":"A","serviceAccount":"b","podName":"c"}`, 400, "InvalidParameterException", `namespace "A" is not a valid Kubernetes namespace name`},
		{"lifetime", "/podid/v1/clusters/c1/tokens", `{"namespace":"a","serviceAccount":"b","podName":"c","expirationSeconds":60}`, 400, "InvalidParameterException", "the token lifetime must be between 600 and 172800 seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", tc.path, tc.body)
			if r.Status != tc.status || r.Body["__type"] != tc.code || r.Body["message"] != tc.message {
				t.Errorf("got %d %s", r.Status, r.Raw)
			}
		})
	}
	// The public issuer documents are served without a caller.
	r = e.doAs("", "GET", "/clusters/c1/oidc/.well-known/openid-configuration", "")
	if r.Status != 200 || r.Body["issuer"] != "https://podid.example/clusters/c1/oidc" {
		t.Errorf("discovery: %d %s", r.Status, r.Raw)
	}
	if r := e.doAs(userKey, "POST", "/podid/v1/clusters/c1/tokens", `{"namespace":"a","serviceAccount":"b","podName":"c"}`); r.Status != 403 || !strings.Contains(r.Raw, "eks:CreateServiceAccountToken") {
		t.Errorf("unauthorized mint: %d %s", r.Status, r.Raw)
	}
}
