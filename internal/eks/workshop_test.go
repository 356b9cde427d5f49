package eks

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/podid/podid/internal/ids"
)

var (
	assocARNRE = regexp.MustCompile(`^arn:aws:eks:us-west-2:123456789000:podidentityassociation/eks-workshop/a-[a-z0-9]{17}$`)
	addonARNRE = regexp.MustCompile(`^arn:aws:eks:us-west-2:123456789000:addon/eks-workshop/eks-pod-identity-agent/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// TestWorkshopSequenceGoSDK runs the eks-workshop Pod Identity sequence
// with the Go SDK v2 EKS client: create-addon, wait addon-active,
// create/describe/list/update/tag/untag/delete an association.
func TestWorkshopSequenceGoSDK(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.eks

	cl, err := c.CreateCluster(ctx, &awseks.CreateClusterInput{
		Name:               aws.String("eks-workshop"),
		RoleArn:            aws.String("arn:aws:iam::123456789000:role/eks-cluster"),
		ResourcesVpcConfig: &types.VpcConfigRequest{SubnetIds: []string{"subnet-a", "subnet-b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(cl.Cluster.Identity.Oidc.Issuer), "https://podid.example/clusters/eks-workshop/oidc"; got != want {
		t.Errorf("issuer = %q, want %q", got, want)
	}
	if cl.Cluster.Status != types.ClusterStatusActive || aws.ToString(cl.Cluster.Arn) != "arn:aws:eks:us-west-2:123456789000:cluster/eks-workshop" {
		t.Errorf("cluster = %+v", cl.Cluster)
	}
	role := e.role("eks-workshop-carts-dynamo", trustPodIdentity)

	// 1. create-addon
	ad, err := c.CreateAddon(ctx, &awseks.CreateAddonInput{ClusterName: aws.String("eks-workshop"), AddonName: aws.String("eks-pod-identity-agent")})
	if err != nil {
		t.Fatal(err)
	}
	a := ad.Addon
	if a.Status != types.AddonStatusCreating || aws.ToString(a.AddonVersion) != "v1.1.0-eksbuild.1" ||
		aws.ToString(a.ClusterName) != "eks-workshop" || len(a.Health.Issues) != 0 || a.Tags == nil ||
		!addonARNRE.MatchString(aws.ToString(a.AddonArn)) || !a.CreatedAt.Equal(testStart) {
		t.Errorf("CreateAddon = %+v", a)
	}

	// 2. wait addon-active: the first DescribeAddon already answers ACTIVE.
	start := time.Now()
	if err := awseks.NewAddonActiveWaiter(c).Wait(ctx, &awseks.DescribeAddonInput{ClusterName: aws.String("eks-workshop"), AddonName: aws.String("eks-pod-identity-agent")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("waiter took %v: it slept between polls", d)
	}

	// 6. create-pod-identity-association
	cr, err := c.CreatePodIdentityAssociation(ctx, &awseks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("eks-workshop"), Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(role),
	})
	if err != nil {
		t.Fatal(err)
	}
	pa := cr.Association
	id := aws.ToString(pa.AssociationId)
	if !ids.IsAssociationID(id) || !assocARNRE.MatchString(aws.ToString(pa.AssociationArn)) || !strings.HasSuffix(aws.ToString(pa.AssociationArn), "/"+id) {
		t.Errorf("association id/arn = %q %q", id, aws.ToString(pa.AssociationArn))
	}
	if aws.ToString(pa.RoleArn) != role || aws.ToString(pa.Namespace) != "carts" || aws.ToString(pa.ServiceAccount) != "carts" ||
		!pa.CreatedAt.Equal(testStart) || !pa.ModifiedAt.Equal(testStart) || pa.Tags == nil || aws.ToBool(pa.DisableSessionTags) {
		t.Errorf("CreatePodIdentityAssociation = %+v", pa)
	}

	// describe
	d, err := c.DescribePodIdentityAssociation(ctx, &awseks.DescribePodIdentityAssociationInput{ClusterName: aws.String("eks-workshop"), AssociationId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.Association.AssociationArn) != aws.ToString(pa.AssociationArn) || aws.ToString(d.Association.RoleArn) != role {
		t.Errorf("Describe = %+v", d.Association)
	}

	// list with both filters
	l, err := c.ListPodIdentityAssociations(ctx, &awseks.ListPodIdentityAssociationsInput{ClusterName: aws.String("eks-workshop"), Namespace: aws.String("carts"), ServiceAccount: aws.String("carts")})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Associations) != 1 || aws.ToString(l.Associations[0].AssociationId) != id || l.NextToken != nil {
		t.Errorf("List = %+v", l)
	}

	// update: new role, a target role, session tags off with a policy
	role2 := e.role("carts-v2", trustPodIdentity)
	e.clock.Advance(time.Second)
	u, err := c.UpdatePodIdentityAssociation(ctx, &awseks.UpdatePodIdentityAssociationInput{
		ClusterName: aws.String("eks-workshop"), AssociationId: aws.String(id), RoleArn: aws.String(role2),
		TargetRoleArn: aws.String("arn:aws:iam::222233334444:role/x"), DisableSessionTags: aws.Bool(true),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	ua := u.Association
	if aws.ToString(ua.RoleArn) != role2 || aws.ToString(ua.TargetRoleArn) != "arn:aws:iam::222233334444:role/x" ||
		aws.ToString(ua.ExternalId) != testRegion+"/"+testAccount+"/eks-workshop/carts/carts" || !aws.ToBool(ua.DisableSessionTags) || aws.ToString(ua.Policy) == "" ||
		!ua.ModifiedAt.Equal(testStart.Add(time.Second)) || !ua.CreatedAt.Equal(testStart) {
		t.Errorf("Update = %+v", ua)
	}

	// tag, untag, list tags: the ARN travels percent-encoded in the path
	arn := aws.ToString(pa.AssociationArn)
	if _, err := c.TagResource(ctx, &awseks.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"team": "carts", "env": "dev"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &awseks.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &awseks.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tags.Tags, map[string]string{"team": "carts"}) {
		t.Errorf("tags = %v", tags.Tags)
	}

	// delete returns the deleted association; describe then 404s
	del, err := c.DeletePodIdentityAssociation(ctx, &awseks.DeletePodIdentityAssociationInput{ClusterName: aws.String("eks-workshop"), AssociationId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(del.Association.AssociationId) != id || !reflect.DeepEqual(del.Association.Tags, map[string]string{"team": "carts"}) {
		t.Errorf("Delete = %+v", del.Association)
	}
	_, err = c.DescribePodIdentityAssociation(ctx, &awseks.DescribePodIdentityAssociationInput{ClusterName: aws.String("eks-workshop"), AssociationId: aws.String(id)})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || aws.ToString(nf.ClusterName) != "eks-workshop" {
		t.Errorf("Describe after delete: %v", err)
	}
}

// TestCreateAssociationWire checks the exact JSON of a create as the AWS
// CLI sends it: member set, epoch-number timestamps, tags {}, the real ARN
// form.
func TestCreateAssociationWire(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("eks-workshop")
	role := e.role("eks-workshop-carts-dynamo", trustPodIdentity)
	r := e.do("POST", "/clusters/eks-workshop/pod-identity-associations",
		`{"clientRequestToken":"3c1d5f43-8d3f-4f7c-9a7c-0c5bde0b1d2e","namespace":"carts","roleArn":"`+role+`","serviceAccount":"carts"}`)
	if r.Status != 200 || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("status %d headers %v body %s", r.Status, r.Header, r.Raw)
	}
	assoc := r.Body["association"].(map[string]any)
	id, _ := assoc["associationId"].(string)
	want := map[string]any{
		"clusterName":        "eks-workshop",
		"namespace":          "carts",
		"serviceAccount":     "carts",
		"roleArn":            role,
		"associationArn":     "arn:aws:eks:us-west-2:123456789000:podidentityassociation/eks-workshop/" + id,
		"associationId":      id,
		"tags":               map[string]any{},
		"createdAt":          1704816998.163,
		"modifiedAt":         1704816998.163,
		"disableSessionTags": false,
	}
	if !reflect.DeepEqual(assoc, want) {
		t.Errorf("association =\n%v\nwant\n%v", assoc, want)
	}
	if !strings.Contains(r.Raw, `"createdAt":1704816998.163`) {
		t.Errorf("createdAt is not an epoch-seconds number: %s", r.Raw)
	}
	// The same token again returns the first result (an SDK retry).
	r2 := e.do("POST", "/clusters/eks-workshop/pod-identity-associations",
		`{"clientRequestToken":"3c1d5f43-8d3f-4f7c-9a7c-0c5bde0b1d2e","namespace":"carts","roleArn":"`+role+`","serviceAccount":"carts"}`)
	if r2.Status != 200 || r2.Body["association"].(map[string]any)["associationId"] != id {
		t.Errorf("retry with the same token: %d %s", r2.Status, r2.Raw)
	}
	// A new token is a new request: 409 naming the existing association.
	r3 := e.do("POST", "/clusters/eks-workshop/pod-identity-associations",
		`{"clientRequestToken":"0d6c0a45-0000-4000-8000-000000000001","namespace":"carts","roleArn":"`+role+`","serviceAccount":"carts"}`)
	wantErr := map[string]any{"__type": "ResourceInUseException", "message": "Association already exists: " + id, "clusterName": "eks-workshop"}
	if r3.Status != 409 || r3.Header.Get("x-amzn-ErrorType") != "ResourceInUseException" || !reflect.DeepEqual(r3.Body, wantErr) {
		t.Errorf("duplicate: %d %v %s", r3.Status, r3.Header, r3.Raw)
	}
	// The same token with a different payload is refused.
	r4 := e.do("POST", "/clusters/eks-workshop/pod-identity-associations",
		`{"clientRequestToken":"3c1d5f43-8d3f-4f7c-9a7c-0c5bde0b1d2e","namespace":"orders","roleArn":"`+role+`","serviceAccount":"carts"}`)
	if r4.Status != 400 || r4.Body["__type"] != "InvalidRequestException" {
		t.Errorf("token reuse: %d %s", r4.Status, r4.Raw)
	}
}

// TestPaginationGoSDK lists 250 associations with the SDK paginator, with
// and without filters, checking order, completeness and that tokens are
// never empty or repeated.
func TestPaginationGoSDK(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SkipRoleValidation = true })
	e.hostedCluster("eks-workshop")
	ctx := rootCtx()
	var all []string
	for i := range 250 {
		ns := []string{"carts", "orders", "ui"}[i%3]
		out, err := e.svc.CreatePodIdentityAssociation(ctx, &CreatePodIdentityAssociationInput{
			ClusterName: "eks-workshop", Namespace: ns, ServiceAccount: "sa-" + itoa(i%100), RoleArn: "arn:aws:iam::123456789000:role/r",
		})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, out.Association.AssociationID)
	}
	sort.Strings(all)

	collect := func(in *awseks.ListPodIdentityAssociationsInput) ([]string, []string) {
		t.Helper()
		var got, tokens []string
		p := awseks.NewListPodIdentityAssociationsPaginator(e.eks, in)
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page.Associations {
				got = append(got, aws.ToString(a.AssociationId))
			}
			if page.NextToken != nil {
				tokens = append(tokens, *page.NextToken)
			}
		}
		return got, tokens
	}
	for _, tc := range []struct {
		name     string
		ns, sa   string
		pageSize int32
		want     int
	}{
		{"default page size", "", "", 0, 250},
		{"page size 7", "", "", 7, 250},
		{"page size 100", "", "", 100, 250},
		{"namespace filter", "orders", "", 9, 83},
		{"service account filter", "", "sa-5", 1, 3},
		{"both filters", "ui", "sa-5", 1, 1},
		{"no match", "nope", "", 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &awseks.ListPodIdentityAssociationsInput{ClusterName: aws.String("eks-workshop")}
			if tc.ns != "" {
				in.Namespace = aws.String(tc.ns)
			}
			if tc.sa != "" {
				in.ServiceAccount = aws.String(tc.sa)
			}
			if tc.pageSize != 0 {
				in.MaxResults = aws.Int32(tc.pageSize)
			}
			got, tokens := collect(in)
			if len(got) != tc.want || !sort.StringsAreSorted(got) {
				t.Fatalf("got %d associations (sorted %v), want %d", len(got), sort.StringsAreSorted(got), tc.want)
			}
			seen := map[string]bool{}
			for _, tok := range tokens {
				if tok == "" || seen[tok] {
					t.Fatalf("empty or repeated token %q", tok)
				}
				seen[tok] = true
			}
			if tc.ns == "" && tc.sa == "" && !reflect.DeepEqual(got, all) {
				t.Fatal("unfiltered listing differs from the created set")
			}
			if size := int(tc.pageSize); size > 0 && tc.want > 0 {
				if wantPages := (tc.want + size - 1) / size; len(tokens) != wantPages-1 {
					t.Errorf("%d tokens for %d pages", len(tokens), wantPages)
				}
			}
		})
	}
	// A token only continues the listing that made it.
	first, err := e.eks.ListPodIdentityAssociations(context.Background(), &awseks.ListPodIdentityAssociationsInput{ClusterName: aws.String("eks-workshop"), MaxResults: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/clusters/eks-workshop/pod-identity-associations?namespace=ui&nextToken="+url.QueryEscape(aws.ToString(first.NextToken)), "")
	if r.Status != 400 || r.Body["__type"] != "InvalidParameterException" {
		t.Errorf("token of another listing: %d %s", r.Status, r.Raw)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
