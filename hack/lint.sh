#!/usr/bin/env bash
# go vet and staticcheck over both modules, the platform's and api/'s (make
# verify runs this).
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
# api/ is its own module, so ./... from the root does not reach it.
for mod in . api; do
	echo ">> go vet (${mod})"
	(cd "${mod}" && "${GO}" vet ./...)
	echo ">> staticcheck (${mod})"
	(cd "${mod}" && "${bin}/staticcheck" ./...)
done
