package policy

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestParseModel(t *testing.T) {
	doc := `{
  "Version": "2012-10-17",
  "Id": "x",
  "Statement": {
    "Sid": "One",
    "Effect": "Deny",
    "NotPrincipal": {"AWS": ["123456789012", "arn:aws:iam::123456789012:user/u"], "Service": "pods.eks.amazonaws.com"},
    "NotAction": "s3:*",
    "Resource": ["arn:aws:s3:::b", null],
    "Condition": {"Bool": {"aws:SecureTransport": false}, "NumericLessThan": {"s3:max-keys": [1, "2"]}}
  }
}`
	p, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	if p.Text != doc {
		t.Error("Text is not the original document")
	}
	want := &Policy{
		Text: doc, Version: Version2012, ID: "x", HasID: true,
		Statements: []Statement{{
			Sid: "One", HasSid: true, Effect: EffectDeny,
			Principal:    &PrincipalBlock{AWS: []string{"123456789012", "arn:aws:iam::123456789012:user/u"}, Service: []string{"pods.eks.amazonaws.com"}},
			NotPrincipal: true,
			Action:       []string{"s3:*"}, NotAction: true, HasAction: true,
			Resource: []string{"arn:aws:s3:::b"}, HasResource: true,
			Conditions: []Condition{
				{Operator: "Bool", Key: "aws:SecureTransport", Values: []string{"false"}},
				{Operator: "NumericLessThan", Key: "s3:max-keys", Values: []string{"1", "2"}},
			},
			rawEffect: "Deny", resourceNulls: 1,
			Offset:    strings.Index(doc, `"Statement": {`) + len(`"Statement": `),
			EndOffset: len(doc) - len("\n}"),
		}},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got  %+v\nwant %+v", p.Statements[0], want.Statements[0])
	}
	if !p.VariablesEnabled() {
		t.Error("VariablesEnabled false for 2012-10-17")
	}
}

