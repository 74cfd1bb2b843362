#!/usr/bin/env bash
# Installs what building, running and testing dvp needs on Debian 12.
# Idempotent; run as root (or with sudo available).
set -euo pipefail

need_go="1.26"
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "Go ${need_go} or newer is required (Debian's golang package is too old)." >&2
  echo "Install it to /usr/local/go, then run this again." >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# iproute2: network namespaces for tests; curl/jq: the seed's commands;
# qemu and friends: the VM runtime (later parts of the platform).
# ovmf: EFI firmware; busybox-static, syslinux*, mtools, dosfstools, cpio,
# debootstrap: the test guests built by hack/guest.
# iputils-ping, openssh-client: reaching machines on the VM network.
pkgs=(iproute2 curl jq ca-certificates git make gcc qemu-system-x86 qemu-utils ovmf
  busybox-static syslinux syslinux-common syslinux-efi extlinux mtools dosfstools cpio
  debootstrap fdisk kmod xz-utils iputils-ping openssh-client)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
