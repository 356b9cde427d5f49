package eks

import (
	"context"
	"encoding/json"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/podid/podid/internal/store"
)

const testJWKS = `{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`

// TestClusters: hosted and external clusters side by side in EKS's shape;
// DeleteCluster removes associations, add-ons and signing keys.
func TestClusters(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SkipRoleValidation = true })
	ctx := context.Background()
	c := e.eks
	if _, err := c.CreateCluster(ctx, &awseks.CreateClusterInput{
		Name: aws.String("hosted"), RoleArn: aws.String("arn:aws:iam::123456789000:role/eks"), Version: aws.String("1.31"),
		ResourcesVpcConfig: &types.VpcConfigRequest{SubnetIds: []string{"subnet-1"}, EndpointPrivateAccess: aws.Bool(true)},
		Tags:               map[string]string{"team": "a"},
	}); err != nil {
		t.Fatal(err)
	}
	reg := e.do("POST", "/cluster-registrations", `{"name":"ext","connectorConfig":{"provider":"OTHER","roleArn":"arn:aws:iam::123456789000:role/conn"},"oidcIssuerUrl":"https://kubernetes.default.svc","jwks":`+jsonString(testJWKS)+`}`)
	if reg.Status != 200 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}

	d, err := c.DescribeCluster(ctx, &awseks.DescribeClusterInput{Name: aws.String("hosted")})
	if err != nil {
		t.Fatal(err)
	}
	h := d.Cluster
	if aws.ToString(h.Version) != "1.31" || h.Status != types.ClusterStatusActive || aws.ToString(h.Identity.Oidc.Issuer) != "https://podid.example/clusters/hosted/oidc" ||
		h.ResourcesVpcConfig == nil || !h.ResourcesVpcConfig.EndpointPrivateAccess || !h.ResourcesVpcConfig.EndpointPublicAccess ||
		h.Tags["team"] != "a" || !h.CreatedAt.Equal(testStart) || aws.ToString(h.PlatformVersion) == "" || h.Health == nil {
		t.Errorf("hosted cluster = %+v", h)
	}
	d, err = c.DescribeCluster(ctx, &awseks.DescribeClusterInput{Name: aws.String("ext")})
	if err != nil {
		t.Fatal(err)
	}
	x := d.Cluster
	if aws.ToString(x.Identity.Oidc.Issuer) != "https://kubernetes.default.svc" || x.ConnectorConfig == nil || x.ConnectorConfig.Provider == nil ||
		aws.ToString(x.ConnectorConfig.RoleArn) != "arn:aws:iam::123456789000:role/conn" || aws.ToString(x.Arn) != "arn:aws:eks:us-west-2:123456789000:cluster/ext" {
		t.Errorf("external cluster = %+v", x)
	}
	var stored *store.Cluster
	_ = e.st.View(ctx, func(tx store.Tx) error { stored, err = tx.GetCluster("ext"); return err })
	if stored.Kind != store.ClusterExternal || stored.JWKS != testJWKS {
		t.Errorf("stored external cluster: %+v", stored)
	}

	var names []string
	p := awseks.NewListClustersPaginator(c, &awseks.ListClustersInput{MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, page.Clusters...)
	}
	if !sort.StringsAreSorted(names) || len(names) != 2 || names[0] != "ext" || names[1] != "hosted" {
		t.Errorf("ListClusters = %v", names)
	}

	// Contents of the hosted cluster, then delete it.
	ctxRoot := rootCtx()
	if _, err := e.svc.CreatePodIdentityAssociation(ctxRoot, &CreatePodIdentityAssociationInput{ClusterName: "hosted", Namespace: "ns", ServiceAccount: "sa", RoleArn: "arn:aws:iam::123456789000:role/r"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateAddon(ctxRoot, &CreateAddonInput{ClusterName: "hosted", AddonName: AgentAddonName}); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/clusters/hosted/oidc/keys", ""); r.Status != 200 {
		t.Fatalf("JWKS before delete: %d %s", r.Status, r.Raw)
	}
	del, err := c.DeleteCluster(ctx, &awseks.DeleteClusterInput{Name: aws.String("hosted")})
	if err != nil || del.Cluster.Status != types.ClusterStatusDeleting {
		t.Fatalf("DeleteCluster: %v %+v", err, del)
	}
	_ = e.st.View(ctx, func(tx store.Tx) error {
		as, _ := tx.ListAssociations("hosted", "", "", store.Page{})
		ads, _ := tx.ListAddons("hosted", store.Page{})
		evs, _ := tx.ListAssociationEvents("hosted", 0, 0)
		if len(as) != 0 || len(ads) != 0 {
			t.Errorf("left behind: %d associations, %d add-ons", len(as), len(ads))
		}
		if n := len(evs); n != 2 || evs[1].Type != store.EventDeleted {
			t.Errorf("events: %d, last %+v", n, evs[n-1])
		}
		return nil
	})
	if r := e.do("GET", "/clusters/hosted/oidc/keys", ""); r.Status != 404 {
		t.Errorf("JWKS after delete: %d %s", r.Status, r.Raw)
	}
	if r := e.do("GET", "/clusters/hosted", ""); r.Status != 404 || r.Body["message"] != "No cluster found for name: hosted." {
		t.Errorf("describe after delete: %d %s", r.Status, r.Raw)
	}
	// Re-created under the same name it gets a new key; the old tokens'
	// key is gone from the JWKS.
	if _, err := e.svc.CreateCluster(ctxRoot, &CreateClusterInput{Name: "hosted", RoleArn: "arn:aws:iam::123456789000:role/eks", ResourcesVpcConfig: &VpcConfigRequest{}}); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/clusters/hosted/oidc/keys", ""); r.Status != 200 || len(r.Body["keys"].([]any)) != 1 {
		t.Errorf("JWKS after re-create: %d %s", r.Status, r.Raw)
	}
	if _, err := c.DeregisterCluster(ctx, &awseks.DeregisterClusterInput{Name: aws.String("hosted")}); err == nil {
		t.Error("DeregisterCluster of a hosted cluster succeeded")
	}
	if _, err := c.DeregisterCluster(ctx, &awseks.DeregisterClusterInput{Name: aws.String("ext")}); err != nil {
		t.Errorf("DeregisterCluster: %v", err)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestClusterValidation checks CreateCluster's and RegisterCluster's input
// errors over the wire.
func TestClusterValidation(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("taken")
	vpc := `,"resourcesVpcConfig":{"subnetIds":["s1"]}`
	role := `"roleArn":"arn:aws:iam::123456789000:role/eks"`
	for _, tc := range []struct {
		name, path, body string
		status           int
		code, message    string
	}{
		{"exists", "/clusters", `{"name":"taken",` + role + vpc + `}`, 409, "ResourceInUseException", "Cluster already exists with name: taken"},
		{"bad name", "/clusters", `{"name":"-x",` + role + vpc + `}`, 400, "InvalidParameterException", `The cluster name "-x" is not valid: it must be 1 to 100 characters, start with a letter or digit and contain only letters, digits, hyphens and underscores.`},
		{"no name", "/clusters", `{` + role + vpc + `}`, 400, "InvalidParameterException", "The parameter name must not be empty."},
		{"no role", "/clusters", `{"name":"a"` + vpc + `}`, 400, "InvalidParameterException", "The parameter roleArn must not be empty."},
		{"no vpc", "/clusters", `{"name":"a",` + role + `}`, 400, "InvalidParameterException", "The parameter resourcesVpcConfig must be specified."},
		{"bad version", "/clusters", `{"name":"a","version":"2",` + role + vpc + `}`, 400, "InvalidParameterException", "unsupported Kubernetes version 2"},
		{"bad auth mode", "/clusters", `{"name":"a",` + role + vpc + `,"accessConfig":{"authenticationMode":"X"}}`, 400, "InvalidParameterException", "The parameter accessConfig.authenticationMode must be one of API, API_AND_CONFIG_MAP, CONFIG_MAP."},
		{"register without issuer", "/cluster-registrations", `{"name":"e","connectorConfig":{"provider":"OTHER","roleArn":"arn:aws:iam::123456789000:role/c"}}`, 400, "InvalidParameterException", "podid needs the cluster's service account issuer: give oidcIssuerUrl (optionally with jwks) or kubernetesApi."},
		{"register bad provider", "/cluster-registrations", `{"name":"e","connectorConfig":{"provider":"X"},"oidcIssuerUrl":"https://i"}`, 400, "InvalidParameterException", "The parameter connectorConfig.provider must be one of EKS_ANYWHERE, ANTHOS, GKE, AKS, OPENSHIFT, TANZU, RANCHER, EC2, OTHER."},
		{"register bad issuer", "/cluster-registrations", `{"name":"e","oidcIssuerUrl":"ftp://i"}`, 400, "InvalidParameterException", "The parameter oidcIssuerUrl must be an absolute http or https URL of at most 2048 characters."},
		{"register private JWKS", "/cluster-registrations", `{"name":"e","oidcIssuerUrl":"https://i","jwks":"{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}"}`, 400, "InvalidParameterException", "The parameter jwks is not a JSON Web Key Set of public keys."},
		{"register http API server", "/cluster-registrations", `{"name":"e","kubernetesApi":{"endpoint":"http://k8s"}}`, 400, "InvalidParameterException", "The parameter kubernetesApi.endpoint must be an https URL."},
		{"register taken", "/cluster-registrations", `{"name":"taken","oidcIssuerUrl":"https://i"}`, 409, "ResourceInUseException", "Cluster already exists with name: taken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", tc.path, tc.body)
			if r.Status != tc.status || r.Body["__type"] != tc.code || r.Body["message"] != tc.message {
				t.Errorf("got %d %s\nwant %d %s %q", r.Status, r.Raw, tc.status, tc.code, tc.message)
			}
		})
	}
	for _, tc := range []struct{ name, method, path string }{
		{"describe", "GET", "/clusters/nope"},
		{"delete", "DELETE", "/clusters/nope"},
		{"deregister", "DELETE", "/cluster-registrations/nope"},
		{"list associations", "GET", "/clusters/nope/pod-identity-associations"},
		{"list add-ons", "GET", "/clusters/nope/addons"},
	} {
		t.Run("unknown cluster "+tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, "")
			if r.Status != 404 || r.Body["__type"] != "ResourceNotFoundException" || r.Body["message"] != "No cluster found for name: nope." || r.Body["clusterName"] != "nope" {
				t.Errorf("%d %s", r.Status, r.Raw)
			}
		})
	}
	// Retried create with the same token returns the same cluster.
	for range 2 {
		if r := e.do("POST", "/clusters", `{"name":"idem","clientRequestToken":"tok",`+role+vpc+`}`); r.Status != 200 {
			t.Errorf("idempotent create: %d %s", r.Status, r.Raw)
		}
	}
}

