package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VirtualMachineIPAddressLease records that an address is taken. Its name is "ip-"
// followed by the IPv4 address with dots replaced by dashes (e.g. ip-10-66-10-14).
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=vmipl;vmiplease,categories=virtualization-cluster
// +kubebuilder:metadata:labels="heritage=deckhouse"
// +kubebuilder:metadata:labels="module=virtualization"
// +kubebuilder:printcolumn:name="VirtualMachineIPAddress",type=string,JSONPath=`.spec.virtualMachineIPAddressRef`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VirtualMachineIPAddressLease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec VirtualMachineIPAddressLeaseSpec `json:"spec,omitempty"`
	// +optional
	Status VirtualMachineIPAddressLeaseStatus `json:"status,omitempty"`
}

// VirtualMachineIPAddressLeaseList is a list of VirtualMachineIPAddressLeases.
//
// +kubebuilder:object:root=true
type VirtualMachineIPAddressLeaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachineIPAddressLease `json:"items"`
}

// VirtualMachineIPAddressLeaseSpec is the desired state of a lease.
type VirtualMachineIPAddressLeaseSpec struct {
	// VirtualMachineIPAddressRef names the address resource that holds the lease.
	// +optional
	VirtualMachineIPAddressRef *VirtualMachineIPAddressLeaseIPAddressRef `json:"virtualMachineIPAddressRef,omitempty"`
}

// VirtualMachineIPAddressLeaseIPAddressRef names a VirtualMachineIPAddress.
type VirtualMachineIPAddressLeaseIPAddressRef struct {
	// Name of the VirtualMachineIPAddress.
	Name string `json:"name"`
	// Namespace of the VirtualMachineIPAddress.
	Namespace string `json:"namespace"`
}

// VirtualMachineIPAddressLeaseStatus is the observed state of a lease.
type VirtualMachineIPAddressLeaseStatus struct {
	// Phase of the lease.
	// +optional
	Phase VirtualMachineIPAddressLeasePhase `json:"phase,omitempty"`
	// Conditions of the lease.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}
