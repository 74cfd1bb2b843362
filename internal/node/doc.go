// Package node is the node runtime of the all-in-one mode (`dvp node`): it
// fills kubelet's role for the platform's own pods.
//
// A node registers itself (labels, taints, capacity, lease) and runs the pods
// bound to it as local processes of the platform's binaries, each container
// under a per-container supervisor (package supervisor) that outlives the
// runtime. The virtual-kubelet library drives the pod and node lifecycles and
// serves the kubelet API (`kubectl logs`); this package is its provider.
//
// Only pods of the platform image run; any other pod is marked Failed with a
// message saying why. Secrets, ConfigMaps, downward API, projected service
// account tokens, emptyDir and PVC volumes are materialized as directories and
// reached through a per-container root (DVP_ROOT) of symlinks at the paths a
// container would see.
package node
