#!/usr/bin/env bash
# Address allocation: N machines created together until each shows its
# address, vs N leases created directly. Usage: bench/ipalloc.sh [N] (root;
# `make build` first)
set -euo pipefail
N=${1:-200}
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=$PWD/bin
go build -o "$BIN/ipalloc" ./bench/ipalloc
platform_up dvpip-$$
KUBECONFIG=$work/data/kubeconfig ip netns exec "$ns" "$BIN/kubectl" create ns bench >/dev/null
ip netns exec "$ns" "$BIN/ipalloc" --kubeconfig "$work/data/kubeconfig" -n "$N"
