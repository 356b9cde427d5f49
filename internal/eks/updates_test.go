package eks

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"
)

// TestUpdateTracking follows an add-on update with the Go SDK:
// UpdateAddon answers InProgress, DescribeUpdate finds it and settles it
// Successful once the add-on is ACTIVE, ListUpdates pages through the
// add-on's updates, and a retried request reports the same update.
func TestUpdateTracking(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("c1")
	ctx := context.Background()
	if _, err := e.svc.CreateAddon(rootCtx(), &CreateAddonInput{ClusterName: "c1", AddonName: AgentAddonName}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, v := range []string{"v1.2.0-eksbuild.1", "v1.3.4-eksbuild.1", "v1.3.8-eksbuild.2"} {
		e.clock.Advance(time.Second)
		up, err := e.eks.UpdateAddon(ctx, &awseks.UpdateAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String(AgentAddonName), AddonVersion: aws.String(v), ClientRequestToken: aws.String("tok" + v)})
		if err != nil {
			t.Fatal(err)
		}
		u := up.Update
		if u.Status != types.UpdateStatusInProgress || u.Type != types.UpdateTypeAddonUpdate || len(u.Params) != 1 ||
			aws.ToString(u.Params[0].Value) != v || !u.CreatedAt.Equal(testStart.Add(time.Duration(i+1)*time.Second)) {
			t.Errorf("update-addon %s: %+v", v, u)
		}
		ids = append(ids, aws.ToString(u.Id))
	}
	d, err := e.eks.DescribeUpdate(ctx, &awseks.DescribeUpdateInput{Name: aws.String("c1"), UpdateId: aws.String(ids[0]), AddonName: aws.String(AgentAddonName)})
	if err != nil || aws.ToString(d.Update.Id) != ids[0] || d.Update.Status != types.UpdateStatusSuccessful || len(d.Update.Errors) != 0 ||
		aws.ToString(d.Update.Params[0].Value) != "v1.2.0-eksbuild.1" || d.Update.Params[0].Type != types.UpdateParamTypeAddonVersion {
		t.Errorf("describe-update: %v %+v", err, d)
	}
	// A retry reports the recorded update as it stands now.
	again, err := e.eks.UpdateAddon(ctx, &awseks.UpdateAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String(AgentAddonName), AddonVersion: aws.String("v1.2.0-eksbuild.1"), ClientRequestToken: aws.String("tokv1.2.0-eksbuild.1")})
	if err != nil || aws.ToString(again.Update.Id) != ids[0] || again.Update.Status != types.UpdateStatusSuccessful {
		t.Errorf("retried update-addon: %v %+v", err, again)
	}

	var listed []string
	pages := awseks.NewListUpdatesPaginator(e.eks, &awseks.ListUpdatesInput{Name: aws.String("c1"), AddonName: aws.String(AgentAddonName), MaxResults: aws.Int32(2)})
	n := 0
	for pages.HasMorePages() {
		p, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n++
		listed = append(listed, p.UpdateIds...)
	}
	if n != 2 || len(listed) != 3 || !sameSet(listed, ids) {
		t.Errorf("list-updates: %d pages %q, want %q", n, listed, ids)
	}
	cl, err := e.eks.ListUpdates(ctx, &awseks.ListUpdatesInput{Name: aws.String("c1")})
	if err != nil || len(cl.UpdateIds) != 0 || cl.NextToken != nil {
		t.Errorf("cluster updates: %v %+v", err, cl)
	}
	var nf *types.ResourceNotFoundException
	_, err = e.eks.DescribeUpdate(ctx, &awseks.DescribeUpdateInput{Name: aws.String("c1"), UpdateId: aws.String(ids[1])})
	if !errors.As(err, &nf) || aws.ToString(nf.Message) != "No update found for ID: "+ids[1] {
		t.Errorf("add-on update without addonName: %v", err)
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return len(a) == len(b)
}

