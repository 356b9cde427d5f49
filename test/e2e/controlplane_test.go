package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// controlPlane is a real Kubernetes control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) with kwok faking three nodes,
// built from Go modules by scripts/build-k8s.sh.
type controlPlane struct {
	Dir        string
	URL        string // https://127.0.0.1:PORT
	Kubeconfig string
	Token      string
	Issuer     string
	CAFile     string
	logs       map[string]*bytes.Buffer
}

// startControlPlane builds (once, cached) and starts the control plane. It
// fails the test if the binaries cannot be built: this test is never skipped.
func startControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	return startControlPlaneWith(t, cpOptions{kwokNodes: 3})
}

// cpOptions varies the control plane: kwok's fake nodes, or none for a
// real kubelet (which needs the node lifecycle controller to clear its
// not-ready taint, and the API server to reach it by its InternalIP).
type cpOptions struct {
	kwokNodes int
	realNode  bool
}

// host is the API server's address: loopback, or with a real node the
// node's address, which pods reach (the kubernetes Service's endpoint
// through kube-proxy) and a loopback advertise address would not be.
func (o cpOptions) host() string {
	if o.realNode {
		return realNodeIP
	}
	return "127.0.0.1"
}

// serviceRange is the Services' ClusterIP range: a setting only with kwok;
// with a real node, TEST-NET-3, which the node routes to a link of its own
// so that a ClusterIP kube-proxy has not (yet) programmed goes nowhere
// (10.0.0.0/24 would follow the machine's default route off the machine).
func (o cpOptions) serviceRange() string {
	if o.realNode {
		return realNodeServiceNet
	}
	return "10.0.0.0/24"
}

