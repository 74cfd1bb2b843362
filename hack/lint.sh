#!/usr/bin/env bash
# go vet and staticcheck over the whole module (make verify runs this).
# staticcheck is installed from the Go module proxy at a pinned version into
# .cache/bin, so a fresh machine needs nothing but Go.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
GO="${GO:-go}"
STATICCHECK_VERSION=v0.8.2
bin="${ROOT}/.cache/bin"
if ! [ -x "${bin}/staticcheck" ] || ! "${bin}/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
	echo ">> installing staticcheck ${STATICCHECK_VERSION}"
	GOBIN="${bin}" "${GO}" install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}"
fi
echo ">> go vet"
"${GO}" vet ./...
echo ">> staticcheck"
"${bin}/staticcheck" ./...
