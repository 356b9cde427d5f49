// Package vectortest is the one reader of the policy engine's test
// vectors (internal/policy/testdata): the evaluation vectors
// (vectors/*.json) and the validation vectors (validate/*.json). The
// engine's own tests and the end-to-end tests that replay the vectors
// against the server (the simulator, malformed documents) read them
// through it, so the format and its defaulting rules live in one place.
//
// An evaluation file holds named policies, defaults and cases. A case
// overrides the defaults field by field: its policies (set, policy or
// condition, taken together), version, principal, action, resource and
// resource account each replace the default's when given; context keys
// merge, and a null value removes a default key. Resolve applies those
// rules and turns a case into policy texts and context entries; it knows
// nothing of the engine (which imports this package in its tests).
package vectortest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Dir is the directory of the vectors (internal/policy/testdata),
// wherever the caller's tests run from.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("internal", "policy", "testdata")
	}
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

// File is one evaluation vector file.
type File struct {
	// Name is the file's base name without .json.
	Name        string                     `json:"-"`
	Description string                     `json:"description"`
	Policies    map[string]json.RawMessage `json:"policies"`
	Defaults    Case                       `json:"defaults"`
	Cases       []Case                     `json:"cases"`
}

// Set names the file's policies a case evaluates, by layer.
type Set struct {
	Identity []string `json:"identity"`
	Resource string   `json:"resource"`
	Trust    bool     `json:"trust"`
	Boundary string   `json:"boundary"`
	Session  []string `json:"session"`
}

// Principal is the case's caller.
type Principal struct {
	Type          string `json:"type"`
	ARN           string `json:"arn"`
	Account       string `json:"account"`
	Role          string `json:"role"`
	CanonicalUser string `json:"canonicalUser"`
}

// Trace is an expected statement trace of the engine's explanation.
type Trace struct {
	Layer     string `json:"layer"`
	Policy    int    `json:"policy"`
	Statement int    `json:"statement"`
	Matched   *bool  `json:"matched"`
	Mismatch  string `json:"mismatch"`
	Key       string `json:"key"`
	Operator  string `json:"operator"`
	Principal string `json:"principal"`
}

// Case is one evaluation vector (or a file's defaults).
type Case struct {
	Name            string                     `json:"name"`
	Rule            string                     `json:"rule"`
	Set             *Set                       `json:"set"`
	Policy          json.RawMessage            `json:"policy"`
	Condition       json.RawMessage            `json:"condition"`
	Version         string                     `json:"version"`
	Principal       *Principal                 `json:"principal"`
	Action          string                     `json:"action"`
	Resource        string                     `json:"resource"`
	ResourceAccount string                     `json:"resourceAccount"`
	Context         map[string]json.RawMessage `json:"context"`
	Expect          string                     `json:"expect"`
	By              string                     `json:"by"`
	Statement       *int                       `json:"statement"`
	Message         string                     `json:"message"`
	Explain         []Trace                    `json:"explain"`
}

// ContextEntry is one request context key with its values. List is true
// when the vector gives a JSON list (a multivalued key), false for a
// single string.
type ContextEntry struct {
	Key    string
	Values []string
	List   bool
}

// Resolved is a case with the file's defaults applied and its policies
// turned into documents.
type Resolved struct {
	// Case is the merged case (Set, Policy and Condition, Version,
	// Principal, Action, Resource and ResourceAccount filled from the
	// defaults where the case left them out; Context as merged).
	Case Case
	// Identity are the identity-based policy documents: the case's
	// Condition wrapped in an allow-everything statement, its Policy, or
	// its Set's identity policies.
	Identity []string
	// ResourcePolicy is the resource-based policy ("" when none); Trust
	// says it is a role trust policy.
	ResourcePolicy string
	Trust          bool
	// Boundary is the permissions boundary ("" when none).
	Boundary string
	// Session are the session policies.
	Session []string
	// Context is the request context, sorted by key.
	Context []ContextEntry
}

// PolicyText returns a policy of the vectors as text: a JSON string is the
// document itself, anything else is the document.
func PolicyText(raw json.RawMessage) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// ConditionPolicy is the document a case's bare Condition stands for: one
// statement allowing everything under that condition, in version (2012-10-17
// when empty).
func ConditionPolicy(version string, condition json.RawMessage) string {
	if version == "" {
		version = "2012-10-17"
	}
	return `{"Version":"` + version + `","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":` + string(condition) + `}]}`
}

