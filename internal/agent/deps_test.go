package agent

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the node agent small: it must not link the server's
// storage drivers or the Kubernetes client libraries.
func TestDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/podid/podid/internal/agent").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := map[string]string{
		"modernc.org/sqlite":                    "SQL driver (server only)",
		"github.com/jackc/pgx":                  "SQL driver (server only)",
		"k8s.io/client-go":                      "Kubernetes client (webhook only)",
		"github.com/podid/podid/internal/store": "server storage",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for prefix, why := range forbidden {
			if strings.HasPrefix(pkg, prefix) {
				t.Errorf("agent links %s: %s", pkg, why)
			}
		}
	}
}
