#!/usr/bin/env bash
# VM start latency (kubectl apply -> QEMU running -> first serial byte) and
# memory per running VM, side by side with the identical QEMU started by hand.
# Usage: bench/vmstart.sh [N]   (root; `make build` first)
set -euo pipefail
N=${1:-10}
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=$PWD/bin
go build -o "$BIN/vmstart" ./bench/vmstart
guest=$(hack/guest/build-tiny.sh | tail -1)/tiny-bios.img
ns=dvpvm-$$; work=$(mktemp -d)
cleanup() {
  pkill -f "dvp server --data-dir $work" 2>/dev/null || true; sleep 2
  pkill -9 -f "dvp-worker supervise $work" 2>/dev/null || true
  pkill -9 -f "guest=default_bench-vm," 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
netns_up "$ns"
cat > "$work/config.yaml" <<'YAML'
storageClasses:
  - {name: linstor-thin-r2, volumeBindingMode: Immediate, default: true}
YAML
ip netns exec "$ns" "$BIN/dvp" server --data-dir "$work/data" --config "$work/config.yaml" >"$work/log" 2>&1 &
until [ -f "$work/data/kubeconfig" ]; do sleep 0.1; done
ip netns exec "$ns" "$BIN/vmstart" --kubeconfig "$work/data/kubeconfig" --image "$guest" -n "$N"
