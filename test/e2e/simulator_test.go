package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// simulatorProgram calls SimulateCustomPolicy with boto3 for every request
// in the JSON file named by argv[1] and prints, per request, the decision
// or the error code.
const simulatorProgram = `
import boto3, botocore, json, sys
reqs = json.load(open(sys.argv[1]))
iam = boto3.client("iam")
out = []
for r in reqs:
    try:
        res = iam.simulate_custom_policy(**r)
        out.append(res["EvaluationResults"][0]["EvalDecision"])
    except botocore.exceptions.ClientError as e:
        out.append("error " + e.response["Error"]["Code"] + ": " + e.response["Error"]["Message"])
print(json.dumps(out))
`

// simVector is one evaluation vector of internal/policy made concrete.
type simVector struct {
	name    string
	reason  string         // why the simulator cannot express it ("" when it can)
	request map[string]any // SimulateCustomPolicy's parameters, boto3 style
	want    string         // allowed, explicitDeny, implicitDeny
}

// TestSimulatorMatchesPolicyVectors runs every evaluation vector of the
// policy engine (internal/policy/testdata/vectors) through
// SimulateCustomPolicy with boto3 against the real server and checks the
// decision against the vector's, which TestVectors checks against the
// engine. Vectors the simulator's parameters cannot express are listed
// with the reason.
func TestSimulatorMatchesPolicyVectors(t *testing.T) {
	t.Parallel()
	vectors := loadSimVectors(t)
	var runnable []simVector
	reasons := map[string]int{}
	for _, v := range vectors {
		if v.reason != "" {
			reasons[v.reason]++
			continue
		}
		runnable = append(runnable, v)
	}
	reqs := make([]map[string]any, len(runnable))
	for i, v := range runnable {
		reqs[i] = v.request
	}
	raw, err := json.Marshal(reqs)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "requests.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", simulatorProgram, path)
	cmd.Env = s.clientEnv(s.root())
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("boto3: %v\n%s", err, e.String())
	}
	var got []string
	if err := json.Unmarshal(o.Bytes(), &got); err != nil || len(got) != len(runnable) {
		t.Fatalf("boto3 output (%d results for %d requests): %v\n%s", len(got), len(runnable), err, o.String())
	}
	for i, v := range runnable {
		if got[i] != v.want {
			t.Errorf("%s: SimulateCustomPolicy says %s, the engine %s\nrequest: %v", v.name, got[i], v.want, v.request)
		}
	}
	keys := make([]string, 0, len(reasons))
	for r := range reasons {
		keys = append(keys, r)
	}
	sort.Strings(keys)
	listed := 0
	for _, r := range keys {
		listed += reasons[r]
		t.Logf("not expressible (%d): %s", reasons[r], r)
	}
	t.Logf("%d of %d vectors simulated with boto3, %d listed as not expressible", len(runnable), len(vectors), listed)
	if len(runnable) < len(vectors)*9/10 {
		t.Errorf("only %d of %d vectors simulated", len(runnable), len(vectors))
	}
}

