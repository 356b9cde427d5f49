package eks

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/podid/podid/internal/store"
)

// TestConcurrentCreates: 50 simultaneous creates for one (namespace,
// service account), each with its own SDK-generated request token, yield
// exactly one association and 49 conflicts naming it.
func TestConcurrentCreates(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("eks-workshop")
	role := e.role("carts", trustPodIdentity)
	const n = 50
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out, err := e.eks.CreatePodIdentityAssociation(context.Background(), &awseks.CreatePodIdentityAssociationInput{
				ClusterName: aws.String("eks-workshop"), Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(role),
			})
			errs[i] = err
			if err == nil {
				ids[i] = aws.ToString(out.Association.AssociationId)
			}
		}()
	}
	close(start)
	wg.Wait()
	var winner string
	var conflicts []*types.ResourceInUseException
	for i := range n {
		var inUse *types.ResourceInUseException
		switch {
		case errs[i] == nil:
			if winner != "" {
				t.Fatalf("two creates succeeded: %s and %s", winner, ids[i])
			}
			winner = ids[i]
		case errors.As(errs[i], &inUse):
			conflicts = append(conflicts, inUse)
		default:
			t.Fatalf("create %d: unexpected error %v", i, errs[i])
		}
	}
	if winner == "" || len(conflicts) != n-1 {
		t.Fatalf("winner %q, %d conflicts", winner, len(conflicts))
	}
	for _, c := range conflicts {
		if aws.ToString(c.Message) != "Association already exists: "+winner || aws.ToString(c.ClusterName) != "eks-workshop" {
			t.Errorf("conflict = %q (cluster %q)", aws.ToString(c.Message), aws.ToString(c.ClusterName))
		}
	}
	l, err := e.eks.ListPodIdentityAssociations(context.Background(), &awseks.ListPodIdentityAssociationsInput{ClusterName: aws.String("eks-workshop")})
	if err != nil || len(l.Associations) != 1 {
		t.Fatalf("list after the race: %v, %d associations", err, len(l.Associations))
	}
}

// TestConcurrentRetriesSameToken: concurrent retries with one request
// token all get the one association.
func TestConcurrentRetriesSameToken(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("c1")
	role := e.role("carts", trustPodIdentity)
	const n = 10
	var wg sync.WaitGroup
	got := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := e.svc.CreatePodIdentityAssociation(rootCtx(), &CreatePodIdentityAssociationInput{
				ClusterName: "c1", Namespace: "ns", ServiceAccount: "sa", RoleArn: role, ClientRequestToken: "same-token",
			})
			if err != nil {
				t.Errorf("retry %d: %v", i, err)
				return
			}
			got[i] = out.Association.AssociationID
		}()
	}
	wg.Wait()
	for i := range got {
		if got[i] != got[0] || got[i] == "" {
			t.Fatalf("retries returned different associations: %v", got)
		}
	}
}

