package agentinstall

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podid/podid/internal/eks"
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
	h, err = i.AgentHealth(context.Background(), "c", &eks.ClusterAccess{Name: "c", Endpoint: "https://127.0.0.1:1"})
	if err != nil || h.Serving || len(h.Issues) != 1 || h.Issues[0].Code != "ClusterUnreachable" {
		t.Errorf("%+v %v", h, err)
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