// TestUpdateClusterRegistration: a registered cluster's issuer keys and API
// access can be refreshed in place (after a key rotation), by a caller
// allowed eks:RegisterCluster; hosted and unknown clusters are refused.
func TestUpdateClusterRegistration(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SkipRoleValidation = true })
	ctx := context.Background()
	if r := e.do("POST", "/cluster-registrations", `{"name":"ext","oidcIssuerUrl":"https://kubernetes.default.svc","jwks":`+jsonString(testJWKS)+`,"tags":{"team":"a"}}`); r.Status != 200 {
		t.Fatalf("register: %d %s", r.Status, r.Raw)
	}
	rotated := `{"keys":[{"kty":"EC","crv":"P-256","kid":"k2","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`
	r := e.do("PUT", "/cluster-registrations/ext", `{"oidcIssuerUrl":"https://kubernetes.default.svc/","jwks":`+jsonString(rotated)+`,"kubernetesApi":{"endpoint":"https://10.0.0.1:6443","token":"sa-token"}}`)
	if r.Status != 200 {
		t.Fatalf("update: %d %s", r.Status, r.Raw)
	}
	var stored *store.Cluster
	if err := e.st.View(ctx, func(tx store.Tx) (err error) { stored, err = tx.GetCluster("ext"); return err }); err != nil {
		t.Fatal(err)
	}
	if stored.JWKS != rotated || stored.IssuerURL != "https://kubernetes.default.svc" || stored.Tags["team"] != "a" {
		t.Errorf("after the update: issuer %q, JWKS %s, tags %v", stored.IssuerURL, stored.JWKS, stored.Tags)
	}
	acc, err := e.svc.ClusterAccess(ctx, "ext")
	if err != nil || acc == nil || acc.Endpoint != "https://10.0.0.1:6443" || acc.BearerToken != "sa-token" {
		t.Errorf("API access after the update = %+v, %v", acc, err)
	}
	// kubernetesApi left out: kept.
	if r := e.do("PUT", "/cluster-registrations/ext", `{"oidcIssuerUrl":"https://kubernetes.default.svc","jwks":`+jsonString(testJWKS)+`}`); r.Status != 200 {
		t.Fatalf("second update: %d %s", r.Status, r.Raw)
	}
	if acc, err := e.svc.ClusterAccess(ctx, "ext"); err != nil || acc == nil || acc.BearerToken != "sa-token" {
		t.Errorf("API access not kept: %+v, %v", acc, err)
	}

	if _, err := e.eks.CreateCluster(ctx, &awseks.CreateClusterInput{Name: aws.String("hosted"), RoleArn: aws.String("arn:aws:iam::123456789000:role/eks"),
		ResourcesVpcConfig: &types.VpcConfigRequest{}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, body string
		status           int
		code, msg        string
	}{
		{"hosted", "/cluster-registrations/hosted", `{"oidcIssuerUrl":"https://i"}`, 400, "InvalidRequestException", "Cluster hosted is not a registered cluster: podid issues its tokens itself."},
		{"unknown", "/cluster-registrations/nope", `{"oidcIssuerUrl":"https://i"}`, 404, "ResourceNotFoundException", "No cluster found for name: nope."},
		{"other name in the body", "/cluster-registrations/ext", `{"name":"other","oidcIssuerUrl":"https://i"}`, 400, "InvalidParameterException", "The parameter name must be the cluster's name in the path, or absent."},
		{"bad JWKS", "/cluster-registrations/ext", `{"oidcIssuerUrl":"https://i","jwks":"{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}"}`, 400, "InvalidParameterException", "The parameter jwks is not a JSON Web Key Set of public keys."},
		{"nothing to verify with", "/cluster-registrations/ext", `{}`, 400, "InvalidParameterException", "podid needs the cluster's service account issuer: give oidcIssuerUrl (optionally with jwks) or kubernetesApi."},
	} {
		r := e.do("PUT", tc.path, tc.body)
		if r.Status != tc.status || r.Body["__type"] != tc.code || r.Body["message"] != tc.msg {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Raw)
		}
	}
	if r := e.doAs(userKey, "PUT", "/cluster-registrations/ext", `{"oidcIssuerUrl":"https://evil.example"}`); r.Status != 403 || r.Body["__type"] != "AccessDeniedException" {
		t.Errorf("a user without eks:RegisterCluster: %d %s", r.Status, r.Raw)
	}
	if err := e.st.View(ctx, func(tx store.Tx) (err error) { stored, err = tx.GetCluster("ext"); return err }); err != nil || stored.JWKS != testJWKS || stored.IssuerURL != "https://kubernetes.default.svc" {
		t.Errorf("a refused update changed the cluster: %v %+v", err, stored)
	}
}