// TestValidation drives every validated field over the wire and checks
// EKS's status, code and message.
func TestValidation(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("c1")
	role := e.role("good", trustPodIdentity)
	oidcRole := e.role("oidc-only", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789000:oidc-provider/x"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`)
	existing, err := e.svc.CreatePodIdentityAssociation(rootCtx(), &CreatePodIdentityAssociationInput{ClusterName: "c1", Namespace: "ns", ServiceAccount: "taken", RoleArn: role})
	if err != nil {
		t.Fatal(err)
	}
	id := existing.Association.AssociationID
	body := func(fields string) string {
		return `{"namespace":"ns","serviceAccount":"sa","roleArn":"` + role + `"` + fields + `}`
	}
	cases := []struct {
		name, method, path, body string
		status                   int
		code, message            string
	}{
		{"unknown cluster", "POST", "/clusters/nope/pod-identity-associations", body(""), 404, "ResourceNotFoundException", "No cluster found for name: nope."},
		{"missing namespace", "POST", "/clusters/c1/pod-identity-associations", `{"serviceAccount":"sa","roleArn":"` + role + `"}`, 400, "InvalidParameterException", "The parameter namespace must not be empty."},
		{"bad namespace", "POST", "/clusters/c1/pod-identity-associations", `{"namespace":"Carts","serviceAccount":"sa","roleArn":"` + role + `"}`, 400, "InvalidParameterException", `The parameter namespace "Carts" is not a valid Kubernetes namespace name: it must be a lowercase RFC 1123 label of at most 63 characters.`},
		{"missing service account", "POST", "/clusters/c1/pod-identity-associations", `{"namespace":"ns","roleArn":"` + role + `"}`, 400, "InvalidParameterException", "The parameter serviceAccount must not be empty."},
		{"bad service account", "POST", "/clusters/c1/pod-identity-associations", `{"namespace":"ns","serviceAccount":"sa_1","roleArn":"` + role + `"}`, 400, "InvalidParameterException", `The parameter serviceAccount "sa_1" is not a valid Kubernetes service account name: it must be a lowercase RFC 1123 subdomain of at most 253 characters.`},
		{"missing role", "POST", "/clusters/c1/pod-identity-associations", `{"namespace":"ns","serviceAccount":"sa"}`, 400, "InvalidParameterException", "The parameter roleArn must not be empty."},
		{"malformed role", "POST", "/clusters/c1/pod-identity-associations", `{"namespace":"ns","serviceAccount":"sa","roleArn":"arn:aws:iam::123:role/x"}`, 400, "InvalidParameterException", "The parameter roleArn is not a valid IAM role ARN: arn:aws:iam::123:role/x"},
		{"role of another account", "POST", "/clusters/c1/pod-identity-associations", `{"namespace":"ns","serviceAccount":"sa","roleArn":"arn:aws:iam::222233334444:role/x"}`, 400, "InvalidParameterException", "The role arn:aws:iam::222233334444:role/x must be in the same account as the cluster (123456789000)."},
		{"role does not exist", "POST", "/clusters/c1/pod-identity-associations", `{"namespace":"ns","serviceAccount":"sa","roleArn":"arn:aws:iam::123456789000:role/missing"}`, 400, "InvalidParameterException", "Role provided in the request does not exist"},
		{"role path differs", "POST", "/clusters/c1/pod-identity-associations", `{"namespace":"ns","serviceAccount":"sa","roleArn":"arn:aws:iam::123456789000:role/team/good"}`, 400, "InvalidParameterException", "Role provided in the request does not exist"},
		{"trust policy without pods.eks", "POST", "/clusters/c1/pod-identity-associations", `{"namespace":"ns","serviceAccount":"sa","roleArn":"` + oidcRole + `"}`, 400, "InvalidParameterException", "Trust policy of the role provided is invalid"},
		{"bad target role", "POST", "/clusters/c1/pod-identity-associations", body(`,"targetRoleArn":"role/x"`), 400, "InvalidParameterException", "The parameter targetRoleArn is not a valid IAM role ARN: role/x"},
		{"policy without disableSessionTags", "POST", "/clusters/c1/pod-identity-associations", body(`,"policy":"{\"Version\":\"2012-10-17\",\"Statement\":[]}"`), 400, "InvalidParameterException", "The parameter policy can only be used when disableSessionTags is set to true."},
		{"policy not JSON", "POST", "/clusters/c1/pod-identity-associations", body(`,"disableSessionTags":true,"policy":"nope"`), 400, "InvalidParameterException", "The parameter policy is not a valid JSON policy document."},
		{"policy the session-policy rules refuse", "POST", "/clusters/c1/pod-identity-associations", body(`,"disableSessionTags":true,"policy":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\"}]}"`), 400, "InvalidParameterException",
			"The parameter policy is not a valid session policy: Policy statement must contain resources."},
		{"policy with a principal", "POST", "/clusters/c1/pod-identity-associations", body(`,"disableSessionTags":true,"policy":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:*\",\"Resource\":\"*\"}]}"`), 400, "InvalidParameterException",
			"The parameter policy is not a valid session policy: Has prohibited field Principal"},
		{"too many tags", "POST", "/clusters/c1/pod-identity-associations", body(`,"tags":{` + manyTags(51) + `}`), 400, "InvalidParameterException", "The number of tags (51) exceeds the limit of 50."},
		{"aws: tag", "POST", "/clusters/c1/pod-identity-associations", body(`,"tags":{"AWS:x":"y"}`), 400, "InvalidParameterException", `Tag key "AWS:x" uses the reserved prefix aws:.`},
		{"long tag value", "POST", "/clusters/c1/pod-identity-associations", body(`,"tags":{"k":"` + strings.Repeat("v", 257) + `"}`), 400, "InvalidParameterException", `The value of tag "k" is longer than 256 characters.`},
		{"wrong JSON type", "POST", "/clusters/c1/pod-identity-associations", `{"namespace":5}`, 400, "SerializationException", "The value of namespace has the wrong type: expected string."},
		{"not JSON", "POST", "/clusters/c1/pod-identity-associations", `{"namespace":`, 400, "SerializationException", "The request body is not a valid JSON object."},
		{"association id length", "GET", "/clusters/c1/pod-identity-associations/a-123", "", 400, "InvalidParameterException", "The parameter associationId should be 19 characters long."},
		{"association id charset", "GET", "/clusters/c1/pod-identity-associations/a-ABCDEFGHIJKLMNOPQ", "", 400, "InvalidParameterException", "The parameter associationId must be a- followed by 17 lowercase letters or digits."},
		{"association not found", "GET", "/clusters/c1/pod-identity-associations/a-aaaaaaaaaaaaaaaaa", "", 404, "ResourceNotFoundException", "No pod identity association found for ID: a-aaaaaaaaaaaaaaaaa"},
		{"association of an unknown cluster", "GET", "/clusters/c2/pod-identity-associations/" + id, "", 404, "ResourceNotFoundException", "No cluster found for name: c2."},
		{"maxResults 0", "GET", "/clusters/c1/pod-identity-associations?maxResults=0", "", 400, "InvalidParameterException", "The parameter maxResults must be between 1 and 100."},
		{"maxResults 101", "GET", "/clusters/c1/pod-identity-associations?maxResults=101", "", 400, "InvalidParameterException", "The parameter maxResults must be between 1 and 100."},
		{"maxResults text", "GET", "/clusters/c1/pod-identity-associations?maxResults=ten", "", 400, "InvalidParameterException", "The parameter maxResults must be an integer."},
		{"bad nextToken", "GET", "/clusters/c1/pod-identity-associations?nextToken=%21%21", "", 400, "InvalidParameterException", "The parameter nextToken is not valid."},
		{"update nothing", "POST", "/clusters/c1/pod-identity-associations/" + id, `{"clientRequestToken":"t"}`, 400, "InvalidParameterException", "You must specify at least one of roleArn, targetRoleArn, disableSessionTags or policy."},
		{"update empty role", "POST", "/clusters/c1/pod-identity-associations/" + id, `{"roleArn":""}`, 400, "InvalidParameterException", "The parameter roleArn must not be empty."},
		{"update policy, tags on", "POST", "/clusters/c1/pod-identity-associations/" + id, `{"policy":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}`, 400, "InvalidParameterException", "The parameter policy can only be used when disableSessionTags is set to true."},
		{"delete unknown", "DELETE", "/clusters/c1/pod-identity-associations/a-bbbbbbbbbbbbbbbbb", "", 404, "ResourceNotFoundException", "No pod identity association found for ID: a-bbbbbbbbbbbbbbbbb"},
		{"unknown route", "GET", "/nothing/here", "", 404, "UnknownOperationException", "No operation matches GET /nothing/here"},
		{"wrong method", "PUT", "/clusters/c1/pod-identity-associations", "", 404, "UnknownOperationException", "No operation matches PUT /clusters/c1/pod-identity-associations"},
		{"root path", "GET", "/", "", 404, "UnknownOperationException", "No operation matches GET /"},
		{"encoded slash stays in its label", "GET", "/clusters/a%2Fb", "", 404, "ResourceNotFoundException", "No cluster found for name: a/b."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body)
			if r.Status != tc.status || r.Body["__type"] != tc.code || r.Body["message"] != tc.message || r.Header.Get("x-amzn-ErrorType") != tc.code {
				t.Errorf("%s %s:\n got %d %v %s\nwant %d %s %q", tc.method, tc.path, r.Status, r.Header.Get("x-amzn-ErrorType"), r.Raw, tc.status, tc.code, tc.message)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func manyTags(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + itoa(i) + `":"v"`)
	}
	return b.String()
}

// TestUpdateTargetRoleLifecycle: externalId appears with a target role,
// stays stable while one is set, and goes with it.
func TestUpdateTargetRoleLifecycle(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("c1")
	role := e.role("r", trustPodIdentity)
	ctx := rootCtx()
	out, err := e.svc.CreatePodIdentityAssociation(ctx, &CreatePodIdentityAssociationInput{ClusterName: "c1", Namespace: "ns", ServiceAccount: "sa", RoleArn: role, TargetRoleArn: "arn:aws:iam::222233334444:role/t1"})
	if err != nil {
		t.Fatal(err)
	}
	ext := out.Association.ExternalID
	if ext == "" {
		t.Fatal("no externalId with a target role")
	}
	id := out.Association.AssociationID
	up := func(in UpdatePodIdentityAssociationInput) *PodIdentityAssociation {
		t.Helper()
		in.ClusterName, in.AssociationID = "c1", id
		o, err := e.svc.UpdatePodIdentityAssociation(ctx, &in)
		if err != nil {
			t.Fatal(err)
		}
		return o.Association
	}
	a := up(UpdatePodIdentityAssociationInput{TargetRoleArn: aws.String("arn:aws:iam::222233334444:role/t2")})
	if a.ExternalID != ext || a.TargetRoleArn != "arn:aws:iam::222233334444:role/t2" {
		t.Errorf("after changing the target: %+v", a)
	}
	a = up(UpdatePodIdentityAssociationInput{TargetRoleArn: aws.String("")})
	if a.ExternalID != "" || a.TargetRoleArn != "" {
		t.Errorf("after removing the target: %+v", a)
	}
	a = up(UpdatePodIdentityAssociationInput{DisableSessionTags: aws.Bool(true), Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)})
	if !a.DisableSessionTags || a.Policy == "" {
		t.Errorf("policy: %+v", a)
	}
	// Turning session tags back on while a policy is set is refused;
	// removing the policy at the same time is allowed.
	if _, err := e.svc.UpdatePodIdentityAssociation(ctx, &UpdatePodIdentityAssociationInput{ClusterName: "c1", AssociationID: id, DisableSessionTags: aws.Bool(false)}); err == nil {
		t.Error("session tags on with a policy was accepted")
	}
	a = up(UpdatePodIdentityAssociationInput{DisableSessionTags: aws.Bool(false), Policy: aws.String("")})
	if a.DisableSessionTags || a.Policy != "" {
		t.Errorf("policy removal: %+v", a)
	}
	// A retried update (same token) is not applied twice.
	a1 := up(UpdatePodIdentityAssociationInput{DisableSessionTags: aws.Bool(true), ClientRequestToken: "tok"})
	e.clock.Advance(1e9)
	a2 := up(UpdatePodIdentityAssociationInput{DisableSessionTags: aws.Bool(true), ClientRequestToken: "tok"})
	if !a1.ModifiedAt.Equal(a2.ModifiedAt.Time) {
		t.Errorf("retried update changed modifiedAt: %v -> %v", a1.ModifiedAt, a2.ModifiedAt)
	}
}

// TestAuthorization evaluates a user's policy with the real policy engine:
// eks:* without iam:PassRole cannot create; with PassRole limited to
// pods.eks.amazonaws.com it can; PassRole is asked for a target role of
// the caller's account only.
func TestAuthorization(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("c1")
	role := e.role("carts", trustPodIdentity)
	e.user(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"eks:*","Resource":"*"},
		{"Effect":"Deny","Action":"eks:DeletePodIdentityAssociation","Resource":"*"},
		{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::123456789000:role/carts","Condition":{"StringEquals":{"iam:PassedToService":"pods.eks.amazonaws.com"}}}]}`)
	dev := e.client(userKey)
	ctx := context.Background()
	out, err := dev.CreatePodIdentityAssociation(ctx, &awseks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("c1"), Namespace: aws.String("ns"), ServiceAccount: aws.String("sa"), RoleArn: aws.String(role),
	})
	if err != nil {
		t.Fatalf("create with PassRole allowed: %v", err)
	}
	// A target role of the caller's account is not passable: denied with
	// the engine's sentence.
	_, err = dev.CreatePodIdentityAssociation(ctx, &awseks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("c1"), Namespace: aws.String("ns"), ServiceAccount: aws.String("other"), RoleArn: aws.String(role),
		TargetRoleArn: aws.String("arn:aws:iam::123456789000:role/x"),
	})
	var denied *types.AccessDeniedException
	if !errors.As(err, &denied) || !strings.Contains(aws.ToString(denied.Message), "iam:PassRole on resource: arn:aws:iam::123456789000:role/x") {
		t.Errorf("target role PassRole: %v", err)
	}
	// A target role of another account is not passed by the caller (IAM's
	// PassRole is for the caller's own roles): its trust policy guards it.
	if _, err := dev.CreatePodIdentityAssociation(ctx, &awseks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("c1"), Namespace: aws.String("ns"), ServiceAccount: aws.String("other"), RoleArn: aws.String(role),
		TargetRoleArn: aws.String("arn:aws:iam::222233334444:role/x"),
	}); err != nil {
		t.Errorf("target role of another account: %v", err)
	}
	r := e.doAs(userKey, "DELETE", "/clusters/c1/pod-identity-associations/"+aws.ToString(out.Association.AssociationId), "")
	if r.Status != 403 || r.Body["__type"] != "AccessDeniedException" || !strings.Contains(r.Body["message"].(string), "eks:DeletePodIdentityAssociation") {
		t.Errorf("explicit deny: %d %s", r.Status, r.Raw)
	}
	// No caller at all.
	r = e.doAs("", "GET", "/clusters/c1/pod-identity-associations", "")
	if r.Status != 403 || r.Body["__type"] != "AccessDeniedException" {
		t.Errorf("anonymous: %d %s", r.Status, r.Raw)
	}
}

