#!/usr/bin/env bash
# Regenerates everything derived from the API types in api/ (its own Go module,
# github.com/virtlab/dvp/api): the deepcopy code and the CRDs in crds/ with
# controller-gen, and the typed clientset in api/client/clientset/versioned with
# client-gen (both pinned in hack/tools/go.mod). Run from anywhere.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_MOD="${ROOT}/hack/tools/go.mod"
HEADER="${ROOT}/hack/boilerplate.go.txt"
API_MOD=github.com/virtlab/dvp/api

# The generators load packages with the go command of the directory they run in,
# so they run inside api/: from the repository root, ./api/... names no package
# of the main module.
# controller-gen is pointed at the version packages only: loading ./... would also
# type-check the previous clientset, which no longer compiles once a kind is removed.
cd "${ROOT}/api"

controller_gen() {
	go tool -modfile="${TOOLS_MOD}" controller-gen "$@"
}

echo ">> controller-gen object (deepcopy)"
controller_gen object:headerFile="${HEADER}" paths=./v1alpha2/...

echo ">> controller-gen crd -> crds/"
# Start from an empty set so that CRDs of removed kinds do not linger.
rm -f "${ROOT}"/crds/*.yaml
controller_gen crd paths=./v1alpha2/... output:crd:dir="${ROOT}/crds"

echo ">> client-gen -> api/client/clientset/versioned"
# Likewise: clients of removed kinds must not linger.
rm -rf client/clientset/versioned
go tool -modfile="${TOOLS_MOD}" client-gen \
	--go-header-file "${HEADER}" \
	--clientset-name versioned \
	--input-base github.com/virtlab/dvp \
	--input api/v1alpha2 \
	--output-pkg "${API_MOD}/client/clientset" \
	--output-dir client/clientset

echo ">> done"