// TestUpdateErrors checks the wire errors of DescribeUpdate and ListUpdates.
func TestUpdateErrors(t *testing.T) {
	e := newEnv(t)
	e.hostedCluster("c1")
	if _, err := e.svc.CreateAddon(rootCtx(), &CreateAddonInput{ClusterName: "c1", AddonName: AgentAddonName}); err != nil {
		t.Fatal(err)
	}
	const unknown = "5a1e6a2c-0d6f-4c61-9a43-0ad0e0e0e0e0"
	for _, tc := range []struct {
		name, path    string
		status        int
		code, message string
	}{
		{"unknown id", "/clusters/c1/updates/" + unknown + "?addonName=eks-pod-identity-agent", 404, "ResourceNotFoundException", "No update found for ID: " + unknown},
		{"unknown cluster update", "/clusters/c1/updates/" + unknown, 404, "ResourceNotFoundException", "No update found for ID: " + unknown},
		{"missing cluster", "/clusters/ghost/updates/" + unknown, 404, "ResourceNotFoundException", "No cluster found for name: ghost."},
		{"missing add-on", "/clusters/c1/updates/" + unknown + "?addonName=vpc-cni", 404, "ResourceNotFoundException", "No addon: vpc-cni found in cluster: c1"},
		{"node group", "/clusters/c1/updates/" + unknown + "?nodegroupName=ng", 404, "ResourceNotFoundException", "No node group found for name: ng."},
		{"list: missing cluster", "/clusters/ghost/updates", 404, "ResourceNotFoundException", "No cluster found for name: ghost."},
		{"list: missing add-on", "/clusters/c1/updates?addonName=vpc-cni", 404, "ResourceNotFoundException", "No addon: vpc-cni found in cluster: c1"},
		{"list: node group", "/clusters/c1/updates?nodegroupName=ng", 404, "ResourceNotFoundException", "No node group found for name: ng."},
		{"list: max results", "/clusters/c1/updates?maxResults=0", 400, "InvalidParameterException", "The parameter maxResults must be between 1 and 100."},
		{"list: bad token", "/clusters/c1/updates?nextToken=bogus", 400, "InvalidParameterException", "The parameter nextToken is not valid."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", tc.path, "")
			if r.Status != tc.status || r.Body["__type"] != tc.code || r.Body["message"] != tc.message {
				t.Errorf("got %d %s, want %d %s %q", r.Status, r.Raw, tc.status, tc.code, tc.message)
			}
		})
	}
	r := e.do("GET", "/clusters/c1/updates/"+unknown+"?addonName=eks-pod-identity-agent", "")
	if r.Body["clusterName"] != "c1" || r.Body["addonName"] != AgentAddonName {
		t.Errorf("not-found members: %s", r.Raw)
	}
}

// TestUpdateLifecycle settles add-on updates from the agent probe: InProgress
// while the agent is degraded, Failed with its issues once degraded past
// AddonCreateTimeout, Successful when ACTIVE, and Failed at once when the
// agent cannot be re-applied.
func TestUpdateLifecycle(t *testing.T) {
	probe := &fakeProbe{}
	e := newEnv(t, func(c *Config) { c.AgentProbe = probe })
	e.hostedCluster("c1")
	ctx := rootCtx()
	if _, err := e.svc.CreateAddon(ctx, &CreateAddonInput{ClusterName: "c1", AddonName: AgentAddonName}); err != nil {
		t.Fatal(err)
	}
	probe.set(AgentHealth{Serving: true})
	e.clock.Advance(time.Second)
	upd := func() string {
		t.Helper()
		up, err := e.svc.UpdateAddon(ctx, &UpdateAddonInput{ClusterName: "c1", AddonName: AgentAddonName, AddonVersion: "v1.3.4-eksbuild.1"})
		if err != nil || up.Update.Status != UpdateInProgress {
			t.Fatalf("update-addon: %v %+v", err, up)
		}
		return up.Update.ID
	}
	describe := func(id string) *Update {
		t.Helper()
		out, err := e.svc.DescribeUpdate(ctx, &DescribeUpdateInput{ClusterName: "c1", UpdateID: id, AddonName: AgentAddonName})
		if err != nil {
			t.Fatal(err)
		}
		return out.Update
	}
	issue := AddonIssue{Code: "InsufficientNumberOfReplicas", Message: "1 of 3 agents are not ready", ResourceIDs: []string{"node-2"}}
	probe.set(AgentHealth{Serving: true, Issues: []AddonIssue{issue}})
	failing := upd()
	for _, step := range []struct {
		advance time.Duration
		want    string
	}{{0, UpdateInProgress}, {AddonCreateTimeout - time.Second, UpdateInProgress}, {time.Second, UpdateFailed}} {
		e.clock.Advance(step.advance)
		if u := describe(failing); u.Status != step.want {
			t.Errorf("after %v: %+v, want %s", step.advance, u, step.want)
		}
	}
	probe.set(AgentHealth{Serving: true}) // a settled update stays settled
	u := describe(failing)
	if u.Status != UpdateFailed || len(u.Errors) != 1 || u.Errors[0].ErrorCode != issue.Code || u.Errors[0].ErrorMessage != issue.Message || u.Errors[0].ResourceIDs[0] != "node-2" {
		t.Errorf("failed update: %+v", u)
	}
	ok := upd()
	if u := describe(ok); u.Status != UpdateSuccessful || len(u.Errors) != 0 {
		t.Errorf("healthy agent: %+v", u)
	}
}
