#!/usr/bin/env bash
# Builds the Debian 12 test guest: a BIOS-bootable qcow2 disk with real
# cloud-init (NoCloud only), openssh-server and sudo.
#
#   sudo hack/guest/build-debian.sh            # prints the output directory
#
# Output: ${DVP_GUEST_CACHE:-/var/cache/dvp/guests}/debian-<hash>/debian-12.qcow2
# where <hash> covers this script, the files in hack/guest/debian/ and the
# Debian release. An existing image is reused at once. Downloaded packages
# are kept in the cache (debootstrap --cache-dir), so a rebuild after an edit
# of this script skips the downloads.
#
# Environment:
#   DVP_GUEST_CACHE     cache directory (default /var/cache/dvp/guests)
#   DVP_DEBIAN_MIRROR   Debian mirror (default: http://deb.debian.org/debian)
#
# The last line on stdout is always the output directory; progress goes to
# stderr.
set -euo pipefail

# Bump to force a rebuild when something outside the hashed inputs changes.
GUEST_VERSION="debian-guest-3"
RELEASE="bookworm"
IMAGE_NAME="debian-12.qcow2"
DISK_SIZE="2G"

# Packages on top of debootstrap's minbase (dependencies are resolved by
# debootstrap; recommends are not installed).
PACKAGES=(
  linux-image-amd64 initramfs-tools udev kmod
  systemd-sysv systemd-resolved dbus
  cloud-init cloud-guest-utils fdisk
  # debootstrap does not resolve virtual packages: python3-cryptography
  # (via cloud-init's python3-oauthlib/jwt) needs python3-cffi-backend-api-*.
  python3-cffi-backend
  openssh-server sudo
  iproute2 netbase procps
)

# Kernel module directories (under /usr/lib/modules/*/kernel) that a VM
# never uses; dropping them roughly halves the modules' size. A dpkg
# path-exclude keeps them out on kernel upgrades inside the guest too.
PRUNE_MODULES=(
  sound drivers/media drivers/gpu/drm/amd drivers/gpu/drm/i915
  drivers/gpu/drm/nouveau drivers/gpu/drm/radeon drivers/net/wireless
  drivers/bluetooth drivers/infiniband drivers/iio drivers/staging
  drivers/comedi drivers/isdn net/wireless net/mac80211 net/bluetooth
)

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONFIG_DIR="$SCRIPT_DIR/debian"
CACHE="${DVP_GUEST_CACHE:-/var/cache/dvp/guests}"
MIRROR="${DVP_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

log() { echo "build-debian: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Content hash: the script itself, its config files (by relative name) and
# the release. Package versions are deliberately not part of it.
input_hash() {
  {
    echo "release=$RELEASE"
    echo "version=$GUEST_VERSION"
    echo "--- build-debian.sh"
    cat "$SCRIPT_DIR/build-debian.sh"
    (cd "$CONFIG_DIR" && find . -type f | LC_ALL=C sort) | while read -r f; do
      echo "--- debian/${f#./}"
      cat "$CONFIG_DIR/$f"
    done
  } | sha256sum | cut -c1-16
}

HASH="$(input_hash)"
OUT_DIR="$CACHE/debian-$HASH"

if [ -f "$OUT_DIR/$IMAGE_NAME" ]; then
  echo "$OUT_DIR"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, loop devices, mounts)"
for tool in debootstrap sfdisk losetup mkfs.ext4 extlinux qemu-img blkid flock; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (see hack/install-deps.sh)"
done
MBR_BIN=""
for f in /usr/lib/syslinux/mbr/mbr.bin /usr/lib/EXTLINUX/mbr.bin /usr/share/syslinux/mbr.bin; do
  if [ -f "$f" ]; then MBR_BIN="$f"; break; fi
done
[ -n "$MBR_BIN" ] || die "syslinux mbr.bin not found (apt-get install syslinux-common)"

# Build in a private mount namespace: our mounts stay invisible to other
# processes (one that clones the host's namespaces mid-build would otherwise
# pin the loop device), and they vanish with us however we exit.
if [ -z "${DVP_GUEST_UNSHARED:-}" ] && command -v unshare >/dev/null 2>&1; then
  exec env DVP_GUEST_UNSHARED=1 unshare --mount --propagation private bash "$SCRIPT_DIR/build-debian.sh" "$@"
