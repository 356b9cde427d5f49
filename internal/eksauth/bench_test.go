package eksauth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/cputime"
	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/store/postgres/pgtest"
)

// benchEnv is a server with a hosted cluster, the workshop's association
// (role with the six-tag trust policy) and a pod token (RS256, minted by
// podid as a kube-apiserver would).
type benchEnv struct {
	*env
	token string
}

func newBenchEnv(b *testing.B, mod func(*app.Config)) *benchEnv {
	b.Helper()
	// The benchmarks repeat one pod's token, which the per-pod issuance
	// limit rightly throttles after its burst; a storm is many pods, each
	// within its budget (bench/storm), so the pod limit is off here.
	e := newEnv(b, func(c *app.Config) {
		c.EKSAuthFairLimits.PodRate = -1
		if mod != nil {
			mod(c)
		}
	})
	e.createRole(b, "cluster", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	e.createHostedCluster(b, "eks-workshop", nil)
	e.createRole(b, "eks-workshop-carts-dynamo", trustPods, getRoleByNamespace)
	e.associate(b, "eks-workshop", "carts", "carts", roleARN("eks-workshop-carts-dynamo"), nil)
	e.createUser(b, "agent", allowEKSAuth)
	e.createRole(b, "node", trustAccountRoot, allowEKSAuth)
	return &benchEnv{env: e, token: e.podToken(b, "eks-workshop", "carts", "carts", "carts-7c9d8b6d4-x2x8p", "node-1", nil)}
}

// userPrincipal is the agent as an IAM user, as the edge would resolve it.
func (e *benchEnv) userPrincipal(b *testing.B) *auth.Principal {
	var u *store.User
	if err := e.app.Store.View(context.Background(), func(tx store.Tx) error {
		var err error
		u, err = tx.GetUser("123456789012", "agent")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return auth.UserPrincipal(u, acct, "AKIABENCHAGENT000000")
}

// nodePrincipal is the agent as a session of the node role (the real
// agent's identity: the node role through IMDS), bound to node-1.
func (e *benchEnv) nodePrincipal(b *testing.B) *auth.Principal {
	var r *store.Role
	if err := e.app.Store.View(context.Background(), func(tx store.Tx) error {
		var err error
		r, err = tx.GetRole("123456789012", "node")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	now := e.clock.Now()
	s := &auth.Session{RoleARN: r.ARN, RoleID: r.ID, RoleName: r.Name, Type: auth.AssumedRole, SessionName: "i-0123456789abcdef0",
		Tags: map[string]string{eksauth.NodeNameTag: "node-1"}, Issued: now, Expires: now.Add(6 * time.Hour)}
	return auth.RoleSessionPrincipal("aws", acct, "ASIABENCHAGENT000000", s)
}

// benchCallers is how many exchanges the benchmarks keep in flight per
// GOMAXPROCS (agents keep up to 64 connections each): an issuance waits
// for its audit record's commit, and the exchanges in flight share
// commits, at most one per eksauth.DefaultCommitEvery
// (Auditor.RecordDurable). With fewer callers the commits' pace, not the
// CPU, would bound the rate: 2 × 64 callers per 10 ms is 12,800
// exchanges a second, and the idle cores' GC workers would inflate
// cpu-ns/op.
const benchCallers = 256

// BenchmarkExchange is the whole exchange in process, without HTTP: the
// caller's eks-auth:AssumeRoleForPodIdentity decision, RS256 token
// verification, association lookup, trust evaluation of sts:AssumeRole and
// sts:TagSession with six transitive tags, credential minting and the
// audit record (written to SQLite by the running auditor).
func BenchmarkExchange(b *testing.B) {
	for _, c := range []struct {
		name   string
		caller func(*benchEnv, *testing.B) *auth.Principal
	}{
		{"user-caller", (*benchEnv).userPrincipal},
		{"node-role-caller", (*benchEnv).nodePrincipal},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newBenchEnv(b, nil)
			ctx := auth.WithPrincipal(context.Background(), c.caller(e, b))
			in := &eksauth.Input{ClusterName: "eks-workshop", Token: e.token}
			if _, err := e.app.EKSAuth.AssumeRoleForPodIdentity(ctx, in); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(benchCallers)
			cpu := cputime.Start()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.app.EKSAuth.AssumeRoleForPodIdentity(ctx, in); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.StopTimer()
			cpu.Report(b)
		})
	}
}

// BenchmarkExchangeHTTP is the same exchange through the server's
// handler (body limit, SigV4 verification of the node-role session's
// signature, routing, JSON encoding), in process without a socket, on each
// store backend in the same run: SQLite in a temporary directory and
// PostgreSQL on a throwaway local server (the hot path reads memory; the
// store only takes the batched audit records). The request is signed once;
// the server's clock does not move, so the signature stays valid.
func BenchmarkExchangeHTTP(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchExchangeHTTP(b, nil) })
	b.Run("postgres", func(b *testing.B) {
		url := pgLazy.Get(b).NewDatabase(b)
		benchExchangeHTTP(b, func(c *app.Config) {
			c.DatabaseURL = url
			c.Getenv = func(k string) string {
				if k == secrets.EnvMasterKey {
					return benchMasterKey
				}
				return ""
			}
		})
	})
}

// benchMasterKey is a fixed master key for the PostgreSQL benchmark (a
// shared database needs one from the environment).
const benchMasterKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// pgLazy is the PostgreSQL server of this package's benchmarks, started on
// first use and stopped by TestMain.
var pgLazy pgtest.Lazy

func TestMain(m *testing.M) {
	code := m.Run()
	pgLazy.Stop()
	os.Exit(code)
}

func benchExchangeHTTP(b *testing.B, mod func(*app.Config)) {
	e := newBenchEnv(b, mod)
	boot := e.createUser(b, "bootstrap", allowAssumeAll)
	creds := e.assumeRole(b, boot, roleARN("node"), "i-0123456789abcdef0", map[string]string{eksauth.NodeNameTag: "node-1"})
	body, _ := json.Marshal(map[string]string{"token": e.token})
	req, _ := http.NewRequest(http.MethodPost, "http://eks-auth.us-west-2.api.aws/clusters/eks-workshop/assume-role-for-pod-identity", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "eks-auth", region, e.clock.Now()); err != nil {
		b.Fatal(err)
	}
	header := req.Header.Clone()
	serve := func() int {
		r := httptest.NewRequest(http.MethodPost, req.URL.String(), bytes.NewReader(body))
		r.Header = header.Clone()
		r.RemoteAddr = "10.0.0.7:40000"
		w := &discardWriter{h: http.Header{}}
		e.app.Handler.ServeHTTP(w, r)
		return w.status
	}
	if st := serve(); st != http.StatusOK {
		b.Fatalf("HTTP %d", st)
	}
	b.ReportAllocs()
	b.SetParallelism(benchCallers)
	cpu := cputime.Start()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if st := serve(); st != http.StatusOK {
				b.Fatalf("HTTP %d", st)
			}
		}
	})
	b.StopTimer()
	cpu.Report(b)
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return len(p), nil
}
func (d *discardWriter) WriteHeader(s int) {
	if d.status == 0 {
		d.status = s
	}
}

var _ io.Writer = (*discardWriter)(nil)
