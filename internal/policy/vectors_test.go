package policy

import (
	"fmt"
	"testing"

	"github.com/podid/podid/internal/policy/vectortest"
)

// The vectors (testdata/vectors/*.json and testdata/validate/*.json) are
// read and their defaults applied by package vectortest, which the
// end-to-end tests share.

func loadVectorFiles(t testing.TB) []*vectortest.File {
	t.Helper()
	files, err := vectortest.Load()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func loadValidateFiles(t testing.TB) []*vectortest.ValidateFile {
	t.Helper()
	files, err := vectortest.LoadValidate()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func parsePrincipalType(s string) (PrincipalType, error) {
	switch s {
	case "user":
		return PrincipalUser, nil
	case "root":
		return PrincipalRoot, nil
	case "role":
		return PrincipalRole, nil
	case "assumed-role":
		return PrincipalAssumedRole, nil
	case "federated-user":
		return PrincipalFederatedUser, nil
	case "service":
		return PrincipalService, nil
	case "web-identity":
		return PrincipalWebIdentity, nil
	case "anonymous":
		return PrincipalAnonymous, nil
	}
	return 0, fmt.Errorf("unknown principal type %q", s)
}

func parsePolicyType(s string) (PolicyType, error) {
	switch s {
	case "identity":
		return PolicyTypeIdentity, nil
	case "resource":
		return PolicyTypeResource, nil
	case "trust":
		return PolicyTypeTrust, nil
	case "boundary":
		return PolicyTypeBoundary, nil
	case "session":
		return PolicyTypeSession, nil
	case "none":
		return PolicyTypeNone, nil
	}
	return 0, fmt.Errorf("unknown policy type %q", s)
}

// resolved is a vector case made concrete.
type resolved struct {
	vc  vectortest.Case
	set *Set
	req *Request
}

// resolveCase compiles a resolved vector's policies into a Set and builds
// its Request.
func resolveCase(vf *vectortest.File, c vectortest.Case, eng *Engine) (*resolved, error) {
	r, err := vf.Resolve(c)
	if err != nil {
		return nil, err
	}
	compile := func(doc string) (*Compiled, error) {
		cp, err := eng.Compile(doc)
		if err != nil {
			return nil, fmt.Errorf("case %q: %w", c.Name, err)
		}
		return cp, nil
	}
	set := &Set{ResourceIsTrust: r.Trust}
	for _, doc := range r.Identity {
		cp, err := compile(doc)
		if err != nil {
			return nil, err
		}
		set.Identity = append(set.Identity, cp)
	}
	if r.ResourcePolicy != "" {
		if set.Resource, err = compile(r.ResourcePolicy); err != nil {
			return nil, err
		}
	}
	if r.Boundary != "" {
		if set.Boundary, err = compile(r.Boundary); err != nil {
			return nil, err
		}
	}
	for _, doc := range r.Session {
		cp, err := compile(doc)
		if err != nil {
			return nil, err
		}
		set.Session = append(set.Session, cp)
	}
	pr := r.Case.Principal
	pt, err := parsePrincipalType(pr.Type)
	if err != nil {
		return nil, err
	}
	req := &Request{Action: r.Case.Action, Resource: r.Case.Resource, ResourceAccount: r.Case.ResourceAccount, Context: NewContext(),
		Principal: Principal{Type: pt, ARN: pr.ARN, AccountID: pr.Account, RoleARN: pr.Role, CanonicalUser: pr.CanonicalUser}}
	for _, e := range r.Context {
		req.Context.Set(e.Key, e.Values...)
	}
	return &resolved{vc: r.Case, set: set, req: req}, nil
}

func TestVectors(t *testing.T) {
	eng := NewEngine(0)
	total := 0
	for _, vf := range loadVectorFiles(t) {
		seen := map[string]bool{}
		for i, c := range vf.Cases {
			total++
			name := fmt.Sprintf("%s/%03d_%s", vf.Name, i, c.Name)
			if seen[c.Name] {
				t.Errorf("%s: duplicate case name", name)
			}
			seen[c.Name] = true
			t.Run(name, func(t *testing.T) {
				r, err := resolveCase(vf, c, eng)
				if err != nil {
					t.Fatal(err)
				}
				checkVector(t, r)
			})
		}
	}
	if total < 400 {
		t.Errorf("only %d evaluation vectors; the issue asks for at least 400", total)
	}
	t.Logf("%d evaluation vectors", total)
}

func checkVector(t *testing.T, r *resolved) {
	t.Helper()
	vc := r.vc
	d := Evaluate(r.set, r.req)
	if d.Result.String() != vc.Expect {
		t.Errorf("rule %q: got %v (by %v, policy %d, statement %d), want %s\n%s", vc.Rule, d.Result, d.By, d.Policy, d.Statement, vc.Expect, Explain(r.set, r.req))
		return
	}
	if vc.By != "" {
		want, err := parsePolicyType(vc.By)
		if err != nil {
			t.Fatal(err)
		}
		if d.By != want {
			t.Errorf("rule %q: decided by %v, want %v", vc.Rule, d.By, want)
		}
	}
	if vc.Statement != nil && d.Statement != *vc.Statement {
		t.Errorf("rule %q: deciding statement %d, want %d", vc.Rule, d.Statement, *vc.Statement)
	}
	if vc.Message != "" {
		arn := r.req.Principal.ARN
		if got := d.DenialMessage(arn, r.req.Action, r.req.Resource); got != vc.Message {
			t.Errorf("rule %q: message\n got  %q\n want %q", vc.Rule, got, vc.Message)
		}
	}
	e := Explain(r.set, r.req)
	if e.Decision != d {
		t.Errorf("Explain decided %+v, Evaluate %+v", e.Decision, d)
	}
	for _, want := range vc.Explain {
		layer, err := parsePolicyType(want.Layer)
		if err != nil {
			t.Fatal(err)
		}
		var got *StatementTrace
		for i := range e.Statements {
			s := &e.Statements[i]
			if s.Layer == layer && s.Policy == want.Policy && s.Statement == want.Statement {
				got = s
			}
		}
		if got == nil {
			t.Errorf("no trace for %s #%d statement %d", want.Layer, want.Policy, want.Statement)
			continue
		}
		if want.Matched != nil && got.Matched != *want.Matched {
			t.Errorf("trace %s #%d/%d matched=%v, want %v", want.Layer, want.Policy, want.Statement, got.Matched, *want.Matched)
		}
		if want.Mismatch != "" && got.Mismatch != want.Mismatch {
			t.Errorf("trace %s #%d/%d mismatch=%q, want %q", want.Layer, want.Policy, want.Statement, got.Mismatch, want.Mismatch)
		}
		if want.Key != "" && got.ConditionKey != want.Key {
			t.Errorf("trace %s #%d/%d key=%q, want %q", want.Layer, want.Policy, want.Statement, got.ConditionKey, want.Key)
		}
		if want.Operator != "" && got.ConditionOperator != want.Operator {
			t.Errorf("trace %s #%d/%d operator=%q, want %q", want.Layer, want.Policy, want.Statement, got.ConditionOperator, want.Operator)
		}
		if want.Principal != "" && got.PrincipalMatch != want.Principal {
			t.Errorf("trace %s #%d/%d principal=%q, want %q", want.Layer, want.Policy, want.Statement, got.PrincipalMatch, want.Principal)
		}
	}
}

func parseKind(s string) (Kind, error) {
	for k := KindManaged; k <= KindBoundary; k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown kind %q", s)
}

func TestValidateVectors(t *testing.T) {
	total := 0
	for _, vf := range loadValidateFiles(t) {
		base := vf.Name
		for i, c := range vf.Cases {
			kinds := c.AllKinds()
			if len(kinds) == 0 {
				t.Errorf("%s/%s: no kind", base, c.Name)
			}
			for _, ks := range kinds {
				total++
				t.Run(fmt.Sprintf("%s/%03d_%s/%s", base, i, c.Name, ks), func(t *testing.T) {
					if c.Rule == "" {
						t.Fatal("case has no rule")
					}
					kind, err := parseKind(ks)
					if err != nil {
						t.Fatal(err)
					}
					opts := ValidateOptions{TrustPolicyMaxSize: c.TrustMax, Partition: c.Partition}
					if c.Exists != nil {
						exists := c.Exists
						opts.PrincipalExists = func(arn string) bool {
							for _, e := range exists {
								if e == arn {
									return true
								}
							}
							return false
						}
					}
					doc := c.Document()
					err = ValidateWith(doc, kind, opts)
					if c.Valid {
						if err != nil {
							t.Fatalf("rule %q: want valid, got %v", c.Rule, err)
						}
						if _, err := Compile(doc); err != nil {
							t.Fatalf("valid document does not compile: %v", err)
						}
						return
					}
					var ve *ValidationError
					if err == nil {
						t.Fatalf("rule %q: want %s %q, got valid", c.Rule, c.Code, c.Message)
					}
					ve, ok := err.(*ValidationError)
					if !ok {
						t.Fatalf("error %T is not *ValidationError", err)
					}
					code := c.Code
					if code == "" {
						code = CodeMalformed
					}
					if ve.Code != code || ve.Message != c.Message {
						t.Errorf("rule %q:\n got  %s %q\n want %s %q", c.Rule, ve.Code, ve.Message, code, c.Message)
					}
				})
			}
		}
	}
	t.Logf("%d validation vectors", total)
}
