#!/usr/bin/env bash
# Import throughput: a qcow2 holding SIZE of random data (default 1G) served
# over HTTP inside a fresh network namespace, imported as a VirtualImage, side
# by side with curl -o + qemu-img convert. The fixture is cached by size.
# Usage: bench/importspeed.sh [SIZE]   (root; `make build` first)
set -euo pipefail
SIZE=${1:-1G}
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=$PWD/bin
go build -o "$BIN/importspeed" ./bench/importspeed
img=$(random_qcow2 "$SIZE")
platform_up dvpimp-$$
mkdir -p "$work/scratch"
ip netns exec "$ns" "$BIN/importspeed" --kubeconfig "$work/data/kubeconfig" --file "$img" \
  --listen 10.77.0.2:0 --data-dir "$work/data" --scratch "$work/scratch"
