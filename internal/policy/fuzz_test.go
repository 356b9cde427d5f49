package policy

import (
	"math/rand/v2"
	"os"
	"sort"
	"testing"
	"unicode/utf8"

	"github.com/podid/podid/internal/policy/vectortest"
)

// seedDocs returns every policy document of the test data: the seed corpus
// of both fuzz targets.
func seedDocs(tb testing.TB) []string {
	tb.Helper()
	var docs []string
	for _, vf := range loadVectorFiles(tb) {
		names := make([]string, 0, len(vf.Policies))
		for n := range vf.Policies {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			docs = append(docs, vectortest.PolicyText(vf.Policies[n]))
		}
		for _, c := range vf.Cases {
			if c.Policy != nil {
				docs = append(docs, vectortest.PolicyText(c.Policy))
			}
			if c.Condition != nil {
				docs = append(docs, vectortest.ConditionPolicy("", c.Condition))
			}
		}
	}
	for _, vf := range loadValidateFiles(tb) {
		for _, c := range vf.Cases {
			docs = append(docs, c.Document())
		}
	}
	raw, err := os.ReadFile("testdata/appendix_a.json")
	if err != nil {
		tb.Fatal(err)
	}
	return append(docs, string(raw))
}

var allKinds = []Kind{KindManaged, KindInline, KindTrust, KindResource, KindSession, KindBoundary}

// checkParse is the property FuzzParse checks for one document.
func checkParse(t *testing.T, doc string) {
	p, err := Parse(doc)
	if err != nil {
		ve, ok := err.(*ValidationError)
		if !ok || ve.Code != CodeMalformed || ve.Message == "" {
			t.Fatalf("Parse error %#v is not a MalformedPolicyDocument *ValidationError", err)
		}
	} else if p.Text != doc {
		t.Fatal("Policy.Text differs from the document")
	}
	for _, k := range allKinds {
		verr := Validate(doc, k)
		if verr == nil {
			if err != nil {
				t.Fatalf("Validate(%v) accepts a document Parse rejects: %v", k, err)
			}
			continue
		}
		if _, ok := verr.(*ValidationError); !ok {
			t.Fatalf("Validate(%v) error %T is not *ValidationError", k, verr)
		}
	}
	if n := NonWhitespaceLen(doc); n < 0 || n > utf8.RuneCountInString(doc) {
		t.Fatalf("NonWhitespaceLen %d out of range", n)
	}
	if err != nil {
		return
	}
	c := CompilePolicy(p)
	ctx := NewContext()
	ctx.Set("aws:username", "alice")
	ctx.Set("aws:SourceIp", "10.1.2.3")
	req := &Request{Principal: Principal{Type: PrincipalUser, ARN: "arn:aws:iam::123456789012:user/alice", AccountID: "123456789012"},
		Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: ctx}
	set := &Set{Identity: []*Compiled{c}, Resource: c, Boundary: c, Session: []*Compiled{c}}
	if d, e := Evaluate(set, req), Explain(set, req); d != e.Decision {
		t.Fatalf("Explain %+v differs from Evaluate %+v", e.Decision, d)
	}
}

// FuzzParse checks that no input makes the parser, the validator or the
// compiler panic, and that their answers agree.
func FuzzParse(f *testing.F) {
	for _, d := range seedDocs(f) {
		f.Add(d)
	}
	f.Add(`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLike":{"k":"${`)
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::${a:${b}}/${*}${?}${$}${}${x, 'd'}"}]}`)
	f.Add("{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"\\ud800\\udc00\\ud800x\",\"Resource\":\"*\"}]}")
	f.Fuzz(checkParse)
}

var fuzzPrincipals = []Principal{
	{Type: PrincipalUser, ARN: "arn:aws:iam::123456789012:user/alice", AccountID: "123456789012", UserName: "alice"},
	{Type: PrincipalAssumedRole, ARN: "arn:aws:sts::123456789012:assumed-role/app/s", AccountID: "123456789012", RoleARN: "arn:aws:iam::123456789012:role/app"},
	{Type: PrincipalService, ARN: "pods.eks.amazonaws.com"},
	{Type: PrincipalAnonymous, ARN: "anonymous"},
	{Type: PrincipalRoot, ARN: "arn:aws:iam::123456789012:root", AccountID: "123456789012"},
	{Type: PrincipalFederatedUser, ARN: "arn:aws:sts::123456789012:federated-user/f", AccountID: "123456789012"},
	{Type: PrincipalWebIdentity, ARN: "accounts.google.com"},
	{Type: PrincipalRole, ARN: "arn:aws:iam::123456789012:role/app", AccountID: "123456789012"},
}

