# dvp: virtual machines on Kubernetes.
#   make run    set up this machine and run the all-in-one platform
#   make test   build and run the whole test suite
# Go from /usr/local/go works without being on PATH (the README's premise):
# GO names it, and the recipes' scripts find it on the exported PATH.
GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
export PATH := $(patsubst %/,%,$(dir $(GO))):$(PATH)
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
K8S_VERSION := $(shell $(GO) list -m -f '{{.Version}}' k8s.io/kubernetes 2>/dev/null)
K8S_MINOR   := $(word 2,$(subst ., ,$(K8S_VERSION)))
# Stamp the embedded Kubernetes components (and kubectl) with their release,
# so `kubectl version` and the API's /version report it.
K8S_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
               -X k8s.io/component-base/version.gitMajor=1 \
               -X k8s.io/component-base/version.gitMinor=$(K8S_MINOR) \
               -X k8s.io/client-go/pkg/version.gitVersion=$(K8S_VERSION) \
               -X k8s.io/client-go/pkg/version.gitMajor=1 \
               -X k8s.io/client-go/pkg/version.gitMinor=$(K8S_MINOR)
LDFLAGS   := -X github.com/virtlab/dvp/internal/version.Version=$(VERSION) $(K8S_LDFLAGS)
DATA_DIR  ?= $(CURDIR)/.data
CONFIG    ?= $(CURDIR)/deploy/all-in-one.yaml
# Whole-suite timeout for go test; e2e tests start real servers.
TEST_TIMEOUT ?= 45m
GOFLAGS_TEST ?=

.PHONY: all build deps run test unit e2e verify generate fmt vet clean kubectl
.PHONY: guests
.PHONY: guest-debian
.PHONY: fuzz print-go

all: build

build:
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/dvp ./cmd/dvp
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/d8 ./cmd/d8
	$(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o bin/dvp-worker ./cmd/dvp-worker

# kubectl built from the same Kubernetes release the platform embeds, so
# client and server versions match on any machine (Debian's is 1.20).
kubectl:
	@mkdir -p bin
	$(GO) build -ldflags '$(K8S_LDFLAGS)' -o bin/kubectl k8s.io/kubernetes/cmd/kubectl

deps:
	./hack/install-deps.sh

run: deps build kubectl
	@echo "Starting dvp; once ready: export KUBECONFIG=$(DATA_DIR)/kubeconfig"
	./bin/dvp server --data-dir $(DATA_DIR) --config $(CONFIG)

# api/ is its own Go module (github.com/virtlab/dvp/api): ./... from the root
# does not reach it, so test, unit and vet also run inside it.
test: build kubectl
	cd api && $(GO) test -count=1 $(GOFLAGS_TEST) ./...
	PATH="$(CURDIR)/bin:$$PATH" DVP_BIN_DIR=$(CURDIR)/bin $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(GOFLAGS_TEST) ./...

unit:
	cd api && $(GO) test -count=1 ./...
	$(GO) test -count=1 -timeout 10m $$($(GO) list ./... | grep -v /test/)

e2e: build kubectl
	PATH="$(CURDIR)/bin:$$PATH" DVP_BIN_DIR=$(CURDIR)/bin $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -v ./test/...

generate:
	./hack/generate.sh

verify:
	./hack/verify.sh
	GO=$(GO) ./hack/lint.sh
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

vet:
	$(GO) vet ./...
	cd api && $(GO) vet ./...

# A short run of every fuzz target (FUZZTIME per target, default 10s).
fuzz:
	./hack/fuzz.sh

# Debian 12 test guest with real cloud-init (root, Debian mirror; cached in
# DVP_GUEST_CACHE, default /var/cache/dvp/guests). See docs/design/guests-debian.md.
guest-debian:
	./hack/guest/build-debian.sh

# The tiny test guest's BIOS and UEFI disk images (root; fetches Debian's
# kernel package with apt; cached in DVP_GUEST_CACHE, default
# /var/cache/dvp/guests). See docs/design/guests.md.
guests:
	GO=$(GO) ./hack/guest/build-tiny.sh

# Which go the recipes' scripts run (a check for newcomers' machines).
print-go:
	@command -v go

clean:
	rm -rf bin