// k8sBin builds (once, cached) the Kubernetes binaries and returns their directory.
func k8sBin(t *testing.T) string {
	t.Helper()
	need(t, toolKubectl)
	if !inCI() {
		// Outside CI an unbuilt control plane skips (building takes
		// 10-15 minutes); in CI it is built here if it is missing.
		need(t, toolControlPlane)
	}
	build := exec.Command("../../scripts/build-k8s.sh")
	var berr bytes.Buffer
	build.Stderr = &berr
	out, err := build.Output()
	if err != nil {
		t.Fatalf("building the control plane: %v\n%s", err, berr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

func startControlPlaneWith(t *testing.T, o cpOptions) *controlPlane {
	t.Helper()
	bin := k8sBin(t)
	stages := filepath.Join(filepath.Dir(bin), "kwok-stages.yaml")

	cp := &controlPlane{Dir: t.TempDir(), Token: "podid-e2e-admin-token", logs: map[string]*bytes.Buffer{}}
	dir := cp.Dir
	etcdPort, etcdPeer, apiPort, cmPort, schedPort := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	cp.URL = fmt.Sprintf("https://%s:%d", o.host(), apiPort)
	cp.Issuer = cp.URL

	// Serving certificate (IP SAN 127.0.0.1) and service-account keys.
	caPEM, certPEM, keyPEM := selfSignedServing(t)
	cp.CAFile = write(t, dir, "ca.crt", caPEM)
	write(t, dir, "apiserver.crt", certPEM)
	write(t, dir, "apiserver.key", keyPEM)
	saKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	write(t, dir, "sa.key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)}))
	pubDER, _ := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	write(t, dir, "sa.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	write(t, dir, "tokens.csv", []byte(cp.Token+",admin,admin,system:masters\n"))
	cp.Kubeconfig = write(t, dir, "kubeconfig", []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: %s, certificate-authority: %s}
users:
- name: admin
  user: {token: %s}
contexts:
- name: e2e
  context: {cluster: e2e, user: admin}
current-context: e2e
`, cp.URL, cp.CAFile, cp.Token)))

	cp.run(t, "etcd", filepath.Join(bin, "etcd"), "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPort),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer))
	cp.run(t, "kube-apiserver", filepath.Join(bin, "kube-apiserver"),
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdPort),
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--bind-address="+o.host(), "--advertise-address="+o.host(),
		// Webhooks are called at their Service's endpoints (the pod's
		// address), not through a ClusterIP.
		fmt.Sprintf("--enable-aggregator-routing=%t", o.realNode),
		"--tls-cert-file="+filepath.Join(dir, "apiserver.crt"), "--tls-private-key-file="+filepath.Join(dir, "apiserver.key"),
		"--client-ca-file="+cp.CAFile,
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-account-issuer="+cp.Issuer,
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range="+o.serviceRange(),
		"--enable-admission-plugins=MutatingAdmissionWebhook",
		"--kubelet-preferred-address-types=InternalIP",
		"--cert-dir="+filepath.Join(dir, "certs"))
	cp.waitReady(t)
	controllers := "--controllers=*,-nodeipam,-nodelifecycle"
	if o.realNode {
		controllers = "--controllers=*,-nodeipam"
	}
	cp.run(t, "kube-controller-manager", filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig="+cp.Kubeconfig, "--authentication-kubeconfig="+cp.Kubeconfig, "--authorization-kubeconfig="+cp.Kubeconfig,
		controllers, "--service-account-private-key-file="+filepath.Join(dir, "sa.key"),
		"--root-ca-file="+cp.CAFile, "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", cmPort),
		"--use-service-account-credentials=false", "--leader-elect=false")
	cp.run(t, "kube-scheduler", filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig="+cp.Kubeconfig, "--authentication-kubeconfig="+cp.Kubeconfig, "--authorization-kubeconfig="+cp.Kubeconfig,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", schedPort), "--leader-elect=false")
	if o.kwokNodes == 0 {
		return cp
	}
	cp.run(t, "kwok", filepath.Join(bin, "kwok"), "--kubeconfig="+cp.Kubeconfig, "--config="+stages,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=127.0.0.1", "--server-address=127.0.0.1:0")
	for i := 1; i <= o.kwokNodes; i++ {
		cp.kubectlApply(t, fmt.Sprintf(`apiVersion: v1
kind: Node
metadata:
  name: node-%d
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/os: linux, kubernetes.io/hostname: node-%d, type: kwok}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
`, i, i))
	}
	cp.waitFor(t, 2*time.Minute, fmt.Sprintf("%d ready nodes", o.kwokNodes), func() bool {
		out, _ := cp.kubectlOut("get", "nodes", "-o", "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}{\"\\n\"}{end}")
		return strings.Count(out, "True") == o.kwokNodes
	})
	// With the node lifecycle controller off, nothing removes the
	// not-ready taint the API server put on the nodes at registration.
	for i := 1; i <= o.kwokNodes; i++ {
		cp.kubectlOut("patch", "node", fmt.Sprintf("node-%d", i), "--type=merge", "-p", `{"spec":{"taints":null}}`)
	}
	return cp
}

func (cp *controlPlane) run(t *testing.T, name, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	buf := &bytes.Buffer{}
	cp.logs[name] = buf
	cmd.Stdout, cmd.Stderr = buf, buf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			tail := buf.String()
			if len(tail) > 4000 {
				tail = tail[len(tail)-4000:]
			}
			t.Logf("%s log (tail):\n%s", name, tail)
		}
	})
}

func (cp *controlPlane) waitReady(t *testing.T) {
	t.Helper()
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(cp.CAFile)
	pool.AppendCertsFromPEM(ca)
	client := httpsClient(pool)
	cp.waitFor(t, 2*time.Minute, "kube-apiserver /readyz", func() bool {
		req, _ := http.NewRequest(http.MethodGet, cp.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+cp.Token)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// waitWebhookView waits until the pod webhook's view of the associations
// agrees with want: a pod of namespace/serviceAccount, created with a
// server-side dry run (real admission, nothing stored), is mutated (want
// true) or left alone (want false). The webhook follows the association
// feed, so a create or delete reaches it a moment after the API call.
func (cp *controlPlane) waitWebhookView(t *testing.T, d time.Duration, namespace, serviceAccount, image string, want bool) {
	t.Helper()
	pod := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"webhook-view","namespace":%q},"spec":{"serviceAccountName":%q,"containers":[{"name":"c","image":%q}]}}`,
		namespace, serviceAccount, image)
	what := fmt.Sprintf("the webhook to mutate=%v a %s/%s pod (dry run)", want, namespace, serviceAccount)
	cp.waitFor(t, d, what, func() bool {
		cmd := exec.Command("kubectl", "--kubeconfig", cp.Kubeconfig, "create", "--dry-run=server", "-f", "-", "-o", "jsonpath={.spec.containers[0].env[*].name}")
		cmd.Stdin = strings.NewReader(pod)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return false
		}
		return strings.Contains(string(out), "AWS_CONTAINER_CREDENTIALS_FULL_URI") == want
	})
}

func (cp *controlPlane) waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			pods, _ := cp.kubectlOut("get", "pods", "-A", "-o", "wide")
			events, _ := cp.kubectlOut("get", "events", "-A")
			t.Fatalf("timed out waiting for %s\npods:\n%s\nevents:\n%s", what, pods, events)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// kubectl runs kubectl against the control plane and fails on error.
func (cp *controlPlane) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cp.kubectlOut(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (cp *controlPlane) kubectlOut(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", cp.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (cp *controlPlane) kubectlApply(t *testing.T, manifest string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", "--kubeconfig", cp.Kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s\n%s", err, out, manifest)
	}
	return string(out)
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// selfSignedServing returns a CA and a serving certificate for 127.0.0.1,
// the real node's address and the kubernetes Service's ClusterIP (what
// in-cluster clients dial).
func selfSignedServing(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "podid-e2e-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(realNodeIP), net.ParseIP("10.0.0.1"), net.ParseIP(realNodeKubernetesIP)}, DNSNames: []string{"localhost", "kubernetes.default.svc"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func httpsClient(pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}
