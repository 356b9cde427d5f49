package agentinstall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podid/podid/internal/eks"
	"github.com/podid/podid/internal/kubeapi"
	"github.com/podid/podid/internal/policy"
)

func TestDaemonSetHealth(t *testing.T) {
	ds := func(gen, observed int64, desired, ready, updated int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Status: appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: desired,
				NumberReady: ready, UpdatedNumberScheduled: updated},
		}
	}
	for _, tc := range []struct {
		name    string
		ds      *appsv1.DaemonSet
		serving bool
		issue   string // message of the one issue, "" for none
	}{
		{"all ready", ds(1, 1, 3, 3, 3), true, ""},
		{"spec not yet seen", ds(2, 1, 3, 3, 3), false, ""},
		{"one not ready", ds(1, 1, 3, 2, 3), false, "2 of 3 agent pods are ready and up to date."},
		{"rolling out", ds(2, 2, 3, 3, 1), false, "1 of 3 agent pods are ready and up to date."},
		{"no nodes", ds(1, 1, 0, 0, 0), false, "No node runs the agent: the DaemonSet schedules no pods."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := DaemonSetHealth(tc.ds)
			if h.Serving != tc.serving {
				t.Errorf("serving = %v", h.Serving)
			}
			switch {
			case tc.issue == "" && len(h.Issues) != 0:
				t.Errorf("issues %+v", h.Issues)
			case tc.issue != "" && (len(h.Issues) != 1 || h.Issues[0].Message != tc.issue || h.Issues[0].Code != "InsufficientNumberOfReplicas" ||
				len(h.Issues[0].ResourceIDs) != 1 || h.Issues[0].ResourceIDs[0] != "kube-system/eks-pod-identity-agent"):
				t.Errorf("issues %+v", h.Issues)
			}
		})
	}
}

func TestAPIIssue(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "daemonsets"}
	for _, tc := range []struct {
		err  error
		code string
	}{
		{apierrors.NewNotFound(gr, Name), "K8sResourceNotFound"},
		{apierrors.NewForbidden(gr, Name, errors.New("rbac")), "AccessDenied"},
		{apierrors.NewUnauthorized("bad token"), "AccessDenied"},
		{errors.New("dial tcp 127.0.0.1:1: connection refused"), "ClusterUnreachable"},
	} {
		if got := apiIssue(tc.err); got.Code != tc.code || got.Message == "" || got.ResourceIDs == nil {
			t.Errorf("%v: %+v", tc.err, got)
		}
	}
}

func TestInstallErrorIssue(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "daemonsets"}
	var ie *eks.InstallError
	if err := installError(fmt.Errorf("applying: %w", apierrors.NewForbidden(gr, Name, errors.New("rbac")))); !errors.As(err, &ie) || ie.Issue.Code != "AccessDenied" {
		t.Errorf("forbidden: %v", err)
	}
	if err := installError(errors.New("connection refused")); !errors.As(err, &ie) || ie.Issue.Code != "ClusterUnreachable" || err.Error() != "connection refused" {
		t.Errorf("unreachable: %v", err)
	}
}

