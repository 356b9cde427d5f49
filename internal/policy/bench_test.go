package policy

import (
	"testing"

	"github.com/podid/podid/internal/cputime"
)

// benchRequest is one request of a benchmark scenario with its expected
// result (checked by TestEvaluateDoesNotAllocate, so a benchmark never
// measures a wrong answer).
type benchRequest struct {
	name string
	req  *Request
	want Result
}

type benchScenario struct {
	name     string
	set      *Set
	requests []benchRequest
}

// appendixAContext is the request context of iam-policy-semantics.md
// Appendix A.
func appendixAContext() *Context {
	ctx := NewContext()
	ctx.Set("aws:SecureTransport", "true")
	ctx.Set("aws:SourceIp", "10.1.2.3")
	ctx.Set("aws:CurrentTime", "2026-01-02T03:04:05Z")
	ctx.Set("aws:username", "alice")
	ctx.Set("aws:userid", "AIDAEXAMPLE")
	ctx.Set("aws:PrincipalType", "User")
	ctx.Set("aws:Referer", "https://www.example.com/page")
	ctx.Set("aws:UserAgent", "aws-sdk-go/2.0")
	return ctx
}

func benchScenarios(tb testing.TB) []benchScenario {
	tb.Helper()
	eng := NewEngine(0)
	compile := func(path string) *Compiled {
		c, err := eng.Compile(readFile(tb, path))
		if err != nil {
			tb.Fatal(err)
		}
		return c
	}

	alice := Principal{Type: PrincipalUser, ARN: "arn:aws:iam::123456789012:user/alice", AccountID: "123456789012"}
	actx := appendixAContext()
	a := benchScenario{name: "AppendixA", set: &Set{Identity: []*Compiled{compile("testdata/appendix_a.json")}}}
	for _, r := range []struct {
		name, object string
		want         Result
	}{
		{"team-alice", "team-alice/reports/q1.csv", Allow},
		{"team-bob", "team-bob/reports/q1.csv", ImplicitDeny},
		{"public-assets", "public-assets/reports/q1.csv", Allow},
		{"archive", "archive/reports/q1.csv", Allow},
	} {
		a.requests = append(a.requests, benchRequest{r.name,
			&Request{Principal: alice, Action: "s3:GetObject", Resource: "arn:aws:s3:::" + r.object, Context: actx}, r.want})
	}

	// A Pod Identity role session: six session tags, the DynamoDB ABAC
	// policy, and the role's trust policy for the AssumeRole step.
	const acct = "123456789000"
	session := Principal{Type: PrincipalAssumedRole, AccountID: acct,
		ARN:     "arn:aws:sts::" + acct + ":assumed-role/eks-workshop-carts-dynamo/eks-eks-worksh-carts-5f6-5af5e7ac-5754-49ea-b28f-2c2a2eb95fbb",
		RoleARN: "arn:aws:iam::" + acct + ":role/eks-workshop-carts-dynamo", UserID: "AROAXYZP66II6MSBPLOUU:eks-eks-worksh-carts-5f6"}
	pctx := NewContext()
	pctx.SetPrincipalKeys(&session)
	for k, v := range map[string]string{
		"eks-cluster-arn": "arn:aws:eks:us-west-2:" + acct + ":cluster/eks-workshop", "eks-cluster-name": "eks-workshop",
		"kubernetes-namespace": "carts", "kubernetes-service-account": "carts",
		"kubernetes-pod-name": "carts-5f6", "kubernetes-pod-uid": "0d1e2f3a-0000-4000-8000-000000000000",
	} {
		pctx.Set("aws:PrincipalTag/"+k, v)
	}
	pctx.Set("aws:SecureTransport", "true")
	pctx.Set("aws:SourceIp", "10.0.42.7")
	pctx.Set("aws:CurrentTime", "2026-01-02T03:04:05Z")
	table := "arn:aws:dynamodb:us-west-2:" + acct + ":table/"
	p := benchScenario{name: "PodIdentityDynamoDB", set: &Set{Identity: []*Compiled{compile("testdata/podidentity_dynamodb.json")}}}
	for _, r := range []struct {
		name, action, resource string
		want                   Result
	}{
		{"GetItem-carts", "dynamodb:GetItem", table + "eks-workshop-carts", Allow},
		{"Query-index", "dynamodb:Query", table + "eks-workshop-carts/index/idx_global_customerId", Allow},
		{"PutItem-namespace-table", "dynamodb:PutItem", table + "carts-archive", Allow},
		{"GetItem-other-table", "dynamodb:GetItem", table + "orders", ImplicitDeny},
		{"DeleteTable", "dynamodb:DeleteTable", table + "eks-workshop-carts", ExplicitDeny},
	} {
		p.requests = append(p.requests, benchRequest{r.name,
			&Request{Principal: session, Action: r.action, Resource: r.resource, Context: pctx}, r.want})
	}

	tctx := NewContext()
	for k, v := range map[string]string{"kubernetes-namespace": "carts", "kubernetes-service-account": "carts"} {
		tctx.Set("aws:RequestTag/"+k, v)
	}
	tctx.Set("aws:TagKeys", "eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-service-account", "kubernetes-pod-name", "kubernetes-pod-uid")
	trust, err := eng.Compile(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":["carts"],"aws:RequestTag/kubernetes-service-account":["carts"]}}}]}`)
	if err != nil {
		tb.Fatal(err)
	}
	tr := benchScenario{name: "PodIdentityTrust", set: &Set{Resource: trust, ResourceIsTrust: true}}
	pods := Principal{Type: PrincipalService, ARN: "pods.eks.amazonaws.com"}
	for _, action := range []string{"sts:AssumeRole", "sts:TagSession"} {
		tr.requests = append(tr.requests, benchRequest{action,
			&Request{Principal: pods, Action: action, Resource: "arn:aws:iam::" + acct + ":role/eks-workshop-carts-dynamo", Context: tctx}, Allow})
	}
	return []benchScenario{a, p, tr}
}

// BenchmarkEvaluate measures one decision per iteration for every request
// of every scenario: Appendix A (10 statements), the Pod Identity DynamoDB
// ABAC policy and the Pod Identity trust policy.
func BenchmarkEvaluate(b *testing.B) {
	for _, sc := range benchScenarios(b) {
		for _, r := range sc.requests {
			b.Run(sc.name+"/"+r.name, func(b *testing.B) {
				b.ReportAllocs()
				cpu := cputime.Start()
				for b.Loop() {
					Evaluate(sc.set, r.req)
				}
				cpu.Report(b)
			})
		}
	}
}

// BenchmarkEvaluateParallel is BenchmarkEvaluate/AppendixA/team-alice on
// every CPU (the Set and the Context are shared read-only).
func BenchmarkEvaluateParallel(b *testing.B) {
	sc := benchScenarios(b)[0]
	r := sc.requests[0]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			Evaluate(sc.set, r.req)
		}
	})
}

