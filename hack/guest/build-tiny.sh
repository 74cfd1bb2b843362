#!/usr/bin/env bash
# Builds the tiny test guest: two raw disk images that boot Debian's kernel
# with an initramfs holding busybox, the guest init (test/guest/init) and a
# handful of driver modules.
#
#   tiny-bios.img  MBR, one bootable FAT partition with syslinux (SeaBIOS)
#   tiny-efi.img   GPT, an ESP with /EFI/BOOT/BOOTX64.EFI = syslinux.efi (OVMF)
#
# Output: ${DVP_GUEST_CACHE:-/var/cache/dvp/guests}/tiny-<hash>/, where the
# hash covers this script, the init's source, the syslinux configs and the
# exact versions of the Debian packages used. A complete directory is
# reused as is. The last line on stdout is the directory; the rest of the
# chatter goes to stderr.
#
# Needs: apt (to fetch the kernel package; the host's kernel is not
# touched), busybox-static, syslinux, syslinux-common, syslinux-efi,
# mtools, dosfstools, fdisk (sfdisk), cpio, kmod (depmod), the repo's Go.
# No loop devices or mounts: the file systems are written with mtools.
#
# Environment:
#   DVP_GUEST_CACHE        cache root (default /var/cache/dvp/guests)
#   DVP_GUEST_KERNEL_PKG   kernel package (default: what linux-image-amd64
#                          depends on)
#   GO                     go binary (default: go, else /usr/local/go/bin/go)
set -euo pipefail

exec 3>&1 1>&2 # stdout is for the result line only
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" # depmod, sfdisk, mkfs.vfat

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${DVP_GUEST_CACHE:-/var/cache/dvp/guests}
started=$(date +%s)

log() { echo "build-tiny: $*"; }
die() {
  echo "build-tiny: error: $*"
  exit 1
}

GO=${GO:-go}
if ! command -v "$GO" >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; fi

for t in "$GO" dpkg-query dpkg-deb apt-cache apt-get depmod sfdisk mkfs.vfat mcopy mmd syslinux cpio gzip sha256sum flock; do
  command -v "$t" >/dev/null 2>&1 || die "$t not found (hack/install-deps.sh installs what this needs)"
done

# Drivers for the devices a VM gets with paravirtualization on (virtio
# disks, SCSI CD, NIC) and off (AHCI disks and CD, e1000/e1000e), q35. Their
# dependencies come from modules.dep; built-ins are skipped.
required_modules=(virtio_pci virtio_blk virtio_scsi virtio_net sd_mod sr_mod cdrom isofs
  libahci ahci e1000 e1000e button evdev)
optional_modules=(pvpanic pvpanic_pci pvpanic_mmio virtio_console)

pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

busybox_ver=$(pkg_version busybox-static)
[ -n "$busybox_ver" ] || die "busybox-static is not installed (a static busybox is needed in the initramfs)"
busybox_bin=/bin/busybox
[ -x "$busybox_bin" ] || die "$busybox_bin missing"
syslinux_vers=""
for p in syslinux syslinux-common syslinux-efi; do
  v=$(pkg_version "$p")
  [ -n "$v" ] || die "$p is not installed"
  syslinux_vers+="$p=$v "
done
mbr_bin=/usr/lib/syslinux/mbr/mbr.bin
efi_bin=/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi
efi_ldlinux=/usr/lib/syslinux/modules/efi64/ldlinux.e64
for f in "$mbr_bin" "$efi_bin" "$efi_ldlinux"; do [ -f "$f" ] || die "$f missing"; done

# The kernel: the package linux-image-amd64 points at, fetched with
# apt-get download (never installed on this machine).
mkdir -p "$cache/debs-tiny"
resolve_kernel() {
  kpkg=${DVP_GUEST_KERNEL_PKG:-}
  kver=""
  if [ -z "$kpkg" ]; then
    # "Depends: linux-image-6.1.0-N-amd64 (= VERSION)": both in one look-up.
    read -r kpkg kver < <(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
      awk '$1 == "Depends:" { for (i = 2; i <= NF; i++) if ($i ~ /^linux-image-[0-9]/) {
        v = ""; if ($(i+1) == "(=") { v = $(i+2); sub(/[),].*/, "", v) }; print $i, v; exit } }') || true
  fi
  if [ -n "$kpkg" ] && [ -z "$kver" ]; then
    kver=$(apt-cache show --no-all-versions "$kpkg" 2>/dev/null | awk '$1 == "Version:" { print $2; exit }')
  fi
}
resolve_kernel
if [ -z "$kver" ] && [ "$(id -u)" = 0 ]; then
  log "apt knows no kernel package; running apt-get update"
  apt-get update -qq || true
  resolve_kernel
