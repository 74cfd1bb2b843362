#!/usr/bin/env bash
# Regenerates the deepcopy code of ./api/... and the CRDs in crds/ with controller-gen
# (pinned in hack/tools/go.mod). Run from anywhere; it works from the repository root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

controller_gen() {
	go tool -modfile=hack/tools/go.mod controller-gen "$@"
}

echo ">> controller-gen object (deepcopy)"
controller_gen object:headerFile=hack/boilerplate.go.txt paths=./api/...

echo ">> controller-gen crd -> crds/"
# Start from an empty set so that CRDs of removed kinds do not linger.
rm -f crds/*.yaml
controller_gen crd paths=./api/... output:crd:dir=crds

echo ">> done"