// TestStatementPositions pins the positions the policy simulator reports:
// the opening and closing braces of each statement, lines and columns from
// 1, columns in characters.
func TestStatementPositions(t *testing.T) {
	doc := "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Sid\": \"é\", \"Effect\": \"Allow\", \"Action\": \"*\", \"Resource\": \"*\"},\n    {\n      \"Effect\": \"Deny\",\n      \"Action\": \"s3:*\",\n      \"Resource\": \"*\"\n    }\n  ]\n}"
	p, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][2]Position{
		{{Line: 4, Column: 5}, {Line: 4, Column: 67}}, // "é" is one column
		{{Line: 5, Column: 5}, {Line: 9, Column: 5}},
	} {
		start, end := p.StatementRange(i)
		if start != want[0] || end != want[1] {
			t.Errorf("statement %d: %+v–%+v, want %+v–%+v", i, start, end, want[0], want[1])
		}
	}
	c := CompilePolicy(p)
	e := Explain(&Set{Identity: []*Compiled{c}}, &Request{Principal: Principal{Type: PrincipalUser, ARN: "arn:aws:iam::111122223333:user/u", AccountID: "111122223333"}, Action: "s3:GetObject", Resource: "*"})
	if len(e.Statements) != 2 || e.Statements[1].Start != (Position{5, 5}) || e.Statements[1].End != (Position{9, 5}) || !e.Statements[1].Decisive {
		t.Errorf("Explain positions: %+v", e.Statements)
	}
	if got := p.Position(len(doc) + 10); got != (Position{Line: 11, Column: 2}) {
		t.Errorf("Position past the end = %+v", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ doc, msg string }{
		{`{"Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}`, "The policy failed legacy parsing"},
		{`{"Statement":[]}`, "Syntax errors in policy."},
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), "Syntax errors in policy."},
	} {
		_, err := Parse(tc.doc)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Code != CodeMalformed || ve.Message != tc.msg {
			t.Errorf("Parse(%.40q) = %v, want %s", tc.doc, err, tc.msg)
		}
	}
	// Parse accepts what only Validate rejects for some kinds.
	if _, err := Parse(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"x"}]}`); err != nil {
		t.Errorf("Parse rejects a kind-specific problem: %v", err)
	}
}

func TestValidateReturnsNilInterface(t *testing.T) {
	if err := Validate(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, KindManaged); err != nil {
		t.Fatalf("valid policy: %v", err)
	}
	if err := Validate(`{}`, Kind(99)); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

func TestSizeHelpers(t *testing.T) {
	if got := NonWhitespaceLen(" {\t\"a\" :\r\n \"é\" } "); got != 9 {
		t.Errorf("NonWhitespaceLen = %d, want 9", got)
	}
	for _, tc := range []struct {
		typ   string
		total int
		want  string
	}{
		{"role", 10240, ""},
		{"role", 10241, "LimitExceeded: Maximum policy size of 10240 bytes exceeded for role r"},
		{"user", 2049, "LimitExceeded: Maximum policy size of 2048 bytes exceeded for user r"},
		{"group", 5121, "LimitExceeded: Maximum policy size of 5120 bytes exceeded for group r"},
		{"group", 5120, ""},
	} {
		err := InlineSizeError(tc.typ, "r", tc.total)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("InlineSizeError(%s, %d) = %q, want %q", tc.typ, tc.total, got, tc.want)
		}
	}
	if !ValidCharset("{\"a\":\"caf\u00e9\"}\t\r\n") || ValidCharset("\u20ac") || ValidCharset("a\x01") || ValidCharset("\xff") {
		t.Error("ValidCharset")
	}
}

func TestContext(t *testing.T) {
	c := NewContext()
	c.Set("aws:PrincipalTag/Team", "blue")
	c.Add("AWS:principaltag/team", "red")
	if v, ok := c.Get("aws:principaltag/TEAM"); !ok || !reflect.DeepEqual(v, []string{"blue", "red"}) {
		t.Errorf("Get = %v %v", v, ok)
	}
	c.Set("aws:principaltag/team", "green")
	if v, _ := c.Get("aws:PrincipalTag/Team"); !reflect.DeepEqual(v, []string{"green"}) {
		t.Errorf("Set did not replace: %v", v)
	}
	c.Set("aws:TagKeys")
	if _, ok := c.Get("aws:TagKeys"); ok {
		t.Error("a key set without values is present")
	}
	c.Set("Schlüssel", "x")
	if _, ok := c.Get("SCHLÜSSEL"); !ok {
		t.Error("non-ASCII keys fold too")
	}
	c.Delete("aws:PrincipalTag/Team")
	if c.Len() != 1 {
		t.Errorf("Len = %d", c.Len())
	}
	c.Reset()
	if c.Len() != 0 {
		t.Error("Reset kept keys")
	}
	if allocs := testing.AllocsPerRun(100, func() {
		c.Reset()
		c.Set("aws:SourceIp", "10.0.0.1")
		c.Set("aws:TagKeys", "a", "b")
		c.Set("Schlüssel", "x")
	}); allocs != 0 {
		t.Errorf("reused Context allocates %v times", allocs)
	}
	var nilCtx *Context
	if _, ok := nilCtx.Get("x"); ok || nilCtx.Len() != 0 {
		t.Error("nil Context is not empty")
	}
}

func TestSetPrincipalKeys(t *testing.T) {
	c := NewContext()
	c.SetPrincipalKeys(&Principal{Type: PrincipalAssumedRole, ARN: "arn:aws:sts::1:assumed-role/r/s", AccountID: "1",
		RoleARN: "arn:aws:iam::1:role/p/r", UserID: "AROA1:s", UserName: "ignored"})
	want := map[string]string{"aws:PrincipalArn": "arn:aws:iam::1:role/p/r", "aws:PrincipalAccount": "1",
		"aws:PrincipalType": "AssumedRole", "aws:userid": "AROA1:s"}
	for k, v := range want {
		if got, _ := c.Get(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %v, want %s", k, got, v)
		}
	}
	if _, ok := c.Get("aws:username"); ok {
		t.Error("aws:username set for a role session")
	}
	c.Reset()
	c.SetPrincipalKeys(&Principal{Type: PrincipalUser, ARN: "arn:aws:iam::1:user/u", AccountID: "1", UserID: "AIDA1", UserName: "u"})
	if got, _ := c.Get("aws:username"); len(got) != 1 || got[0] != "u" {
		t.Errorf("aws:username = %v", got)
	}
}

func TestDenialMessages(t *testing.T) {
	const p, a, r = "arn:aws:iam::123456789012:user/alice", "iam:CreateRole", "arn:aws:iam::123456789012:role/x"
	head := "User: " + p + " is not authorized to perform: " + a + " on resource: " + r
	for _, tc := range []struct {
		d    Decision
		want string
	}{
		{Decision{Result: Allow, By: PolicyTypeIdentity}, ""},
		{Decision{Result: ImplicitDeny, By: PolicyTypeIdentity}, head + " because no identity-based policy allows the iam:CreateRole action"},
		{Decision{Result: ImplicitDeny, By: PolicyTypeBoundary}, head + " because no permissions boundary allows the iam:CreateRole action"},
		{Decision{Result: ImplicitDeny, By: PolicyTypeSession}, head + " because no session policy allows the iam:CreateRole action"},
		{Decision{Result: ImplicitDeny, By: PolicyTypeResource}, head + " because no resource-based policy allows the iam:CreateRole action"},
		{Decision{Result: ImplicitDeny, By: PolicyTypeTrust}, head},
		{Decision{Result: ExplicitDeny, By: PolicyTypeTrust}, head},
		{Decision{Result: ExplicitDeny, By: PolicyTypeIdentity}, head + " with an explicit deny in an identity-based policy"},
		{Decision{Result: ExplicitDeny, By: PolicyTypeResource}, head + " with an explicit deny in a resource-based policy"},
		{Decision{Result: ExplicitDeny, By: PolicyTypeBoundary}, head + " with an explicit deny in a permissions boundary"},
		{Decision{Result: ExplicitDeny, By: PolicyTypeSession}, head + " with an explicit deny in a session policy"},
	} {
		if got := tc.d.DenialMessage(p, a, r); got != tc.want {
			t.Errorf("%+v:\n got  %q\n want %q", tc.d, got, tc.want)
		}
	}
}

func TestExplainString(t *testing.T) {
	c, err := Compile(`{"Version":"2012-10-17","Statement":[
	 {"Sid":"Logs","Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalType":"User"}}},
	 {"Effect":"Deny","Action":"iam:*","Resource":"*"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	ctx := NewContext()
	ctx.Set("aws:PrincipalType", "AssumedRole")
	req := &Request{Principal: Principal{Type: PrincipalAssumedRole, ARN: "arn:aws:sts::1:assumed-role/r/s", AccountID: "1"},
		Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: ctx}
	got := Explain(&Set{Identity: []*Compiled{c}}, req).String()
	want := `ImplicitDeny (identity-based policy)
  identity-based policy #0 statement 0 "Logs" Allow: no match on Condition StringEquals aws:PrincipalType (request: ["AssumedRole"])
  identity-based policy #0 statement 1 Deny: no match on Action
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestEngineCache(t *testing.T) {
	e := NewEngine(2)
	doc := func(i int) string {
		return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"S%d","Effect":"Allow","Action":"*","Resource":"*"}]}`, i)
	}
	c0, err := e.Compile(doc(0))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := e.Compile(doc(0)); again != c0 {
		t.Error("same text compiled twice")
	}
	if _, err := e.Compile(`{`); err == nil {
		t.Error("bad document compiled")
	}
	e.Compile(doc(1))
	e.Compile(doc(0)) // 0 is now the most recent
	e.Compile(doc(2)) // evicts 1
	if e.Len() != 2 {
		t.Errorf("Len = %d, want 2", e.Len())
	}
	if again, _ := e.Compile(doc(0)); again != c0 {
		t.Error("recently used entry was evicted")
	}
	hits, misses := e.Stats()
	if hits != 3 || misses != 4 {
		t.Errorf("Stats = %d hits, %d misses; want 3, 4", hits, misses)
	}
	if c0.Hash() != CompilePolicy(c0.Policy()).Hash() || c0.Text() != doc(0) {
		t.Error("Hash/Text")
	}

	// Concurrent use (run with -race).
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				c, err := e.Compile(doc((g + i) % 5))
				if err != nil {
					t.Error(err)
					return
				}
				ctx := NewContext()
				req := &Request{Principal: Principal{Type: PrincipalUser, AccountID: "1"}, Action: "s3:GetObject", Resource: "*", Context: ctx}
				if d := Evaluate(&Set{Identity: []*Compiled{c}}, req); d.Result != Allow {
					t.Errorf("decision %v", d)
				}
			}
		}(g)
	}
	wg.Wait()
	if e.Len() > 2 {
		t.Errorf("cache grew to %d", e.Len())
	}
}

