// Package upload is the image upload gateway: the HTTPS endpoint behind
// status.imageUploadURLs of a VirtualImage, ClusterVirtualImage or
// VirtualDisk with dataSource.type: Upload. An image's upload goes into its
// own DVCR repository; a disk's into its staging repository vd/<ns>/<name>,
// which the disk controller then writes onto the disk's volume.
//
// Each such object owns one Secret (see NewSecret) holding a random token and
// the state of the upload. The gateway finds the Secret by the SHA-256 of the
// token (a label, so the token itself is never in a label), streams the
// request body through image.Import into DVCR and records the outcome in the
// Secret; the owner's controller turns that into its status. All state
// is in the API, so a restarted gateway keeps working.
package upload
