package eksauth_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/eksauth"
)

// forge replaces a token's signature: the shape of a valid token, refused
// by verification.
func forge(tok string, i int) string {
	return tok[:strings.LastIndexByte(tok, '.')+1] + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("forged-%d", i)))
}

// TestFairLimitsNoisyNode: one node floods made-up tokens while another
// node's new pods ask for their first credentials. The flood is throttled
// once its caller's refusal budget is spent; not one legitimate pod is
// refused. (On main, a per-cluster limit answered the flood with 429 and
// legitimate pods were throttled with it.)
func TestFairLimitsNoisyNode(t *testing.T) {
	t.Parallel()
	e := newPodEnv(t, func(c *app.Config) {
		c.EKSAuthFairLimits = eksauth.FairLimits{CallerRefusalRate: 1, CallerRefusalBurst: 5}
	})
	boot := e.createUser(t, "bootstrap", allowAssumeAll)
	e.createRole(t, "node", trustAccountRoot, allowEKSAuth)
	// Two agents with the same role (as with shared node credentials),
	// told apart by their sessions' node tags.
	noisy := e.assumeRole(t, boot, roleARN("node"), "i-noisy", map[string]string{eksauth.NodeNameTag: "node-1"})
	quiet := e.assumeRole(t, boot, roleARN("node"), "i-quiet", map[string]string{eksauth.NodeNameTag: "node-2"})
	e.associate(t, "hosted", "carts", "carts", e.createRole(t, "pod-role", trustPods), nil)
	victim := e.podToken(t, "hosted", "carts", "carts", "noisy-neighbour", "node-1", nil)

	const flood, legit = 60, 20
	refusedLegit, throttledFlood := 0, 0
	for i := range flood {
		r := e.exchange(t, noisy, "hosted", forge(victim, i))
		code, msg := r.errCode()
		switch {
		case i < 5 && (r.Status != http.StatusBadRequest || code != "InvalidTokenException"):
			t.Errorf("flood call %d within the burst: HTTP %d %s %q, want 400 InvalidTokenException", i, r.Status, code, msg)
		case i >= 5 && (r.Status != http.StatusTooManyRequests || code != "ThrottlingException" ||
			msg != "Rate exceeded: too many refused requests from this caller for cluster hosted."):
			t.Errorf("flood call %d past the burst: HTTP %d %s %q, want 429 ThrottlingException", i, r.Status, code, msg)
		case i >= 5:
			throttledFlood++
		}
		if i%(flood/legit) == 0 {
			tok := e.podToken(t, "hosted", "carts", "carts", fmt.Sprintf("web-%d", i), "node-2", nil)
			if r := e.exchange(t, quiet, "hosted", tok); r.Status != http.StatusOK {
				refusedLegit++
				t.Errorf("legitimate pod web-%d on node-2 during the flood: HTTP %d %s", i, r.Status, r.Body)
			}
		}
	}
	t.Logf("flood: %d of %d throttled; legitimate pods refused: %d of %d", throttledFlood, flood, refusedLegit, legit)
	// The noisy node is throttled for every token, its own legitimate pods
	// included, until its bucket refills (1 refusal per second here).
	if r := e.exchange(t, noisy, "hosted", victim); r.Status != http.StatusTooManyRequests {
		t.Errorf("noisy node's own pod while its budget is spent: HTTP %d, want 429", r.Status)
	}
	e.clock.Advance(time.Second)
	e.mustExchange(t, noisy, "hosted", victim)
	// An issuance costs the refusal budget nothing: the token just issued
	// is issued again, and the one refusal the second bought is still there.
	e.mustExchange(t, noisy, "hosted", victim)
	if r := e.exchange(t, noisy, "hosted", forge(victim, 999)); r.Status != http.StatusBadRequest {
		t.Errorf("refusal after a second's refill: HTTP %d, want 400", r.Status)
	}
	if r := e.exchange(t, noisy, "hosted", forge(victim, 1000)); r.Status != http.StatusTooManyRequests {
		t.Errorf("second refusal after a second's refill: HTTP %d, want 429", r.Status)
	}
}

// TestFairLimitsSharedCredentials: agents that share one IAM user and
// have no node tag are told apart by their source address; the same
// agent's refusals from the same address share a bucket.
func TestFairLimitsByCallerARN(t *testing.T) {
	t.Parallel()
	e := newPodEnv(t, func(c *app.Config) {
		c.EKSAuthFairLimits = eksauth.FairLimits{CallerRefusalRate: 1, CallerRefusalBurst: 2}
	})
	other := e.createUser(t, "agent2", allowEKSAuth)
	e.associate(t, "hosted", "carts", "carts", e.createRole(t, "pod-role", trustPods), nil)
	tok := e.podToken(t, "hosted", "carts", "carts", "carts-0", "", nil)
	for i := range 3 {
		r := e.exchange(t, e.agent, "hosted", forge(tok, i))
		if want := []int{400, 400, 429}[i]; r.Status != want {
			t.Errorf("agent refusal %d: HTTP %d, want %d", i, r.Status, want)
		}
	}
	e.mustExchange(t, other, "hosted", tok)
	if r := e.exchange(t, other, "hosted", forge(tok, 7)); r.Status != http.StatusBadRequest {
		t.Errorf("another caller's first refusal: HTTP %d, want 400", r.Status)
	}
}

// TestFairLimitsPodReplay: one pod's valid token replayed is throttled per
// pod; other pods of the same agent are served.
func TestFairLimitsPodReplay(t *testing.T) {
	t.Parallel()
	e := newPodEnv(t, func(c *app.Config) {
		c.EKSAuthFairLimits = eksauth.FairLimits{PodRate: 1, PodBurst: 3}
	})
	e.associate(t, "hosted", "carts", "carts", e.createRole(t, "pod-role", trustPods), nil)
	replayed := e.podToken(t, "hosted", "carts", "carts", "replayed", "", nil)
	for range 3 {
		e.mustExchange(t, e.agent, "hosted", replayed)
	}
	r := e.exchange(t, e.agent, "hosted", replayed)
	if code, msg := r.errCode(); r.Status != http.StatusTooManyRequests || code != "ThrottlingException" || msg != "Rate exceeded for pod replayed." {
		t.Errorf("fourth issuance to one pod: HTTP %d %s %q", r.Status, code, msg)
	}
	// A new token of the same pod is the same pod.
	if r := e.exchange(t, e.agent, "hosted", e.podToken(t, "hosted", "carts", "carts", "replayed", "", nil)); r.Status != http.StatusTooManyRequests {
		t.Errorf("another token of the replayed pod: HTTP %d, want 429", r.Status)
	}
	for i := range 5 {
		e.mustExchange(t, e.agent, "hosted", e.podToken(t, "hosted", "carts", "carts", fmt.Sprintf("other-%d", i), "", nil))
	}
	e.clock.Advance(time.Second)
	e.mustExchange(t, e.agent, "hosted", replayed)
}

// TestFairLimitsStormAtDefaults: a storm of distinct pods through one
// agent is not throttled at the default limits.
func TestFairLimitsStormAtDefaults(t *testing.T) {
	t.Parallel()
	e := newPodEnv(t, nil)
	e.associate(t, "hosted", "carts", "carts", e.createRole(t, "pod-role", trustPods), nil)
	const n = 400
	for i := range n {
		tok := e.podToken(t, "hosted", "carts", "carts", fmt.Sprintf("storm-%d", i), "", nil)
		if r := e.exchange(t, e.agent, "hosted", tok); r.Status != http.StatusOK {
			t.Fatalf("pod %d of %d: HTTP %d %s", i, n, r.Status, r.Body)
		}
	}
}
