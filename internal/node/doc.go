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
//
// A launcher pod that carries the VM's address and MAC annotations is
// plugged into the host's VM network (package network, set up once per host
// by StartNetwork) before its containers start: a tap of its own, DHCP for
// its MAC and the filtering rules; docs/design/networking.md.
package node
