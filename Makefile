# milvus-admission. `make help` lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

KUBE_VERSION ?= v1.37.2
KUBE_BIN     ?= $(CURDIR)/bin/kube/$(KUBE_VERSION)
IMG          ?= milvus-admission:dev
# The one build command: the Dockerfile runs the same (a test keeps them equal).
GO_BUILD     := CGO_ENABLED=0 go build -trimpath -ldflags="-s -w"

export KUBEBUILDER_ASSETS := $(KUBE_BIN)

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
demo: kube-binaries operator-binary ## Local demo: API server, CRDs, webhook, the seed's upgrade procedures; stays up until Ctrl-C.
	go build -o bin/demo ./hack/demo
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
bench: ## Benchmarks (not tests): decision per rule and handlers (ns/op, allocs/op), then served req/s vs a no-op webhook (wrk, ~3 min).
	go test -run '^$$' -bench . -benchmem -benchtime 300ms ./pkg/...
	go run ./hack/bench $(BENCH_ARGS)

.PHONY: bench-scale
bench-scale: kube-binaries ## 10,000 Milvus and 2,500 MilvusUpgrades on a real API server: webhook RSS, UPDATE p50/p90 (~12 min).
	go run ./hack/benchscale $(BENCH_ARGS)

FUZZTIME ?= 60s
# package:target pairs; go test fuzzes one target of one package at a time.
FUZZ_TARGETS := pkg/milvus:FuzzParse pkg/policy:FuzzParse pkg/migration:FuzzIntent pkg/webhook:FuzzHandlers pkg/webhook:FuzzDecodeMilvus

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (60s) each: parsing, policy, intent, the four handlers, the Milvus decoder.
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "== $${t%%:*} $${t##*:}"; \
	  go test ./$${t%%:*} -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME); \
	done

.PHONY: lint
lint: ## gofmt and go vet.
	@test -z "$$(gofmt -l . | tee /dev/stderr)"
	go vet ./...

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t $(IMG) .
