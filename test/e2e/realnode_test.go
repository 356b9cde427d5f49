package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real node: containerd, runc, the CNI plugins and a kubelet built from
// the same Kubernetes modules as the control plane, on this machine. Facts
// it relies on are in docs (../shared/reference/real-node.md): containerd
// needs restrict_oom_score_adj here, dummy links do not exist, one node per
// machine at a time.
const (
	realNodeName = "podid-node"
	// realNodeIP is TEST-NET-2, on a link the test creates. Not TEST-NET-1:
	// machines of this kind have 192.0.2.2/24 on eth0 (gateway 192.0.2.1),
	// and a second route for that subnet would take the machine's
	// traffic. startRealNode refuses an address the machine already has.
	realNodeIP  = "198.51.100.2"
	realNodeNet = "198.51.100.0/24"
	// realNodeServiceNet holds the Services' ClusterIPs (TEST-NET-3),
	// routed to the node's link; the kubernetes Service is its first.
	realNodeServiceNet   = "203.0.113.0/24"
	realNodeKubernetesIP = "203.0.113.1"
	realNodeLink         = "podid-node0"
	realNodeCNI          = "podid-cni0"
	realNodeSubnet       = "10.244.77.0/24"
	realNodeSubnet6      = "fd00:77::/64"
	// agentLink stands in for EKS's dummy link pod-id-link0: this kernel
	// has no dummy links, so the test makes it a port-less bridge, which
	// the agent finds and adds its addresses to.
	agentLink    = "pod-id-link0"
	realNodeLock = "/run/podid-e2e-real-node.lock"
	pauseImage   = "podid.local/pause:e2e"
)

// realNodeInstall is what a machine needs for the real-node tests.
const realNodeInstall = "run as root after scripts/install-deps.sh (containerd, runc, containernetworking-plugins, iptables, conntrack): sudo go test ./test/e2e -run TestRealNode"

// requireRealNode skips (outside CI) or fails (in CI) when this machine
// cannot run a real node (need, the one tool check).
func requireRealNode(t *testing.T) {
	t.Helper()
	tools := []tool{toolRoot}
	for _, name := range []string{"containerd", "ctr", "runc", "ip", "iptables"} {
		tools = append(tools, tool{Name: name, Install: realNodeInstall, Missing: lookPath(name)})
	}
	tools = append(tools, tool{Name: "/usr/lib/cni/bridge", Install: realNodeInstall, Missing: func() error {
		_, err := os.Stat("/usr/lib/cni/bridge")
		return err
	}})
	need(t, tools...)
}

// realNode is a running kubelet node.
type realNode struct {
	cp      *controlPlane
	dir     string
	sock    string // containerd's socket
	rootDir string // the kubelet's --root-dir
}

