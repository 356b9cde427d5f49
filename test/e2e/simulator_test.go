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

	"github.com/podid/podid/internal/policy/vectortest"
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

// loadSimVectors resolves the policy engine's vectors (read and defaulted
// by vectortest, as the engine's own tests read them) into
// SimulateCustomPolicy calls.
func loadSimVectors(t *testing.T) []simVector {
	t.Helper()
	files, err := vectortest.Load()
	if err != nil {
		t.Fatalf("vectors: %v", err)
	}
	decisions := map[string]string{"Allow": "allowed", "ExplicitDeny": "explicitDeny", "ImplicitDeny": "implicitDeny"}
	var out []simVector
	for _, vf := range files {
		for _, c := range vf.Cases {
			v := simVector{name: vf.Name + "/" + c.Name, want: decisions[c.Expect]}
			if v.want == "" {
				t.Fatalf("%s: expect %q", v.name, c.Expect)
			}
			r, err := vf.Resolve(c)
			if err != nil {
				t.Fatalf("%s: %v", v.name, err)
			}
			req := map[string]any{"ActionNames": []string{r.Case.Action}, "ResourceArns": []string{r.Case.Resource}}
			if r.ResourcePolicy != "" {
				req["ResourcePolicy"] = r.ResourcePolicy
			}
			if r.Boundary != "" {
				req["PermissionsBoundaryPolicyInputList"] = []string{r.Boundary}
			}
			if len(r.Session) > 0 {
				v.reason = "session policies: the simulator has no parameter for a session's policies"
			}
			// PolicyInputList is required; a caller with none (root, or a
			// resource-policy-only case) gets a policy that allows nothing
			// the vectors ask about.
			identity := r.Identity
			if len(identity) == 0 {
				identity = []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"podid:NoAction","Resource":"arn:aws:podid:::none"}]}`}
			}
			req["PolicyInputList"] = identity
			pr := r.Case.Principal
			switch {
			case pr.CanonicalUser != "":
				v.reason = "S3 canonical-user callers: CallerArn has no form for them"
			case pr.Type == "assumed-role" && pr.Role != assumedRoleARN(pr.ARN):
				v.reason = "a session whose role has a path (or lives in another account): the session ARN does not carry it"
			case pr.Account != "" && !strings.Contains(pr.ARN, ":"+pr.Account+":"):
				v.reason = "a caller whose account differs from its ARN's"
			}
			req["CallerArn"] = pr.ARN
			owner := r.Case.ResourceAccount
			if owner == "" {
				owner = pr.Account
			}
			if owner != "" {
				req["ResourceOwner"] = "arn:aws:iam::" + owner + ":root"
			}
			var entries []map[string]any
			for _, e := range r.Context {
				typ := "string"
				if e.List {
					typ = "stringList"
				}
				if len(e.Key) < 5 {
					v.reason = "a condition key shorter than the 5 characters AWS's ContextKeyName allows"
				}
				entries = append(entries, map[string]any{"ContextKeyName": e.Key, "ContextKeyValues": e.Values, "ContextKeyType": typ})
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
