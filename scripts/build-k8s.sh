#!/usr/bin/env bash
# Builds a real Kubernetes control plane from Go modules (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok) and a real node's kubelet and
# kube-proxy (test/e2e's TestRealNode…) once, and caches the binaries
# outside the repository under $PODID_K8S_CACHE (default
# ~/.cache/podid/k8s-v$K8S_VERSION). Later runs find them and return at once.
# Prints the bin directory on its last line. With --check it builds nothing
# and exits 1 when the binaries are missing.
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.13}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
cache=${PODID_K8S_CACHE:-$HOME/.cache/podid/k8s-v$K8S_VERSION}
bin=$cache/bin
want=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubelet kube-proxy)
missing=0
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing=1; done
if [ $missing = 0 ]; then echo "$bin"; exit 0; fi
# --check: only report (exit 1 when not built yet), for tests deciding to skip.
if [ "${1:-}" = --check ]; then echo "not built: $bin" >&2; exit 1; fi

mkdir -p "$bin" "$cache/src/kube" "$cache/src/etcd"
echo "building Kubernetes v$K8S_VERSION control plane into $bin (about 10-15 minutes the first time)" >&2

# kube-apiserver, controller-manager and scheduler from k8s.io/kubernetes,
# whose staging modules must be replaced with their matching tags.
cd "$cache/src/kube"
staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
  cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
  cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
  kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
  mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller)
{
  echo "module podid.local/kube"
  echo
  echo "go 1.24"
  echo
  echo "require k8s.io/kubernetes v$K8S_VERSION"
  echo
  for m in "${staging[@]}"; do echo "replace k8s.io/$m => k8s.io/$m v0.${K8S_VERSION#1.}"; done
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
GO
GOFLAGS=-mod=mod go mod tidy >&2
# Without the version stamp the binaries report v0.0.0-master (and a kubelet
# of that version confuses the API server's version skew checks).
minor=${K8S_VERSION#1.}; minor=${minor%%.*}
vpkg=k8s.io/component-base/version
ldflags="-X $vpkg.gitVersion=v$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  [ -x "$bin/$c" ] || { echo "go build $c" >&2; GOFLAGS=-mod=mod go build -ldflags "$ldflags" -o "$bin/$c" k8s.io/kubernetes/cmd/$c; }
done

# etcd: a small main around the embed package.
cd "$cache/src/etcd"
cat > go.mod <<GOMOD
module podid.local/etcd

go 1.24
GOMOD
cat > main.go <<'GO'
// Command etcd runs an embedded single-member etcd for tests.
package main

import (
	"flag"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	dir := flag.String("data-dir", "", "data directory")
	client := flag.String("listen-client-urls", "http://127.0.0.1:2379", "client URL")
	peer := flag.String("listen-peer-urls", "http://127.0.0.1:2380", "peer URL")
	flag.Parse()
	cfg := embed.NewConfig()
	cfg.Dir = *dir
	cu, _ := url.Parse(*client)
	pu, _ := url.Parse(*peer)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.LogLevel = "error"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatal(err)
	}
	<-e.Server.ReadyNotify()
	log.Print("etcd ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-e.Err():
		log.Print(err)
	}
	e.Close()
}
GO
[ -x "$bin/etcd" ] || { GOFLAGS=-mod=mod go get go.etcd.io/etcd/server/v3@$ETCD_VERSION >&2 && GOFLAGS=-mod=mod go mod tidy >&2 && go build -o "$bin/etcd" . ; }

# kwok: fake nodes and kubelets; its stage definitions come with the module.
[ -x "$bin/kwok" ] || GOBIN="$bin" GOFLAGS=-mod=mod go install sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION >&2
kwokdir=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION
cat "$kwokdir"/kustomize/stage/node/fast/*.yaml > "$cache/kwok-stages.yaml"
echo "---" >> "$cache/kwok-stages.yaml"
cat "$kwokdir"/kustomize/stage/pod/fast/*.yaml >> "$cache/kwok-stages.yaml"
echo "$bin"
