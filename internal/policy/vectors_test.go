package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Evaluation vectors live in testdata/vectors/*.json. A file holds named
// policies, defaults and cases; a case overrides the defaults field by
// field (context keys merge; a null value removes a key).
type vectorFile struct {
	Description string                     `json:"description"`
	Policies    map[string]json.RawMessage `json:"policies"`
	Defaults    vectorCase                 `json:"defaults"`
	Cases       []vectorCase               `json:"cases"`
}

type vectorSet struct {
	Identity []string `json:"identity"`
	Resource string   `json:"resource"`
	Trust    bool     `json:"trust"`
	Boundary string   `json:"boundary"`
	Session  []string `json:"session"`
}

type vectorPrincipal struct {
	Type          string `json:"type"`
	ARN           string `json:"arn"`
	Account       string `json:"account"`
	Role          string `json:"role"`
	CanonicalUser string `json:"canonicalUser"`
}

type vectorTrace struct {
	Layer     string `json:"layer"`
	Policy    int    `json:"policy"`
	Statement int    `json:"statement"`
	Matched   *bool  `json:"matched"`
	Mismatch  string `json:"mismatch"`
	Key       string `json:"key"`
	Operator  string `json:"operator"`
	Principal string `json:"principal"`
}

type vectorCase struct {
	Name            string                     `json:"name"`
	Rule            string                     `json:"rule"`
	Set             *vectorSet                 `json:"set"`
	Policy          json.RawMessage            `json:"policy"`
	Condition       json.RawMessage            `json:"condition"`
	Version         string                     `json:"version"`
	Principal       *vectorPrincipal           `json:"principal"`
	Action          string                     `json:"action"`
	Resource        string                     `json:"resource"`
	ResourceAccount string                     `json:"resourceAccount"`
	Context         map[string]json.RawMessage `json:"context"`
	Expect          string                     `json:"expect"`
	By              string                     `json:"by"`
	Statement       *int                       `json:"statement"`
	Message         string                     `json:"message"`
	Explain         []vectorTrace              `json:"explain"`
}

func loadVectorFiles(t testing.TB) map[string]*vectorFile {
	t.Helper()
	paths, err := filepath.Glob("testdata/vectors/*.json")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*vectorFile, len(paths))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var vf vectorFile
		if err := dec.Decode(&vf); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[filepath.Base(p)] = &vf
	}
	return out
}

// policyText returns a policy's text: a JSON string is taken as the
// document itself, anything else is the document.
func policyText(raw json.RawMessage) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
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
	name string
	vc   vectorCase
	set  *Set
	req  *Request
}

func resolveCase(vf *vectorFile, c vectorCase, eng *Engine) (*resolved, error) {
	d := vf.Defaults
	if c.Set == nil && c.Policy == nil && c.Condition == nil {
		c.Set, c.Policy, c.Condition = d.Set, d.Policy, d.Condition
	}
	if c.Version == "" {
		c.Version = d.Version
	}
	if c.Principal == nil {
		c.Principal = d.Principal
	}
	if c.Action == "" {
		c.Action = d.Action
	}
	if c.Resource == "" {
		c.Resource = d.Resource
	}
	if c.ResourceAccount == "" {
		c.ResourceAccount = d.ResourceAccount
	}
	ctxVals := map[string]json.RawMessage{}
	for k, v := range d.Context {
		ctxVals[k] = v
	}
	for k, v := range c.Context {
		if string(v) == "null" {
			delete(ctxVals, k)
			continue
		}
		ctxVals[k] = v
	}
	if c.Rule == "" {
		return nil, fmt.Errorf("case has no rule")
	}
	if c.Expect == "" {
		return nil, fmt.Errorf("case has no expect")
	}

	compile := func(name string) (*Compiled, error) {
		raw, ok := vf.Policies[name]
		if !ok {
			return nil, fmt.Errorf("unknown policy %q", name)
		}
		cp, err := eng.Compile(policyText(raw))
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", name, err)
		}
		return cp, nil
	}
	set := &Set{}
	switch {
	case c.Condition != nil:
		v := c.Version
		if v == "" {
			v = Version2012
		}
		doc := `{"Version":"` + v + `","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":` + string(c.Condition) + `}]}`
		cp, err := eng.Compile(doc)
		if err != nil {
			return nil, err
		}
		set.Identity = []*Compiled{cp}
	case c.Policy != nil:
		cp, err := eng.Compile(policyText(c.Policy))
		if err != nil {
			return nil, err
		}
		set.Identity = []*Compiled{cp}
	case c.Set != nil:
		for _, n := range c.Set.Identity {
			cp, err := compile(n)
			if err != nil {
				return nil, err
			}
			set.Identity = append(set.Identity, cp)
		}
		if c.Set.Resource != "" {
			cp, err := compile(c.Set.Resource)
			if err != nil {
				return nil, err
			}
			set.Resource = cp
		}
		set.ResourceIsTrust = c.Set.Trust
		if c.Set.Boundary != "" {
			cp, err := compile(c.Set.Boundary)
			if err != nil {
				return nil, err
			}
			set.Boundary = cp
		}
		for _, n := range c.Set.Session {
			cp, err := compile(n)
			if err != nil {
				return nil, err
			}
			set.Session = append(set.Session, cp)
		}
	default:
		return nil, fmt.Errorf("case has no policies")
	}

	req := &Request{Action: c.Action, Resource: c.Resource, ResourceAccount: c.ResourceAccount, Context: NewContext()}
	if c.Principal == nil {
		return nil, fmt.Errorf("case has no principal")
	}
	pt, err := parsePrincipalType(c.Principal.Type)
	if err != nil {
		return nil, err
	}
	req.Principal = Principal{Type: pt, ARN: c.Principal.ARN, AccountID: c.Principal.Account,
		RoleARN: c.Principal.Role, CanonicalUser: c.Principal.CanonicalUser}
	keys := make([]string, 0, len(ctxVals))
	for k := range ctxVals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		raw := ctxVals[k]
		var one string
		var many []string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			req.Context.Set(k, one)
		case json.Unmarshal(raw, &many) == nil:
			req.Context.Set(k, many...)
		default:
			return nil, fmt.Errorf("context %q: want string or list of strings", k)
		}
	}
	return &resolved{name: c.Name, vc: c, set: set, req: req}, nil
}

func TestVectors(t *testing.T) {
	files := loadVectorFiles(t)
	eng := NewEngine(0)
	total := 0
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, fn := range names {
		vf := files[fn]
		seen := map[string]bool{}
		for i, c := range vf.Cases {
			total++
			name := fmt.Sprintf("%s/%03d_%s", strings.TrimSuffix(fn, ".json"), i, c.Name)
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

// Validation vectors live in testdata/validate/*.json.
type validateFile struct {
	Description string         `json:"description"`
	Cases       []validateCase `json:"cases"`
}

type validateCase struct {
	Name      string          `json:"name"`
	Rule      string          `json:"rule"`
	Kind      string          `json:"kind"`
	Kinds     []string        `json:"kinds"`
	Doc       json.RawMessage `json:"doc"`
	Valid     bool            `json:"valid"`
	Code      string          `json:"code"`
	Message   string          `json:"message"`
	Exists    []string        `json:"exists"`
	TrustMax  int             `json:"trustMax"`
	Partition string          `json:"partition"`
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
	paths, err := filepath.Glob("testdata/validate/*.json")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var vf validateFile
		if err := dec.Decode(&vf); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		base := strings.TrimSuffix(filepath.Base(p), ".json")
		for i, c := range vf.Cases {
			kinds := c.Kinds
			if c.Kind != "" {
				kinds = append(kinds, c.Kind)
			}
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
					doc := policyText(c.Doc)
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
