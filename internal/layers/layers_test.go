package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/podid/podid/"

// pkg is one package of the module as `go list` reports it: its direct
// imports and its whole dependency closure (non-test files only: the rules
// are about what the binaries contain).
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// rule says which packages must not reach which. Paths are relative to the
// module ("internal/iam"); a trailing "/..." matches a package and
// everything under it.
type rule struct {
	// from are the packages the rule constrains.
	from []string
	// except are packages of from the rule does not constrain.
	except []string
	// direct: only direct imports count (else the whole closure).
	direct bool
	// deny are the packages from must not reach; allowOnly, when set
	// instead, are the only podid packages from may reach.
	deny      []string
	allowOnly []string
	reason    string
}

// services are the AWS services podid serves.
var services = []string{"internal/iam", "internal/sts", "internal/eks", "internal/eksauth"}

// serverSide is what only `podid server` runs: services, their
// authorization, policy engine, store and secrets.
var serverSide = append([]string{
	"internal/server", "internal/app", "internal/auth/...", "internal/policy",
	"internal/store/...", "internal/secrets", "internal/password", "internal/sessiontoken", "internal/broker",
	"internal/eks/issuer", "internal/gateway", "internal/agentinstall", "internal/console",
}, services...)

// testOnly are packages only tests may import.
var testOnly = []string{"internal/testclock", "internal/policy/vectortest", "internal/auth/authtest", "internal/store/storetest", "internal/store/postgres/pgtest", "internal/iam/iamsdktest", "internal/testtools"}

// rules are docs/architecture.md's layering, one reason each.
var rules = []rule{
	{
		from:   []string{"internal/server"},
		deny:   append([]string{"internal/app", "internal/broker", "internal/gateway", "internal/store/sqlite", "internal/eks/issuer"}, services...),
		reason: "the edge reads only the services' descriptors and interfaces; it knows nothing of a service's internals (edge ↛ services)",
	},
	{
		from:      []string{"internal/policy"},
		allowOnly: []string{"internal/arn", "internal/ids"},
		reason:    "the policy engine is pure (no I/O, no store): it never sees where policies come from (policy ↛ store); it may use the foundations (ARNs)",
	},
	{
		from:   []string{"internal/policy"},
		direct: true,
		deny:   []string{"net", "net/http", "os", "database/sql", "io/fs"},
		reason: "the policy engine does no I/O: parse, validate, compile, evaluate, explain over values it is given",
	},
	{
		from:   []string{"cmd/...", "internal/..."},
		except: []string{"internal/app", "internal/cli", "internal/store/...", "internal/auth/authtest", "internal/layers"},
		direct: true,
		deny:   []string{"internal/store/sqlite", "internal/store/postgres/...", "internal/store/backend", "internal/store/storetest"},
		reason: "services and everything they use see the store only through the store.Store contract; only app and the CLI (the standalone gateway) choose a backend, through store/backend (services ↛ a store backend)",
	},
	{
		from:   append([]string{"internal/auth", "internal/sessiontoken", "internal/broker", "internal/gateway", "internal/explain", "internal/eks/...", "internal/server", "internal/awsproto", "internal/policy", "internal/console"}, services...),
		deny:   []string{"internal/store/sqlite", "internal/store/postgres/...", "internal/store/backend"},
		reason: "no service reaches a store backend even indirectly (services ↛ a store backend)",
	},
	{
		from:   services,
		direct: true,
		deny:   services,
		reason: "the AWS services do not call each other; internal/app wires them together through the interfaces each declares (one service, one package)",
	},
	{
		from:   append([]string{"internal/server", "internal/auth/...", "internal/policy", "internal/store/...", "internal/audit", "internal/explain", "internal/broker", "internal/gateway"}, services...),
		deny:   []string{"internal/console"},
		reason: "the console is an edge beside the API: it calls the services as any client would (in process, as the signed-in principal), and nothing below it knows it exists (services ↛ console)",
	},
	{
		from:   []string{"internal/agent", "internal/webhook", "internal/local", "internal/podidclient", "internal/k8s", "internal/kubeapi", "internal/eks/feed"},
		deny:   serverSide,
		reason: "the node agent, webhook and local client run on nodes and laptops; they reach the server over its wire API only, and their binaries' behaviour must not depend on server-side code (agent ↛ server-side packages)",
	},
	{
		from:   []string{"internal/awsproto"},
		deny:   append([]string{"internal/auth/...", "internal/store/...", "internal/policy", "internal/server"}, services...),
		reason: "the wire protocols sit below authentication and services: SigV4 verification asks a lookup interface, never the store",
	},
	{
		from:      []string{"internal/store"},
		allowOnly: []string{},
		reason:    "the store contract is a leaf: every backend and every user can import it without cycles",
	},
	{
		from:      []string{"internal/store/sqlite", "internal/store/postgres"},
		allowOnly: []string{"internal/store"},
		reason:    "a backend implements the contract and nothing more: no policy, no services, no secrets handling",
	},
	{
		from:      []string{"internal/arn", "internal/ids", "internal/awscreds", "internal/sharedcreds", "internal/cputime", "internal/testclock", "internal/testtools", "internal/eks/feed", "internal/podidclient", "internal/version", "internal/image", "internal/password", "internal/jsonscan"},
		allowOnly: []string{"internal/arn", "internal/ids"},
		reason:    "foundations: ARNs, identifiers, credential files, clocks, the feed's wire format, the build's identity, the image builder, password hashing and the fast paths' JSON scanner depend on no other podid package",
	},
	{
		from:   []string{"cmd/...", "internal/..."},
		except: append(append([]string{}, testOnly...), "internal/layers"),
		deny:   testOnly,
		reason: "test helpers (settable clocks, fixture principals, conformance suites) never reach a binary",
	},
	{
		from:      []string{"cmd/podid"},
		direct:    true,
		allowOnly: []string{"internal/cli"},
		reason:    "main only runs the CLI; subcommands live in internal/cli",
	},
}

