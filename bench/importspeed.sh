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
cache=${DVP_BENCH_CACHE:-$PWD/.cache/bench}
mkdir -p "$cache"
img=$cache/random-$SIZE.qcow2
if [ ! -f "$img" ]; then
  head -c "$SIZE" /dev/urandom > "$cache/random.raw"
  qemu-img convert -f raw -O qcow2 "$cache/random.raw" "$img"
  rm -f "$cache/random.raw"
fi
ns=dvpimp-$$; work=$(mktemp -d)
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
ip netns exec "$ns" "$BIN/importspeed" --kubeconfig "$work/data/kubeconfig" --file "$img" \
  --listen 10.77.0.2:0 --data-dir "$work/data" --scratch "$work/scratch"