// TestTagsRouting: the association ARN arrives percent-encoded (%3A,
// %2F); a raw-slash ARN from a hand-written client works too; malformed
// and foreign ARNs get the tag operations' codes.
func TestTagsRouting(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("c1")
	role := e.role("r", trustPodIdentity)
	out, err := e.svc.CreatePodIdentityAssociation(rootCtx(), &CreatePodIdentityAssociationInput{ClusterName: "c1", Namespace: "ns", ServiceAccount: "sa", RoleArn: role, Tags: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	arn := out.Association.AssociationArn
	enc := url.PathEscape(arn)
	enc = strings.NewReplacer(":", "%3A", "/", "%2F").Replace(enc)
	if r := e.do("POST", "/tags/"+enc, `{"tags":{"b":"2"}}`); r.Status != 200 || r.Raw != "{}\n" {
		t.Fatalf("TagResource: %d %q", r.Status, r.Raw)
	}
	if r := e.do("GET", "/tags/"+arn, ""); r.Status != 200 || !mapEq(r.Body["tags"], map[string]string{"a": "1", "b": "2"}) {
		t.Errorf("ListTags (raw slashes): %d %s", r.Status, r.Raw)
	}
	if r := e.do("DELETE", "/tags/"+enc+"?tagKeys=a&tagKeys=zz", ""); r.Status != 200 {
		t.Errorf("UntagResource: %d %s", r.Status, r.Raw)
	}
	if r := e.do("GET", "/tags/"+enc, ""); !mapEq(r.Body["tags"], map[string]string{"b": "2"}) {
		t.Errorf("after untag: %s", r.Raw)
	}
	// Cluster ARNs are taggable too.
	if r := e.do("POST", "/tags/"+url.PathEscape("arn:aws:eks:us-west-2:123456789000:cluster/c1"), `{"tags":{"team":"x"}}`); r.Status != 200 {
		t.Errorf("cluster tag: %d %s", r.Status, r.Raw)
	}
	for _, tc := range []struct {
		name, method, path, body, code string
		status                         int
	}{
		{"not an ARN", "GET", "/tags/nope", "", "BadRequestException", 400},
		{"other region", "GET", "/tags/" + url.PathEscape("arn:aws:eks:eu-west-1:123456789000:cluster/c1"), "", "NotFoundException", 404},
		{"unknown association", "GET", "/tags/" + url.PathEscape("arn:aws:eks:us-west-2:123456789000:podidentityassociation/c1/a-aaaaaaaaaaaaaaaaa"), "", "NotFoundException", 404},
		{"no tags", "POST", "/tags/" + url.PathEscape(arn), `{"tags":{}}`, "BadRequestException", 400},
		{"reserved key", "POST", "/tags/" + url.PathEscape(arn), `{"tags":{"aws:x":"1"}}`, "BadRequestException", 400},
		{"over 50 after merge", "POST", "/tags/" + url.PathEscape(arn), `{"tags":{` + manyTags(50) + `}}`, "BadRequestException", 400},
		{"untag without keys", "DELETE", "/tags/" + url.PathEscape(arn), "", "BadRequestException", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body)
			if r.Status != tc.status || r.Body["__type"] != tc.code {
				t.Errorf("%d %s, want %d %s", r.Status, r.Raw, tc.status, tc.code)
			}
		})
	}
}

