package eks

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

// TestOperationNames: every EKS route reports its operation to the edge
// (for the action label of request metrics; issue 17), whatever the
// outcome, and an unknown route reports none. Operations lists them all.
func TestOperationNames(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ method, path, op string }{
		{"POST", "/clusters", "CreateCluster"},
		{"GET", "/clusters", "ListClusters"},
		{"GET", "/clusters/nope", "DescribeCluster"},
		{"DELETE", "/clusters/nope", "DeleteCluster"},
		{"POST", "/cluster-registrations", "RegisterCluster"},
		{"POST", "/clusters/nope/pod-identity-associations", "CreatePodIdentityAssociation"},
		{"GET", "/clusters/nope/pod-identity-associations", "ListPodIdentityAssociations"},
		{"GET", "/clusters/nope/pod-identity-associations/a-1", "DescribePodIdentityAssociation"},
		{"POST", "/clusters/nope/pod-identity-associations/a-1", "UpdatePodIdentityAssociation"},
		{"DELETE", "/clusters/nope/pod-identity-associations/a-1", "DeletePodIdentityAssociation"},
		{"GET", "/clusters/nope/addons", "ListAddons"},
		{"POST", "/clusters/nope/addons/x/update", "UpdateAddon"},
		{"GET", "/clusters/nope/updates", "ListUpdates"},
		{"GET", "/clusters/nope/updates/u-1?addonName=x", "DescribeUpdate"},
		{"GET", "/addons/supported-versions", "DescribeAddonVersions"},
		{"GET", "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A111122223333%3Acluster%2Fnope", "ListTagsForResource"},
		{"POST", "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A111122223333%3Acluster%2Fnope", "TagResource"},
		{"DELETE", "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A111122223333%3Acluster%2Fnope?tagKeys=a", "UntagResource"},
		{"GET", "/podid/v1/clusters/nope/association-events", OpAssociationEvents},
		{"GET", "/made/up/path", ""},
		{"PATCH", "/clusters", ""},
	} {
		req := httptest.NewRequest(tc.method, "http://podid.test"+tc.path, strings.NewReader("{}"))
		ctx, cancel := context.WithTimeout(auth.WithPrincipal(req.Context(), rootPrincipal()), 200*time.Millisecond)
		ctx, op := awsproto.WithOperationSlot(ctx)
		rec := httptest.NewRecorder()
		e.svc.ServeHTTP(rec, req.WithContext(ctx))
		cancel()
		if *op != tc.op {
			t.Errorf("%s %s: operation %q, want %q (HTTP %d)", tc.method, tc.path, *op, tc.op, rec.Code)
		}
		if tc.op != "" && !slices.Contains(e.svc.Operations(), tc.op) {
			t.Errorf("Operations() lacks %s", tc.op)
		}
	}
	if n := len(e.svc.Operations()); n != 26 {
		t.Errorf("Operations() = %d names %q", n, e.svc.Operations())
	}
}