// BenchmarkParseCompile6KB parses and compiles a 6,100-character managed
// policy (15 statements with conditions and variables), without the cache.
func BenchmarkParseCompile6KB(b *testing.B) {
	doc := readFile(b, "testdata/policy_6k.json")
	if n := NonWhitespaceLen(doc); n < 6000 || n > ManagedPolicyMaxSize {
		b.Fatalf("fixture has %d characters", n)
	}
	if err := Validate(doc, KindManaged); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	cpu := cputime.Start()
	for b.Loop() {
		if _, err := Compile(doc); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}

// BenchmarkValidate6KB runs IAM's create-time validation on the same
// document.
func BenchmarkValidate6KB(b *testing.B) {
	doc := readFile(b, "testdata/policy_6k.json")
	b.ReportAllocs()
	cpu := cputime.Start()
	for b.Loop() {
		if err := Validate(doc, KindManaged); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}

// BenchmarkEngineCompileCached is a cache hit: hashing the text and a map
// lookup.
func BenchmarkEngineCompileCached(b *testing.B) {
	doc := readFile(b, "testdata/policy_6k.json")
	e := NewEngine(16)
	if _, err := e.Compile(doc); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := cputime.Start()
	for b.Loop() {
		e.Compile(doc)
	}
	cpu.Report(b)
}
