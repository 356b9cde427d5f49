package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// goConfig is an SDK configuration for c against s.
func (s *server) goConfig(c creds) aws.Config {
	return aws.Config{
		Region:       s.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(c.Key, c.Secret, c.Token),
		BaseEndpoint: aws.String(s.URL),
	}
}

// workshopCluster creates the workshop's cluster and its role with the CLI.
func workshopCluster(t *testing.T, s *server) string {
	t.Helper()
	root := s.root()
	s.aws(t, root, "eks", "create-cluster", "--name", "eks-workshop", "--role-arn", "arn:aws:iam::"+s.AccountID+":role/eks-cluster",
		"--resources-vpc-config", "subnetIds=subnet-0a1b2c3d")
	s.aws(t, root, "iam", "create-role", "--role-name", "eks-workshop-carts-dynamo", "--assume-role-policy-document", writeFile(t, "trust.json", workshopTrust))
	return "arn:aws:iam::" + s.AccountID + ":role/eks-workshop-carts-dynamo"
}

// TestWorkshopEKSSequenceCLI runs the workshop's EKS steps with the AWS CLI
// and then every other association operation.
func TestWorkshopEKSSequenceCLI(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	root := s.root()
	roleARN := workshopCluster(t, s)

	addon := s.awsJSON(t, root, "eks", "create-addon", "--cluster-name", "eks-workshop", "--addon-name", "eks-pod-identity-agent")
	if got := str(addon, "addon", "status"); got != "CREATING" {
		t.Errorf("create-addon status = %q, want CREATING", got)
	}
	// podid cannot look into a hosted cluster: the add-on stays CREATING
	// until an agent of the cluster calls EKS Auth.
	if got := str(s.awsJSON(t, root, "eks", "describe-addon", "--cluster-name", "eks-workshop", "--addon-name", "eks-pod-identity-agent"), "addon", "status"); got != "CREATING" {
		t.Errorf("describe-addon without an agent: status %q, want CREATING", got)
	}
	s.startAgent(t, "eks-workshop", root)
	if got := str(addon, "addon", "addonArn"); !strings.HasPrefix(got, "arn:aws:eks:"+s.Region+":"+s.AccountID+":addon/eks-workshop/eks-pod-identity-agent/") {
		t.Errorf("addonArn = %q", got)
	}
	s.aws(t, root, "eks", "wait", "addon-active", "--cluster-name", "eks-workshop", "--addon-name", "eks-pod-identity-agent")

	assoc := s.awsJSON(t, root, "eks", "create-pod-identity-association", "--cluster-name", "eks-workshop",
		"--role-arn", roleARN, "--namespace", "carts", "--service-account", "carts")
	a, _ := assoc["association"].(map[string]any)
	for _, k := range []string{"clusterName", "namespace", "serviceAccount", "roleArn", "associationArn", "associationId", "tags", "createdAt", "modifiedAt"} {
		if _, ok := a[k]; !ok {
			t.Errorf("create-pod-identity-association output lacks %s: %v", k, a)
		}
	}
	id := str(assoc, "association", "associationId")
	if len(id) != 19 || !strings.HasPrefix(id, "a-") {
		t.Errorf("associationId = %q, want a- + 17", id)
	}
	wantARN := "arn:aws:eks:" + s.Region + ":" + s.AccountID + ":podidentityassociation/eks-workshop/" + id
	if got := str(assoc, "association", "associationArn"); got != wantARN {
		t.Errorf("associationArn = %q, want %q", got, wantARN)
	}
	// A second create for the same service account is a conflict.
	msg := s.awsErr(t, root, "eks", "create-pod-identity-association", "--cluster-name", "eks-workshop",
		"--role-arn", roleARN, "--namespace", "carts", "--service-account", "carts")
	wantCode(t, msg, "ResourceInUseException")
	if !strings.Contains(msg, "Association already exists: "+id) {
		t.Errorf("conflict message: %s", msg)
	}

	desc := s.awsJSON(t, root, "eks", "describe-pod-identity-association", "--cluster-name", "eks-workshop", "--association-id", id)
	if str(desc, "association", "roleArn") != roleARN {
		t.Errorf("describe: %v", desc)
	}
	s.aws(t, root, "eks", "create-pod-identity-association", "--cluster-name", "eks-workshop", "--role-arn", roleARN, "--namespace", "carts", "--service-account", "other")
	s.aws(t, root, "eks", "create-pod-identity-association", "--cluster-name", "eks-workshop", "--role-arn", roleARN, "--namespace", "orders", "--service-account", "carts")
	for _, f := range [][]string{{"--namespace", "carts"}, {"--service-account", "carts"}, {"--namespace", "carts", "--service-account", "carts"}} {
		list := s.awsJSON(t, root, append([]string{"eks", "list-pod-identity-associations", "--cluster-name", "eks-workshop"}, f...)...)
		items, _ := list["associations"].([]any)
		want := 2
		if len(f) == 4 {
			want = 1
		}
		if len(items) != want {
			t.Errorf("list %v: %d associations, want %d", f, len(items), want)
		}
	}

	upd := s.awsJSON(t, root, "eks", "update-pod-identity-association", "--cluster-name", "eks-workshop", "--association-id", id,
		"--disable-session-tags", "--policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*"}]}`)
	if dig := upd["association"].(map[string]any); dig["disableSessionTags"] != true || dig["policy"] == nil {
		t.Errorf("update: %v", dig)
	}
	s.aws(t, root, "eks", "tag-resource", "--resource-arn", wantARN, "--tags", "team=carts,env=dev")
	tags := s.awsJSON(t, root, "eks", "list-tags-for-resource", "--resource-arn", wantARN)
	if tg, _ := tags["tags"].(map[string]any); tg["team"] != "carts" || tg["env"] != "dev" {
		t.Errorf("tags = %v", tags)
	}
	s.aws(t, root, "eks", "untag-resource", "--resource-arn", wantARN, "--tag-keys", "env")
	tags = s.awsJSON(t, root, "eks", "list-tags-for-resource", "--resource-arn", wantARN)
	if tg, _ := tags["tags"].(map[string]any); len(tg) != 1 || tg["team"] != "carts" {
		t.Errorf("tags after untag = %v", tags)
	}
	del := s.awsJSON(t, root, "eks", "delete-pod-identity-association", "--cluster-name", "eks-workshop", "--association-id", id)
	if str(del, "association", "associationId") != id {
		t.Errorf("delete returned %v", del)
	}
	wantCode(t, s.awsErr(t, root, "eks", "describe-pod-identity-association", "--cluster-name", "eks-workshop", "--association-id", id), "ResourceNotFoundException")
	wantCode(t, s.awsErr(t, root, "eks", "create-addon", "--cluster-name", "eks-workshop", "--addon-name", "vpc-cni"), "InvalidParameterException")
	wantCode(t, s.awsErr(t, root, "eks", "list-pod-identity-associations", "--cluster-name", "nope"), "ResourceNotFoundException")

	// The add-on's configuration: its schema, values checked against it.
	conf := s.awsJSON(t, root, "eks", "describe-addon-configuration", "--addon-name", "eks-pod-identity-agent", "--addon-version", "v1.3.10-eksbuild.2")
	var schema map[string]any
	if err := json.Unmarshal([]byte(str(conf, "configurationSchema")), &schema); err != nil || schema["additionalProperties"] != false {
		t.Errorf("configuration schema: %v %v", err, conf)
	}
	if props, _ := schema["properties"].(map[string]any); props["tolerations"] == nil || props["agent"] == nil {
		t.Errorf("schema properties: %v", schema["properties"])
	}
	wantCode(t, s.awsErr(t, root, "eks", "describe-addon-configuration", "--addon-name", "eks-pod-identity-agent", "--addon-version", "v0.0.1"), "InvalidParameterException")
	bad := s.awsErr(t, root, "eks", "update-addon", "--cluster-name", "eks-workshop", "--addon-name", "eks-pod-identity-agent", "--configuration-values", `{"replicas":3}`)
	wantCode(t, bad, "InvalidParameterException")
	if !strings.Contains(bad, "ConfigurationValue provided in request is not supported: Json schema validation failed with error: [$.replicas: is not defined in the schema and the schema does not allow additional properties]") {
		t.Errorf("update-addon with an unknown key: %s", bad)
	}
	up1 := s.awsJSON(t, root, "eks", "update-addon", "--cluster-name", "eks-workshop", "--addon-name", "eks-pod-identity-agent", "--configuration-values", "tolerations:\n- operator: Exists\n")
	if str(up1, "update", "status") != "InProgress" || str(up1, "update", "type") != "AddonUpdate" {
		t.Errorf("update-addon: %v", up1)
	}
	// The update is tracked: describe-update finds it, list-updates pages
	// through the add-on's updates, an unknown ID is AWS's 404.
	up2 := s.awsJSON(t, root, "eks", "update-addon", "--cluster-name", "eks-workshop", "--addon-name", "eks-pod-identity-agent", "--addon-version", "v1.3.10-eksbuild.2")
	for _, up := range []map[string]any{up1, up2} {
		id := str(up, "update", "id")
		du := s.awsJSON(t, root, "eks", "describe-update", "--name", "eks-workshop", "--addon-name", "eks-pod-identity-agent", "--update-id", id)
		if st := str(du, "update", "status"); str(du, "update", "id") != id || str(du, "update", "type") != "AddonUpdate" || (st != "InProgress" && st != "Successful") {
			t.Errorf("describe-update %s: %v", id, du)
		}
	}
	lu := s.awsJSON(t, root, "eks", "list-updates", "--name", "eks-workshop", "--addon-name", "eks-pod-identity-agent", "--page-size", "1")
	if ids, _ := lu["updateIds"].([]any); len(ids) != 2 || !slices.Contains(ids, any(str(up1, "update", "id"))) || !slices.Contains(ids, any(str(up2, "update", "id"))) {
		t.Errorf("list-updates: %v", lu)
	}
	first := s.awsJSON(t, root, "eks", "list-updates", "--name", "eks-workshop", "--addon-name", "eks-pod-identity-agent", "--max-items", "1")
	if ids, _ := first["updateIds"].([]any); len(ids) != 1 || str(first, "NextToken") == "" {
		t.Errorf("list-updates --max-items 1: %v", first)
	}
	nf := s.awsErr(t, root, "eks", "describe-update", "--name", "eks-workshop", "--addon-name", "eks-pod-identity-agent", "--update-id", "5a1e6a2c-0d6f-4c61-9a43-0ad0e0e0e0e0")
	wantCode(t, nf, "ResourceNotFoundException")
	if !strings.Contains(nf, "No update found for ID: 5a1e6a2c-0d6f-4c61-9a43-0ad0e0e0e0e0") {
		t.Errorf("describe-update of an unknown ID: %s", nf)
	}
	if got := str(s.awsJSON(t, root, "eks", "describe-addon", "--cluster-name", "eks-workshop", "--addon-name", "eks-pod-identity-agent"), "addon", "configurationValues"); got != "tolerations:\n- operator: Exists\n" {
		t.Errorf("stored configuration values %q", got)
	}
}

// TestAssociationsPagination creates 250 associations with the Go SDK v2,
// then lists them with the CLI's paginator and the SDK's.
func TestAssociationsPagination(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	roleARN := workshopCluster(t, s)
	ctx := context.Background()
	client := eks.NewFromConfig(s.goConfig(s.root()))

	var wg sync.WaitGroup
	errs := make(chan error, 250)
	sem := make(chan struct{}, 8)
	for i := 0; i < 250; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := client.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
				ClusterName: aws.String("eks-workshop"), RoleArn: aws.String(roleARN),
				Namespace: aws.String(fmt.Sprintf("ns-%d", i%5)), ServiceAccount: aws.String(fmt.Sprintf("sa-%03d", i)),
			})
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// CLI: three pages of 100 (botocore fails on a repeated token).
	out := s.awsJSON(t, s.root(), "eks", "list-pod-identity-associations", "--cluster-name", "eks-workshop", "--page-size", "100")
	items, _ := out["associations"].([]any)
	if len(items) != 250 {
		t.Errorf("CLI listed %d associations, want 250", len(items))
	}
	seen := map[string]bool{}
	for _, it := range items {
		id := it.(map[string]any)["associationId"].(string)
		if seen[id] {
			t.Errorf("association %s listed twice", id)
		}
		seen[id] = true
	}
	out = s.awsJSON(t, s.root(), "eks", "list-pod-identity-associations", "--cluster-name", "eks-workshop", "--namespace", "ns-3", "--page-size", "7")
	if items, _ := out["associations"].([]any); len(items) != 50 {
		t.Errorf("CLI listed %d associations in ns-3, want 50", len(items))
	}

	// Go SDK paginator.
	p := eks.NewListPodIdentityAssociationsPaginator(client, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("eks-workshop"), MaxResults: aws.Int32(33)})
	n, pages := 0, 0
	tokens := map[string]bool{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		n += len(page.Associations)
		if page.NextToken != nil {
			if *page.NextToken == "" || tokens[*page.NextToken] {
				t.Fatalf("empty or repeated nextToken %q", *page.NextToken)
			}
			tokens[*page.NextToken] = true
		}
	}
	if n != 250 || pages != 8 {
		t.Errorf("paginator: %d associations in %d pages, want 250 in 8", n, pages)
	}
	_, err := client.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("eks-workshop"), MaxResults: aws.Int32(101)})
	var ipe *ekstypes.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Errorf("maxResults 101: err = %v, want InvalidParameterException", err)
	}
}

// TestAssociationsGoSDK drives the association lifecycle with the Go SDK v2
// against the real server, including a caller who lacks iam:PassRole.
func TestAssociationsGoSDK(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	roleARN := workshopCluster(t, s)
	ctx := context.Background()
	client := eks.NewFromConfig(s.goConfig(s.root()))
	out, err := client.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("eks-workshop"), RoleArn: aws.String(roleARN), Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"),
		Tags: map[string]string{"team": "carts"},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Association.AssociationId)
	d, err := client.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("eks-workshop"), AssociationId: aws.String(id)})
	if err != nil || aws.ToString(d.Association.RoleArn) != roleARN || d.Association.Tags["team"] != "carts" || d.Association.CreatedAt == nil {
		t.Fatalf("describe: %+v, %v", d, err)
	}
	if _, err := client.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("eks-workshop"), AssociationId: aws.String(id), DisableSessionTags: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	// A user with eks:* but no iam:PassRole cannot create associations.
	iamc := iam.NewFromConfig(s.goConfig(s.root()))
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dev")}); err != nil {
		t.Fatal(err)
	}
	if _, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("dev"), PolicyName: aws.String("eks"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks:*","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	k, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dev")})
	if err != nil {
		t.Fatal(err)
	}
	dev := eks.NewFromConfig(s.goConfig(creds{Key: *k.AccessKey.AccessKeyId, Secret: *k.AccessKey.SecretAccessKey}))
	_, err = dev.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("eks-workshop"), RoleArn: aws.String(roleARN), Namespace: aws.String("orders"), ServiceAccount: aws.String("orders"),
	})
	var ade *ekstypes.AccessDeniedException
	if !errors.As(err, &ade) || !strings.Contains(err.Error(), "iam:PassRole") {
		t.Errorf("create without iam:PassRole: %v, want AccessDeniedException naming iam:PassRole", err)
	}
	if _, err := dev.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String("eks-workshop"), AssociationId: aws.String(id)}); err != nil {
		t.Errorf("delete with eks:*: %v", err)
	}
}
