#!/usr/bin/env bash
# Footprint of the binaries: peak RSS of one short run (every package init()
# runs, then the command exits), side by side for the platform binary and the
# lean per-VM/per-import binary; then the resident memory of a running
# all-in-one platform, per process.
# Usage: bench/footprint.sh   (root for the second part; `make build` first)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=$PWD/bin
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
echo "binary            size      peak RSS of '<bin> version'"
printf 'dvp              %4d MiB   %6d KiB\n' $(( $(stat -c %s "$BIN/dvp") / 1048576 )) "$(rss "$BIN/dvp" --version)"
printf 'dvp-worker       %4d MiB   %6d KiB\n' $(( $(stat -c %s "$BIN/dvp-worker") / 1048576 )) "$(rss "$BIN/dvp-worker" version)"
printf 'd8               %4d MiB   %6d KiB\n' $(( $(stat -c %s "$BIN/d8") / 1048576 )) "$(rss "$BIN/d8" --version)"

# Idle resident memory of the lean binary, for comparison with the
# platform processes below.
"$BIN/dvp-worker" idle & wpid=$!
sleep 1
printf '\nidle dvp-worker: %d KiB RSS\n' "$(awk '/VmRSS/ {print $2}' /proc/$wpid/status)"
kill $wpid

[ "$(id -u)" = 0 ] || { echo "(not root: skipping the running-platform part)"; exit 0; }
ns=dvpfoot-$$; work=$(mktemp -d)
cleanup() { pkill -f "dvp server --data-dir $work" 2>/dev/null || true; sleep 2; ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
netns_up "$ns"
ip netns exec "$ns" "$BIN/dvp" server --data-dir "$work/data" >"$work/log" 2>&1 &
until [ -f "$work/data/kubeconfig" ]; do sleep 0.1; done
sleep 20 # let informers settle
echo
echo "running all-in-one platform (20 s after ready):"
total=0
for p in $(pgrep -f "$work/data"); do
  kb=$(awk '/VmRSS/ {print $2}' /proc/$p/status)
  name=$(tr '\0' ' ' </proc/$p/cmdline | awk '{print $2}')
  printf '  %-26s %7d KiB\n' "dvp $name" "$kb"
  total=$((total + kb))
done
printf '  %-26s %7d KiB\n' total "$total"
