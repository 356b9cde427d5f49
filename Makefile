# podid's build and test entry points. The README's quick start names these.
GO ?= go

# The build's identity, stamped into internal/version (see `podid version`).
# VERSION defaults to the chart's appVersion; DATE is the commit's time so
# that the same source builds the same binary and image.
VERSION ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' deploy/helm/podid/Chart.yaml)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
DATE ?= $(shell git log -1 --format=%cI 2>/dev/null | xargs -r date -u +%Y-%m-%dT%H:%M:%SZ -d)
VERSION_PKG = github.com/podid/podid/internal/version
LDFLAGS = -X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).commit=$(COMMIT) -X $(VERSION_PKG).date=$(DATE)

.PHONY: build image e2e-real-node test test-go test-fuzz test-bench-module lint run workshop soak broker-demo storm

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/podid ./cmd/podid

# podid's container image without Docker: a static podid per platform in a
# minimal non-root image, stamped like `make build`, written reproducibly as
# an OCI image layout tarball (cmd/podid-image). PLATFORMS=linux/amd64 builds
# one platform only. Import it with `ctr -n k8s.io images import`, push it
# with `skopeo copy --all oci-archive:dist/podid-image.tar docker://...`.
PLATFORMS ?= linux/amd64,linux/arm64
image:
	$(GO) run ./cmd/podid-image -o dist/podid-image.tar -version $(VERSION) -platforms $(PLATFORMS)

# The real-node end-to-end tests alone (test/e2e's TestRealNode…): the
# control plane, containerd, runc, the CNI plugins and a kubelet on this
# machine, podid's image imported. Needs root; `make test` runs them too.
e2e-real-node:
	./scripts/install-deps.sh
	./scripts/build-k8s.sh
	$(GO) test -count=1 -v -run 'TestRealNode' ./test/e2e/

# The full test suite: exactly what CI runs (.ci/run calls `make test`).
test:
	./scripts/test.sh

lint:
	gofmt -l . | (! grep .) && $(GO) vet ./... && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

run: build
	./bin/podid server --listen 127.0.0.1:8080 --data-dir ./.podid

# The EKS workshop's Pod Identity walkthrough end to end (examples/eks-workshop):
# build podid, start dynalite and `podid dev --fresh` with its gateway on free
# loopback ports with a temporary data directory, run the workshop script with
# the AWS CLI (ending with the carts table through the gateway), stop both.
# Installs the AWS CLI, node and npm with apt-get and dynalite with npm when
# they are missing and make runs as root.
workshop: build
	PODID=$(CURDIR)/bin/podid bash examples/eks-workshop/walkthrough.sh

# The soak benchmark (not in `make test`, not in CI's time budget): podid dev
# with its gateway, a standalone agent, mixed load with tokens re-minted every
# few seconds, RSS/goroutines/threads/open files/audit size at start and end
# (bench/soak). SOAK_ARGS='-duration 30m' runs longer.
SOAK_ARGS ?= -duration 4m
soak: build
	cd bench && $(GO) run ./soak -podid ../bin/podid $(SOAK_ARGS)

# Broker mode end to end (examples/broker/demo.sh): a second podid plays AWS,
# podid dev runs with --credential-issuer aws-sts against it, and a carts pod
# calls "AWS" as the role whose trust policy podid printed.
broker-demo: build
	PODID=$(CURDIR)/bin/podid bash examples/broker/demo.sh

# The credential-storm benchmark (not in `make test`): podid dev and
# standalone agents, N distinct pods asking at once through one agent and
# through STORM_AGENTS, latency percentiles and agent/server CPU per
# credential; then the agent's cache-hit path beside a bare net/http
# handler (bench/storm). STORM_ARGS='-profile /tmp/storm' adds CPU profiles.
STORM_ARGS ?= -n 500,2000,5000 -agents 4
storm: build
	cd bench && $(GO) run ./storm -podid ../bin/podid $(STORM_ARGS)