fi
kdeb=""
if [ -z "$kver" ]; then
  # Offline: fall back to a kernel package fetched earlier.
  kdeb=$(ls -t "$cache"/debs-tiny/linux-image-*-amd64_*.deb 2>/dev/null | head -n1 || true)
  [ -n "$kdeb" ] || die "cannot resolve the kernel package (apt-cache knows no linux-image-amd64, no cached .deb)"
  kpkg=$(dpkg-deb -f "$kdeb" Package)
  kver=$(dpkg-deb -f "$kdeb" Version)
  log "apt unavailable; using cached $kdeb"
fi

init_sources=$(cd "$root" && find test/guest/init -maxdepth 1 -name '*.go' ! -name '*_test.go' | LC_ALL=C sort)
[ -n "$init_sources" ] || die "no init sources in $root/test/guest/init"

hash=$(
  {
    echo "script"
    sha256sum <"$here/build-tiny.sh"
    for f in "$here"/syslinux-*.cfg; do
      echo "${f##*/}"
      sha256sum <"$f"
    done
    for f in $init_sources; do
      echo "$f"
      sha256sum <"$root/$f"
    done
    echo "kernel $kpkg=$kver"
    echo "busybox-static=$busybox_ver"
    echo "$syslinux_vers"
    "$GO" env GOVERSION
    awk '$1 == "sigs.k8s.io/yaml" { print $1, $2 }' "$root/go.mod"
  } | sha256sum | cut -c1-16
)
out="$cache/tiny-$hash"

have_images() { [ -f "$1/tiny-bios.img" ] && [ -f "$1/tiny-efi.img" ]; }
if have_images "$out"; then
  echo "$out" >&3
  exit 0
fi

# One build at a time; whoever waited may find the work done.
exec 9>"$cache/.tiny.lock"
flock 9
if have_images "$out"; then
  echo "$out" >&3
  exit 0
fi