fi

mkdir -p "$CACHE"
# One build at a time per cache; a waiting build may find the image done.
exec 9>"$CACHE/.debian.lock"
flock 9
if [ -f "$OUT_DIR/$IMAGE_NAME" ]; then
  echo "$OUT_DIR"
  exit 0
fi

START=$(date +%s)
WORK="$(mktemp -d "$CACHE/.build-debian-XXXXXX")"
ROOT="$WORK/root"
RAW="$WORK/disk.raw"
LOOP=""

cleanup() {
  local rc=$?
  set +e
  if [ -d "$ROOT" ]; then
    # Anything debootstrap or we left mounted below the root, deepest first.
    for m in $(awk -v r="$ROOT" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r); do
      umount -l "$m"
    done
  fi
  [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
  rm -rf "$WORK"
  if [ $rc -ne 0 ]; then log "failed (exit $rc)"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building $OUT_DIR ($RELEASE, $GUEST_VERSION)"

# Disk: MBR label, one bootable Linux partition filling the disk.
truncate -s "$DISK_SIZE" "$RAW"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$RAW"
# The partition gets a loop device of its own (offset + size limit) rather
# than losetup -P: partition nodes (loopNp1) need udev or devtmpfs, which
# containers often lack.
PART_START=$((2048 * 512))
PART_SIZE=$(($(stat -c %s "$RAW") - PART_START))
LOOP="$(losetup -f --show -o "$PART_START" --sizelimit "$PART_SIZE" "$RAW")"
PART="$LOOP"

# extlinux (syslinux 6.04) cannot read some newer ext4 features.
mkfs.ext4 -q -L debian-root -O ^64bit,^metadata_csum_seed,^orphan_file "$PART"
ROOT_UUID="$(blkid -s UUID -o value "$PART")"
mkdir -p "$ROOT"
mount "$PART" "$ROOT"

DEBS="$CACHE/debootstrap-$RELEASE"
mkdir -p "$DEBS"
log "debootstrap (packages cached in $DEBS)"
include="$(IFS=,; echo "${PACKAGES[*]}")"
debootstrap --variant=minbase --include="$include" --cache-dir="$DEBS" \
  "$RELEASE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -n 20 "$WORK/debootstrap.log" >&2
  if [ -f "$ROOT/debootstrap/debootstrap.log" ]; then
    log "from $ROOT/debootstrap/debootstrap.log:"
    tail -n 40 "$ROOT/debootstrap/debootstrap.log" >&2
  fi
  die "debootstrap failed"
}

log "configuring"
cat >"$ROOT/etc/fstab" <<EOF
UUID=$ROOT_UUID / ext4 errors=remount-ro 0 1
EOF
echo debian >"$ROOT/etc/hostname"
cat >"$ROOT/etc/hosts" <<'EOF'
127.0.0.1 localhost
127.0.1.1 debian
::1 localhost ip6-localhost ip6-loopback
EOF
# A locale file keeps cloud-init's locale module from calling update-locale
# (the locales package is not installed; C.UTF-8 is built into libc).
echo 'LANG=C.UTF-8' >"$ROOT/etc/default/locale"
cat >"$ROOT/etc/apt/sources.list" <<EOF
deb http://deb.debian.org/debian $RELEASE main
deb http://deb.debian.org/debian $RELEASE-updates main
deb http://deb.debian.org/debian-security $RELEASE-security main
EOF
install -m 0644 "$CONFIG_DIR/90-dvp.cfg" "$ROOT/etc/cloud/cloud.cfg.d/90-dvp.cfg"
install -m 0644 "$CONFIG_DIR/initramfs.conf" "$ROOT/etc/initramfs-tools/conf.d/90-dvp"
install -m 0644 "$CONFIG_DIR/90-dhcp.network" "$ROOT/etc/systemd/network/90-dhcp.network"
chroot "$ROOT" systemctl enable -q systemd-networkd.service systemd-resolved.service
# No background apt or scrub jobs in short-lived test VMs.
chroot "$ROOT" systemctl mask -q apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
  e2scrub_reap.service 2>/dev/null || true
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$ROOT/etc/resolv.conf"

# Slimming: no documentation besides copyright files, no translations or
# manual pages, no modules for hardware a VM does not have. The same rules go
# into dpkg's configuration for packages installed later in the guest.
log "slimming"
{
  echo "# Written by hack/guest/build-debian.sh (dvp test guest)."
  echo "path-exclude=/usr/share/doc/*"
  echo "path-include=/usr/share/doc/*/copyright"
  echo "path-exclude=/usr/share/man/*"
  echo "path-exclude=/usr/share/info/*"
  echo "path-exclude=/usr/share/locale/*"
  echo "path-include=/usr/share/locale/locale.alias"
  for m in "${PRUNE_MODULES[@]}"; do echo "path-exclude=/usr/lib/modules/*/kernel/$m/*"; done
} >"$ROOT/etc/dpkg/dpkg.cfg.d/90-dvp-slim"
find "$ROOT/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/*
find "$ROOT/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
KVERS=()
for d in "$ROOT"/usr/lib/modules/*/; do
  KVERS+=("$(basename "$d")")
  for m in "${PRUNE_MODULES[@]}"; do rm -rf "${d}kernel/$m"; done
done
mount -t proc proc "$ROOT/proc"
for v in "${KVERS[@]}"; do
  chroot "$ROOT" depmod -a "$v"
  chroot "$ROOT" update-initramfs -u -k "$v" >/dev/null 2>&1 || die "update-initramfs failed for $v"
done
umount "$ROOT/proc"

# Bootloader: extlinux in /boot/extlinux (its MBR code goes in below).
KVER="$(basename "$(readlink -f "$ROOT/vmlinuz")")"
[ -f "$ROOT/boot/$KVER" ] || die "kernel not found (/vmlinuz -> $KVER)"
[ -f "$ROOT/initrd.img" ] || die "initramfs not found"
mkdir -p "$ROOT/boot/extlinux"
sed "s/@ROOT_UUID@/$ROOT_UUID/" "$CONFIG_DIR/extlinux.conf" >"$ROOT/boot/extlinux/extlinux.conf"
extlinux --install "$ROOT/boot/extlinux" >/dev/null 2>&1 || die "extlinux --install failed"

# Per-instance state is made on first boot: machine id, SSH host keys
# (cloud-init generates them), cloud-init's own state.
log "cleaning"
chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/debconf/*-old \
  "$ROOT"/var/lib/cloud/* "$ROOT"/etc/ssh/ssh_host_* "$ROOT"/tmp/* "$ROOT"/var/tmp/* \
  "$ROOT"/var/lib/dbus/machine-id "$ROOT"/root/.bash_history
: >"$ROOT/etc/machine-id"
find "$ROOT/var/log" -type f -exec truncate -s 0 {} +
chroot "$ROOT" dpkg-query -W -f='${Package} ${Version}\n' >"$WORK/packages.txt"
USED_MB="$(df -m --output=used "$ROOT" | tail -n1 | tr -d ' ')"
# Freed blocks (the .debs debootstrap unpacked) reach the discard only
# after the journal commit: sync first, so the qcow2 holds no garbage.
sync -f "$ROOT/etc/hostname"
fstrim "$ROOT" 2>/dev/null || log "fstrim failed; the image will be larger"
umount "$ROOT"
e2fsck -fy "$PART" >/dev/null 2>&1 || true
losetup -d "$LOOP"
LOOP=""
dd if="$MBR_BIN" of="$RAW" bs=440 count=1 conv=notrunc status=none

log "converting to compressed qcow2"
mkdir -p "$WORK/out"
qemu-img convert -c -O qcow2 "$RAW" "$WORK/out/$IMAGE_NAME"
rm -f "$RAW"
mv "$WORK/packages.txt" "$WORK/out/packages.txt"
cat >"$WORK/out/build-info.txt" <<EOF
guest_version=$GUEST_VERSION
release=$RELEASE
hash=$HASH
kernel=${KVER#vmlinuz-}
root_uuid=$ROOT_UUID
root_used_mb=$USED_MB
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
build_seconds=$(($(date +%s) - START))
EOF
(cd "$WORK/out" && sha256sum "$IMAGE_NAME" >SHA256SUMS)
rm -rf "$OUT_DIR"
mv -T "$WORK/out" "$OUT_DIR"
log "done in $(($(date +%s) - START))s: $OUT_DIR/$IMAGE_NAME ($(du -h "$OUT_DIR/$IMAGE_NAME" | cut -f1))"
echo "$OUT_DIR"
