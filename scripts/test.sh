#!/usr/bin/env bash
# The whole test suite of podid: formatting and vet, every package's tests
# with the race detector (unit, conformance, end-to-end with the AWS CLI,
# boto3 and the Go SDK v2), the fuzz targets for a bounded time each, and the
# benchmark module's tests. It checks for the tools it needs and installs
# what it can.
set -euo pipefail
cd "$(dirname "$0")/.."

# staticcheck, pinned; `go run` fetches it from the Go module proxy (staticcheck 2026.2.2).
STATICCHECK_VERSION=v0.8.2

say() { printf '\n== %s\n' "$*"; }

say "checking tools"
scripts/install-deps.sh

say "Kubernetes control plane for the end-to-end tests (built once, then cached)"
scripts/build-k8s.sh

say "gofmt and go vet (the import rules run with the tests: internal/layers)"
unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
(cd bench && go vet ./...)

say "staticcheck $STATICCHECK_VERSION (staticcheck.conf: bugs, simplifications, unused code)"
go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...

say "go test -race ./..."
go test -race -count=1 -timeout 45m ./...

say "fuzz targets (bounded)"
scripts/fuzz.sh

say "bench module"
(cd bench && go test -count=1 ./...)

say "Helm chart: lint and render with Helm's Go packages"
(cd test/helm && go vet ./... && go test -count=1 ./...)

say "all tests passed"