// startRealNode starts a control plane (its API server on the node's
// address, where pods reach it through the kubernetes Service) and a real
// node, with podid's image and the pause image imported, kube-proxy, and a
// cluster DNS for Service names (startClusterDNS). Everything it creates on the machine is
// removed when the test ends; it holds a file lock so that node tests never
// overlap.
func startRealNode(t *testing.T) *realNode {
	t.Helper()
	requireRealNode(t)
	lockNode(t)
	bin := k8sBin(t)
	podidImage := buildImage(t)
	pause := buildImage(t, "-package", "./test/e2e/testdata/pause", "-name", "pause", "-repository", "podid.local/pause", "-version", "e2e", "-cmd", "")

	// Short paths: containerd's and the shims' sockets have a length limit.
	dir, err := os.MkdirTemp("", "podid-node-")
	if err != nil {
		t.Fatal(err)
	}
	n := &realNode{dir: dir, sock: filepath.Join(dir, "containerd.sock"), rootDir: filepath.Join(dir, "kubelet")}
	snap := snapshotHostState()
	t.Cleanup(func() { n.cleanup(t, snap) })

	// The node's address on a port-less bridge (no dummy links here), in
	// a subnet the machine does not use.
	for _, ip := range []string{realNodeIP, realNodeKubernetesIP} {
		if out := runCmd(t, "ip", "-o", "route", "show", "to", "match", ip); strings.Contains(out, realNodeNet) || strings.Contains(out, realNodeServiceNet) || strings.Contains(out, ip) {
			t.Fatalf("this machine already routes %s (%s): the real node needs subnets of its own", ip, strings.TrimSpace(out))
		}
	}
	runCmd(t, "ip", "link", "add", realNodeLink, "type", "bridge")
	runCmd(t, "ip", "addr", "add", realNodeIP+"/24", "dev", realNodeLink)
	runCmd(t, "ip", "link", "set", realNodeLink, "up")
	// ClusterIPs go to the node's link, never the default route: before
	// kube-proxy programs a Service (or for one it does not know), a
	// connection to it fails here instead of leaving the machine. The
	// route goes with the link.
	runCmd(t, "ip", "route", "add", realNodeServiceNet, "dev", realNodeLink)

	n.cp = startControlPlaneWith(t, cpOptions{realNode: true})
	startClusterDNS(t, n.cp)

	// containerd with its own root, state and socket; the CRI plugin with
	// the local pause image, cgroupfs, the Debian CNI plugins and the one
	// setting without which no sandbox starts in this VM.
	cniConf := filepath.Join(dir, "net.d")
	os.MkdirAll(cniConf, 0o755)
	write(t, cniConf, "10-podid.conflist", []byte(fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "podid-e2e",
  "plugins": [{
    "type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false,
    "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}], [{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]}
  }, {"type": "loopback"}]
}`, realNodeCNI, filepath.Join(dir, "cni-ipam"), realNodeSubnet, realNodeSubnet6)))
	cfg := write(t, dir, "containerd.toml", []byte(fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, filepath.Join(dir, "containerd-root"), filepath.Join(dir, "containerd-state"), n.sock, n.sock+".ttrpc", pauseImage, cniConf)))
	n.cp.run(t, "containerd", "containerd", "--config", cfg)
	n.waitFor(t, 30*time.Second, "containerd's socket", func() bool {
		return exec.Command("ctr", "--address", n.sock, "version").Run() == nil
	})
	for _, img := range []builtImage{podidImage, pause} {
		n.importImage(t, img)
	}

	// The kubelet: cgroupfs on cgroup v1, no swap check, its own root
	// directory, on the node address. The API server reaches it for logs
	// without client certificates (a test node on a test address).
	kcfg := write(t, dir, "kubelet.yaml", []byte(fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://%s
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
registerNode: true
syncFrequency: 10s
clusterDNS: [%s]
clusterDomain: %s
`, realNodeIP, n.sock, realNodeIP, realNodeDomain)))
	n.cp.run(t, "kubelet", filepath.Join(bin, "kubelet"),
		"--config="+kcfg, "--kubeconfig="+n.cp.Kubeconfig, "--root-dir="+n.rootDir,
		"--cert-dir="+filepath.Join(dir, "kubelet-pki"), "--hostname-override="+realNodeName, "--node-ip="+realNodeIP, "--v=1")
	n.cp.waitFor(t, 2*time.Minute, "the real node Ready", func() bool {
		out, _ := n.cp.kubectlOut("get", "node", realNodeName, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status} {.spec.taints}")
		return out == "True "
	})
	n.startKubeProxy(t, bin)
	return n
}

