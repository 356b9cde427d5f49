package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDevAgentFollowsChangeFeed: the agent inside `podid dev` follows the
// association change feed like a standalone agent: once the association is
// deleted it stops serving the credentials it had cached for the pod.
// (Before, dev's agent had no feed and served them until they expired.)
func TestDevAgentFollowsChangeFeed(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	d.associate(t, "carts-feed", "carts", "carts")
	out, errOut, code := d.exec(t, d.leakyEnv(), time.Minute, "-n", "carts", "-s", "carts", "--", "sh", "-c", `cat "$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"`)
	if code != 0 {
		t.Fatalf("exec: code %d\nstderr: %s", code, errOut)
	}
	tok := strings.TrimSpace(out)
	get := func() (int, string) {
		req, err := http.NewRequest(http.MethodGet, d.state.Clusters[0].AgentURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get(); status != http.StatusOK {
		t.Fatalf("agent before the delete: %d %s", status, body)
	}
	id := strings.Trim(strings.TrimSpace(d.aws(t, d.root(), "eks", "list-pod-identity-associations", "--cluster-name", "eks-workshop",
		"--namespace", "carts", "--query", "associations[0].associationId", "--output", "text")), `"`)
	d.aws(t, d.root(), "eks", "delete-pod-identity-association", "--cluster-name", "eks-workshop", "--association-id", id)
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := get()
		if status == http.StatusNotFound && strings.Contains(body, "(ResourceNotFoundException)") {
			return
		}
		if time.Now().After(deadline) {
			if status == http.StatusOK {
				body = "(credentials, not shown)"
			}
			t.Fatalf("agent 10 s after delete-pod-identity-association: %d %s, want 404 ResourceNotFoundException (cached credentials purged)", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
