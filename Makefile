# podid's build and test entry points. The README's quick start names these.
GO ?= go

.PHONY: build test test-go test-fuzz test-bench-module lint run workshop

build:
	$(GO) build -o bin/podid ./cmd/podid

# The full test suite: exactly what CI runs (.ci/run calls `make test`).
test:
	./scripts/test.sh

lint:
	gofmt -l . | (! grep .) && $(GO) vet ./... && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

run: build
	./bin/podid server --listen 127.0.0.1:8080 --data-dir ./.podid

# The EKS workshop's Pod Identity walkthrough end to end (examples/eks-workshop):
# build podid, start `podid dev --fresh` on free loopback ports with a temporary
# data directory, run the workshop script with the AWS CLI, stop podid dev.
# Installs the AWS CLI with apt-get (awscli) when it is missing and make runs as root.
workshop: build
	PODID=$(CURDIR)/bin/podid bash examples/eks-workshop/walkthrough.sh
