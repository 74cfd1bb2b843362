// Package upload is the image upload gateway: the HTTPS endpoint behind
// status.imageUploadURLs of a VirtualImage or ClusterVirtualImage with
// dataSource.type: Upload.
//
// Each such image owns one Secret (see NewSecret) holding a random token and
// the state of the upload. The gateway finds the Secret by the SHA-256 of the
// token (a label, so the token itself is never in a label), streams the
// request body through image.Import into DVCR and records the outcome in the
// Secret; the image controller turns that into the image status. All state
// is in the API, so a restarted gateway keeps working.
package upload
