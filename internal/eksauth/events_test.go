package eksauth

import (
	"context"
	"sync"
	"testing"
)

type refusals struct {
	mu  sync.Mutex
	got []Refusal
}

func (r *refusals) PodRefused(_ context.Context, x *Refusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, *x)
}

// TestRefusalSink: a verified pod's refusal reaches the sink with the pod
// and EKS Auth's error; a refusal before the token is verified (the pod is
// not known) and an issuance do not.
func TestRefusalSink(t *testing.T) {
	sink := &refusals{}
	u := newUnit(t, func(c *Config) { c.Events = sink })
	ctx := agentCtx("agent", nil)
	if _, err := u.svc.AssumeRoleForPodIdentity(ctx, &Input{ClusterName: "c1", Token: u.token(t, podClaims(u.now, "orders"))}); code(err) != "ResourceNotFoundException" {
		t.Fatalf("err = %v", err)
	}
	if _, err := u.svc.AssumeRoleForPodIdentity(ctx, &Input{ClusterName: "c1", Token: "not-a-jwt"}); err == nil {
		t.Fatal("bad token accepted")
	}
	if _, err := u.svc.AssumeRoleForPodIdentity(ctx, &Input{ClusterName: "c1", Token: u.token(t, podClaims(u.now, "carts"))}); err != nil {
		t.Fatal(err)
	}
	want := Refusal{Cluster: "c1", Namespace: "carts", ServiceAccount: "orders", Pod: "carts-7c9d8b6d4-x2x8p", PodUID: "uid-1",
		Code: "ResourceNotFoundException", Message: "No Pod Identity Association found for cluster c1, namespace carts and service account orders."}
	if len(sink.got) != 1 || sink.got[0] != want {
		t.Errorf("refusals = %+v, want [%+v]", sink.got, want)
	}
}
