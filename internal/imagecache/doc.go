// Package imagecache keeps a node's copies of Ready images, so that a disk
// made from an image is a thin qcow2 overlay on the cached copy instead of a
// full copy of the image: the cost of a clone no longer grows with the
// image's size.
//
// Layout under <dataDir>/image-cache/:
//
//	<hex>.<format>    one image, named by the digest of the DVCR layer that
//	                  holds it (content-addressed), read-only, sparse
//	.tmp-<...>        an entry being written; renamed into place when complete
//
// Overlays name their backing file by a path relative to their own directory
// (<dataDir>/volumes/<pv>/disk.qcow2 -> ../../image-cache/<hex>.<format>), so
// a data directory that is moved or mounted elsewhere stays consistent.
//
// An entry lives while an image that is Ready refers to it, while a volume's
// overlay names it, or while a clone is being made from it (a pin). Garbage
// collection removes every other entry; deleting an image therefore never
// breaks a disk made from it.
package imagecache