// startKubeProxy runs kube-proxy (iptables mode, from the same modules as
// the control plane) so that pods reach Services: the kubernetes Service
// (the webhook's and the Job's API access) and the chart's. It leaves the
// machine's sysctls as they are (conntrack limits, route_localnet) and
// serves NodePorts only on the node's address. The rules it writes go
// with the node (cleanup restores the tables it found).
func (n *realNode) startKubeProxy(t *testing.T, bin string) {
	t.Helper()
	n.cp.run(t, "kube-proxy", filepath.Join(bin, "kube-proxy"),
		"--kubeconfig="+n.cp.Kubeconfig, "--hostname-override="+realNodeName, "--proxy-mode=iptables",
		"--cluster-cidr="+realNodeSubnet, "--nodeport-addresses="+realNodeIP+"/32",
		"--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0",
		"--iptables-localhost-nodeports=false",
		// A pod reaching a Service whose endpoint is a pod on the same
		// bridge gets its answer back through the host (un-NATed) whether
		// or not bridged traffic passes iptables (br_netfilter).
		"--masquerade-all",
		fmt.Sprintf("--healthz-bind-address=127.0.0.1:%d", freePort(t)), fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", freePort(t)))
	n.waitFor(t, time.Minute, "kube-proxy's rule for the kubernetes Service", func() bool {
		out, _ := exec.Command("iptables", "-t", "nat", "-S", "KUBE-SERVICES").CombinedOutput()
		return strings.Contains(string(out), "default/kubernetes:https")
	})
}

// importImage imports an image archive into containerd's Kubernetes
// namespace, where the kubelet finds it (imagePullPolicy: Never).
func (n *realNode) importImage(t *testing.T, img builtImage) {
	t.Helper()
	runCmd(t, "ctr", "--address", n.sock, "-n", "k8s.io", "images", "import", "--platform", "linux/"+goarch(), img.Archive)
	out := runCmd(t, "ctr", "--address", n.sock, "-n", "k8s.io", "images", "ls", "-q")
	if !strings.Contains(out, img.Ref) {
		t.Fatalf("ctr import did not name %s; images:\n%s", img.Ref, out)
	}
}

func (n *realNode) waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func goarch() string { return strings.TrimSpace(mustOutput("go", "env", "GOARCH")) }

func mustOutput(name string, args ...string) string {
	out, _ := exec.Command(name, args...).Output()
	return string(out)
}

func runCmd(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// lockNode serialises the tests that use the machine's one node.
func lockNode(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(realNodeLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}

// hostState is what existed on the machine before the node started, so
// that cleanup removes only what the test added.
type hostState struct {
	entries  map[string]map[string]bool // directory → names present before
	iptables map[string]string          // iptables-save and ip6tables-save output
}

// ipTables are the families whose rules the kubelet and kube-proxy write.
var ipTables = []string{"iptables", "ip6tables"}

// hostDirs are the machine-wide directories a kubelet, containerd and the
// CNI plugins write to regardless of their own roots.
var hostDirs = []string{"/var/lib/kubelet", "/var/log/pods", "/var/log/containers", "/var/lib/cni", "/var/lib/cni/results", "/run/netns", "/run/containerd", "/run/containerd/s", "/run/containerd/runc"}

func snapshotHostState() hostState {
	s := hostState{entries: map[string]map[string]bool{}, iptables: map[string]string{}}
	for _, ipt := range ipTables {
		if out, err := exec.Command(ipt + "-save").Output(); err == nil {
			s.iptables[ipt] = string(out)
		}
	}
	for _, d := range hostDirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		s.entries[d] = map[string]bool{}
		for _, e := range ents {
			s.entries[d][e.Name()] = true
		}
	}
	return s
}

// cleanup removes the node: its pods and containers, containerd (its
// processes are stopped by the control plane's cleanup, registered later
// and so run earlier), mounts, cgroups, links and addresses, network
// namespaces and the machine-wide directories it added to.
func (n *realNode) cleanup(t *testing.T, before hostState) {
	var errs []error
	// Leftover shims of our containerd (found by their -address argument),
	// by PID, and their containers.
	for _, pid := range pidsWithArg(n.sock) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	// Processes left in the pods' cgroups (containers outlive a killed
	// shim), by PID.
	for i := 0; i < 50; i++ {
		pids := cgroupPIDs("/sys/fs/cgroup/pids/kubepods")
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Mounts under our directories, deepest first.
	prefixes := []string{n.dir, "/var/lib/kubelet", "/run/netns", "/run/containerd"}
	for _, m := range mountsUnder(prefixes) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	// Cgroups the kubelet and runc made (cgroup v1: one tree per controller).
	ctrls, _ := os.ReadDir("/sys/fs/cgroup")
	for _, c := range ctrls {
		removeCgroupTree(filepath.Join("/sys/fs/cgroup", c.Name(), "kubepods"), &errs)
	}
	for _, l := range []string{realNodeCNI, realNodeLink, agentLink} {
		exec.Command("ip", "link", "del", l).Run()
	}
	// The kubelet's and kube-proxy's rules (their chains in filter, nat
	// and mangle): back to the tables as they were.
	for ipt, saved := range before.iptables {
		if err := restoreIPTables(ipt, saved); err != nil {
			errs = append(errs, err)
		}
	}
	// Machine-wide directories: remove what was not there before.
	for i := len(hostDirs) - 1; i >= 0; i-- {
		d := hostDirs[i]
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		had, existed := before.entries[d]
		for _, e := range ents {
			if !had[e.Name()] {
				if err := os.RemoveAll(filepath.Join(d, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if !existed {
			os.Remove(d)
		}
	}
	if err := os.RemoveAll(n.dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		t.Errorf("cleaning up the real node: %v", err)
	}
}

// restoreIPTables puts back the rules saved (iptables-save output); a
// table that did not exist then is emptied (its chains and rules removed).
func restoreIPTables(ipt, saved string) error {
	now, err := exec.Command(ipt + "-save").Output()
	if err != nil {
		return fmt.Errorf("%s-save: %w", ipt, err)
	}
	in := saved
	for _, table := range []string{"filter", "nat", "mangle", "raw"} {
		if strings.Contains(string(now), "*"+table+"\n") && !strings.Contains(saved, "*"+table+"\n") {
			in += "*" + table + "\nCOMMIT\n"
		}
	}
	cmd := exec.Command(ipt + "-restore")
	cmd.Stdin = strings.NewReader(in)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s-restore: %w: %s", ipt, err, out)
	}
	return nil
}

// pidsWithArg lists processes whose command line contains arg.
func pidsWithArg(arg string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, a := range strings.Split(string(b), "\x00") {
			if a == arg || strings.HasPrefix(a, arg+".") {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// mountsUnder lists mount points under any of prefixes, deepest first.
func mountsUnder(prefixes []string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := strings.ReplaceAll(fields[4], `\040`, " ")
		for _, p := range prefixes {
			if mp == p || strings.HasPrefix(mp, p+"/") {
				out = append(out, mp)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// cgroupPIDs lists the processes in a cgroup v1 tree.
func cgroupPIDs(dir string) []int {
	var pids []int
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// removeCgroupTree removes a cgroup directory and its children, deepest first.
func removeCgroupTree(dir string, errs *[]error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() {
			removeCgroupTree(filepath.Join(dir, e.Name()), errs)
		}
	}
	var err2 error
	for i := 0; i < 50; i++ { // a cgroup empties a moment after its last task exits
		if err2 = syscall.Rmdir(dir); err2 == nil || errors.Is(err2, syscall.ENOENT) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	*errs = append(*errs, fmt.Errorf("rmdir %s: %w", dir, err2))
}

// TestRealNodeRunsPodidImage: on a real kubelet node, a pod of podid's
// image (imported into containerd, never pulled) runs as the image's
// non-root user and its default command prints the commit it was built
// from; the kubelet reports the version the control plane was built at.
func TestRealNodeRunsPodidImage(t *testing.T) {
	n := startRealNode(t)
	cp := n.cp
	if v := cp.kubectl(t, "get", "node", realNodeName, "-o", "jsonpath={.status.nodeInfo.kubeletVersion} {.status.nodeInfo.containerRuntimeVersion}"); !strings.HasPrefix(v, "v1.34.4 containerd://") {
		t.Errorf("node info = %q, want kubelet v1.34.4 on containerd", v)
	}
	img := buildImage(t)
	cp.kubectlApply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: podid-version, namespace: default}
spec:
  restartPolicy: Never
  securityContext: {runAsNonRoot: true}
  containers:
  - name: podid
    image: %s
    imagePullPolicy: Never
`, img.Ref))
	cp.waitFor(t, 2*time.Minute, "the podid-version pod to succeed", func() bool {
		out, _ := cp.kubectlOut("get", "pod", "podid-version", "-o", "jsonpath={.status.phase}")
		if out == "Failed" {
			t.Fatalf("podid-version failed: %s", cp.kubectl(t, "describe", "pod", "podid-version"))
		}
		return out == "Succeeded"
	})
	logs := cp.kubectl(t, "logs", "podid-version")
	want := "(commit " + gitCommit(t) + ","
	if !strings.HasPrefix(logs, "podid ") || !strings.Contains(logs, want) {
		t.Errorf("kubectl logs podid-version = %q, want podid version with %q", logs, want)
	}
	// Pods go before the node so that the kubelet tears their sandboxes down.
	cp.kubectl(t, "delete", "pod", "podid-version", "--wait=true", "--timeout=60s")
}

func gitCommit(t *testing.T) string {
	t.Helper()
	out := runCmd(t, "git", "-C", "../..", "rev-parse", "HEAD")
	commit := strings.TrimSpace(out)
	if exec.Command("git", "-C", "../..", "diff", "--quiet", "HEAD").Run() != nil {
		commit += "-dirty"
	}
	return commit
}
