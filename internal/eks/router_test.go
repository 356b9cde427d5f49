package eks

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

// TestRouter pins which operation each method and path reach on the
// ServeMux (the operation the request metrics see), and that everything
// else, including what ServeMux would redirect or answer itself, is
// EKS's UnknownOperationException.
func TestRouter(t *testing.T) {
	e := newEnv(t)
	e.svc.HandleExtension("GET /podid/v1/example/{name}", "Example", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"name":"` + r.PathValue("name") + `"}`))
	}))
	const clusterARN = "arn%3Aaws%3Aeks%3Aus-west-2%3A" + testAccount + "%3Acluster%2Fc1"
	for _, tc := range []struct{ method, path, op string }{
		{"GET", "/clusters", "ListClusters"},
		{"GET", "/clusters/", "ListClusters"},
		{"POST", "/clusters/c1/addons/eks-pod-identity-agent/update", "UpdateAddon"},
		{"GET", "/clusters/c1/pod-identity-associations/a-1", "DescribePodIdentityAssociation"},
		{"DELETE", "/cluster-registrations/c1", "DeregisterCluster"},
		{"GET", "/addons/supported-versions", "DescribeAddonVersions"},
		{"GET", "/tags/" + clusterARN, "ListTagsForResource"},
		{"GET", "/tags/arn:aws:eks:us-west-2:" + testAccount + ":cluster/c1", "ListTagsForResource"},
		{"POST", "/podid/v1/clusters/c1/tokens", "CreateClusterToken"},
		{"GET", "/podid/v1/example/x", "Example"},
		{"HEAD", "/clusters", ""},
		{"PUT", "/clusters", ""},
		{"GET", "/clusters//addons", ""},
		{"GET", "/clusters/./addons", ""},
		{"GET", "/clusters/c1/../c2", ""},
		{"POST", "/podid/v1/clusters/c1/association-events", ""},
		{"POST", "/podid/v1/example/x", ""},
		{"GET", "/podid/v1/nope", ""},
		{"GET", "/tags", ""},
		{"GET", "/nope", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			ctx, op := awsproto.WithOperationSlot(auth.WithPrincipal(req.Context(), rootPrincipal()))
			rec := httptest.NewRecorder()
			e.svc.ServeHTTP(rec, req.WithContext(ctx))
			if *op != tc.op {
				t.Errorf("operation %q, want %q (status %d %s)", *op, tc.op, rec.Code, rec.Body)
			}
			if tc.op == "" && (rec.Code != http.StatusNotFound || rec.Header().Get("x-amzn-ErrorType") != "UnknownOperationException") {
				t.Errorf("%d %s %s, want 404 UnknownOperationException", rec.Code, rec.Header().Get("x-amzn-ErrorType"), rec.Body)
			}
		})
	}
	if ops := e.svc.Operations(); !slices.Contains(ops, "Example") || !slices.Contains(ops, OpAssociationEvents) || !slices.Contains(ops, "TagResource") {
		t.Errorf("Operations() = %v, want the extension, the feed and the tag operations", ops)
	}
}

// TestHandleExtensionRefuses: an extension outside /podid/v1/, without an
// operation name or conflicting with a route stops the server at start.
func TestHandleExtensionRefuses(t *testing.T) {
	e := newEnv(t)
	h := http.NotFoundHandler()
	for name, call := range map[string]func(){
		"outside /podid/v1": func() { e.svc.HandleExtension("GET /clusters/x", "X", h) },
		"no operation":      func() { e.svc.HandleExtension("GET /podid/v1/x", "", h) },
		"conflict":          func() { e.svc.HandleExtension("POST /podid/v1/clusters/{name}/tokens", "Again", h) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("HandleExtension accepted it")
				}
			}()
			call()
		})
	}
}
