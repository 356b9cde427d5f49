package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// workshopStep is one command the walkthrough printed and its output.
type workshopStep struct {
	Command string
	Output  string
}

// parseWalkthrough splits the walkthrough's output into the commands it
// printed ("$ …") and what followed each, up to the next command or
// heading ("# …").
func parseWalkthrough(out string) (preamble string, steps []workshopStep) {
	var cur *workshopStep
	var pre strings.Builder
	for _, line := range strings.SplitAfter(out, "\n") {
		switch {
		case strings.HasPrefix(line, "$ "):
			steps = append(steps, workshopStep{Command: strings.TrimSpace(line[2:])})
			cur = &steps[len(steps)-1]
		case strings.HasPrefix(line, "# ") || strings.TrimSpace(line) == "":
			if cur == nil {
				pre.WriteString(line)
			}
			cur = nil
		case cur != nil:
			cur.Output += line
		default:
			pre.WriteString(line)
		}
	}
	return pre.String(), steps
}

func jsonOf(t *testing.T, s workshopStep) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s.Output), &m); err != nil {
		t.Fatalf("%s: output is not a JSON object: %v\n%s", s.Command, err, s.Output)
	}
	return m
}

// TestWorkshopWalkthrough runs what `make workshop` runs after building
// podid (examples/eks-workshop/walkthrough.sh: podid dev --fresh, the
// workshop script, Ctrl-C) and checks every printed command's output,
// field by field.
func TestWorkshopWalkthrough(t *testing.T) {
	need(t, toolAWSCLI)
	npmScript(t, "dynalite/cli.js") // the carts table's DynamoDB
	t.Parallel()
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../../examples/eks-workshop/walkthrough.sh")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + tmp, "PODID=" + podidBin}
	for _, k := range []string{"PYENV_ROOT", "PYENV_VERSION", "PYTHONPATH"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out // one stream, in order
	if err := cmd.Run(); err != nil {
		t.Fatalf("walkthrough: %v\n%s", err, out.String())
	}
	t.Logf("walkthrough output:\n%s", out.String())
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the walkthrough left %d entries in TMPDIR (e.g. %s)", len(left), left[0].Name())
	}

	pre, steps := parseWalkthrough(out.String())
	ready := regexp.MustCompile(`(?m)^# podid dev is ready in [0-9.]+m?s: cluster eks-workshop \(agent (http://127\.0\.0\.1:[0-9]+/v1/credentials)\) at (http://127\.0\.0\.1:[0-9]+) \(account 123456789012, region us-west-2\)$`).
		FindStringSubmatch(out.String())
	if ready == nil {
		t.Fatalf("no ready line in the output; preamble: %q", pre)
	}
	agentURL, endpoint := ready[1], ready[2]
	gwLine := regexp.MustCompile(`(?m)^# The gateway is at (http://127\.0\.0\.1:[0-9]+); send a pod's DynamoDB calls through it with: podid exec -n NAMESPACE -s SERVICE-ACCOUNT --env AWS_ENDPOINT_URL_DYNAMODB=(http://127\.0\.0\.1:[0-9]+) -- COMMAND$`).
		FindStringSubmatch(out.String())
	if gwLine == nil || gwLine[1] != gwLine[2] {
		t.Fatalf("no gateway line in the output; preamble: %q", pre)
	}
	gw := gwLine[1]
	inPod := "podid exec -n carts -s carts --env AWS_ENDPOINT_URL_DYNAMODB=" + gw + " -- aws dynamodb "

	const (
		acct      = "123456789012"
		policyARN = "arn:aws:iam::" + acct + ":policy/eks-workshop-carts-dynamo"
		roleARN   = "arn:aws:iam::" + acct + ":role/eks-workshop-carts-dynamo"
	)
	trust := map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"Service": "pods.eks.amazonaws.com"}, "Action": []any{"sts:AssumeRole", "sts:TagSession"},
	}}}
	document := map[string]any{"Statement": []any{map[string]any{
		"Action": "dynamodb:*", "Effect": "Allow", "Sid": "AllAPIActionsOnCart",
		"Resource": []any{"arn:aws:dynamodb:us-west-2:" + acct + ":table/eks-workshop-carts", "arn:aws:dynamodb:us-west-2:" + acct + ":table/eks-workshop-carts/index/*"},
	}}, "Version": "2012-10-17"}
	var roleID string

	checks := []struct {
		command string
		check   func(t *testing.T, s workshopStep)
	}{
		{"aws iam create-policy --policy-name eks-workshop-carts-dynamo --policy-document file://carts-dynamo-policy.json", func(t *testing.T, s workshopStep) {
			p := jsonOf(t, s)["Policy"].(map[string]any)
			id, _ := p["PolicyId"].(string)
			if p["PolicyName"] != "eks-workshop-carts-dynamo" || p["Arn"] != policyARN || p["Path"] != "/" || p["DefaultVersionId"] != "v1" ||
				p["AttachmentCount"] != 0.0 || p["IsAttachable"] != true || !regexp.MustCompile(`^ANPA[A-Z2-7]{17}$`).MatchString(id) {
				t.Errorf("policy %v", p)
			}
		}},
		{"aws iam create-role --role-name eks-workshop-carts-dynamo --assume-role-policy-document file://carts-dynamo-trust.json", func(t *testing.T, s workshopStep) {
			r := jsonOf(t, s)["Role"].(map[string]any)
			roleID, _ = r["RoleId"].(string)
			if r["RoleName"] != "eks-workshop-carts-dynamo" || r["Arn"] != roleARN || r["Path"] != "/" || r["MaxSessionDuration"] != 3600.0 ||
				!regexp.MustCompile(`^AROA[A-Z2-7]{17}$`).MatchString(roleID) || !reflect.DeepEqual(r["AssumeRolePolicyDocument"], trust) {
				t.Errorf("role %v", r)
			}
		}},
		{"aws iam attach-role-policy --role-name eks-workshop-carts-dynamo --policy-arn " + policyARN, func(t *testing.T, s workshopStep) {
			if s.Output != "" {
				t.Errorf("output %q, want none", s.Output)
			}
		}},
		{"aws eks create-addon --cluster-name eks-workshop --addon-name eks-pod-identity-agent", func(t *testing.T, s workshopStep) {
			a := jsonOf(t, s)["addon"].(map[string]any)
			arn, _ := a["addonArn"].(string)
			created, _ := a["createdAt"].(float64)
			if a["addonName"] != "eks-pod-identity-agent" || a["clusterName"] != "eks-workshop" || a["status"] != "CREATING" ||
				a["addonVersion"] != "v1.1.0-eksbuild.1" || !reflect.DeepEqual(a["health"], map[string]any{"issues": []any{}}) ||
				!reflect.DeepEqual(a["tags"], map[string]any{}) || created < 1.7e9 || a["modifiedAt"] != a["createdAt"] ||
				!regexp.MustCompile(`^arn:aws:eks:us-west-2:`+acct+`:addon/eks-workshop/eks-pod-identity-agent/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(arn) {
				t.Errorf("addon %v", a)
			}
			if len(a) != 9 {
				t.Errorf("addon has %d members, want the workshop's 9: %v", len(a), a)
			}
		}},
		{"aws eks wait addon-active --cluster-name eks-workshop --addon-name eks-pod-identity-agent", func(t *testing.T, s workshopStep) {
			if s.Output != "(podid dev's agent serves the cluster on loopback; there is no DaemonSet to list)\n" {
				t.Errorf("output %q, want only the note after the silent wait", s.Output)
			}
		}},
		{"podid exec -n carts -s carts -- aws sts get-caller-identity", func(t *testing.T, s workshopStep) {
			want := `podid: no Pod Identity association for service account carts/carts of cluster eks-workshop, so its pods get no AWS credentials.
EKS Auth answered ResourceNotFoundException: No Pod Identity Association found for cluster eks-workshop, namespace carts and service account carts.
Create one with a role that trusts pods.eks.amazonaws.com:
  aws eks create-pod-identity-association --cluster-name eks-workshop --namespace carts --service-account carts --role-arn arn:aws:iam::123456789012:role/ROLE-NAME
The whole chain: podid explain --cluster eks-workshop --namespace carts --service-account carts
`
			if s.Output != want {
				t.Errorf("before the association:\n%s\nwant\n%s", s.Output, want)
			}
		}},
		{"aws iam get-policy-version --version-id v1 --policy-arn " + policyARN + " --query PolicyVersion.Document", func(t *testing.T, s workshopStep) {
			if got := jsonOf(t, s); !reflect.DeepEqual(got, document) {
				t.Errorf("policy document %v, want %v", got, document)
			}
			if !strings.HasPrefix(s.Output, "{\n    \"Statement\": [") {
				t.Errorf("the document's key order is not kept:\n%s", s.Output)
			}
		}},
		{"aws iam get-role --query Role.AssumeRolePolicyDocument --role-name eks-workshop-carts-dynamo", func(t *testing.T, s workshopStep) {
			if got := jsonOf(t, s); !reflect.DeepEqual(got, trust) {
				t.Errorf("trust policy %v, want %v", got, trust)
			}
		}},
		{"aws eks create-pod-identity-association --cluster-name eks-workshop --role-arn " + roleARN + " --namespace carts --service-account carts", func(t *testing.T, s workshopStep) {
			a := jsonOf(t, s)["association"].(map[string]any)
			id, _ := a["associationId"].(string)
			if !regexp.MustCompile(`^a-[a-z0-9]{17}$`).MatchString(id) || a["associationArn"] != "arn:aws:eks:us-west-2:"+acct+":podidentityassociation/eks-workshop/"+id ||
				a["clusterName"] != "eks-workshop" || a["namespace"] != "carts" || a["serviceAccount"] != "carts" || a["roleArn"] != roleARN ||
				!reflect.DeepEqual(a["tags"], map[string]any{}) || a["createdAt"] != a["modifiedAt"] || a["disableSessionTags"] != false {
				t.Errorf("association %v", a)
			}
		}},
		{"podid exec -n carts -s carts -- env | grep AWS", func(t *testing.T, s workshopStep) {
			lines := strings.Split(strings.TrimSpace(s.Output), "\n")
			want := []string{
				"AWS_STS_REGIONAL_ENDPOINTS=regional",
				"AWS_DEFAULT_REGION=us-west-2",
				"AWS_REGION=us-west-2",
				"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + agentURL,
				"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=",
				"AWS_ENDPOINT_URL=" + endpoint,
				"AWS_CONFIG_FILE=/dev/null",
				"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
				"AWS_EC2_METADATA_DISABLED=true",
			}
			if len(lines) != len(want) {
				t.Fatalf("environment:\n%s\nwant the lines %q", s.Output, want)
			}
			for i, l := range lines {
				if w := want[i]; l != w && !(strings.HasSuffix(w, "_FILE=") && regexp.MustCompile(`^`+w+`/.+/podid-exec-[0-9]+/eks-pod-identity-token$`).MatchString(l)) {
					t.Errorf("line %d = %q, want %q", i, l, w)
				}
			}
		}},
		{"podid exec -n carts -s carts -- aws sts get-caller-identity", func(t *testing.T, s workshopStep) {
			id := jsonOf(t, s)
			arn := str(id, "Arn")
			m := regexp.MustCompile(`^arn:aws:sts::` + acct + `:assumed-role/eks-workshop-carts-dynamo/(eks-eks-worksh-carts-[a-z0-9]{4}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$`).FindStringSubmatch(arn)
			if m == nil || str(id, "Account") != acct || str(id, "UserId") != roleID+":"+m[1] || len(id) != 3 {
				t.Errorf("caller identity %v (role ID %s)", id, roleID)
			}
		}},
		// The workshop's ending: the carts table through podid's gateway
		// in front of dynalite, with podid's ARNs.
		{"env AWS_ENDPOINT_URL_DYNAMODB=" + gw + " aws dynamodb create-table --table-name eks-workshop-carts --attribute-definitions AttributeName=id,AttributeType=S AttributeName=customerId,AttributeType=S --key-schema AttributeName=id,KeyType=HASH --billing-mode PAY_PER_REQUEST --global-secondary-indexes IndexName=idx_global_customerId\\,KeySchema=\\[\\{AttributeName=customerId\\,KeyType=HASH\\}\\]\\,Projection=\\{ProjectionType=ALL\\} --query TableDescription.\\[TableName\\,TableArn\\]", func(t *testing.T, s workshopStep) {
			var got []string
			if err := json.Unmarshal([]byte(s.Output), &got); err != nil || !reflect.DeepEqual(got, []string{"eks-workshop-carts", "arn:aws:dynamodb:us-west-2:" + acct + ":table/eks-workshop-carts"}) {
				t.Errorf("create-table: %v %q", err, s.Output)
			}
		}},
		{inPod + `put-item --table-name eks-workshop-carts --item \{\"id\":\{\"S\":\"cart-1\"\}\,\"customerId\":\{\"S\":\"customer-1\"\}\}`, func(t *testing.T, s workshopStep) {
			if s.Output != "" {
				t.Errorf("put-item printed %q", s.Output)
			}
		}},
		{inPod + `get-item --table-name eks-workshop-carts --key \{\"id\":\{\"S\":\"cart-1\"\}\}`, func(t *testing.T, s workshopStep) {
			want := map[string]any{"Item": map[string]any{"id": map[string]any{"S": "cart-1"}, "customerId": map[string]any{"S": "customer-1"}}}
			if got := jsonOf(t, s); !reflect.DeepEqual(got, want) {
				t.Errorf("get-item %v, want %v", got, want)
			}
		}},
		{inPod + `query --table-name eks-workshop-carts --index-name idx_global_customerId --key-condition-expression customerId\ =\ :c --expression-attribute-values \{\":c\":\{\"S\":\"customer-1\"\}\} --query Items\[\].id.S`, func(t *testing.T, s workshopStep) {
			var got []string
			if err := json.Unmarshal([]byte(s.Output), &got); err != nil || !reflect.DeepEqual(got, []string{"cart-1"}) {
				t.Errorf("query on the index: %v %q", err, s.Output)
			}
		}},
		{inPod + "scan --table-name other-table", func(t *testing.T, s workshopStep) {
			m := regexp.MustCompile(`^An error occurred \(AccessDeniedException\) when calling the Scan operation: User: (arn:aws:sts::` + acct + `:assumed-role/eks-workshop-carts-dynamo/eks-eks-worksh-carts-[a-z0-9-]+) is not authorized to perform: dynamodb:Scan on resource: arn:aws:dynamodb:us-west-2:` + acct + `:table/other-table because no identity-based policy allows the dynamodb:Scan action\n$`).FindStringSubmatch(s.Output)
			if m == nil {
				t.Errorf("refusal on another table:\n%s", s.Output)
			}
		}},
	}
	// The same command can appear twice (exec before and after the
	// association): steps are matched in order.
	if len(steps) != len(checks) {
		var got []string
		for _, s := range steps {
			got = append(got, s.Command)
		}
		t.Fatalf("the walkthrough printed %d commands, want %d:\n%s", len(steps), len(checks), strings.Join(got, "\n"))
	}
	for i, c := range checks {
		s := steps[i]
		if s.Command != c.command {
			t.Errorf("command %d = %q, want %q", i, s.Command, c.command)
			continue
		}
		t.Run(fmt.Sprintf("%02d %s", i+1, strings.Join(strings.Fields(c.command)[:3], " ")), func(t *testing.T) { c.check(t, s) })
	}
}