func mapEq(v any, want map[string]string) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != len(want) {
		return false
	}
	for k, w := range want {
		if m[k] != w {
			return false
		}
	}
	return true
}

// TestExternalIDForm: an association with a target role carries the
// externalId AWS documents, REGION/ACCOUNT/CLUSTER/NAMESPACE/SERVICE-ACCOUNT,
// unchanged by updates and by deleting and creating the association
// again; a stored externalId of another form (made by an older podid) is
// kept.
func TestExternalIDForm(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("c1")
	role := e.role("r", trustPodIdentity)
	ctx := rootCtx()
	const want = testRegion + "/" + testAccount + "/c1/ns/my.sa"
	create := func(target string) *PodIdentityAssociation {
		t.Helper()
		out, err := e.svc.CreatePodIdentityAssociation(ctx, &CreatePodIdentityAssociationInput{ClusterName: "c1", Namespace: "ns", ServiceAccount: "my.sa", RoleArn: role, TargetRoleArn: target})
		if err != nil {
			t.Fatal(err)
		}
		return out.Association
	}
	a := create("arn:aws:iam::222233334444:role/t1")
	id := a.AssociationID
	up := func(in UpdatePodIdentityAssociationInput) *PodIdentityAssociation {
		t.Helper()
		in.ClusterName, in.AssociationID = "c1", id
		o, err := e.svc.UpdatePodIdentityAssociation(ctx, &in)
		if err != nil {
			t.Fatal(err)
		}
		return o.Association
	}
	steps := []struct {
		name string
		do   func() *PodIdentityAssociation
		want string
	}{
		{"created", func() *PodIdentityAssociation { return a }, want},
		{"target changed", func() *PodIdentityAssociation {
			return up(UpdatePodIdentityAssociationInput{TargetRoleArn: aws.String("arn:aws:iam::222233334444:role/t2")})
		}, want},
		{"role changed", func() *PodIdentityAssociation {
			return up(UpdatePodIdentityAssociationInput{RoleArn: aws.String(role), DisableSessionTags: aws.Bool(true)})
		}, want},
		{"target removed", func() *PodIdentityAssociation {
			return up(UpdatePodIdentityAssociationInput{TargetRoleArn: aws.String("")})
		}, ""},
		{"target set again", func() *PodIdentityAssociation {
			return up(UpdatePodIdentityAssociationInput{TargetRoleArn: aws.String("arn:aws:iam::222233334444:role/t1")})
		}, want},
		{"described", func() *PodIdentityAssociation {
			o, err := e.svc.DescribePodIdentityAssociation(ctx, &DescribePodIdentityAssociationInput{ClusterName: "c1", AssociationID: id})
			if err != nil {
				t.Fatal(err)
			}
			return o.Association
		}, want},
		{"recreated", func() *PodIdentityAssociation {
			if _, err := e.svc.DeletePodIdentityAssociation(ctx, &DeletePodIdentityAssociationInput{ClusterName: "c1", AssociationID: id}); err != nil {
				t.Fatal(err)
			}
			a := create("arn:aws:iam::222233334444:role/t3")
			id = a.AssociationID
			return a
		}, want},
		{"legacy kept", func() *PodIdentityAssociation {
			const legacy = "9f3c2b1a-0d4e-4f5a-8b6c-7d8e9f0a1b2c"
			err := e.st.Update(context.Background(), func(tx store.Tx) error {
				s, err := tx.GetAssociation("c1", id)
				if err != nil {
					return err
				}
				s.ExternalID = legacy
				return tx.UpdateAssociation(s)
			})
			if err != nil {
				t.Fatal(err)
			}
			return up(UpdatePodIdentityAssociationInput{TargetRoleArn: aws.String("arn:aws:iam::222233334444:role/t4")})
		}, "9f3c2b1a-0d4e-4f5a-8b6c-7d8e9f0a1b2c"},
	}
	for _, st := range steps {
		if got := st.do(); got.ExternalID != st.want {
			t.Errorf("%s: externalId %q, want %q", st.name, got.ExternalID, st.want)
		}
	}
}