// checkEvaluate is the property FuzzEvaluate checks.
func checkEvaluate(t *testing.T, doc, action, resource, key, value string, shape uint8) {
	c, err := Compile(doc)
	if err != nil {
		return
	}
	p := fuzzPrincipals[int(shape)%len(fuzzPrincipals)]
	set := &Set{}
	if shape&0x08 != 0 {
		set.Identity = []*Compiled{c}
	}
	if shape&0x10 != 0 {
		set.Resource = c
		set.ResourceIsTrust = shape&0x80 != 0
	}
	if shape&0x20 != 0 {
		set.Boundary = c
	}
	if shape&0x40 != 0 {
		set.Session = []*Compiled{c, nil}
	}
	ctx := NewContext()
	ctx.Set(key, value)
	ctx.Add(key, value+"2")
	ctx.SetPrincipalKeys(&p)
	req := &Request{Principal: p, Action: action, Resource: resource, Context: ctx}
	if shape&0x04 != 0 {
		req.ResourceAccount = "999999999999"
	}
	d := Evaluate(set, req)
	e := Explain(set, req)
	if d != e.Decision {
		t.Fatalf("Explain %+v differs from Evaluate %+v", e.Decision, d)
	}
	msg := d.DenialMessage(p.ARN, action, resource)
	if (msg == "") != (d.Result == Allow) {
		t.Fatalf("DenialMessage %q for %v", msg, d.Result)
	}
	if d.Statement >= 0 {
		found := false
		for _, s := range e.Statements {
			if s.Decisive {
				found = true
				if !s.Matched {
					t.Fatalf("decisive statement %+v did not match", s)
				}
				if (d.Result == ExplicitDeny) != (s.Effect == EffectDeny) {
					t.Fatalf("decisive statement effect %v for %v", s.Effect, d.Result)
				}
			}
		}
		if !found {
			t.Fatalf("no decisive statement in the explanation of %+v", d)
		}
	}
	_ = e.String()
}

// FuzzEvaluate checks that evaluation never panics and that Explain agrees
// with Evaluate for any document and request.
func FuzzEvaluate(f *testing.F) {
	actions := []string{"s3:GetObject", "sts:AssumeRole", "S3:PUTOBJECT", "*", ""}
	resources := []string{"arn:aws:s3:::b/k", "arn:aws:iam::123456789012:role/target", "*", "arn:aws:s3:::team-alice/x", "not-an-arn", "arn:a:b:c:d:e:f:g"}
	keys := []string{"aws:SourceIp", "aws:CurrentTime", "aws:TagKeys", "aws:PrincipalTag/team", "s3:prefix", "AWS:SECURETRANSPORT"}
	values := []string{"10.1.2.3", "2026-01-02T03:04:05Z", "a", "true", "", "1e3", "::ffff:10.0.0.1"}
	for i, d := range seedDocs(f) {
		f.Add(d, actions[i%len(actions)], resources[i%len(resources)], keys[i%len(keys)], values[i%len(values)], uint8(i*37))
	}
	f.Fuzz(checkEvaluate)
}

// TestMutatedDocuments runs both properties over a fixed number of
// deterministic mutations of the seed documents, so that plain `go test`
// explores beyond the seeds for a bounded amount of work.
func TestMutatedDocuments(t *testing.T) {
	docs := seedDocs(t)
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]":,*?$\ ${}aA0:/-tTzZ.e+` + "\x00\xff")
	tokens := []string{`"Version":"2012-10-17",`, `${aws:username}`, `"Condition":{}`, `null`, `[]`, `{}`, `"*"`, `"ForAllValues:StringLike"`, `\u0000`, `"NotPrincipal"`, `"Resource":[null]`}
	n := 4000
	if testing.Short() {
		n = 500
	}
	for i := 0; i < n; i++ {
		b := []byte(docs[rng.IntN(len(docs))])
		for m := rng.IntN(4) + 1; m > 0; m-- {
			if len(b) == 0 {
				b = append(b, '{')
			}
			pos := rng.IntN(len(b) + 1)
			switch rng.IntN(4) {
			case 0: // replace a byte
				if pos < len(b) {
					b[pos] = alphabet[rng.IntN(len(alphabet))]
				}
			case 1: // delete a run
				end := min(len(b), pos+rng.IntN(8))
				b = append(b[:pos], b[end:]...)
			case 2: // insert a token
				tok := tokens[rng.IntN(len(tokens))]
				b = append(b[:pos], append([]byte(tok), b[pos:]...)...)
			case 3: // duplicate a run
				end := min(len(b), pos+rng.IntN(16))
				run := append([]byte(nil), b[pos:end]...)
				b = append(b[:end], append(run, b[end:]...)...)
			}
		}
		doc := string(b)
		checkParse(t, doc)
		checkEvaluate(t, doc, "s3:GetObject", "arn:aws:s3:::b/k", "aws:username", "alice", uint8(rng.IntN(256)))
		if t.Failed() {
			t.Fatalf("failing document: %q", doc)
		}
	}
}
