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
cache=${DVP_BENCH_CACHE:-$PWD/.cache/bench}
mkdir -p "$cache"
img=$cache/random-$SIZE.qcow2
if [ ! -f "$img" ]; then
  head -c "$SIZE" /dev/urandom > "$cache/random.raw"
  qemu-img convert -f raw -O qcow2 "$cache/random.raw" "$img"
  rm -f "$cache/random.raw"
fi
ns=dvpupl-$$; work=$(mktemp -d)
cleanup() {
  pkill -f "dvp server --data-dir $work" 2>/dev/null || true; sleep 2
  pkill -9 -f "dvp-worker supervise $work" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
netns_up "$ns"
ip netns exec "$ns" "$BIN/dvp" server --data-dir "$work/data" >"$work/log" 2>&1 &
until [ -f "$work/data/kubeconfig" ]; do sleep 0.1; done
mkdir -p "$work/scratch"
ip netns exec "$ns" "$BIN/uploadspeed" --kubeconfig "$work/data/kubeconfig" --file "$img" \
  --listen 10.77.0.2:0 --scratch "$work/scratch"
