// Package virtualdisk reconciles VirtualDisks. A disk is a
// PersistentVolumeClaim named vd-<name>-<uid> on the disk's StorageClass (or
// the default one); the disk's phase, capacity and conditions follow the
// claim, and a larger spec size grows the claim online.
//
// Blank disks, and disks from a Ready VirtualImage or ClusterVirtualImage: a
// vd-importer pod writes the image from DVCR onto the claim (raw on the Block
// volume) once it is bound. Disks straight from HTTP, registries and uploads
// are first imported into DVCR (repository vd/<namespace>/<name>) with the
// image import machinery, then written the same way; see dvcr.go.
package virtualdisk
