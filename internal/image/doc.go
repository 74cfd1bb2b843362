// Package image moves a disk image from a source into DVCR, the platform's
// OCI registry, in one pass over the network.
//
// A Source (HTTPSource, RegistrySource, ReaderSource) yields a byte stream.
// Import hashes it as it arrives (Checksums are verified over the bytes
// received, before decompression), decompresses gzip or xz on the fly,
// spools the disk to a scratch directory, verifies the checksums, detects
// the format from magic bytes, confirms it and reads the virtual size with
// qemu-img under resource limits, and pushes an OCI image shaped like the
// upstream DVCR layout: one uncompressed tar layer holding disk/<file> and a
// config whose labels carry the size, virtual size and format. Nothing is
// pushed before the checksums match and the image was inspected.
//
// The disk is spooled because a tar header needs the file size before the
// data and a VMDK's metadata may sit in its footer; memory stays bounded
// whatever the image size, and the spool file is removed at the end.
// CopyImage copies an image between DVCR repositories without a download.
// ImportVolume stores a VirtualDisk's volume (a raw Block device, or a
// Filesystem volume's qcow2 with its backing chain) as a flattened qcow2.
//
// The package is linked into the lean dvp-worker binary: it must not import
// Kubernetes or distribution packages. It does not log; it returns errors,
// classified by the sentinel errors in errors.go (see Reason).
package image
