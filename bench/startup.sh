#!/usr/bin/env bash
# Start-up benchmark of `dvp server`: N cold starts (empty data dir) and N warm
# restarts (same data dir), each inside a fresh network namespace. Prints the
# per-phase times the server logs, plus the time until a real `kubectl get ns`
# succeeds, measured from outside (the number a user waits for).
# Usage: bench/startup.sh [N]   (root; run `make build kubectl` first)
set -euo pipefail
N=${1:-5}
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=$PWD/bin
KUBECTL=$(PATH="$BIN:$PATH" command -v kubectl)
ns=dvpbench-$$
work=$(mktemp -d)
cleanup() { pkill -f "dvp server --data-dir $work" 2>/dev/null || true; sleep 1; ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
netns_up "$ns"

ms() { date +%s%3N; }
elapsed() { # extract elapsed="1.234s" of a log line
  grep "$1" "$2" | tail -1 | sed -E 's/.*elapsed="([0-9.]+)(m?s)".*/\1 \2/' | awk '{ if ($2=="ms") printf "%d", $1; else printf "%d", $1*1000 }'
}
run() { # $1 = data dir; prints: etcd apiserver platform kubectl (ms)
  local data=$1 log=$work/log-$RANDOM
  rm -f "$data/kubeconfig"
  local t0; t0=$(ms)
  ip netns exec "$ns" "$BIN/dvp" server --data-dir "$data" >"$log" 2>&1 &
  local pid=$!
  until [ -f "$data/kubeconfig" ]; do
    kill -0 $pid 2>/dev/null || { echo "dvp server exited; log:" >&2; tail -20 "$log" >&2; exit 1; }
    sleep 0.02
  done
  until ip netns exec "$ns" "$KUBECTL" --kubeconfig "$data/kubeconfig" get ns >/dev/null 2>&1; do sleep 0.02; done
  local t1; t1=$(ms)
  echo "$(elapsed '"etcd ready"' "$log") $(elapsed '"kube-apiserver ready"' "$log") $(elapsed '"Platform ready"' "$log") $((t1 - t0))"
  kill -TERM $pid; wait $pid || true
}
stats() { sort -n | awk '{a[NR]=$1} END { printf "p50 %5d  min %5d  max %5d", a[int((NR+1)/2)], a[1], a[NR] }'; }

printf '%-6s %-28s %-28s %-28s %s\n' "" "etcd ready (ms)" "kube-apiserver ready (ms)" "platform ready (ms)" "kubectl get ns ok (ms)"
for mode in cold warm; do
  : >"$work/times-$mode"
  for i in $(seq 1 "$N"); do
    if [ $mode = cold ]; then data=$work/data-cold-$i; else data=$work/data-warm; fi
    if [ $mode = warm ] && [ $i = 1 ]; then run "$data" >/dev/null; fi # create state first
    run "$data" >>"$work/times-$mode"
  done
  printf '%-6s' $mode
  for col in 1 2 3 4; do printf ' %-28s' "$(cut -d' ' -f$col "$work/times-$mode" | stats)"; done
  echo
done
echo "($N runs each; $(nproc) cores; $(date -u +%F))"