// TestAgentHealthWithoutAccess: clusters podid cannot reach count as served
// (their agent is podid's own, or outside podid's view).
func TestAgentHealthWithoutAccess(t *testing.T) {
	i, err := New(Config{Image: "img", Endpoint: "http://127.0.0.1:1", Region: "us-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := i.AgentHealth(context.Background(), "c", nil)
	if err != nil || !h.Serving || len(h.Issues) != 0 {
		t.Errorf("%+v %v", h, err)
	}
	// An API server that does not answer is ClusterUnreachable, not an error.
	h, err = i.AgentHealth(context.Background(), "c", &eks.ClusterAccess{Name: "c", Access: kubeapi.Access{Endpoint: "https://127.0.0.1:1"}})
	if err != nil || h.Serving || len(h.Issues) != 1 || h.Issues[0].Code != "ClusterUnreachable" {
		t.Errorf("%+v %v", h, err)
	}
}

// TestAgentHealthFromCalls: a cluster podid cannot look into is served
// while an agent has called EKS Auth for it within AgentSeenWindow.
func TestAgentHealthFromCalls(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	calls := map[string]time.Time{"recent": now.Add(-AgentSeenWindow), "stale": now.Add(-AgentSeenWindow - time.Second)}
	i, err := New(Config{Image: "img", Endpoint: "http://127.0.0.1:1", Region: "us-west-2", Now: func() time.Time { return now },
		LastAgentCall: func(c string) (time.Time, bool) { at, ok := calls[c]; return at, ok }})
	if err != nil {
		t.Fatal(err)
	}
	for cluster, serving := range map[string]bool{"recent": true, "stale": false, "never": false} {
		h, err := i.AgentHealth(context.Background(), cluster, nil)
		if err != nil || h.Serving != serving {
			t.Errorf("%s: %+v %v, want serving %v", cluster, h, err, serving)
			continue
		}
		want := "No pod identity agent has called podid's EKS Auth for cluster " + cluster + " in the last 10m0s: run one (podid agent --cluster-name " + cluster + " --endpoint PODID-URL; podid dev runs its own)."
		if !serving && (len(h.Issues) != 1 || h.Issues[0].Code != "InsufficientNumberOfReplicas" || h.Issues[0].Message != want) {
			t.Errorf("%s: issues %+v", cluster, h.Issues)
		}
		if serving && len(h.Issues) != 0 {
			t.Errorf("%s: issues %+v", cluster, h.Issues)
		}
	}
}

func TestNewRequiresSettings(t *testing.T) {
	if _, err := New(Config{Image: "img", Region: "us-west-2"}); err == nil {
		t.Error("no endpoint accepted")
	}
}

// TestAgentPolicy: the agents' policy is a valid identity policy naming
// exactly the cluster and the two actions.
func TestAgentPolicy(t *testing.T) {
	doc := AgentPolicy("", "us-west-2", "123456789012", "prod")
	if err := policy.Validate(doc, policy.KindInline); err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	for _, want := range []string{`"arn:aws:eks:us-west-2:123456789012:cluster/prod"`, `"eks-auth:AssumeRoleForPodIdentity"`, `"eks:ListPodIdentityAssociations"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("policy lacks %s: %s", want, doc)
		}
	}
}

// TestAgentPolicyDecisions: evaluated by podid's policy engine (the one
// the server authorizes with), the agents' policy allows the exchange and
// the association feed on their own cluster and nothing else: not another
// cluster, not another partition, region or account, no other action.
func TestAgentPolicyDecisions(t *testing.T) {
	c, err := policy.Compile(AgentPolicy("", "us-west-2", "123456789012", "prod"))
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Identity: []*policy.Compiled{c}}
	agent := policy.Principal{Type: policy.PrincipalUser, ARN: "arn:aws:iam::123456789012:user/podid/podid-agent-prod", AccountID: "123456789012"}
	own := "arn:aws:eks:us-west-2:123456789012:cluster/prod"
	for _, tc := range []struct {
		action, resource string
		allow            bool
	}{
		{"eks-auth:AssumeRoleForPodIdentity", own, true},
		{"eks:ListPodIdentityAssociations", own, true}, // the association change feed
		{"eks-auth:AssumeRoleForPodIdentity", "arn:aws:eks:us-west-2:123456789012:cluster/prod2", false},
		{"eks-auth:AssumeRoleForPodIdentity", "arn:aws:eks:us-west-2:123456789012:cluster/staging", false},
		{"eks-auth:AssumeRoleForPodIdentity", "arn:aws:eks:us-east-1:123456789012:cluster/prod", false},
		{"eks-auth:AssumeRoleForPodIdentity", "arn:aws:eks:us-west-2:210987654321:cluster/prod", false},
		{"eks-auth:AssumeRoleForPodIdentity", "*", false},
		{"eks:ListPodIdentityAssociations", "arn:aws:eks:us-west-2:123456789012:cluster/staging", false},
		{"eks:DescribePodIdentityAssociation", "arn:aws:eks:us-west-2:123456789012:podidentityassociation/prod/a-0123456789abcdef0", false},
		{"eks:CreatePodIdentityAssociation", own, false},
		{"eks:DeletePodIdentityAssociation", "arn:aws:eks:us-west-2:123456789012:podidentityassociation/prod/a-0123456789abcdef0", false},
		{"eks:DescribeCluster", own, false},
		{"eks:ListClusters", "*", false},
		{"eks:CreateAddon", own, false},
		{"sts:AssumeRole", "arn:aws:iam::123456789012:role/pod", false},
		{"sts:TagSession", "arn:aws:iam::123456789012:role/pod", false},
		{"iam:CreateAccessKey", "arn:aws:iam::123456789012:user/podid/podid-agent-prod", false},
		{"iam:PassRole", "arn:aws:iam::123456789012:role/pod", false},
	} {
		d := policy.Evaluate(set, &policy.Request{Principal: agent, Action: tc.action, Resource: tc.resource})
		if got := d.Result == policy.Allow; got != tc.allow {
			t.Errorf("%s on %s: %v, want allow=%v", tc.action, tc.resource, d.Result, tc.allow)
		}
	}
}

func TestParseValues(t *testing.T) {
	for _, tc := range []struct {
		name, in, err string
	}{
		{"empty", "", ""},
		{"json", `{"tolerations":[{"operator":"Exists"}],"agent":{"additionalArgs":{"-v":"debug"}}}`, ""},
		{"yaml", "resources:\n  requests:\n    cpu: 50m\nnodeSelector:\n  kubernetes.io/os: linux\n", ""},
		{"unknown key", `{"replicas":2}`, "ConfigurationValue provided in request is not supported: Json schema validation failed with error: [$.replicas: is not defined in the schema and the schema does not allow additional properties]"},
		{"nested unknown key", `{"agent":{"extraArgs":{}}}`, "[$.extraArgs: is not defined in the schema and the schema does not allow additional properties]"},
		{"wrong type", `{"tolerations":"all"}`, "the values do not match the schema"},
		{"not an object", `[1,2]`, "ConfigurationValue provided in request is not supported"},
		{"not yaml", "a: [", "the values are not a JSON or YAML object"},
		{"reserved label", `{"podLabels":{"app.kubernetes.io/managed-by":"me"}}`, "podid sets this label itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseValues(tc.in)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("got %v, want an error containing %q", err, tc.err)
			}
		})
	}
}

// TestDaemonSetValues: the configured parts replace the defaults and
// podid's own labels and arguments stay.
func TestDaemonSetValues(t *testing.T) {
	i, err := New(Config{Image: "registry.example/podid:1", Endpoint: "https://podid.example", Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{NameLabel: Name, ManagedByLabel: ManagedBy}
	render := func(values string) map[string]any {
		t.Helper()
		v, err := ParseValues(values)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := i.daemonSet("prod", labels, v)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(ds.Spec.Template)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	def := render("")
	spec := def["spec"].(map[string]any)
	c := spec["containers"].([]any)[0].(map[string]any)
	if got := fmt.Sprint(spec["tolerations"]); got != "[map[operator:Exists]]" {
		t.Errorf("default tolerations %s", got)
	}
	if got := fmt.Sprint(c["args"]); got != "[agent --cluster-name=prod --port=80 --probe-port=2703 --metrics-port=2705 --endpoint=https://podid.example --change-feed-endpoint=https://podid.example --identity-token-file=/var/run/secrets/podid/agent/token]" {
		t.Errorf("default args %s", got)
	}
	// By default the agent proves its node with its own projected token:
	// no shared credentials, no Secret.
	if got := fmt.Sprint(spec["volumes"]); got != "[map[name:identity projected:map[sources:[map[serviceAccountToken:map[audience:podid.dev/agent expirationSeconds:3600 path:token]]]]]]" {
		t.Errorf("default volumes %s", got)
	}
	if got := fmt.Sprint(c["env"]); strings.Contains(got, "AWS_SHARED_CREDENTIALS_FILE") || fmt.Sprint(c["volumeMounts"]) != "[map[mountPath:/var/run/secrets/podid/agent name:identity readOnly:true]]" {
		t.Errorf("default env %s, mounts %v", got, c["volumeMounts"])
	}
	// Neither mode falls back to the node's instance metadata.
	if got := fmt.Sprint(c["env"]); !strings.Contains(got, "map[name:AWS_EC2_METADATA_DISABLED value:true]") {
		t.Errorf("default env %s: want AWS_EC2_METADATA_DISABLED=true", got)
	}
	// agentAuth "secret" keeps the shared key, re-read as the Job rewrites it.
	sh := render(`{"agentAuth":"secret"}`)
	shc := sh["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	if got := fmt.Sprint(sh["spec"].(map[string]any)["volumes"]); got != "[map[name:credentials secret:map[optional:true secretName:podid-agent-credentials]]]" ||
		!strings.Contains(fmt.Sprint(shc["env"]), "AWS_SHARED_CREDENTIALS_FILE") || strings.Contains(fmt.Sprint(shc["args"]), "--identity-token-file") ||
		!strings.Contains(fmt.Sprint(shc["args"]), "--rotate-credentials") {
		t.Errorf("shared-key mode: volumes %s env %v args %v", got, shc["env"], shc["args"])
	}
	if _, err := ParseValues(`{"agentAuth":"shared"}`); err == nil || !strings.Contains(err.Error(), "$.agentAuth") {
		t.Errorf("agentAuth shared: %v", err)
	}
	if got := fmt.Sprint(c["resources"]); got != "map[requests:map[cpu:25m memory:32Mi]]" {
		t.Errorf("default resources %s", got)
	}
	// Rollouts surge (the SO_REUSEPORT hand-off) and no ports are declared:
	// under hostNetwork they would be host ports that keep the surge pod
	// off the node. Probes address the probe port by number.
	if c["ports"] != nil {
		t.Errorf("the agent declares ports %v", c["ports"])
	}
	if got := fmt.Sprint(c["readinessProbe"]); got != "map[httpGet:map[host:localhost path:/readyz port:2703] periodSeconds:5]" {
		t.Errorf("readiness probe %s", got)
	}
	none, err := ParseValues("")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := i.daemonSet("prod", labels, none)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ds.Spec.UpdateStrategy)
	if got := string(b); got != `{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":0,"maxSurge":"10%"}}` {
		t.Errorf("update strategy %s", got)
	}

	m := render(`{"tolerations":[{"key":"dedicated","operator":"Equal","value":"agents","effect":"NoSchedule"}],` +
		`"agent":{"additionalArgs":{"-v":"debug","--max-cache-size":"5000"}},"resources":{"limits":{"memory":"64Mi"}},` +
		`"nodeSelector":{"kubernetes.io/os":"linux"},"priorityClassName":"agents","podLabels":{"team":"platform"},"podAnnotations":{"a":"b"}}`)
	spec = m["spec"].(map[string]any)
	c = spec["containers"].([]any)[0].(map[string]any)
	meta := m["metadata"].(map[string]any)
	for what, got := range map[string]string{
		"tolerations":       fmt.Sprint(spec["tolerations"]),
		"args":              fmt.Sprint(c["args"]),
		"resources":         fmt.Sprint(c["resources"]),
		"nodeSelector":      fmt.Sprint(spec["nodeSelector"]),
		"priorityClassName": fmt.Sprint(spec["priorityClassName"]),
		"labels":            fmt.Sprint(meta["labels"]),
		"annotations":       fmt.Sprint(meta["annotations"]),
	} {
		want := map[string]string{
			"tolerations":       "[map[effect:NoSchedule key:dedicated operator:Equal value:agents]]",
			"args":              "[agent --cluster-name=prod --port=80 --probe-port=2703 --metrics-port=2705 --endpoint=https://podid.example --change-feed-endpoint=https://podid.example --identity-token-file=/var/run/secrets/podid/agent/token --max-cache-size 5000 -v debug]",
			"resources":         "map[limits:map[memory:64Mi]]",
			"nodeSelector":      "map[kubernetes.io/os:linux]",
			"priorityClassName": "agents",
			"labels":            "map[app.kubernetes.io/managed-by:podid app.kubernetes.io/name:eks-pod-identity-agent team:platform]",
			"annotations":       "map[a:b]",
		}[what]
		if got != want {
			t.Errorf("%s = %s, want %s", what, got, want)
		}
	}
}

func TestConfigurationSchemaIsJSON(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal([]byte(ConfigurationSchema), &m); err != nil || m["type"] != "object" {
		t.Fatalf("%v %v", err, m)
	}
	props, _ := m["properties"].(map[string]any)
	// Every key ParseValues accepts is in the schema.
	for _, k := range []string{"agent", "tolerations", "resources", "affinity", "nodeSelector", "podAnnotations", "podLabels", "priorityClassName"} {
		if _, ok := props[k]; !ok {
			t.Errorf("schema lacks %s", k)
		}
		if _, err := ParseValues(`{"` + k + `":null}`); err != nil {
			t.Errorf("ParseValues refuses %s: %v", k, err)
		}
	}
}

// FuzzParseValues: configurationValues come from the network. Parsing
// never panics, and every accepted value renders a DaemonSet.
func FuzzParseValues(f *testing.F) {
	for _, s := range []string{"", "{}", `{"tolerations":[{"operator":"Exists"}]}`, "resources:\n  limits:\n    cpu: 1\n",
		`{"agent":{"additionalArgs":{"-v":"debug"}}}`, `{"affinity":{"nodeAffinity":{}}}`, "[", "a: &x [*x]"} {
		f.Add(s)
	}
	i, err := New(Config{Image: "img", Endpoint: "https://podid.example", Region: "us-west-2"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseValues(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ConfigurationValue provided in request is not supported") {
				t.Fatalf("error not in EKS's words: %v", err)
			}
			return
		}
		if _, err := i.daemonSet("c", map[string]string{NameLabel: Name}, v); err != nil {
			t.Fatalf("accepted %q but cannot render: %v", s, err)
		}
	})
}

// TestAgentRunsAsRootWithTwoCapabilities: the add-on's agent runs as uid 0
// with only NET_BIND_SERVICE and NET_ADMIN. Kubernetes sets no ambient
// capabilities, so under podid image's user (65532) it would hold neither;
// the real-node test (test/e2e, TestRealNodeAgentFromChart) showed it.
func TestAgentRunsAsRootWithTwoCapabilities(t *testing.T) {
	i, err := New(Config{Image: "registry.example/podid:1", Endpoint: "https://podid.example", Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := i.daemonSet("prod", map[string]string{NameLabel: Name, ManagedByLabel: ManagedBy}, &Values{})
	if err != nil {
		t.Fatal(err)
	}
	sc := ds.Spec.Template.Spec.Containers[0].SecurityContext
	if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 0 || sc.RunAsNonRoot == nil || *sc.RunAsNonRoot ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Privileged != nil {
		t.Fatalf("agent securityContext = %+v, want uid 0, not privileged, no privilege escalation", sc)
	}
	if c := sc.Capabilities; c == nil || len(c.Drop) != 1 || c.Drop[0] != "ALL" || len(c.Add) != 2 || c.Add[0] != "NET_BIND_SERVICE" || c.Add[1] != "NET_ADMIN" {
		t.Fatalf("agent capabilities = %+v, want drop ALL, add NET_BIND_SERVICE and NET_ADMIN", sc.Capabilities)
	}
}
