package explain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/auth/authtest"
	"github.com/podid/podid/internal/store"
)

const (
	acct        = authtest.Account
	clusterName = "eks-workshop"
	clusterARN  = "arn:aws:eks:us-west-2:" + acct + ":cluster/" + clusterName
	table       = "arn:aws:dynamodb:us-west-2:" + acct + ":table/carts"
	trustEC2    = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	allowDDB    = `{"Version":"2012-10-17","Statement":[{"Sid":"Carts","Effect":"Allow","Action":"dynamodb:*","Resource":"*"},{"Sid":"NoDelete","Effect":"Deny","Action":"dynamodb:DeleteTable","Resource":"*"}]}`
	onlyGet     = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*"}]}`
)

// fakePods are the live pods of the cluster, by namespace/name.
type fakePods map[string]*corev1.Pod

func (f fakePods) Pod(_ context.Context, _, ns, name string) (*corev1.Pod, error) {
	if p, ok := f[ns+"/"+name]; ok {
		return p, nil
	}
	return nil, ErrNoPod
}

// fixture is a store with a cluster and the roles the cases use.
type fixture struct {
	env *authtest.Env
	x   *Explainer
	n   int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := authtest.New(t)
	x, err := New(Config{Store: env.Store, Policies: env.Authorizer, AccountID: acct, Region: "us-west-2", Now: env.Clock.Now, Pods: fakePods{
		"carts/carts-old": {ObjectMeta: metav1.ObjectMeta{Name: "carts-old", Namespace: "carts", UID: "uid-old"}, Spec: corev1.PodSpec{ServiceAccountName: "carts", Containers: []corev1.Container{{Name: "app"}}}},
		"carts/carts-new": {ObjectMeta: metav1.ObjectMeta{Name: "carts-new", Namespace: "carts", UID: "uid-new"}, Spec: corev1.PodSpec{ServiceAccountName: "carts",
			Volumes:    []corev1.Volume{{Name: "eks-pod-identity-token"}},
			Containers: []corev1.Container{{Name: "app", Env: []corev1.EnvVar{{Name: "AWS_CONTAINER_CREDENTIALS_FULL_URI", Value: "http://169.254.170.23/v1/credentials"}}}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{env: env, x: x}
	f.update(t, func(tx store.Tx) error {
		return tx.CreateCluster(&store.Cluster{Name: clusterName, ARN: clusterARN, Kind: store.ClusterHosted, Status: "ACTIVE", CreatedAt: env.Clock.Now()})
	})
	carts := env.AddRole(t, "carts", "", TrustPolicy, 0)
	env.PutInline(t, store.KindRole, carts.Name, "ddb", allowDDB)
	env.AddRole(t, "ec2-only", "", trustEC2, 0)
	bounded := env.AddRole(t, "bounded", "", TrustPolicy, 0)
	env.PutInline(t, store.KindRole, bounded.Name, "ddb", allowDDB)
	env.SetBoundary(t, store.KindRole, bounded.Name, env.AddPolicy(t, "only-get", onlyGet))
	env.AddRole(t, "target-distrusts", "", trustEC2, 0)
	target := env.AddRole(t, "target", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:role/carts"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"sts:ExternalId":"ext-1"}}}]}`, 0)
	env.PutInline(t, store.KindRole, target.Name, "ddb", onlyGet)
	return f
}

func (f *fixture) update(t *testing.T, fn func(store.Tx) error) {
	t.Helper()
	if err := f.env.Store.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) associate(t *testing.T, ns, sa, role string, mod func(*store.Association)) {
	t.Helper()
	f.n++
	a := &store.Association{ID: fmt.Sprintf("a-%017d", f.n), Cluster: clusterName, Namespace: ns, ServiceAccount: sa,
		RoleARN: "arn:aws:iam::" + acct + ":role/" + role, CreatedAt: f.env.Clock.Now(), ModifiedAt: f.env.Clock.Now()}
	a.ARN = "arn:aws:eks:us-west-2:" + acct + ":podidentityassociation/" + clusterName + "/" + a.ID
	if mod != nil {
		mod(a)
	}
	f.update(t, func(tx store.Tx) error { return tx.CreateAssociation(a) })
}

// TestRefusalCauses has one case per refusal cause EKS Auth and the
// gateway can give. Causes the configuration shows are found by walking
// the chain against a real store; causes only a live request shows (a
// token, a signature, a rate) are classified from the error EKS Auth or
// the gateway returns, exactly as they word it. Every case names its fix.
func TestRefusalCauses(t *testing.T) {
	f := newFixture(t)
	f.associate(t, "carts", "carts", "carts", nil)
	f.associate(t, "ghost", "ghost", "nope", nil)
	f.associate(t, "ec2", "ec2", "ec2-only", nil)
	f.associate(t, "chain", "bad", "carts", func(a *store.Association) { a.TargetRoleARN = "arn:aws:iam::" + acct + ":role/target-distrusts" })
	f.associate(t, "bounded", "bounded", "bounded", nil)
	f.associate(t, "session", "session", "carts", func(a *store.Association) { a.Policy = onlyGet })
	f.associate(t, "other", "other", "carts", nil)

	type chain struct {
		ns, sa, cluster string
		checks          []Check
		pod             string
	}
	for _, tc := range []struct {
		cause Cause
		// Either a chain to walk or a refusal as returned on the wire.
		chain      *chain
		code, msg  string
		wantFix    string
		wantInText string
	}{
		{cause: CauseInvalidClusterName, code: "InvalidParameterException", msg: "The cluster name is not valid: it must be 1-100 characters, start with an alphanumeric character and contain only alphanumerics, hyphens and underscores.", wantFix: "aws eks list-clusters"},
		{cause: CauseMissingAuthentication, code: "AccessDeniedException", msg: "Request is missing Authentication Token", wantFix: "give the agent credentials"},
		{cause: CauseAgentNotAuthorized, code: "AccessDeniedException", msg: "User: arn:aws:iam::123456789012:user/agent is not authorized to perform: eks-auth:AssumeRoleForPodIdentity on resource: " + clusterARN + " because no identity-based policy allows the eks-auth:AssumeRoleForPodIdentity action", wantFix: `"Action":"eks-auth:AssumeRoleForPodIdentity","Resource":"arn:aws:eks:*:123456789012:cluster/eks-workshop"`},
		{cause: CauseMalformedToken, code: "InvalidParameterException", msg: "The token must be a JSON Web Token of three base64url segments, at most 8192 bytes long.", wantFix: "eks-pod-identity-token"},
		{cause: CauseNoCluster, chain: &chain{"carts", "carts", "gone", nil, ""}, wantFix: "podid cluster register-self"},
		{cause: CauseNoCluster, code: "ResourceNotFoundException", msg: "No cluster found for name: gone.", wantFix: "podid cluster register-self"},
		{cause: CauseThrottled, code: "ThrottlingException", msg: "Rate exceeded for cluster eks-workshop.", wantFix: "--eks-auth-rate-limit"},
		{cause: CauseKeysUnavailable, code: "ServiceUnavailableException", msg: "The signing keys of cluster eks-workshop could not be fetched.", wantFix: "aws eks describe-cluster --name eks-workshop"},
		{cause: CauseTokenReviewOff, code: "ServiceUnavailableException", msg: "Tokens of cluster eks-workshop are checked with its TokenReview API, which podid cannot reach.", wantFix: "re-register the cluster with API access"},
		{cause: CauseInvalidToken, code: "InvalidTokenException", msg: "The token is not valid.", wantFix: "kubectl delete pod"},
		{cause: CauseExpiredToken, code: "ExpiredTokenException", msg: "The token has expired.", wantFix: "token-expiration"},
		{cause: CauseNodeMismatch, code: "AccessDeniedException", msg: "The calling agent runs on node ip-10-0-0-1, but the token belongs to a pod on another node.", wantFix: "its own node's pods"},
		{cause: CauseNodeMismatch, code: "AccessDeniedException", msg: "The calling agent runs on node ip-10-0-0-1, but the token names no node.", wantFix: "its own node's pods"},
		{cause: CauseNoAssociation, chain: &chain{"orders", "orders", clusterName, nil, ""}, wantFix: "aws eks create-pod-identity-association --cluster-name eks-workshop --namespace orders --service-account orders --role-arn arn:aws:iam::123456789012:role/ROLE-NAME", wantInText: "the webhook would not mutate pods of orders/orders"},
		{cause: CauseNoAssociation, code: "ResourceNotFoundException", msg: "No Pod Identity Association found for cluster eks-workshop, namespace orders and service account orders.", wantFix: "aws eks create-pod-identity-association --cluster-name eks-workshop --namespace orders --service-account orders"},
		{cause: CauseNotMutated, chain: &chain{"carts", "carts", clusterName, nil, "carts-old"}, wantFix: "recreate it: kubectl -n carts delete pod carts-old", wantInText: "pod carts-old (uid uid-old, service account carts): not mutated by the webhook"},
		{cause: CauseRoleMissing, chain: &chain{"ghost", "ghost", clusterName, nil, ""}, wantFix: "aws iam create-role --role-name nope --assume-role-policy-document"},
		{cause: CauseRoleMissing, code: "AccessDeniedException", msg: "The role with name nope cannot be found.", wantFix: "aws iam create-role"},
		{cause: CauseTrustDenied, chain: &chain{"ec2", "ec2", clusterName, nil, ""}, wantFix: "aws iam update-assume-role-policy --role-name ec2-only --policy-document '" + TrustPolicy + "'", wantInText: "no match on Principal"},
		{cause: CauseTrustDenied, code: "AccessDeniedException", msg: "User: pods.eks.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/ec2-only", wantFix: "aws iam update-assume-role-policy"},
		{cause: CauseTargetTrustDenied, chain: &chain{"chain", "bad", clusterName, nil, ""}, wantFix: "in arn:aws:iam::123456789012:role/target-distrusts's trust policy"},
		{cause: CauseTargetTrustDenied, code: "AccessDeniedException", msg: "User: arn:aws:sts::123456789012:assumed-role/carts/eks-eks-worksh-carts-x is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/target", wantFix: "trust policy"},
		{cause: CauseInvalidSessionPolicy, code: "InvalidParameterException", msg: "Syntax errors in policy.", wantFix: "aws eks update-pod-identity-association"},
		{cause: CauseIssuerUnavailable, code: "ServiceUnavailableException", msg: "The credential issuer is unavailable. Try again later.", wantFix: "podid server's log"},
		{cause: CauseExplicitDeny, chain: &chain{"carts", "carts", clusterName, []Check{{"dynamodb:DeleteTable", table}}, ""}, wantFix: "remove or narrow the Deny", wantInText: `"NoDelete" Deny`},
		{cause: CauseExplicitDeny, code: "com.amazonaws.dynamodb.v20120810#AccessDeniedException", msg: "User: arn:aws:sts::123456789012:assumed-role/carts/s is not authorized to perform: dynamodb:DeleteTable on resource: " + table + " with an explicit deny in an identity-based policy", wantFix: "remove or narrow the Deny"},
		{cause: CauseNoIdentityAllow, chain: &chain{"carts", "carts", clusterName, []Check{{"s3:GetObject", "arn:aws:s3:::b/k"}}, ""}, wantFix: `aws iam put-role-policy --role-name carts --policy-name allow --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/k"}]}'`},
		{cause: CauseNoIdentityAllow, code: "AccessDenied", msg: "User: arn:aws:sts::123456789012:assumed-role/carts/s is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k because no identity-based policy allows the s3:GetObject action", wantFix: "aws iam put-role-policy"},
		{cause: CauseBoundaryDenies, chain: &chain{"bounded", "bounded", clusterName, []Check{{"dynamodb:PutItem", table}}, ""}, wantFix: "aws iam delete-role-permissions-boundary --role-name bounded"},
		{cause: CauseSessionPolicy, chain: &chain{"session", "session", clusterName, []Check{{"dynamodb:PutItem", table}}, ""}, wantFix: "aws eks update-pod-identity-association --cluster-name eks-workshop"},
		{cause: CauseResourcePolicy, code: "AccessDenied", msg: "User: arn:aws:sts::123456789012:assumed-role/carts/s is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k because no resource-based policy allows the s3:GetObject action", wantFix: "in the resource's policy"},
		{cause: CauseInvalidSignature, code: "SignatureDoesNotMatch", msg: "The request signature we calculated does not match the signature you provided. Check your key and signing method.", wantFix: "AWS_CONTAINER_CREDENTIALS_FULL_URI"},
		{cause: CauseInvalidSignature, code: "InvalidAccessKeyId", msg: "The AWS Access Key Id you provided does not exist in our records.", wantFix: "AWS_CONTAINER_CREDENTIALS_FULL_URI"},
		{cause: CauseExpiredCredential, code: "ExpiredToken", msg: "The provided token has expired.", wantFix: "agent is running"},
	} {
		name := string(tc.cause) + "/wire"
		if tc.chain != nil {
			name = string(tc.cause) + "/chain"
		}
		t.Run(name, func(t *testing.T) {
			s := Subject{Cluster: clusterName, Namespace: "orders", ServiceAccount: "orders", AccountID: acct}
			if tc.chain == nil {
				got, ok := Classify(tc.code, tc.msg)
				if !ok || got != tc.cause {
					t.Fatalf("Classify(%s, %q) = %q %v, want %s", tc.code, tc.msg, got, ok, tc.cause)
				}
				if strings.Contains(tc.msg, "role/nope") || strings.Contains(tc.msg, "name nope") {
					s.RoleARN = "arn:aws:iam::" + acct + ":role/nope"
				}
				_, fix := Fix(got, s)
				if !strings.Contains(fix, tc.wantFix) {
					t.Errorf("fix %q lacks %q", fix, tc.wantFix)
				}
				return
			}
			e, err := f.x.Explain(context.Background(), &Request{Cluster: tc.chain.cluster, Namespace: tc.chain.ns, ServiceAccount: tc.chain.sa, Checks: tc.chain.checks, Pod: tc.chain.pod})
			if err != nil {
				t.Fatal(err)
			}
			got, fix := e.Cause, ""
			for _, st := range e.Steps {
				if st.Status == StatusRefused {
					fix = st.Fix
				}
			}
			if tc.chain.checks != nil {
				if !e.OK || len(e.Decisions) != 1 {
					t.Fatalf("chain: ok=%v decisions=%d cause=%s", e.OK, len(e.Decisions), e.Cause)
				}
				got, fix = e.Decisions[0].Cause, e.Decisions[0].Fix
			}
			if got != tc.cause {
				t.Fatalf("cause = %q, want %s\n%s", got, tc.cause, text(t, e))
			}
			if !strings.Contains(fix, tc.wantFix) {
				t.Errorf("fix %q lacks %q", fix, tc.wantFix)
			}
			if out := text(t, e); !strings.Contains(out, tc.wantInText) {
				t.Errorf("text lacks %q:\n%s", tc.wantInText, out)
			}
		})
	}
	// Every cause has a case and a fix.
	t.Run("all causes covered", func(t *testing.T) {
		for _, c := range AllCauses {
			problem, fix := Fix(c, Subject{Cluster: clusterName, Namespace: "ns", ServiceAccount: "sa"})
			if problem == "" || fix == "" || strings.HasPrefix(problem, "unknown cause") {
				t.Errorf("%s: no fix", c)
			}
		}
	})
}

func text(t *testing.T, e *Explanation) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteText(&b, e); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestChainOK is the whole chain for a working association: the webhook
// mutates, the trust policy allows both actions with the exact six tags,
// the target role is assumed with its external ID, and the pod session's
// decision names the deciding statement and its position.
func TestChainOK(t *testing.T) {
	f := newFixture(t)
	f.associate(t, "carts", "carts", "carts", func(a *store.Association) {
		a.TargetRoleARN, a.ExternalID = "arn:aws:iam::"+acct+":role/target", "ext-1"
	})
	e, err := f.x.Explain(context.Background(), &Request{Cluster: clusterName, Namespace: "carts", ServiceAccount: "carts", Pod: "carts-new",
		Checks: []Check{{"dynamodb:GetItem", table}, {"dynamodb:PutItem", table}}})
	if err != nil {
		t.Fatal(err)
	}
	if !e.OK || e.Cause != "" {
		t.Fatalf("not ok: %s\n%s", e.Cause, text(t, e))
	}
	var names []string
	for _, s := range e.Steps {
		names = append(names, s.Name+":"+s.Status)
	}
	if got := strings.Join(names, " "); got != "webhook:ok pod:ok cluster:ok association:ok role:ok trust:ok target-role:ok session:ok" {
		t.Errorf("steps = %s", got)
	}
	tags, _ := json.Marshal(e.SessionTags)
	want := `[{"key":"eks-cluster-arn","value":"` + clusterARN + `"},{"key":"eks-cluster-name","value":"eks-workshop"},{"key":"kubernetes-namespace","value":"carts"},{"key":"kubernetes-service-account","value":"carts"},{"key":"kubernetes-pod-name","value":"carts-new"},{"key":"kubernetes-pod-uid","value":"uid-new"}]`
	if string(tags) != want {
		t.Errorf("session tags = %s", tags)
	}
	if e.Steps[5].Summary != "the trust policy of arn:aws:iam::123456789012:role/carts allows pods.eks.amazonaws.com sts:AssumeRole and sts:TagSession" {
		t.Errorf("trust = %q", e.Steps[5].Summary)
	}
	if !strings.Contains(e.Steps[6].Summary, "with external ID ext-1") {
		t.Errorf("target = %q", e.Steps[6].Summary)
	}
	get, put := e.Decisions[0], e.Decisions[1]
	if get.Decision != "allowed" || len(get.Statements) != 1 || get.Statements[0] != "identity-based policy #0 statement 0 Allow (line 1, column 38)" {
		t.Errorf("GetItem = %+v", get)
	}
	wantMsg := "User: arn:aws:sts::123456789012:assumed-role/target/eks-eks-worksh-carts-new-00000000-0000-4000-8000-000000000000 is not authorized to perform: dynamodb:PutItem on resource: " + table + " because no identity-based policy allows the dynamodb:PutItem action"
	if put.Decision != "implicitDeny" || put.Message != wantMsg || put.Cause != CauseNoIdentityAllow {
		t.Errorf("PutItem = %+v", put)
	}
	out := text(t, e)
	for _, s := range []string{"1. webhook     [ok] the webhook would mutate pods of carts/carts", "kubernetes-pod-name=carts-new", "kubernetes-pod-uid=uid-new", "[ok] pod carts-new (uid uid-new, service account carts): mutated by the webhook", "AWS says: " + wantMsg, "Result: pods of this service account get credentials."} {
		if !strings.Contains(out, s) {
			t.Errorf("text lacks %q:\n%s", s, out)
		}
	}
}

// TestChainCrossAccount: a target role in another hosted account. Its
// trust policy naming the association's role is not enough across
// accounts: the association's role's identity policies must allow
// sts:AssumeRole too; with both, the pod's session is in the target's
// account.
func TestChainCrossAccount(t *testing.T) {
	f := newFixture(t)
	other := authtest.OtherAccount
	f.env.AddRoleIn(t, other, "target", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:role/carts"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"sts:ExternalId":"ext-1"}}}]}`, 0)
	f.associate(t, "carts", "carts", "carts", func(a *store.Association) {
		a.TargetRoleARN, a.ExternalID = "arn:aws:iam::"+other+":role/target", "ext-1"
	})
	explain := func() *Explanation {
		e, err := f.x.Explain(context.Background(), &Request{Cluster: clusterName, Namespace: "carts", ServiceAccount: "carts", Pod: "carts-new"})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	if e := explain(); e.OK || e.Cause != CauseTargetTrustDenied {
		t.Fatalf("without the first role's identity policy: ok %v, cause %s\n%s", e.OK, e.Cause, text(t, e))
	}
	f.env.PutInline(t, store.KindRole, "carts", "assume-target", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"arn:aws:iam::`+other+`:role/target"}]}`)
	e := explain()
	if !e.OK {
		t.Fatalf("with both sides: %s\n%s", e.Cause, text(t, e))
	}
	last := e.Steps[len(e.Steps)-1]
	if !strings.Contains(last.Summary, "arn:aws:sts::"+other+":assumed-role/target/") {
		t.Errorf("session step %q, want account %s's session", last.Summary, other)
	}
}
