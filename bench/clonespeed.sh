#!/usr/bin/env bash
# Clone speed: VirtualDisks made from a Ready VirtualImage of 10 MiB and of
# SIZE (default 2G) of random data, side by side with `cp` of the image file.
# The fixtures are cached by size.
# Usage: bench/clonespeed.sh [SIZE]   (root; `make build` first)
set -euo pipefail
SIZE=${1:-2G}
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=$PWD/bin
go build -o "$BIN/clonespeed" ./bench/clonespeed
small=$(random_qcow2 10M)
large=$(random_qcow2 "$SIZE")
cfg=$(mktemp)
cat > "$cfg" <<YAML
storageClasses:
- {name: bench-immediate, volumeBindingMode: Immediate, default: true}
YAML
DVP_BENCH_CONFIG=$cfg platform_up dvpclone-$$
ip netns exec "$ns" "$BIN/clonespeed" --kubeconfig "$work/data/kubeconfig" --files "$small,$large" \
  --listen 10.77.0.2:0 --data-dir "$work/data" --storage-class bench-immediate
rm -f "$cfg"
