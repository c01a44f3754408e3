# milvus-admission. `make help` lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

KUBE_VERSION ?= v1.37.2
KUBE_BIN     ?= $(CURDIR)/bin/kube/$(KUBE_VERSION)
# The release this tree builds: its tag, else the commit. The binary's
# --version prints it.
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION     ?= $(shell git rev-parse HEAD 2>/dev/null)
# The image a release publishes (manifests/ names it); push your own with IMG=...
IMG          ?= ghcr.io/milvus-admission/milvus-admission:$(VERSION)
PLATFORMS    ?= linux/amd64,linux/arm64
KUBECTL      ?= $(if $(wildcard $(KUBE_BIN)/kubectl),$(KUBE_BIN)/kubectl,kubectl)
# The one build command: the Dockerfile and hack/image run the same (tests
# keep them equal).
GO_BUILD     := CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X github.com/milvus-admission/milvus-admission/internal/version.Version=$(VERSION)"

export KUBEBUILDER_ASSETS := $(KUBE_BIN)

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
demo: kube-binaries operator-binary ## Local demo: API server, CRDs, webhook, the seed's upgrade procedures, check and plan; stays up until Ctrl-C.
	go build -o bin/demo ./hack/demo
	go build -o bin/milvus-admission ./cmd/milvus-admission
	bin/demo

.PHONY: test
test: kube-binaries operator-binary ## All tests: unit, handler, sample round-trip and end-to-end against a real API server.
	go vet ./...
	go test -count=1 -timeout 40m $$(go list ./... | grep -v /test/operator)
	@# Verbose: the log shows each MilvusUpgrade's states as the real operator ran them.
	go test -count=1 -timeout 20m -v ./test/operator/

.PHONY: unit
unit: ## Unit and handler tests only (no API server).
	go test -count=1 ./pkg/... ./internal/...

.PHONY: kube-binaries
kube-binaries: ## Build kube-apiserver, kubectl and etcd from source into bin/kube (once; ~13 min cold).
	@bash hack/kube/build.sh $(KUBE_BIN)

.PHONY: operator-binary
operator-binary: ## Build the real Milvus Operator from ../shared/milvus-operator/src into bin/operator (once; ~10 min cold).
	@bash hack/operator/build.sh

.PHONY: build
build: ## Build the webhook binary into bin/webhook.
	$(GO_BUILD) -o bin/webhook ./cmd/webhook

.PHONY: run
run: ## Serve against the cluster in $KUBECONFIG (certs in /tmp/k8s-webhook-server/serving-certs).
	go run ./cmd/webhook $(ARGS)

.PHONY: bench
bench: ## Benchmarks (not tests): decision per rule and handlers (ns/op, allocs/op), then served req/s vs a no-op webhook (wrk, ~7 min).
	go test -run '^$$' -bench . -benchmem -benchtime 300ms ./pkg/...
	go run ./hack/bench $(BENCH_ARGS)

.PHONY: bench-scale
bench-scale: kube-binaries ## 10,000 Milvus and 2,500 MilvusUpgrades on a real API server: webhook RSS, UPDATE p50/p90 (~10 min).
	go run ./hack/benchscale $(BENCH_ARGS)

FUZZTIME ?= 60s
# package:target pairs; go test fuzzes one target of one package at a time.
FUZZ_TARGETS := pkg/milvus:FuzzParse pkg/policy:FuzzParse pkg/migration:FuzzIntent pkg/webhook:FuzzHandlers pkg/webhook:FuzzDecodeMilvus pkg/webhook:FuzzReviewReader pkg/check:FuzzCheck

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (60s) each: parsing, policy, intent, the four handlers, the Milvus decoder, the review reader, check on arbitrary manifests.
	@# A run that fails without writing a failing input under testdata/fuzz
	@# met Go 1.26's race at the -fuzztime deadline (go.dev/issue/75804,
	@# fixed in Go 1.27): it runs once more, and fails the second time.
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; target=$${t##*:}; echo "== $$pkg $$target"; \
	  before=$$(ls $$pkg/testdata/fuzz/$$target 2>/dev/null | wc -l); \
	  go test ./$$pkg -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) && continue; \
	  test "$$(ls $$pkg/testdata/fuzz/$$target 2>/dev/null | wc -l)" = "$$before"; \
	  echo "== $$pkg $$target: no failing input written, the Go 1.26 deadline race; again"; \
	  go test ./$$pkg -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME); \
	done

.PHONY: lint
lint: ## gofmt and go vet.
	@test -z "$$(gofmt -l . | tee /dev/stderr)"
	go vet ./...

IMAGE := go run ./hack/image --version $(VERSION) --revision "$(REVISION)" --platforms $(PLATFORMS) --tag $(IMG) --out bin/image.tar

.PHONY: image
image: ## Build the image without Docker (go-containerregistry): an OCI layout tarball bin/image.tar of IMG for PLATFORMS.
	$(IMAGE)

.PHONY: image-push
image-push: ## As image, then push it to IMG (credentials as docker, podman or crane login stored them).
	$(IMAGE) --push

.PHONY: docker-build
docker-build: ## Build the image IMG with the Dockerfile (needs a Docker engine; `make image` does not).
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push IMG with docker (needs a Docker engine).
	docker push $(IMG)

# manifests/ with the Deployment's image replaced by $(IMG): an overlay
# written to bin/deploy, rendered by kubectl.
define DEPLOY_OVERLAY
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../manifests]
patches:
  - target: {kind: Deployment, name: milvus-admission}
    patch: '[{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "$(IMG)"}]'
endef
export DEPLOY_OVERLAY
RENDER := mkdir -p bin/deploy && printf '%s\n' "$$DEPLOY_OVERLAY" > bin/deploy/kustomization.yaml && $(KUBECTL) kustomize bin/deploy

.PHONY: deploy
deploy: ## Install manifests/ with image IMG into the cluster in $KUBECONFIG (needs cert-manager, the Milvus CRDs).
	set -o pipefail; $(RENDER) | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Delete what deploy installed, the webhook configurations first (else Milvus writes fail meanwhile).
	$(KUBECTL) delete --ignore-not-found mutatingwebhookconfiguration,validatingwebhookconfiguration milvus-admission
	set -o pipefail; $(RENDER) | $(KUBECTL) delete --ignore-not-found -f -
