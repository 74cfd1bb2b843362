#!/usr/bin/env bash
# Guest network throughput, host -> guest: SIZE MiB (default 256) sent over
# TCP to a tiny guest on the platform's VM network (tap on the node's bridge,
# with its nftables rules), side by side with the same guest image, seed and
# NIC model under a hand-started QEMU with user-mode networking (slirp, a
# hostfwd port: the platform's own user mode is restrict=on and reachable
# from nowhere). Both guests run under the same accelerator.
# Usage: bench/netspeed.sh [SIZE_MIB]   (root; `make build` first)
set -euo pipefail
SIZE=${1:-256}
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=$PWD/bin
KUBECTL=$BIN/kubectl
guestdir=$(hack/guest/build-tiny.sh | tail -1)
cfg=$(mktemp)
cat > "$cfg" <<YAML
storageClasses:
- {name: bench-immediate, volumeBindingMode: Immediate, default: true}
import: {allowedAddresses: ["10.77.0.2:8088"]}
YAML
DVP_BENCH_CONFIG=$cfg platform_up dvpnet-$$
slirp_pid=""
httpd_pid=""
stop_extra() {
  [ -n "$slirp_pid" ] && kill "$slirp_pid" 2>/dev/null || true
  [ -n "$httpd_pid" ] && kill "$httpd_pid" 2>/dev/null || true
  pkill -9 -f "guest=vms_speed," 2>/dev/null || true
  rm -f "$cfg"
  platform_down
}
trap stop_extra EXIT
k() { ip netns exec "$ns" env KUBECONFIG="$work/data/kubeconfig" "$KUBECTL" "$@"; }
ip netns exec "$ns" busybox httpd -f -p 10.77.0.2:8088 -h "$guestdir" &
httpd_pid=$!

# The guest listens on 5001 for ever, throwing away what it gets.
k create ns vms >/dev/null
k apply -f - >/dev/null <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualImage
metadata: {name: tiny, namespace: vms}
spec: {storage: ContainerRegistry, dataSource: {type: HTTP, http: {url: "http://10.77.0.2:8088/tiny-bios.img"}}}
---
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata: {name: speed-root, namespace: vms}
spec: {dataSource: {type: ObjectRef, objectRef: {kind: VirtualImage, name: tiny}}}
---
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata: {name: speed, namespace: vms}
spec:
  virtualMachineClassName: generic
  runPolicy: AlwaysOn
  cpu: {cores: 1, coreFraction: 100%}
  memory: {size: 256Mi}
  provisioning:
    type: UserData
    userData: |
      #cloud-config
      runcmd:
      - setsid sh -c 'while :; do nc -l -p 5001 >/dev/null; done' </dev/null >/dev/null 2>&1 &
  blockDeviceRefs: [{kind: VirtualDisk, name: speed-root}]
YAML
until [ "$(k -n vms get vm speed -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; do sleep 1; done
ip=$(k -n vms get vm speed -o jsonpath='{.status.ipAddress}')
until ip netns exec "$ns" ping -c1 -W1 "$ip" >/dev/null 2>&1; do sleep 1; done

# send HOST PORT: seconds to push SIZE MiB into the guest, once it accepts.
send() {
  ip netns exec "$ns" bash -c '
    until (exec 3<>/dev/tcp/'"$1"'/'"$2"') 2>/dev/null; do sleep 1; done; sleep 1
    s=$(date +%s.%N); head -c '"$SIZE"'M /dev/zero > /dev/tcp/'"$1"'/'"$2"'; e=$(date +%s.%N)
    echo "$e - $s" | bc -l'
}
tap=$(send "$ip" 5001)

# The same image, seed and NIC under QEMU's user-mode networking.
qemu_pid=$(pgrep -f 'guest=vms_speed,' | head -1)
seed=$(tr '\0' '\n' < "/proc/$qemu_pid/cmdline" | grep -o 'filename=[^,]*\.iso' | head -1 | cut -d= -f2)
case $seed in /*) ;; *) seed=/proc/$qemu_pid/cwd/$seed ;; esac
disk=$work/slirp-disk.img
cp "$guestdir/tiny-bios.img" "$disk"
cp "$seed" "$work/slirp-seed.iso"
machine_accel=tcg
[ -e /dev/kvm ] && ! [ -d /sys/module/kvm_pvm ] && machine_accel=kvm
ip netns exec "$ns" qemu-system-x86_64 -machine q35,accel=$machine_accel -cpu max -smp 1 -m 256 -display none -serial none \
  -drive file="$disk",format=raw,if=virtio -drive file="$work/slirp-seed.iso",media=cdrom,readonly=on \
  -netdev user,id=n0,hostfwd=tcp:127.0.0.1:15001-:5001 -device virtio-net-pci,netdev=n0,romfile= &
slirp_pid=$!
slirp=$(send 127.0.0.1 15001)

printf 'host -> guest, %d MiB over TCP (accelerator %s)\n' "$SIZE" "$machine_accel"
printf '%-52s %8.2f s %8.1f MiB/s\n' "platform VM network (tap, bridge, nftables)" "$tap" "$(echo "$SIZE / $tap" | bc -l)"
printf '%-52s %8.2f s %8.1f MiB/s\n' "QEMU user-mode networking (slirp, hostfwd)" "$slirp" "$(echo "$SIZE / $slirp" | bc -l)"