func TestEvaluateNil(t *testing.T) {
	if d := Evaluate(nil, &Request{}); d.Result != ImplicitDeny {
		t.Error("nil set")
	}
	if d := Evaluate(&Set{}, nil); d.Result != ImplicitDeny {
		t.Error("nil request")
	}
	if e := Explain(nil, nil); e.Result != ImplicitDeny || len(e.Statements) != 0 {
		t.Error("Explain nil")
	}
	c, _ := Compile(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::${aws:username}"}]}`)
	req := &Request{Principal: Principal{Type: PrincipalUser}, Action: "s3:GetObject", Resource: "arn:aws:s3:::x"}
	if d := Evaluate(&Set{Identity: []*Compiled{nil, c}}, req); d.Result != ImplicitDeny {
		t.Error("nil context: a variable must not resolve")
	}
}

// TestEvaluateDoesNotAllocate pins the hot-path property on the Appendix A
// scenario and the Pod Identity case. (It counts allocations; it does not
// time anything.)
func TestEvaluateDoesNotAllocate(t *testing.T) {
	for _, sc := range benchScenarios(t) {
		for _, r := range sc.requests {
			if allocs := testing.AllocsPerRun(200, func() { Evaluate(sc.set, r.req) }); allocs != 0 {
				t.Errorf("%s/%s: %v allocations per decision", sc.name, r.name, allocs)
			}
			if got := Evaluate(sc.set, r.req).Result; got != r.want {
				t.Errorf("%s/%s: %v, want %v", sc.name, r.name, got, r.want)
			}
		}
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{KindTrust.String(), "trust"}, {Kind(0).String(), "Kind(0)"},
		{EffectDeny.String(), "Deny"}, {Effect(9).String(), "Effect(9)"},
		{ExplicitDeny.String(), "ExplicitDeny"}, {Result(7).String(), "Result(7)"},
		{PolicyTypeBoundary.String(), "permissions boundary"}, {PolicyType(42).String(), "PolicyType(42)"},
		{PrincipalRoot.String(), "Account"}, {PrincipalType(99).String(), "PrincipalType(99)"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q != %q", tc.got, tc.want)
		}
	}
}

func readFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
