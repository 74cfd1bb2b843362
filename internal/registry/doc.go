// Package registry is DVCR, the platform's internal OCI registry.
//
// Every VirtualImage, ClusterVirtualImage and VirtualDisk image is stored as
// an OCI image in one repository of its own (see VIRepository,
// CVIRepository, VDRepository). The registry is the CNCF distribution
// registry used as a library and served in-process by `dvp server` over
// HTTPS, with the blobs on the local filesystem.
//
// Nothing is anonymous. The platform hands each importer or VM launcher
// credentials scoped to exactly one repository (Credentials): a stolen
// password cannot read or overwrite other images, and it needs no state in
// the registry because it is an HMAC of its own scope.
//
// Deleting an image is two steps: DeleteRepository drops the repository's
// tags and links, and GarbageCollect frees every blob nothing references any
// more. Garbage collection excludes pushes (see GarbageCollect) because a
// blob uploaded for a manifest that is not written yet looks unreferenced.
//
// The package does not log on its own; distribution's internal logs go to
// the optional Options.Logger.
package registry
