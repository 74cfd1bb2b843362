// Package importjob runs one import into DVCR as an importer pod and reports
// how it is going. The VirtualImage and ClusterVirtualImage reconcilers (and
// the disk reconciler later) share it: each describes its source and target,
// this package owns the pod, its credentials Secret, progress and result.
//
// Progress is the importer's last log line, read through the API like
// `kubectl logs --tail=1`, so it works the same on a real cluster. The result
// is the pod's termination message.
package importjob
