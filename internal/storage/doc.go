// Package storage is the all-in-one mode's volume layer: the StorageClasses
// from the settings file, a dynamic provisioner that backs PersistentVolumes
// with directories and sparse files under the data directory, and the resizer
// that grows them.
//
// Every simulated node runs on the one host, so a volume is reachable from all
// of them: shared classes hand out hostPath volumes without node affinity, the
// way replicated network storage behaves in a real cluster. Node-local classes
// hand out local volumes pinned to one node instead, so placement rules that
// depend on local storage can be exercised.
//
// Layout under <dataDir>/volumes/:
//
//	<pv-name>/       a Filesystem volume (a directory)
//	<pv-name>.img    a Block volume (a sparse raw file of the volume's size)
//	.tmp-<...>       a volume being created; renamed into place when complete
//
// kube-controller-manager's expand controller only resizes CSI and in-tree
// volumes, so this package also owns expansion (see RunResizer).
package storage
