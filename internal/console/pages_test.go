package console_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/console"
	"github.com/podid/podid/internal/eks"
	"github.com/podid/podid/internal/iam"
)

const trustPods = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`

func (e *env) rootCtx() context.Context {
	return auth.WithPrincipal(context.Background(), auth.RootPrincipal("aws", app.DefaultAccountID, e.key))
}

// seed creates cluster c1, role r1 and n associations ns-i/sa in c1.
func (e *env) seed(t *testing.T, n int) string {
	t.Helper()
	ctx := e.rootCtx()
	if _, err := e.app.EKS.CreateCluster(ctx, &eks.CreateClusterInput{Name: "c1", RoleArn: "arn:aws:iam::123456789012:role/cluster", ResourcesVpcConfig: &eks.VpcConfigRequest{SubnetIDs: []string{"subnet-1", "subnet-2"}}}); err != nil {
		t.Fatal(err)
	}
	out, err := e.app.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: "r1", AssumeRolePolicyDocument: trustPods})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := e.app.EKS.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: "c1", Namespace: fmt.Sprintf("ns-%03d", i), ServiceAccount: "sa", RoleArn: out.Role.ARN}); err != nil {
			t.Fatal(err)
		}
	}
	return out.Role.ARN
}

var rowRE = regexp.MustCompile(`<tr><td>(ns-\d+)</td><td>sa</td>`)
var nextRE = regexp.MustCompile(`<a rel="next" href="([^"]+)"`)

// TestAssociationPages reads every page of a cluster's associations by
// following "Next page", and filters by namespace.
func TestAssociationPages(t *testing.T) {
	e := newEnv(t, false)
	const n = 120
	e.seed(t, n)
	b := e.browser(t)
	b.mustSignIn(e.key, e.secret)
	seen := map[string]bool{}
	path, pages := "/console/clusters/c1", 0
	for path != "" {
		pages++
		resp, body := b.get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
			if seen[m[1]] {
				t.Fatalf("%s shown twice", m[1])
			}
			seen[m[1]] = true
		}
		path = ""
		if m := nextRE.FindStringSubmatch(body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	if len(seen) != n || pages != 3 {
		t.Fatalf("saw %d associations on %d pages, want %d on 3", len(seen), pages, n)
	}
	_, body := b.get("/console/clusters/c1?namespace=ns-007")
	if got := rowRE.FindAllStringSubmatch(body, -1); len(got) != 1 || got[0][1] != "ns-007" {
		t.Fatalf("filtered rows: %v", got)
	}
	// The role page finds its associations among all of them.
	ctx := e.rootCtx()
	other, err := e.app.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: "r2", AssumeRolePolicyDocument: trustPods})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.EKS.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: "c1", Namespace: "only", ServiceAccount: "sa", RoleArn: other.Role.ARN}); err != nil {
		t.Fatal(err)
	}
	_, body = b.get("/console/roles/r2")
	if strings.Count(body, "<tr><td>c1</td>") != 1 || !strings.Contains(body, "<tr><td>c1</td><td>only</td>") || !strings.Contains(body, "121 associations read") {
		t.Fatalf("role page of r2:\n%s", body)
	}
}

