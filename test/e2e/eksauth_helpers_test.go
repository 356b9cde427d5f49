package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// eaFixture sets up EKS Auth scenarios through the Go SDK (fast, no
// process per call); the exchanges themselves go through the AWS CLI and
// boto3.
type eaFixture struct {
	s   *server
	iam *iam.Client
	eks *eks.Client
}

func newEAFixture(t testing.TB, s *server) *eaFixture {
	t.Helper()
	cfg := aws.Config{
		Region:       s.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.RootKey, s.RootSec, ""),
		BaseEndpoint: aws.String(s.URL),
	}
	f := &eaFixture{s: s, iam: iam.NewFromConfig(cfg), eks: eks.NewFromConfig(cfg)}
	f.role(t, "eks-cluster", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	return f
}

func (f *eaFixture) arn(kind, name string) string {
	return "arn:aws:iam::" + f.s.AccountID + ":" + kind + "/" + name
}

// role creates a role with a trust policy and inline policies.
func (f *eaFixture) role(t testing.TB, name, trust string, inline ...string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := f.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatalf("CreateRole %s: %v", name, err)
	}
	for i, doc := range inline {
		if _, err := f.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String("p" + string(rune('0'+i))), PolicyDocument: aws.String(doc)}); err != nil {
			t.Fatalf("PutRolePolicy %s: %v", name, err)
		}
	}
	return f.arn("role", name)
}

// user creates a user with inline policies and returns its access key.
func (f *eaFixture) user(t *testing.T, name string, inline ...string) creds {
	t.Helper()
	ctx := context.Background()
	if _, err := f.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatalf("CreateUser %s: %v", name, err)
	}
	for i, doc := range inline {
		if _, err := f.iam.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("p" + string(rune('0'+i))), PolicyDocument: aws.String(doc)}); err != nil {
			t.Fatalf("PutUserPolicy %s: %v", name, err)
		}
	}
	k, err := f.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateAccessKey %s: %v", name, err)
	}
	return creds{Key: aws.ToString(k.AccessKey.AccessKeyId), Secret: aws.ToString(k.AccessKey.SecretAccessKey)}
}

// cluster creates a podid-hosted cluster.
func (f *eaFixture) cluster(t testing.TB, name string) {
	t.Helper()
	_, err := f.eks.CreateCluster(context.Background(), &eks.CreateClusterInput{Name: aws.String(name), RoleArn: aws.String(f.arn("role", "eks-cluster")),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{"subnet-0a1b2c3d"}}})
	if err != nil {
		t.Fatalf("CreateCluster %s: %v", name, err)
	}
}

// associate creates a pod identity association.
func (f *eaFixture) associate(t *testing.T, in *eks.CreatePodIdentityAssociationInput) *ekstypes.PodIdentityAssociation {
	t.Helper()
	out, err := f.eks.CreatePodIdentityAssociation(context.Background(), in)
	if err != nil {
		t.Fatalf("CreatePodIdentityAssociation: %v", err)
	}
	return out.Association
}

// podToken mints a pod-bound token of a hosted cluster (as kube-apiserver
// would project it into the pod).
func (f *eaFixture) podToken(t *testing.T, cluster, ns, sa, pod, node string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"namespace": ns, "serviceAccount": sa, "podName": pod, "nodeName": node})
	req, _ := http.NewRequest(http.MethodPost, f.s.URL+"/podid/v1/clusters/"+cluster+"/tokens", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: f.s.RootKey, SecretAccessKey: f.s.RootSec},
		req, hex.EncodeToString(sum[:]), "eks", f.s.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Token string `json:"token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.Token == "" {
		t.Fatalf("minting a pod token: HTTP %d %s", resp.StatusCode, b)
	}
	return out.Token
}

// Policies of the EKS Auth scenarios.
const (
	eaAllowEKSAuth = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks-auth:AssumeRoleForPodIdentity","Resource":"*"}]}`
	eaTrustAccount = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}`
	eaTrustNoTag   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	// eaGetRoleByNamespace lets a session read roles named after its
	// kubernetes-namespace session tag.
	eaGetRoleByNamespace = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"arn:aws:iam::123456789012:role/${aws:PrincipalTag/kubernetes-namespace}-*"}]}`
	eaGetAnyRole         = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"*"}]}`
	eaAssumeAny          = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"*"}]}`
)
