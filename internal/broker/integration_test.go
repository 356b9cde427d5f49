package broker_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/broker"
	"github.com/podid/podid/internal/eksauth"
)

const (
	awsAcct   = "210987654321"
	principal = "arn:aws:iam::" + awsAcct + ":user/podid-broker"
	clusterA  = "arn:aws:eks:us-west-2:123456789012:cluster/eks-workshop"
)

// fakeAWS runs podid in process as "AWS" and returns its URL and a
// client config with its root key.
func fakeAWS(t *testing.T) (string, aws.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Config{DataDir: t.TempDir(), AccountID: awsAcct, PublicURL: "http://aws.invalid", Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); cancel(); <-done; a.Close() })
	secret, err := a.RootSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, aws.Config{Region: "us-west-2", Credentials: credentials.NewStaticCredentialsProvider(a.RootAccessKeyID, secret, "")}
}

// TestAgainstPodidSTS drives the broker through the real SDK against
// podid's own STS and IAM: tags and source identity reach the session,
// the role's MaxSessionDuration bounds it, refusals are explained and
// roles are checked.
func TestAgainstPodidSTS(t *testing.T) {
	url, root := fakeAWS(t)
	ctx := context.Background()
	iamc := iam.NewFromConfig(root, func(o *iam.Options) { o.BaseEndpoint = aws.String(url) })
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("podid-broker")}))
	must(iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("podid-broker"), PolicyName: aws.String("b"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity","iam:GetRole"],"Resource":"*"}]}`)}))
	key, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("podid-broker")})
	if err != nil {
		t.Fatal(err)
	}
	use := broker.Use{ClusterARN: clusterA, Namespace: "carts", ServiceAccount: "carts", SessionTags: true}
	trust, err := broker.TrustPolicy(broker.ModeBroker, broker.Principal{AWS: principal}, "", []broker.Use{use})
	if err != nil {
		t.Fatal(err)
	}
	must(iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("carts"), AssumeRolePolicyDocument: aws.String(string(trust))}))
	must(iamc.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("carts"), PolicyName: aws.String("observe"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*","Condition":{"StringEquals":{"aws:SourceIdentity":"carts.carts@eks-workshop","aws:PrincipalTag/kubernetes-pod-uid":"uid-1","aws:PrincipalTag/eks-cluster-arn":"` + clusterA + `"}}}]}`)}))
	must(iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("no-tags"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":["sts:AssumeRole","sts:SetSourceIdentity"]}]}`)}))

	b, err := broker.New(ctx, broker.Config{
		AWS:         &aws.Config{Region: "us-west-2", Credentials: credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")},
		STSEndpoint: url, IAMEndpoint: url,
	})
	if err != nil {
		t.Fatal(err)
	}
	id, err := b.Identity(ctx)
	if err != nil || id.PrincipalARN != principal || id.Account != awsAcct {
		t.Fatalf("Identity = %+v, %v", id, err)
	}
	in := &eksauth.AssumeInput{
		RoleARN: "arn:aws:iam::" + awsAcct + ":role/carts", SessionName: "eks-eks-worksh-carts-abc-1f2e3d4c-0000-4000-8000-000000000000",
		Duration: 6 * time.Hour, SourceARN: clusterA,
		Tags: []eksauth.Tag{{Key: "eks-cluster-arn", Value: clusterA}, {Key: "eks-cluster-name", Value: "eks-workshop"}, {Key: "kubernetes-namespace", Value: "carts"},
			{Key: "kubernetes-service-account", Value: "carts"}, {Key: "kubernetes-pod-name", Value: "carts-abc"}, {Key: "kubernetes-pod-uid", Value: "uid-1"}},
		TransitiveTagKeys: []string{"eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-service-account", "kubernetes-pod-name", "kubernetes-pod-uid"},
	}
	start := time.Now()
	c, err := b.AssumeAsService(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if c.AssumedRoleARN != "arn:aws:sts::"+awsAcct+":assumed-role/carts/"+in.SessionName || !strings.HasPrefix(c.AccessKeyID, "ASIA") {
		t.Errorf("credentials %+v", c)
	}
	if c.Expiration.Before(start.Add(59*time.Minute)) || c.Expiration.After(start.Add(61*time.Minute)) {
		t.Errorf("expiration %v: want the role's one-hour MaxSessionDuration", c.Expiration)
	}
	pod := aws.Config{Region: "us-west-2", Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)}
	who, err := sts.NewFromConfig(pod, func(o *sts.Options) { o.BaseEndpoint = aws.String(url) }).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Arn) != c.AssumedRoleARN {
		t.Fatalf("GetCallerIdentity = %v, %v", who, err)
	}
	if _, err := iam.NewFromConfig(pod, func(o *iam.Options) { o.BaseEndpoint = aws.String(url) }).ListRoles(ctx, &iam.ListRolesInput{}); err != nil {
		t.Errorf("the session lacks its tags or source identity: %v", err)
	}

	noTags := *in
	noTags.RoleARN = "arn:aws:iam::" + awsAcct + ":role/no-tags"
	_, err = b.AssumeAsService(ctx, &noTags)
	var ae *awsproto.Error
	if !errors.As(err, &ae) || ae.Code != "AccessDenied" || ae.Message != "The broker could not assume role "+noTags.RoleARN+": its trust policy does not allow "+principal+
		" to perform sts:TagSession (session tags need sts:TagSession; allow it, or set disableSessionTags on the association)." {
		t.Errorf("refusal = %v", err)
	}
	for role, want := range map[string]string{
		"arn:aws:iam::" + awsAcct + ":role/carts": "",
		"arn:aws:iam::" + awsAcct + ":role/nope":  "Role provided in the request does not exist in AWS account " + awsAcct + " (the broker looked it up with iam:GetRole).",
	} {
		err := b.CheckRole(ctx, role)
		if got := errString(err); got != want {
			t.Errorf("CheckRole(%s) = %q, want %q", role, got, want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
