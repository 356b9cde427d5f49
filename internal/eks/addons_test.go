package eks

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/podid/podid/internal/store"
)

// fakeProbe is a settable AgentProbe.
type fakeProbe struct {
	mu sync.Mutex
	h  AgentHealth
}

func (p *fakeProbe) AgentHealth(context.Context, string, *ClusterAccess) (AgentHealth, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.h, nil
}

func (p *fakeProbe) set(h AgentHealth) {
	p.mu.Lock()
	p.h = h
	p.mu.Unlock()
}

// TestAddonLifecycle follows the add-on status with the agent probe:
// CREATING until the agent serves, ACTIVE, DEGRADED with issues, ACTIVE
// again, DELETING, then gone (404 with addonName).
func TestAddonLifecycle(t *testing.T) {
	probe := &fakeProbe{}
	e := newEnv(t, func(c *Config) { c.AgentProbe = probe })
	e.hostedCluster("c1")
	ctx := rootCtx()
	created, err := e.svc.CreateAddon(ctx, &CreateAddonInput{ClusterName: "c1", AddonName: AgentAddonName, Tags: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	describe := func() *Addon {
		t.Helper()
		out, err := e.svc.DescribeAddon(ctx, &DescribeAddonInput{ClusterName: "c1", AddonName: AgentAddonName})
		if err != nil {
			t.Fatal(err)
		}
		return out.Addon
	}
	if a := describe(); a.Status != AddonCreating {
		t.Errorf("before the agent serves: %s", a.Status)
	}
	probe.set(AgentHealth{Serving: true})
	e.clock.Advance(time.Second)
	a := describe()
	if a.Status != AddonActive || !a.ModifiedAt.Equal(testStart.Add(time.Second)) || !a.CreatedAt.Equal(created.Addon.CreatedAt.Time) || a.Tags["k"] != "v" {
		t.Errorf("serving: %+v", a)
	}
	issue := AddonIssue{Code: "InsufficientNumberOfReplicas", Message: "1 of 3 agents are not ready", ResourceIDs: []string{"node-2"}}
	probe.set(AgentHealth{Serving: true, Issues: []AddonIssue{issue}})
	if a := describe(); a.Status != AddonDegraded || len(a.Health.Issues) != 1 || a.Health.Issues[0].Code != issue.Code {
		t.Errorf("unhealthy: %+v", a)
	}
	// The waiter treats DEGRADED as failure.
	err = awseks.NewAddonActiveWaiter(e.eks).Wait(context.Background(), &awseks.DescribeAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String(AgentAddonName)}, time.Minute)
	if err == nil {
		t.Error("waiter succeeded on DEGRADED")
	}
	probe.set(AgentHealth{Serving: true})
	if a := describe(); a.Status != AddonActive || len(a.Health.Issues) != 0 {
		t.Errorf("healthy again: %+v", a)
	}
	// The status is stored, so listings and other readers agree.
	var stored *store.Addon
	_ = e.st.View(context.Background(), func(tx store.Tx) error { stored, err = tx.GetAddon("c1", AgentAddonName); return err })
	if stored.Status != AddonActive {
		t.Errorf("stored status %s", stored.Status)
	}

	del, err := e.eks.DeleteAddon(context.Background(), &awseks.DeleteAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String(AgentAddonName)})
	if err != nil || del.Addon.Status != types.AddonStatusDeleting {
		t.Fatalf("delete: %v %+v", err, del)
	}
	if err := awseks.NewAddonDeletedWaiter(e.eks).Wait(context.Background(), &awseks.DescribeAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String(AgentAddonName)}, time.Minute); err != nil {
		t.Errorf("addon-deleted waiter: %v", err)
	}
	r := e.do("GET", "/clusters/c1/addons/eks-pod-identity-agent", "")
	want := map[string]any{"__type": "ResourceNotFoundException", "message": "No addon: eks-pod-identity-agent found in cluster: c1", "clusterName": "c1", "addonName": "eks-pod-identity-agent"}
	if r.Status != 404 || !anyMapEq(r.Body, want) {
		t.Errorf("describe after delete: %d %s", r.Status, r.Raw)
	}
}

