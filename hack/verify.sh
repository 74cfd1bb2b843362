#!/usr/bin/env bash
# Checks that the generated files (api/**/zz_generated.deepcopy.go, the clientset in
# api/client/clientset and crds/*.yaml) match the Go API types. It regenerates into a
# temporary copy of the api module, crds/ and hack/, so the working tree is never
# modified, and prints a unified diff of any drift.
# Exit status: 0 when up to date, 1 on drift.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "${TMP}"' EXIT

cd "${ROOT}"
cp -R api crds hack "${TMP}/"

echo ">> regenerating in ${TMP}"
(cd "${TMP}" && bash hack/generate.sh >/dev/null)

status=0
for dir in api crds; do
	if ! diff -ruN "${ROOT}/${dir}" "${TMP}/${dir}" >"${TMP}/${dir}.diff"; then
		status=1
	fi
done

if [[ ${status} -ne 0 ]]; then
	echo "ERROR: generated files are out of date. Run hack/generate.sh and commit the result." >&2
	echo "Drift (current tree -> regenerated):" >&2
	sed -e "s#${TMP}/#<regenerated>/#g" -e "s#${ROOT}/#<tree>/#g" "${TMP}/api.diff" "${TMP}/crds.diff" >&2
	exit 1
fi
echo ">> generated files are up to date"