func matches(pattern, path string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == p || strings.HasPrefix(path, p+"/")
	}
	return path == pattern
}

func matchesAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return matches(p, path) })
}

// violations returns, for each rule, the forbidden edges in pkgs.
func violations(rules []rule, pkgs []pkg) []string {
	var out []string
	for _, r := range rules {
		for _, p := range pkgs {
			from := strings.TrimPrefix(p.ImportPath, module)
			if !matchesAny(r.from, from) || matchesAny(r.except, from) {
				continue
			}
			reach := p.Deps
			if r.direct {
				reach = p.Imports
			}
			for _, d := range reach {
				own := strings.HasPrefix(d, module)
				to := strings.TrimPrefix(d, module)
				bad := matchesAny(r.deny, to)
				if r.allowOnly != nil && own && !matchesAny(r.allowOnly, to) {
					bad = true
				}
				if bad {
					out = append(out, from+" → "+to+": "+r.reason)
				}
			}
		}
	}
	return out
}

// listModule runs `go list -deps` over the whole module, keeping its own
// packages.
func listModule(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps,Module", "./...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; the module has more", len(pkgs))
	}
	return pkgs
}

// TestImportRules enforces the rules on the module as it is.
func TestImportRules(t *testing.T) {
	pkgs := listModule(t)
	for _, v := range violations(rules, pkgs) {
		t.Error(v)
	}
	// A rule naming no existing package has gone stale (a rename) and
	// would silently enforce nothing; backends that may not exist yet
	// are the exception.
	optional := map[string]bool{}
	for _, r := range rules {
		for _, f := range r.from {
			if optional[f] {
				continue
			}
			if !slices.ContainsFunc(pkgs, func(p pkg) bool { return matches(f, strings.TrimPrefix(p.ImportPath, module)) }) {
				t.Errorf("rule %q names %s, which is no package of the module", r.reason, f)
			}
		}
	}
}

// TestRulesCatchViolations shows the checker fails on each kind of edge
// docs/architecture.md forbids, so TestImportRules cannot pass vacuously.
func TestRulesCatchViolations(t *testing.T) {
	tests := []struct {
		name string
		pkg  pkg
	}{
		{"edge imports a service", pkg{ImportPath: module + "internal/server", Deps: []string{module + "internal/iam"}}},
		{"policy reaches the store", pkg{ImportPath: module + "internal/policy", Deps: []string{module + "internal/store"}}},
		{"policy does I/O", pkg{ImportPath: module + "internal/policy", Imports: []string{"net/http"}}},
		{"service opens a backend", pkg{ImportPath: module + "internal/eksauth", Deps: []string{module + "internal/store/sqlite"}}},
		{"service calls a service", pkg{ImportPath: module + "internal/eks", Imports: []string{module + "internal/iam"}}},
		{"agent reaches the store", pkg{ImportPath: module + "internal/agent", Deps: []string{module + "internal/k8s", module + "internal/store"}}},
		{"awsproto reaches auth", pkg{ImportPath: module + "internal/awsproto", Deps: []string{module + "internal/auth"}}},
		{"backend reaches policy", pkg{ImportPath: module + "internal/store/sqlite", Deps: []string{module + "internal/store", module + "internal/policy"}}},
		{"binary contains a test clock", pkg{ImportPath: module + "internal/app", Deps: []string{module + "internal/testclock"}}},
		{"main does more than the CLI", pkg{ImportPath: module + "cmd/podid", Imports: []string{module + "internal/app"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if v := violations(rules, []pkg{tc.pkg}); len(v) == 0 {
				t.Errorf("no rule refused %s", tc.name)
			}
		})
	}
	// And the allowed shapes pass.
	ok := []pkg{
		{ImportPath: module + "internal/agent", Deps: []string{module + "internal/k8s", module + "internal/eks/feed", "net/http"}},
		{ImportPath: module + "internal/store/sqlite", Deps: []string{module + "internal/store", "database/sql"}},
		{ImportPath: module + "internal/server", Deps: []string{module + "internal/auth", module + "internal/awsproto", module + "internal/store"}},
	}
	if v := violations(rules, ok); len(v) != 0 {
		t.Errorf("allowed edges refused: %v", v)
	}
}
