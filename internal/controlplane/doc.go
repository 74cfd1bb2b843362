// Package controlplane runs the all-in-one Kubernetes control plane of
// `dvp server`: embedded etcd and kube-apiserver in this process, and
// kube-controller-manager and kube-scheduler as supervised child processes of
// the same binary. It is the only package that links k8s.io/kubernetes; keep it
// that way so ordinary unit tests and the per-VM binary stay small.
//
// Children rather than goroutines for the controller-manager and scheduler:
// their upstream commands each install a process-wide signal handler and
// register global metrics, and a second copy in one process panics. A child
// also isolates a crash, and the supervisor restarts it.
package controlplane
