// Package v1alpha2 holds the v1alpha2 API types of the virtualization.deckhouse.io
// group: images, disks, virtual machines and the objects that attach, address and
// operate on them.
//
// +kubebuilder:object:generate=true
// +groupName=virtualization.deckhouse.io
package v1alpha2
