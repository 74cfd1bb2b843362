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
