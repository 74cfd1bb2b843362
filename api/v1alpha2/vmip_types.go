package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VirtualMachineIPAddress reserves an IP address from the module's
// virtualMachineCIDRs for a machine in the same namespace.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vmip,categories=virtualization
// +kubebuilder:metadata:labels="heritage=deckhouse"
// +kubebuilder:metadata:labels="module=virtualization"
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.status.address`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="VM",type=string,JSONPath=`.status.virtualMachineName`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VirtualMachineIPAddress struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec VirtualMachineIPAddressSpec `json:"spec,omitempty"`
	// +optional
	Status VirtualMachineIPAddressStatus `json:"status,omitempty"`
}

// VirtualMachineIPAddressList is a list of VirtualMachineIPAddresses.
//
// +kubebuilder:object:root=true
type VirtualMachineIPAddressList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachineIPAddress `json:"items"`
}

// VirtualMachineIPAddressType says how the address is chosen.
// +kubebuilder:validation:Enum=Auto;Static
type VirtualMachineIPAddressType string

const (
	// VirtualMachineIPAddressTypeAuto takes the first free address.
	VirtualMachineIPAddressTypeAuto VirtualMachineIPAddressType = "Auto"
	// VirtualMachineIPAddressTypeStatic takes the address given in staticIP.
	VirtualMachineIPAddressTypeStatic VirtualMachineIPAddressType = "Static"
)

// VirtualMachineIPAddressSpec is the desired state of a VirtualMachineIPAddress.
type VirtualMachineIPAddressSpec struct {
	// Type says how the address is chosen.
	Type VirtualMachineIPAddressType `json:"type"`
	// StaticIP is the requested address; required for the Static type.
	// +optional
	StaticIP string `json:"staticIP,omitempty"`
}

// VirtualMachineIPAddressStatus is the observed state of a VirtualMachineIPAddress.
type VirtualMachineIPAddressStatus struct {
	// Address reserved.
	// +optional
	Address string `json:"address,omitempty"`
	// VirtualMachineName names the machine that uses the address.
	// +optional
	VirtualMachine string `json:"virtualMachineName,omitempty"`
	// Phase of the address.
	// +optional
	Phase VirtualMachineIPAddressPhase `json:"phase,omitempty"`
	// Conditions of the address.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}