// loadSimVectors resolves the policy engine's vectors (defaults merged as
// internal/policy's vectors_test.go does) into SimulateCustomPolicy calls.
func loadSimVectors(t *testing.T) []simVector {
	t.Helper()
	paths, err := filepath.Glob("../../internal/policy/testdata/vectors/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	sort.Strings(paths)
	type set struct {
		Identity []string `json:"identity"`
		Resource string   `json:"resource"`
		Trust    bool     `json:"trust"`
		Boundary string   `json:"boundary"`
		Session  []string `json:"session"`
	}
	type principal struct {
		Type          string `json:"type"`
		ARN           string `json:"arn"`
		Account       string `json:"account"`
		Role          string `json:"role"`
		CanonicalUser string `json:"canonicalUser"`
	}
	type vcase struct {
		Name            string                     `json:"name"`
		Set             *set                       `json:"set"`
		Policy          json.RawMessage            `json:"policy"`
		Condition       json.RawMessage            `json:"condition"`
		Version         string                     `json:"version"`
		Principal       *principal                 `json:"principal"`
		Action          string                     `json:"action"`
		Resource        string                     `json:"resource"`
		ResourceAccount string                     `json:"resourceAccount"`
		Context         map[string]json.RawMessage `json:"context"`
		Expect          string                     `json:"expect"`
	}
	type vfile struct {
		Policies map[string]json.RawMessage `json:"policies"`
		Defaults vcase                      `json:"defaults"`
		Cases    []vcase                    `json:"cases"`
	}
	text := func(raw json.RawMessage) string {
		var s string
		if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
			return s
		}
		return string(raw)
	}
	decisions := map[string]string{"Allow": "allowed", "ExplicitDeny": "explicitDeny", "ImplicitDeny": "implicitDeny"}
	var out []simVector
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var vf vfile
		if err := json.Unmarshal(raw, &vf); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		d := vf.Defaults
		for _, c := range vf.Cases {
			v := simVector{name: strings.TrimSuffix(filepath.Base(p), ".json") + "/" + c.Name, want: decisions[c.Expect]}
			if v.want == "" {
				t.Fatalf("%s: expect %q", v.name, c.Expect)
			}
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
			for k, val := range d.Context {
				ctxVals[k] = val
			}
			for k, val := range c.Context {
				if string(val) == "null" {
					delete(ctxVals, k)
					continue
				}
				ctxVals[k] = val
			}
			req := map[string]any{"ActionNames": []string{c.Action}, "ResourceArns": []string{c.Resource}}
			var identity []string
			switch {
			case c.Condition != nil:
				ver := c.Version
				if ver == "" {
					ver = "2012-10-17"
				}
				identity = []string{`{"Version":"` + ver + `","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":` + string(c.Condition) + `}]}`}
			case c.Policy != nil:
				identity = []string{text(c.Policy)}
			case c.Set != nil:
				for _, n := range c.Set.Identity {
					identity = append(identity, text(vf.Policies[n]))
				}
				if c.Set.Resource != "" {
					req["ResourcePolicy"] = text(vf.Policies[c.Set.Resource])
				}
				if c.Set.Boundary != "" {
					req["PermissionsBoundaryPolicyInputList"] = []string{text(vf.Policies[c.Set.Boundary])}
				}
				if len(c.Set.Session) > 0 {
					v.reason = "session policies: the simulator has no parameter for a session's policies"
				}
			}
			// PolicyInputList is required; a caller with none (root, or a
			// resource-policy-only case) gets a policy that allows nothing
			// the vectors ask about.
			if len(identity) == 0 {
				identity = []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"podid:NoAction","Resource":"arn:aws:podid:::none"}]}`}
			}
			req["PolicyInputList"] = identity
			pr := c.Principal
			switch {
			case pr == nil:
				t.Fatalf("%s: no principal", v.name)
			case pr.CanonicalUser != "":
				v.reason = "S3 canonical-user callers: CallerArn has no form for them"
			case pr.Type == "assumed-role" && pr.Role != assumedRoleARN(pr.ARN):
				v.reason = "a session whose role has a path (or lives in another account): the session ARN does not carry it"
			case pr.Account != "" && !strings.Contains(pr.ARN, ":"+pr.Account+":"):
				v.reason = "a caller whose account differs from its ARN's"
			}
			req["CallerArn"] = pr.ARN
			owner := c.ResourceAccount
			if owner == "" {
				owner = pr.Account
			}
			if owner != "" {
				req["ResourceOwner"] = "arn:aws:iam::" + owner + ":root"
			}
			keys := make([]string, 0, len(ctxVals))
			for k := range ctxVals {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var entries []map[string]any
			for _, k := range keys {
				var one string
				var many []string
				var vals []string
				typ := "string"
				switch {
				case json.Unmarshal(ctxVals[k], &one) == nil:
					vals = []string{one}
				case json.Unmarshal(ctxVals[k], &many) == nil:
					vals, typ = many, "stringList"
				default:
					t.Fatalf("%s: context %s", v.name, k)
				}
				if len(k) < 5 {
					v.reason = "a condition key shorter than the 5 characters AWS's ContextKeyName allows"
				}
				entries = append(entries, map[string]any{"ContextKeyName": k, "ContextKeyValues": vals, "ContextKeyType": typ})
			}
			if entries != nil {
				req["ContextEntries"] = entries
			}
			v.request = req
			out = append(out, v)
		}
	}
	return out
}

// assumedRoleARN is the role ARN (without path) of a session ARN.
func assumedRoleARN(session string) string {
	parts := strings.SplitN(session, ":", 6)
	if len(parts) != 6 {
		return ""
	}
	role, _, _ := strings.Cut(strings.TrimPrefix(parts[5], "assumed-role/"), "/")
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", parts[1], parts[4], role)
}
