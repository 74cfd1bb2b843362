#!/usr/bin/env bash
# Upload throughput: the printed uploadCommand (curl -T to the gateway) vs
# curl -T to a plain file sink, same qcow2 fixture as importspeed.sh, in a
# fresh network namespace.
# Usage: bench/uploadspeed.sh [SIZE]   (root; `make build` first)
set -euo pipefail
SIZE=${1:-1G}
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=$PWD/bin
go build -o "$BIN/uploadspeed" ./bench/uploadspeed
img=$(random_qcow2 "$SIZE")
platform_up dvpupl-$$
mkdir -p "$work/scratch"
ip netns exec "$ns" "$BIN/uploadspeed" --kubeconfig "$work/data/kubeconfig" --file "$img" \
  --listen 10.77.0.2:0 --scratch "$work/scratch"
