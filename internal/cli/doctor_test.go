package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/podid/podid/internal/broker"
)

// doctorRoles is a fake IAM for podid doctor.
type doctorRoles map[string]string // role name → trust policy ("!" for AccessDenied)

func (d doctorRoles) GetRole(ctx context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	name := aws.ToString(in.RoleName)
	doc, ok := d[name]
	switch {
	case !ok:
		return nil, &smithy.GenericAPIError{Code: "NoSuchEntity", Message: "no role " + name}
	case doc == "!":
		return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "not allowed"}
	}
	return &iam.GetRoleOutput{Role: &iamtypes.Role{Arn: aws.String("arn:aws:iam::210987654321:role/" + name), AssumeRolePolicyDocument: aws.String(doc)}}, nil
}

// TestDoctor: each association's role (and target role) is checked once
// per role and reported with its status; problems make the text report.
func TestDoctor(t *testing.T) {
	const p = "arn:aws:iam::210987654321:user/podid-broker"
	const cl = "arn:aws:eks:us-west-2:123456789012:cluster/c1"
	role := func(n string) string { return "arn:aws:iam::210987654321:role/" + n }
	good, err := broker.TrustPolicy(broker.ModeBroker, broker.Principal{AWS: p}, role("good"), []broker.Use{{ClusterARN: cl, Namespace: "a", ServiceAccount: "s", SessionTags: true}})
	if err != nil {
		t.Fatal(err)
	}
	roles := doctorRoles{
		"good":   string(good),
		"open":   `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + p + `"},"Action":"sts:*"}]}`,
		"secret": "!",
	}
	assocs := []broker.AssociationInfo{
		{AssociationID: "a-3", ClusterName: "c1", ClusterARN: cl, Namespace: "c", ServiceAccount: "s", RoleARN: role("secret")},
		{AssociationID: "a-1", ClusterName: "c1", ClusterARN: cl, Namespace: "a", ServiceAccount: "s", RoleARN: role("good"), TargetRoleARN: role("gone"), ExternalID: "e"},
		{AssociationID: "a-2", ClusterName: "c1", ClusterARN: cl, Namespace: "b", ServiceAccount: "s", RoleARN: role("open")},
	}
	reader := func(m broker.Mode) (roleReader, error) {
		if m != broker.ModeBroker {
			return nil, errors.New("wrong mode")
		}
		return roles, nil
	}
	res := doctor(context.Background(), assocs, &issuerCache{principal: p}, reader, time.Now())
	type row struct{ ns, role, status string }
	var got []row
	for _, r := range res {
		got = append(got, row{r.Namespace, r.RoleARN, r.Status})
	}
	want := []row{{"a", role("good"), "ok"}, {"a", role("gone"), "refuses"}, {"b", role("open"), "too-open"}, {"c", role("secret"), "error"}}
	if len(got) != len(want) {
		t.Fatalf("results %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d = %v, want %v", i, got[i], want[i])
		}
	}
	if !res[1].Target || res[1].Principal != role("good") || res[0].Principal != p || res[0].Issuer != "aws-sts" {
		t.Errorf("target row %+v / first row %+v", res[1], res[0])
	}
	var text bytes.Buffer
	if err := writeDoctor(&text, "text", res); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"STATUS    CLUSTER  NAMESPACE/SERVICE-ACCOUNT  ROLE",
		"c1/a/s " + role("gone") + ": refuses: the role does not exist",
		"c1/b/s " + role("open") + ": too-open: pods of any cluster, any namespace, any service account can assume it",
		"c1/c/s " + role("secret") + ": error: reading the role: api error AccessDenied: not allowed",
	} {
		if !strings.Contains(text.String(), line) {
			t.Errorf("text report lacks %q:\n%s", line, text.String())
		}
	}
	var js bytes.Buffer
	if err := writeDoctor(&js, "json", nil); err != nil || js.String() != "{\n  \"results\": []\n}\n" {
		t.Errorf("empty json report %q, %v", js.String(), err)
	}
	if err := writeDoctor(&js, "yaml", nil); err == nil {
		t.Error("yaml accepted")
	}
}

// TestDoctorRefusesPodidKeyForAWS: with dev.env sourced, the SDK's
// default credentials are podid's root key; doctor does not send it to
// AWS and names the fix. Other credentials make a client.
func TestDoctorRefusesPodidKeyForAWS(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAPODIDROOTKEY0001")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "podid-root-secret")
	_, err := awsIAMClient(context.Background(), "", "", "", "AKIAPODIDROOTKEY0001")
	const want = "the AWS credentials are podid's own key AKIAPODIDROOTKEY0001 (a sourced dev.env exports it as AWS_ACCESS_KEY_ID), so AWS would refuse them: read roles in AWS with --aws-profile PROFILE (an AWS profile), or run doctor in a shell without dev.env"
	if err == nil || err.Error() != want {
		t.Fatalf("awsIAMClient with podid's key: %v, want %q", err, want)
	}
	if c, err := awsIAMClient(context.Background(), "", "", "", "AKIAOTHERPODIDKEY001"); err != nil || c == nil {
		t.Fatalf("awsIAMClient with AWS's key: %v", err)
	}
}

// invalidTokenRoles answers every GetRole as AWS does to a key it does
// not know.
type invalidTokenRoles struct{}

func (invalidTokenRoles) GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
}

// TestDoctorInvalidClientTokenHint: AWS's InvalidClientTokenId is
// reported with the flag that gives the right account's credentials.
func TestDoctorInvalidClientTokenHint(t *testing.T) {
	_, err := readTrust(context.Background(), broker.ModeBroker, "arn:aws:iam::210987654321:role/carts",
		func(broker.Mode) (roleReader, error) { return invalidTokenRoles{}, nil })
	const want = "reading the role: api error InvalidClientTokenId: The security token included in the request is invalid. (the credentials used for this role's account are not valid there: give --aws-profile with that account's credentials)"
	if err == nil || err.Error() != want {
		t.Fatalf("readTrust: %v, want %q", err, want)
	}
}