// TestAddonCreatingWithIssues: while a new add-on's agent pods start, their
// issues keep it CREATING; past AddonCreateTimeout they make it DEGRADED.
func TestAddonCreatingWithIssues(t *testing.T) {
	probe := &fakeProbe{}
	e := newEnv(t, func(c *Config) { c.AgentProbe = probe })
	e.hostedCluster("c1")
	ctx := rootCtx()
	if _, err := e.svc.CreateAddon(ctx, &CreateAddonInput{ClusterName: "c1", AddonName: AgentAddonName}); err != nil {
		t.Fatal(err)
	}
	probe.set(AgentHealth{Issues: []AddonIssue{{Code: "InsufficientNumberOfReplicas", Message: "1 of 3 agent pods are ready and up to date.", ResourceIDs: []string{}}}})
	describe := func() *Addon {
		t.Helper()
		out, err := e.svc.DescribeAddon(ctx, &DescribeAddonInput{ClusterName: "c1", AddonName: AgentAddonName})
		if err != nil {
			t.Fatal(err)
		}
		return out.Addon
	}
	e.clock.Advance(AddonCreateTimeout - time.Second)
	if a := describe(); a.Status != AddonCreating {
		t.Errorf("agent pods starting: %s", a.Status)
	}
	e.clock.Advance(2 * time.Second)
	if a := describe(); a.Status != AddonDegraded || len(a.Health.Issues) != 1 || a.Health.Issues[0].Code != "InsufficientNumberOfReplicas" {
		t.Errorf("past the create timeout: %+v", a)
	}
}