log "building $out (kernel $kpkg $kver, busybox $busybox_ver)"
# Leftovers of builds that were killed (only lock holders make these).
rm -rf "$cache"/.tiny-*.??????
tmp=$(mktemp -d "$cache/.tiny-$hash.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
work=$tmp/work
mkdir -p "$work"

# --- kernel and modules ---------------------------------------------------
if [ -z "$kdeb" ]; then
  for f in "$cache/debs-tiny/${kpkg}"_*_amd64.deb; do
    [ -f "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$kver" ] && kdeb=$f
  done
fi
if [ -z "$kdeb" ]; then
  log "downloading $kpkg=$kver"
  (cd "$cache/debs-tiny" && apt-get -q -o APT::Sandbox::User=root download "$kpkg=$kver") >/dev/null
  for f in "$cache/debs-tiny/${kpkg}"_*_amd64.deb; do
    [ -f "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$kver" ] && kdeb=$f
  done
  [ -n "$kdeb" ] || die "apt-get download $kpkg=$kver left no .deb"
  # Older kernel packages are of no further use.
  for f in "$cache"/debs-tiny/linux-image-*.deb; do [ "$f" = "$kdeb" ] || rm -f "$f"; done
fi
dpkg-deb -x "$kdeb" "$work/k"
kabi=$(ls "$work/k/lib/modules")
[ "$(echo "$kabi" | wc -l)" = 1 ] || die "expected one module tree in $kdeb, got: $kabi"
vmlinuz=$work/k/boot/vmlinuz-$kabi
[ -f "$vmlinuz" ] || die "no kernel image in $kdeb"
kmods=$work/k/lib/modules/$kabi
depmod -b "$work/k" "$kabi"

# Module names: '-' and '_' are the same to the kernel.
norm() {
  local n=${1##*/}
  n=${n%%.ko*}
  echo "${n//-/_}"
}
declare -A mod_path mod_deps builtin visited
while IFS= read -r line; do
  n=${line##*/}
  n=${n%%.ko*}
  builtin[${n//-/_}]=1
done <"$kmods/modules.builtin"
while IFS= read -r line; do
  p=${line%%:*}
  n=${p##*/}
  n=${n%%.ko*}
  n=${n//-/_}
  mod_path[$n]=$p
  mod_deps[$n]=${line#*:}
done <"$kmods/modules.dep"

load_order=()
visit() {
  local n=$1 d
  [ -z "${visited[$n]:-}" ] || return 0
  visited[$n]=1
  for d in ${mod_deps[$n]}; do
    visit "$(norm "$d")"
  done
  load_order+=("${mod_path[$n]}")
}
want() {
  local n=${1//-/_} required=$2
  if [ -n "${builtin[$n]:-}" ]; then
    log "module $n is built in"
  elif [ -n "${mod_path[$n]:-}" ]; then
    visit "$n"
  elif [ "$required" = yes ]; then
    die "module $n is neither built in nor in $kpkg"
  else
    log "module $n not available; skipped"
  fi
}
for m in "${required_modules[@]}"; do want "$m" yes; done
for m in "${optional_modules[@]}"; do want "$m" no; done

# --- initramfs ------------------------------------------------------------
ir=$work/initramfs
mkdir -p "$ir"/usr/bin "$ir"/{dev,proc,sys,tmp,run,root,home,mnt,etc/dvp-tiny,usr/share/udhcpc,var/log}
ln -s usr/bin "$ir/bin"
ln -s usr/bin "$ir/sbin"
ln -s bin "$ir/usr/sbin"
ln -s ../run "$ir/var/run"
chmod 1777 "$ir/tmp"
chmod 0700 "$ir/root"

install -m 0755 "$busybox_bin" "$ir/usr/bin/busybox"
for a in $("$busybox_bin" --list); do
  case "$a" in busybox | linuxrc) continue ;; esac
  ln -s busybox "$ir/usr/bin/$a"
done

log "building the init with $("$GO" env GOVERSION)"
(cd "$root" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 "$GO" build -trimpath -buildvcs=false \
  -ldflags '-s -w' -o "$ir/usr/bin/dvp-tiny" ./test/guest/init)
# Set-uid root so that poweroff/reboot/halt work for logged-in users and
# sudo for those with a sudo rule (see tool.go).
chmod 4755 "$ir/usr/bin/dvp-tiny"
for a in poweroff reboot halt sudo; do ln -sf dvp-tiny "$ir/usr/bin/$a"; done
ln -s usr/bin/dvp-tiny "$ir/init"

mkdir -p "$ir/lib/modules/$kabi"
for f in modules.builtin modules.builtin.modinfo modules.order; do
  [ -f "$kmods/$f" ] && cp "$kmods/$f" "$ir/lib/modules/$kabi/"
done
: >"$ir/etc/dvp-tiny/modules"
for p in "${load_order[@]}"; do
  dst=$ir/lib/modules/$kabi/$p
  mkdir -p "$(dirname "$dst")"
  case "$p" in
    *.ko) cp "$kmods/$p" "$dst" ;;
    *.ko.xz) xz -dc "$kmods/$p" >"${dst%.xz}" ;;
    *.ko.zst) zstd -qdc "$kmods/$p" >"${dst%.zst}" ;;
    *) die "unexpected module file $p" ;;
  esac
  p=${p%.xz}
  echo "${p%.zst}" >>"$ir/etc/dvp-tiny/modules"
done
# modules.dep too, so modprobe works by hand inside the guest.
depmod -b "$ir" "$kabi"
log "modules: $(tr '\n' ' ' <"$ir/etc/dvp-tiny/modules")"

cat >"$ir/etc/profile" <<'EOF'
# Login shells of the tiny test guest.
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
export PS1='\u@\h:\w\$ '
# busybox sh runs its own applets ahead of PATH, and its poweroff, reboot
# and halt only work for root; /usr/bin's (the set-uid init) work for
# everyone logged in.
poweroff() { /usr/bin/poweroff "$@"; }
reboot() { /usr/bin/reboot "$@"; }
halt() { /usr/bin/halt "$@"; }
EOF
cat >"$ir/etc/shells" <<'EOF'
/bin/sh
/bin/ash
EOF
cat >"$ir/etc/issue" <<'EOF'
dvp tiny test guest

EOF
cat >"$ir/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
# udhcpc hook of the tiny test guest: apply the lease to the interface,
# default route and resolv.conf.
case "$1" in
deconfig)
  ip -4 addr flush dev "$interface"
  ip link set "$interface" up
  ;;
bound | renew)
  ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" ${broadcast:+broadcast "$broadcast"}
  [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
  while route del default dev "$interface" 2>/dev/null; do :; done
  for r in $router; do route add default gw "$r" dev "$interface"; done
  {
    [ -n "$domain" ] && echo "search $domain"
    for d in $dns; do echo "nameserver $d"; done
  } >/etc/resolv.conf
  echo "$interface: $ip/${mask:-?} router ${router:-none}"
  ;;
esac
exit 0
EOF
chmod 0755 "$ir/usr/share/udhcpc/default.script"

if [ "$(id -u)" = 0 ]; then
  mknod -m 0600 "$ir/dev/console" c 5 1
  mknod -m 0666 "$ir/dev/null" c 1 3
fi
initrd=$work/initrd.img
(cd "$ir" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) |
  gzip -9 -n >"$initrd"

# --- disk images ----------------------------------------------------------
# One FAT16 partition from 1 MiB, sized to the payload plus slack; 1 MiB
# more at the end for GPT's backup header.
ksize=$(stat -c %s "$vmlinuz")
isize=$(stat -c %s "$initrd")
part_mib=$(((ksize + isize + (1 << 20) - 1) / (1 << 20) + 4))
[ "$part_mib" -ge 16 ] || part_mib=16
disk_mib=$((part_mib + 2))
part_sectors=$((part_mib * 2048))
export MTOOLS_SKIP_CHECK=1 MTOOLS_NO_VFAT=0

# mkfs_part IMG LABEL: FAT16 at sector 2048 of IMG, hidden sectors set so the
# boot sector knows where it sits.
mkfs_part() {
  local msg
  if ! msg=$(mkfs.vfat -F 16 -n "$2" -h 2048 --offset 2048 "$1" $((part_mib * 1024)) 2>&1); then
    echo "$msg"
    die "mkfs.vfat on $1 failed"
  fi
}

bios=$tmp/tiny-bios.img
truncate -s "${disk_mib}M" "$bios"
printf 'label: dos\nstart=2048, size=%d, type=e, bootable\n' "$part_sectors" | sfdisk -q "$bios" >/dev/null
dd if="$mbr_bin" of="$bios" bs=440 count=1 conv=notrunc status=none
mkfs_part "$bios" DVPTINY
syslinux --offset $((2048 * 512)) --install "$bios"
mcopy -i "$bios@@1M" "$vmlinuz" ::/vmlinuz
mcopy -i "$bios@@1M" "$initrd" ::/initrd.img
mcopy -i "$bios@@1M" "$here/syslinux-bios.cfg" ::/syslinux.cfg

efi=$tmp/tiny-efi.img
truncate -s "${disk_mib}M" "$efi"
printf 'label: gpt\nstart=2048, size=%d, type=uefi, name="EFI system partition"\n' "$part_sectors" |
  sfdisk -q "$efi" >/dev/null
mkfs_part "$efi" DVPTINYEFI
mmd -i "$efi@@1M" ::/EFI ::/EFI/BOOT
mcopy -i "$efi@@1M" "$efi_bin" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$efi@@1M" "$efi_ldlinux" ::/EFI/BOOT/ldlinux.e64
mcopy -i "$efi@@1M" "$here/syslinux-efi.cfg" ::/EFI/BOOT/syslinux.cfg
mcopy -i "$efi@@1M" "$vmlinuz" ::/vmlinuz
mcopy -i "$efi@@1M" "$initrd" ::/initrd.img

cat >"$tmp/manifest.txt" <<EOF
tiny test guest $hash
kernel: $kpkg $kver ($kabi)
busybox-static: $busybox_ver
syslinux: $syslinux_vers
go: $("$GO" env GOVERSION)
modules: $(tr '\n' ' ' <"$ir/etc/dvp-tiny/modules")
initrd: $isize bytes, kernel: $ksize bytes, disks: ${disk_mib} MiB
EOF

rm -rf "$work"
chmod 0755 "$tmp"
mv -T "$tmp" "$out"
trap - EXIT
# Keep the few most recent builds (other checkouts may want theirs).
ls -dt "$cache"/tiny-*/ 2>/dev/null | tail -n +5 | while IFS= read -r d; do rm -rf "$d"; done
log "done in $(($(date +%s) - started))s: $(du -sh --apparent-size "$out" | cut -f1) in $out"
echo "$out" >&3
