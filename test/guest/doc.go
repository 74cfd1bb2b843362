// Package guest gives tests the tiny test guest: two small raw disk images
// (BIOS and UEFI) that boot Debian's kernel into a busybox initramfs whose
// init applies a NoCloud seed and then offers a login on the serial
// console. See docs/design/guests.md.
//
// The images are built by hack/guest/build-tiny.sh (also `make guests`) into
// a cache keyed by the hash of their inputs, so only the first test on a
// machine pays for the build (some seconds) and the rest reuse it. Tests that
// need the guest skip, saying why, when the machine cannot build or boot it
// (not root, QEMU or the image tools missing).
//
// Tests must not write to the cached images: boot them with QEMU's
// snapshot=on (or a copy).
package guest
