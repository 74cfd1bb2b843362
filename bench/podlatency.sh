#!/usr/bin/env bash
# Pod start latency of the node runtime vs starting the process directly.
# Usage: bench/podlatency.sh [N]   (root; `make build` first)
set -euo pipefail
N=${1:-20}
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=$PWD/bin
go build -o "$BIN/podlatency" ./bench/podlatency
ns=dvppod-$$; work=$(mktemp -d)
cleanup() {
  pkill -f "dvp server --data-dir $work" 2>/dev/null || true; sleep 2
  # Pod processes outlive the server by design: end supervisors first (so
  # nothing restarts), then their children's process groups.
  pkill -9 -f "dvp-worker supervise $work" 2>/dev/null || true
  for d in "$work"/data/nodes/*/pods/*/containers/*; do
    [ -f "$d/state.json" ] && kill -9 -"$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "$d/state.json" | head -1)" 2>/dev/null || true
  done
  ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
netns_up "$ns"
ip netns exec "$ns" "$BIN/dvp" server --data-dir "$work/data" >"$work/log" 2>&1 &
until [ -f "$work/data/kubeconfig" ]; do sleep 0.1; done
ip netns exec "$ns" env PODLATENCY_DEBUG="${PODLATENCY_DEBUG:-}" "$BIN/podlatency" --kubeconfig "$work/data/kubeconfig" --bin "$BIN" -n "$N"
