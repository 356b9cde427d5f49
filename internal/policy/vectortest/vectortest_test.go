package vectortest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestResolveMergesDefaults(t *testing.T) {
	f := &File{
		Policies: map[string]json.RawMessage{
			"id":  json.RawMessage(`{"Version":"2012-10-17","Statement":[]}`),
			"res": json.RawMessage(`"{\"Version\":\"2012-10-17\",\"Statement\":[]}"`),
		},
		Defaults: Case{
			Set:       &Set{Identity: []string{"id"}},
			Principal: &Principal{Type: "user", ARN: "arn:aws:iam::111122223333:user/a", Account: "111122223333"},
			Action:    "s3:GetObject", Resource: "arn:aws:s3:::b/k",
			Context: map[string]json.RawMessage{"aws:SourceIp": json.RawMessage(`"10.0.0.1"`), "aws:TagKeys": json.RawMessage(`["a","b"]`)},
		},
	}
	// Defaults fill what a case leaves out.
	r, err := f.Resolve(Case{Name: "plain", Rule: "r", Expect: "Allow"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Case.Action != "s3:GetObject" || r.Case.Principal.ARN != "arn:aws:iam::111122223333:user/a" ||
		!reflect.DeepEqual(r.Identity, []string{`{"Version":"2012-10-17","Statement":[]}`}) {
		t.Fatalf("resolved = %+v", r)
	}
	want := []ContextEntry{{Key: "aws:SourceIp", Values: []string{"10.0.0.1"}}, {Key: "aws:TagKeys", Values: []string{"a", "b"}, List: true}}
	if !reflect.DeepEqual(r.Context, want) {
		t.Fatalf("context = %+v", r.Context)
	}

	// A case's own values win; its context merges, null removing a key;
	// its policies replace the default set as a whole.
	r, err = f.Resolve(Case{Name: "own", Rule: "r", Expect: "ImplicitDeny", Action: "s3:PutObject",
		Condition: json.RawMessage(`{"Bool":{"aws:SecureTransport":"true"}}`), Version: "2008-10-17",
		Set:     &Set{Resource: "res", Trust: true},
		Context: map[string]json.RawMessage{"aws:SourceIp": json.RawMessage(`null`), "aws:username": json.RawMessage(`"a"`)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Case.Action != "s3:PutObject" || r.Case.Resource != "arn:aws:s3:::b/k" {
		t.Fatalf("resolved = %+v", r.Case)
	}
	if len(r.Identity) != 1 || !strings.HasPrefix(r.Identity[0], `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool"`) {
		t.Fatalf("condition policy = %v", r.Identity)
	}
	if r.ResourcePolicy != "" || r.Trust {
		t.Fatalf("a condition case took the set too: %+v", r)
	}
	want = []ContextEntry{{Key: "aws:TagKeys", Values: []string{"a", "b"}, List: true}, {Key: "aws:username", Values: []string{"a"}}}
	if !reflect.DeepEqual(r.Context, want) {
		t.Fatalf("merged context = %+v", r.Context)
	}

	// A set with a resource policy given as a JSON string.
	r, err = f.Resolve(Case{Name: "set", Rule: "r", Expect: "Allow", Set: &Set{Resource: "res", Trust: true, Boundary: "id", Session: []string{"id"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ResourcePolicy != `{"Version":"2012-10-17","Statement":[]}` || !r.Trust || r.Boundary == "" || len(r.Session) != 1 || len(r.Identity) != 0 {
		t.Fatalf("set = %+v", r)
	}
}

func TestResolveRefuses(t *testing.T) {
	f := &File{Policies: map[string]json.RawMessage{}, Defaults: Case{Principal: &Principal{Type: "root"}}}
	for _, tc := range []struct {
		c    Case
		want string
	}{
		{Case{Name: "a", Expect: "Allow", Policy: json.RawMessage(`{}`)}, "no rule"},
		{Case{Name: "a", Rule: "r", Policy: json.RawMessage(`{}`)}, "no expect"},
		{Case{Name: "a", Rule: "r", Expect: "Allow"}, "no policies"},
		{Case{Name: "a", Rule: "r", Expect: "Allow", Set: &Set{Identity: []string{"ghost"}}}, `unknown policy "ghost"`},
		{Case{Name: "a", Rule: "r", Expect: "Allow", Policy: json.RawMessage(`{}`), Context: map[string]json.RawMessage{"k": json.RawMessage(`1`)}}, "want a string or a list of strings"},
	} {
		if _, err := f.Resolve(tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%+v) = %v, want an error with %q", tc.c, err, tc.want)
		}
	}
	noPrincipal := &File{}
	if _, err := noPrincipal.Resolve(Case{Name: "a", Rule: "r", Expect: "Allow", Policy: json.RawMessage(`{}`)}); err == nil || !strings.Contains(err.Error(), "no principal") {
		t.Errorf("Resolve without a principal = %v", err)
	}
}

// The vectors in the tree load strictly (unknown fields refused).
func TestLoad(t *testing.T) {
	files, err := Load()
	if err != nil || len(files) == 0 {
		t.Fatalf("Load = %d files, %v", len(files), err)
	}
	for _, f := range files {
		if f.Name == "" || strings.HasSuffix(f.Name, ".json") {
			t.Errorf("file name %q", f.Name)
		}
	}
	vfiles, err := LoadValidate()
	if err != nil || len(vfiles) == 0 {
		t.Fatalf("LoadValidate = %d files, %v", len(vfiles), err)
	}
	if err := decodeStrict([]byte(`{"cases":[],"typo":1}`), &File{}); err == nil {
		t.Error("an unknown field was accepted")
	}
}
