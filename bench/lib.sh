# Shared by the benchmark scripts: a fresh network namespace with the node
# address 10.77.0.2 (a veth pair kept inside it), like the test harness makes.
# Usage: source bench/lib.sh; netns_up NAME
netns_up() {
  ip netns add "$1"
  ip -n "$1" link set lo up
  ip -n "$1" link add dvp0 type veth peer name dvp0p
  ip -n "$1" addr add 10.77.0.2/24 dev dvp0
  ip -n "$1" link set dvp0 up
  ip -n "$1" link set dvp0p up
}

# random_qcow2 SIZE prints the path of a qcow2 holding SIZE of random data,
# made once and cached (by size) under $DVP_BENCH_CACHE or .cache/bench.
random_qcow2() {
  local cache=${DVP_BENCH_CACHE:-$PWD/.cache/bench}
  mkdir -p "$cache"
  local img=$cache/random-$1.qcow2
  if [ ! -f "$img" ]; then
    head -c "$1" /dev/urandom > "$cache/random.raw"
    qemu-img convert -f raw -O qcow2 "$cache/random.raw" "$img"
    rm -f "$cache/random.raw"
  fi
  echo "$img"
}

# platform_up NAME starts `dvp server` in a fresh namespace NAME with its
# data under $work/data (and the settings file $DVP_BENCH_CONFIG, if set),
# waits until it is ready, and arranges cleanup (server, pod processes,
# namespace, $work) on exit.
platform_up() {
  ns=$1
  work=$(mktemp -d)
  trap platform_down EXIT
  netns_up "$ns"
  ip netns exec "$ns" "$BIN/dvp" server --data-dir "$work/data" ${DVP_BENCH_CONFIG:+--config "$DVP_BENCH_CONFIG"} >"$work/log" 2>&1 &
  until [ -f "$work/data/kubeconfig" ]; do sleep 0.1; done
}

platform_down() {
  pkill -f "dvp server --data-dir $work" 2>/dev/null || true; sleep 2
  pkill -9 -f "dvp-worker supervise $work" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"
}