// decodeStrict decodes one JSON document, refusing unknown fields (a typo
// in a vector must not silently drop an expectation).
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// readDir decodes every dir/*.json into a T, sorted by file name.
func readDir[T any](dir string, named func(*T, string)) ([]*T, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("vectortest: no vector files in %s", dir)
	}
	sort.Strings(paths)
	out := make([]*T, 0, len(paths))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		v := new(T)
		if err := decodeStrict(raw, v); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		named(v, strings.TrimSuffix(filepath.Base(p), ".json"))
		out = append(out, v)
	}
	return out, nil
}

// Load reads every evaluation vector file of Dir()/vectors, sorted by name.
func Load() ([]*File, error) {
	return readDir(filepath.Join(Dir(), "vectors"), func(f *File, n string) { f.Name = n })
}

// Resolve applies the file's defaults to c and turns its policies and
// context into documents and entries. It fails on a case without a rule,
// an expectation, a principal or policies, on a policy name the file does
// not define, and on a context value that is neither a string nor a list
// of strings.
func (f *File) Resolve(c Case) (*Resolved, error) {
	d := f.Defaults
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
	merged := map[string]json.RawMessage{}
	for k, v := range d.Context {
		merged[k] = v
	}
	for k, v := range c.Context {
		if string(v) == "null" {
			delete(merged, k)
			continue
		}
		merged[k] = v
	}
	c.Context = merged
	switch {
	case c.Rule == "":
		return nil, fmt.Errorf("case %q has no rule", c.Name)
	case c.Expect == "":
		return nil, fmt.Errorf("case %q has no expect", c.Name)
	case c.Principal == nil:
		return nil, fmt.Errorf("case %q has no principal", c.Name)
	}

	r := &Resolved{Case: c}
	named := func(name string) (string, error) {
		raw, ok := f.Policies[name]
		if !ok {
			return "", fmt.Errorf("case %q: unknown policy %q", c.Name, name)
		}
		return PolicyText(raw), nil
	}
	switch {
	case c.Condition != nil:
		r.Identity = []string{ConditionPolicy(c.Version, c.Condition)}
	case c.Policy != nil:
		r.Identity = []string{PolicyText(c.Policy)}
	case c.Set != nil:
		for _, n := range c.Set.Identity {
			doc, err := named(n)
			if err != nil {
				return nil, err
			}
			r.Identity = append(r.Identity, doc)
		}
		if c.Set.Resource != "" {
			doc, err := named(c.Set.Resource)
			if err != nil {
				return nil, err
			}
			r.ResourcePolicy = doc
		}
		r.Trust = c.Set.Trust
		if c.Set.Boundary != "" {
			doc, err := named(c.Set.Boundary)
			if err != nil {
				return nil, err
			}
			r.Boundary = doc
		}
		for _, n := range c.Set.Session {
			doc, err := named(n)
			if err != nil {
				return nil, err
			}
			r.Session = append(r.Session, doc)
		}
	default:
		return nil, fmt.Errorf("case %q has no policies", c.Name)
	}

	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var one string
		var many []string
		switch raw := merged[k]; {
		case json.Unmarshal(raw, &one) == nil:
			r.Context = append(r.Context, ContextEntry{Key: k, Values: []string{one}})
		case json.Unmarshal(raw, &many) == nil:
			r.Context = append(r.Context, ContextEntry{Key: k, Values: many, List: true})
		default:
			return nil, fmt.Errorf("case %q: context %q: want a string or a list of strings", c.Name, k)
		}
	}
	return r, nil
}

// ValidateFile is one validation vector file.
type ValidateFile struct {
	// Name is the file's base name without .json.
	Name        string         `json:"-"`
	Description string         `json:"description"`
	Cases       []ValidateCase `json:"cases"`
}

// ValidateCase is one validation vector: a document, the policy kinds it
// is validated as, and the verdict (valid, or AWS's code and message).
type ValidateCase struct {
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

// AllKinds is Kinds with Kind appended when set.
func (c ValidateCase) AllKinds() []string {
	if c.Kind == "" {
		return c.Kinds
	}
	return append(append([]string(nil), c.Kinds...), c.Kind)
}

// Document is the case's document as text.
func (c ValidateCase) Document() string { return PolicyText(c.Doc) }

// LoadValidate reads every validation vector file of Dir()/validate,
// sorted by name.
func LoadValidate() ([]*ValidateFile, error) {
	return readDir(filepath.Join(Dir(), "validate"), func(f *ValidateFile, n string) { f.Name = n })
}
