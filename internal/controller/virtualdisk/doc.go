// Package virtualdisk reconciles VirtualDisks. A disk is a
// PersistentVolumeClaim named vd-<name>-<uid> on the disk's StorageClass (or
// the default one); the disk's phase, capacity and conditions follow the
// claim, and a larger spec size grows the claim online.
//
// Blank disks only for now: disks from images, HTTP, registries and uploads
// come with the disk importer.
package virtualdisk
