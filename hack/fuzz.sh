#!/usr/bin/env bash
# Runs every fuzz target (func FuzzXxx in a _test.go file) for a short while:
# the parsers of untrusted bytes (image headers, upload paths, repository
# names, qcow2 headers). FUZZTIME per target, default 10s.
# Usage: hack/fuzz.sh            (make fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
status=0
while IFS=: read -r file _ line; do
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/' <<<"$line")
	pkg=./$(dirname "$file")
	# api/ is its own module: its targets run from inside it.
	mod=.
	if [[ $pkg == ./api/* ]]; then
		mod=api pkg=./${pkg#./api/}
	fi
	echo ">> $mod: $pkg $name ($FUZZTIME)"
	if ! (cd "$mod" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"); then
		status=1
	fi
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' internal cmd api | sort)
exit "$status"