// TestCreateShowsTheAPIsError: the console's create answers the API's
// own validation error.
func TestCreateShowsTheAPIsError(t *testing.T) {
	e := newEnv(t, false)
	e.seed(t, 0)
	b := e.browser(t)
	tok := b.mustSignIn(e.key, e.secret)
	resp, body := b.post("/console/clusters/c1/associations", url.Values{"csrf": {tok}, "namespace": {"Not_A_Namespace"}, "serviceAccount": {"sa"}, "roleArn": {"arn:aws:iam::123456789012:role/r1"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "InvalidParameterException") {
		t.Fatalf("got %d\n%s", resp.StatusCode, body)
	}
	// The form keeps what was typed.
	if !strings.Contains(body, `value="Not_A_Namespace"`) {
		t.Error("the form lost its values")
	}
	resp, _ = b.post("/console/clusters/c1/associations", url.Values{"csrf": {tok}, "namespace": {"ok"}, "serviceAccount": {"sa"}, "roleArn": {"arn:aws:iam::123456789012:role/r1"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	_, body = b.get(loc)
	if !strings.Contains(body, "Association created.") || !strings.Contains(body, "arn:aws:iam::123456789012:role/r1") {
		t.Fatalf("association page:\n%s", body)
	}
	// Edit, then delete.
	id := strings.TrimSuffix(strings.TrimPrefix(loc, "/console/clusters/c1/associations/"), "?created=1")
	resp, _ = b.post("/console/clusters/c1/associations/"+id, url.Values{"csrf": {tok}, "roleArn": {"arn:aws:iam::123456789012:role/r1"}, "disableSessionTags": {"on"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", resp.StatusCode)
	}
	desc, err := e.app.EKS.DescribePodIdentityAssociation(e.rootCtx(), &eks.DescribePodIdentityAssociationInput{ClusterName: "c1", AssociationID: id})
	if err != nil || !desc.Association.DisableSessionTags {
		t.Fatalf("after update: %+v %v", desc, err)
	}
	resp, _ = b.post("/console/clusters/c1/associations/"+id+"/delete", url.Values{"csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if _, err := e.app.EKS.DescribePodIdentityAssociation(e.rootCtx(), &eks.DescribePodIdentityAssociationInput{ClusterName: "c1", AssociationID: id}); err == nil {
		t.Fatal("the association survived its deletion")
	}
}

// passwords is the edge the login profiles stand behind: it accepts one
// user's password and returns that user as IAM would.
type passwords struct {
	e            *env
	user, secret string
}

func (p passwords) CheckConsolePassword(ctx context.Context, account, user, password string) (*auth.Principal, error) {
	if account != app.DefaultAccountID || user != p.user || password != p.secret {
		return nil, errors.New("bad password")
	}
	out, err := p.e.app.IAM.GetUser(p.e.rootCtx(), &iam.GetUserInput{UserName: user})
	if err != nil {
		return nil, err
	}
	return auth.UserPrincipal(out.User, account, ""), nil
}

// TestDeniedUserSeesNoAssociations: a user without
// eks:ListPodIdentityAssociations sees the API's AccessDeniedException
// and no association; with the permission, the same page lists them.
func TestDeniedUserSeesNoAssociations(t *testing.T) {
	e := newEnv(t, false)
	e.seed(t, 3)
	deniedConsole(t, e)
	b := e.browser(t)
	_, page := b.get("/console/signin")
	resp, body := b.post("/console/signin", url.Values{"csrf": {formToken(t, page)}, "method": {"user"}, "account": {app.DefaultAccountID}, "userName": {"viewer"}, "password": {"wrong"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d\n%s", resp.StatusCode, body)
	}
	signInViewer(t, b)
	resp, body = b.get("/console/clusters/c1")
	want := "AccessDeniedException:</strong> User: arn:aws:iam::123456789012:user/viewer is not authorized to perform: eks:ListPodIdentityAssociations"
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
		t.Fatalf("cluster page: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "ns-00") || strings.Contains(body, `id="associations"`) {
		t.Fatal("a denied user sees associations")
	}
	if err := e.app.IAM.PutUserPolicy(e.rootCtx(), &iam.PutInlinePolicyInput{Name: "viewer", PolicyName: "list",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks:ListPodIdentityAssociations","Resource":"*"}]}`}); err != nil {
		t.Fatal(err)
	}
	_, body = b.get("/console/clusters/c1")
	if got := len(rowRE.FindAllString(body, -1)); got != 3 {
		t.Fatalf("allowed user sees %d associations, want 3\n%s", got, body)
	}
}

// TestNamesStayOneSegment: a cluster name holding "/" (from %2F) is one
// path segment of the API call, refused by the API's validation, never
// another route.
func TestNamesStayOneSegment(t *testing.T) {
	e := newEnv(t, false)
	e.seed(t, 1)
	b := e.browser(t)
	b.mustSignIn(e.key, e.secret)
	resp, body := b.get("/console/clusters/c1%2Fpod-identity-associations")
	if resp.StatusCode != http.StatusOK || strings.Contains(body, `id="associations"`) || !strings.Contains(body, "list-error") {
		t.Fatalf("got %d\n%s", resp.StatusCode, body)
	}
}

// TestClustersPage shows a hosted and a registered cluster: kind, issuer,
// and the agent add-on's status and health as DescribeAddon answers them.
func TestClustersPage(t *testing.T) {
	e := newEnv(t, false)
	e.seed(t, 0)
	ctx := e.rootCtx()
	if _, err := e.app.EKS.RegisterCluster(ctx, &eks.RegisterClusterInput{Name: "ext", OIDCIssuerURL: "https://issuer.example/ext"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.EKS.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: "ext", AddonName: eks.AgentAddonName}); err != nil {
		t.Fatal(err)
	}
	addon, err := e.app.EKS.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: "ext", AddonName: eks.AgentAddonName})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("add-on %s, %d health issues", addon.Addon.Status, len(addon.Addon.Health.Issues))
	b := e.browser(t)
	b.mustSignIn(e.key, e.secret)
	_, body := b.get("/console/clusters")
	ext := body[strings.Index(body, `href="/console/clusters/ext"`):]
	ext = ext[:strings.Index(ext, "</tr>")]
	for _, want := range []string{"<td>registered</td>", "https://issuer.example/ext", ">" + addon.Addon.Status + "<"} {
		if !strings.Contains(ext, want) {
			t.Errorf("the ext row lacks %q:\n%s", want, ext)
		}
	}
	for _, issue := range addon.Addon.Health.Issues {
		if !strings.Contains(ext, html.EscapeString(issue.Code+": "+issue.Message)) {
			t.Errorf("the ext row lacks the health issue %s: %s", issue.Code, issue.Message)
		}
	}
	c1 := body[strings.Index(body, `href="/console/clusters/c1"`):]
	c1 = c1[:strings.Index(c1, "</tr>")]
	if !strings.Contains(c1, "<td>hosted</td>") || !strings.Contains(c1, "not installed") {
		t.Errorf("the c1 row:\n%s", c1)
	}
	// The name filter.
	_, body = b.get("/console/clusters?filter=EX")
	if strings.Contains(body, `href="/console/clusters/c1"`) || !strings.Contains(body, `href="/console/clusters/ext"`) {
		t.Errorf("filtered clusters:\n%s", body)
	}
}

// deniedConsole creates the user viewer (may list and describe clusters,
// nothing else) and serves e with a console whose password edge accepts
// viewer's password.
func deniedConsole(t *testing.T, e *env) *console.Console {
	t.Helper()
	if _, err := e.app.IAM.CreateUser(e.rootCtx(), &iam.CreateUserInput{UserName: "viewer"}); err != nil {
		t.Fatal(err)
	}
	if err := e.app.IAM.PutUserPolicy(e.rootCtx(), &iam.PutInlinePolicyInput{Name: "viewer", PolicyName: "clusters",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["eks:DescribeCluster","eks:ListClusters","eks:DescribeAddon"],"Resource":"*"}]}`}); err != nil {
		t.Fatal(err)
	}
	c, err := console.New(console.Config{EKS: e.app.EKS, IAM: e.app.IAM, Keys: noKeys{}, Passwords: passwords{e, "viewer", "correct horse"}, Sealer: e.app.Keyring,
		Revocations: console.StoreRevocations{Store: e.app.Store}, AccountID: app.DefaultAccountID, Region: app.DefaultRegion, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Close()
	e.srv = httptest.NewServer(c)
	t.Cleanup(e.srv.Close)
	return c
}

// signInViewer signs b in as viewer.
func signInViewer(t *testing.T, b *browser) {
	t.Helper()
	_, page := b.get("/console/signin")
	resp, body := b.post("/console/signin", url.Values{"csrf": {formToken(t, page)}, "method": {"user"}, "account": {app.DefaultAccountID}, "userName": {"viewer"}, "password": {"correct horse"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d\n%s", resp.StatusCode, body)
	}
}