func anyMapEq(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// TestAddonOperations covers create-time validation, conflicts, listing,
// update and the version catalogue over the wire.
func TestAddonOperations(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("c1")
	r := e.do("POST", "/clusters/c1/addons", `{"addonName":"eks-pod-identity-agent","clientRequestToken":"t1"}`)
	if r.Status != 200 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	addon := r.Body["addon"].(map[string]any)
	for _, k := range []string{"addonName", "clusterName", "status", "addonVersion", "health", "addonArn", "createdAt", "modifiedAt", "tags"} {
		if _, ok := addon[k]; !ok {
			t.Errorf("create response lacks %s: %s", k, r.Raw)
		}
	}
	if addon["status"] != "CREATING" || addon["createdAt"] != 1704816998.163 || !mapEq(addon["tags"], map[string]string{}) {
		t.Errorf("create response: %s", r.Raw)
	}
	if h := addon["health"].(map[string]any); h["issues"] == nil {
		t.Errorf("health.issues missing: %s", r.Raw)
	}
	if again := e.do("POST", "/clusters/c1/addons", `{"addonName":"eks-pod-identity-agent","clientRequestToken":"t1"}`); again.Status != 200 || again.Body["addon"].(map[string]any)["addonArn"] != addon["addonArn"] {
		t.Errorf("retried create: %d %s", again.Status, again.Raw)
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, message            string
	}{
		{"duplicate", "POST", "/clusters/c1/addons", `{"addonName":"eks-pod-identity-agent"}`, 409, "ResourceInUseException", "Addon already exists."},
		{"other add-on", "POST", "/clusters/c1/addons", `{"addonName":"vpc-cni"}`, 400, "InvalidParameterException", "Addon vpc-cni specified is not supported: podid supports only the eks-pod-identity-agent add-on."},
		{"no name", "POST", "/clusters/c1/addons", `{}`, 400, "InvalidParameterException", "The parameter addonName must not be empty."},
		{"unknown cluster", "POST", "/clusters/c9/addons", `{"addonName":"eks-pod-identity-agent"}`, 404, "ResourceNotFoundException", "No cluster found for name: c9."},
		{"unknown version", "POST", "/clusters/c1/addons/eks-pod-identity-agent/update", `{"addonVersion":"v9"}`, 400, "InvalidParameterException", "Addon version v9 is not supported for eks-pod-identity-agent."},
		{"service account role", "POST", "/clusters/c1/addons/eks-pod-identity-agent/update", `{"serviceAccountRoleArn":"arn:aws:iam::123456789000:role/x"}`, 400, "InvalidParameterException", "The eks-pod-identity-agent add-on uses the node role and does not accept serviceAccountRoleArn."},
		{"resolve conflicts", "POST", "/clusters/c1/addons/eks-pod-identity-agent/update", `{"resolveConflicts":"MAYBE"}`, 400, "InvalidParameterException", "The parameter resolveConflicts must be one of OVERWRITE, NONE, PRESERVE."},
		{"pod identity associations", "POST", "/clusters/c1/addons/eks-pod-identity-agent/update", `{"podIdentityAssociations":[{"serviceAccount":"x","roleArn":"arn:aws:iam::123456789000:role/x"}]}`, 400, "InvalidParameterException", "Pod Identity feature is not supported for addon eks-pod-identity-agent."},
		{"describe other add-on", "GET", "/clusters/c1/addons/vpc-cni", "", 404, "ResourceNotFoundException", "No addon: vpc-cni found in cluster: c1"},
		{"list bad maxResults", "GET", "/clusters/c1/addons?maxResults=500", "", 400, "InvalidParameterException", "The parameter maxResults must be between 1 and 100."},
		{"delete bad preserve", "DELETE", "/clusters/c1/addons/eks-pod-identity-agent?preserve=yes", "", 400, "InvalidParameterException", "The parameter preserve must be true or false."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body)
			if r.Status != tc.status || r.Body["__type"] != tc.code || r.Body["message"] != tc.message {
				t.Errorf("got %d %s, want %d %s %q", r.Status, r.Raw, tc.status, tc.code, tc.message)
			}
		})
	}
	ctx := context.Background()
	l, err := e.eks.ListAddons(ctx, &awseks.ListAddonsInput{ClusterName: aws.String("c1")})
	if err != nil || len(l.Addons) != 1 || l.Addons[0] != AgentAddonName || l.NextToken != nil {
		t.Errorf("ListAddons: %v %+v", err, l)
	}
	up, err := e.eks.UpdateAddon(ctx, &awseks.UpdateAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String(AgentAddonName), AddonVersion: aws.String("v1.3.10-eksbuild.2"), ConfigurationValues: aws.String(`{"agent":{"additionalArgs":{"-b":"169.254.170.23"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if up.Update.Type != types.UpdateTypeAddonUpdate || up.Update.Status != types.UpdateStatusInProgress || len(up.Update.Params) != 2 {
		t.Errorf("update: %+v", up.Update)
	}
	d, err := e.eks.DescribeAddon(ctx, &awseks.DescribeAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String(AgentAddonName)})
	if err != nil || aws.ToString(d.Addon.AddonVersion) != "v1.3.10-eksbuild.2" || aws.ToString(d.Addon.ConfigurationValues) == "" {
		t.Errorf("after update: %v %+v", err, d)
	}
	v, err := e.eks.DescribeAddonVersions(ctx, &awseks.DescribeAddonVersionsInput{AddonName: aws.String(AgentAddonName), KubernetesVersion: aws.String("1.31")})
	if err != nil || len(v.Addons) != 1 || len(v.Addons[0].AddonVersions) != len(agentVersions) {
		t.Fatalf("DescribeAddonVersions: %v %+v", err, v)
	}
	defaults := 0
	for _, av := range v.Addons[0].AddonVersions {
		if len(av.Compatibilities) != 1 || aws.ToString(av.Compatibilities[0].ClusterVersion) != "1.31" {
			t.Errorf("compatibilities of %s: %+v", aws.ToString(av.AddonVersion), av.Compatibilities)
		}
		if av.Compatibilities[0].DefaultVersion {
			defaults++
		}
	}
	if defaults != 1 {
		t.Errorf("%d default versions", defaults)
	}
	if v, err := e.eks.DescribeAddonVersions(ctx, &awseks.DescribeAddonVersionsInput{AddonName: aws.String("coredns")}); err != nil || len(v.Addons) != 0 {
		t.Errorf("other add-on versions: %v %+v", err, v)
	}
}

// recordingInstaller records installer calls.
type recordingInstaller struct {
	mu    sync.Mutex
	calls []string
	fail  error
}

func (r *recordingInstaller) InstallAgent(_ context.Context, c *ClusterAccess, a *store.Addon) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "install "+c.Name+" "+c.Endpoint+" "+c.BearerToken)
	return r.fail
}

func (r *recordingInstaller) UninstallAgent(_ context.Context, c *ClusterAccess, a *store.Addon) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "uninstall "+c.Name)
	return nil
}

// TestAddonInstallerHook: on an external cluster with API access, create
// and delete call the installer with the unsealed credentials; a failed
// install makes the add-on CREATE_FAILED.
func TestAddonInstallerHook(t *testing.T) {
	inst := &recordingInstaller{}
	e := newEnv(t, func(c *Config) { c.AgentInstaller = inst })
	ctx := rootCtx()
	for _, name := range []string{"ext", "ext2"} {
		if _, err := e.svc.RegisterCluster(ctx, &RegisterClusterInput{Name: name, OIDCIssuerURL: "https://issuer.example/" + name,
			KubernetesAPI: &KubernetesAPIAccess{Endpoint: "https://k8s.example:6443", Token: "sekret-" + name}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.CreateAddon(ctx, &CreateAddonInput{ClusterName: "ext", AddonName: AgentAddonName}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteAddon(ctx, &DeleteAddonInput{ClusterName: "ext", AddonName: AgentAddonName}); err != nil {
		t.Fatal(err)
	}
	inst.fail = errors.New("connection refused")
	out, err := e.svc.CreateAddon(ctx, &CreateAddonInput{ClusterName: "ext2", AddonName: AgentAddonName})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"install ext https://k8s.example:6443 sekret-ext", "uninstall ext", "install ext2 https://k8s.example:6443 sekret-ext2"}
	if len(inst.calls) != 3 || inst.calls[0] != want[0] || inst.calls[1] != want[1] || inst.calls[2] != want[2] {
		t.Errorf("installer calls = %q", inst.calls)
	}
	if out.Addon.Status != AddonCreateFailed || len(out.Addon.Health.Issues) != 1 || out.Addon.Health.Issues[0].Code != "ClusterUnreachable" {
		t.Errorf("failed install: %+v", out.Addon)
	}
	// An installer error that names its issue shows that issue.
	if _, err := e.svc.DeleteAddon(ctx, &DeleteAddonInput{ClusterName: "ext2", AddonName: AgentAddonName}); err != nil {
		t.Fatal(err)
	}
	denied := AddonIssue{Code: "AccessDenied", Message: "podid's credentials for the cluster may not install the agent.", ResourceIDs: []string{"kube-system/eks-pod-identity-agent"}}
	inst.fail = &InstallError{Issue: denied, Err: errors.New("forbidden")}
	out, err = e.svc.CreateAddon(ctx, &CreateAddonInput{ClusterName: "ext2", AddonName: AgentAddonName})
	if err != nil || out.Addon.Status != AddonCreateFailed || len(out.Addon.Health.Issues) != 1 || out.Addon.Health.Issues[0].Code != "AccessDenied" || out.Addon.Health.Issues[0].Message != denied.Message {
		t.Errorf("install denied: %v %+v", err, out)
	}
	// The token is never shown.
	r := e.do("GET", "/clusters/ext2", "")
	if r.Status != 200 || strings.Contains(r.Raw, "sekret") {
		t.Errorf("DescribeCluster leaks the token or failed: %d %s", r.Status, r.Raw)
	}
}

// strictConfig accepts only "{}" as configuration values.
type strictConfig struct{}

func (strictConfig) ConfigurationSchema() string {
	return `{"type":"object","additionalProperties":false}`
}
func (strictConfig) ValidateConfiguration(v string) error {
	if v != "{}" {
		return errors.New("ConfigurationValue provided in request is not supported: only {}")
	}
	return nil
}

// TestAddonConfiguration: values are checked by Config.AddonConfig on
// create and update, DescribeAddonConfiguration serves its schema, and an
// update of an installed agent re-applies it (the update Failed when that
// fails, the add-on's status still following the running agent).
func TestAddonConfiguration(t *testing.T) {
	inst := &recordingInstaller{}
	e := newEnv(t, func(c *Config) { c.AgentInstaller = inst; c.AddonConfig = strictConfig{} })
	ctx := rootCtx()
	if _, err := e.svc.RegisterCluster(ctx, &RegisterClusterInput{Name: "ext", OIDCIssuerURL: "https://issuer.example/ext",
		KubernetesAPI: &KubernetesAPIAccess{Endpoint: "https://k8s.example:6443", Token: "t"}}); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/clusters/ext/addons", `{"addonName":"eks-pod-identity-agent","configurationValues":"{\"replicas\":2}"}`)
	if r.Status != 400 || r.Body["__type"] != "InvalidParameterException" || r.Body["message"] != "ConfigurationValue provided in request is not supported: only {}" || len(inst.calls) != 0 {
		t.Fatalf("bad values: %d %s %q", r.Status, r.Raw, inst.calls)
	}
	if r := e.do("POST", "/clusters/ext/addons", `{"addonName":"eks-pod-identity-agent","configurationValues":"{}"}`); r.Status != 200 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	r = e.do("GET", "/addons/configuration-schemas?addonName=eks-pod-identity-agent&addonVersion=v1.3.10-eksbuild.2", "")
	want := map[string]any{"addonName": "eks-pod-identity-agent", "addonVersion": "v1.3.10-eksbuild.2", "configurationSchema": `{"type":"object","additionalProperties":false}`, "podIdentityConfiguration": []any{}}
	if r.Status != 200 || len(r.Body) != 4 || r.Body["configurationSchema"] != want["configurationSchema"] || r.Body["addonVersion"] != want["addonVersion"] {
		t.Errorf("describe-addon-configuration: %d %s", r.Status, r.Raw)
	}
	for _, q := range []string{"addonName=vpc-cni&addonVersion=v1.3.10-eksbuild.2", "addonName=eks-pod-identity-agent", "addonName=eks-pod-identity-agent&addonVersion=v9"} {
		if r := e.do("GET", "/addons/configuration-schemas?"+q, ""); r.Status != 400 || r.Body["__type"] != "InvalidParameterException" {
			t.Errorf("%s: %d %s", q, r.Status, r.Raw)
		}
	}

	// An update re-applies; a failed re-apply fails the update.
	up, err := e.svc.UpdateAddon(ctx, &UpdateAddonInput{ClusterName: "ext", AddonName: AgentAddonName, ConfigurationValues: aws.String("{}")})
	if err != nil || up.Update.Status != UpdateInProgress || len(inst.calls) != 2 {
		t.Fatalf("update: %v %+v %q", err, up, inst.calls)
	}
	inst.fail = &InstallError{Issue: AddonIssue{Code: "AccessDenied", Message: "no", ResourceIDs: []string{}}, Err: errors.New("forbidden")}
	up, err = e.svc.UpdateAddon(ctx, &UpdateAddonInput{ClusterName: "ext", AddonName: AgentAddonName, AddonVersion: "v1.3.8-eksbuild.2"})
	if err != nil || up.Update.Status != "Failed" || len(up.Update.Errors) != 1 || up.Update.Errors[0].ErrorCode != "AccessDenied" {
		t.Fatalf("failed update: %v %+v", err, up)
	}
	if du, err := e.svc.DescribeUpdate(ctx, &DescribeUpdateInput{ClusterName: "ext", UpdateID: up.Update.ID, AddonName: AgentAddonName}); err != nil ||
		du.Update.Status != UpdateFailed || len(du.Update.Errors) != 1 || du.Update.Errors[0].ErrorCode != "AccessDenied" {
		t.Errorf("describe-update of the failed update: %v %+v", err, du)
	}
	d, err := e.svc.DescribeAddon(ctx, &DescribeAddonInput{ClusterName: "ext", AddonName: AgentAddonName})
	if err != nil || d.Addon.Status != AddonActive || d.Addon.AddonVersion != "v1.3.8-eksbuild.2" {
		t.Errorf("after a failed update: %v %+v", err, d)
	}
}
