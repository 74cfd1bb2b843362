package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VirtualMachineBlockDeviceAttachment attaches a disk or image to a running machine
// (hotplug). Deleting it detaches the device.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vmbda,categories=virtualization
// +kubebuilder:metadata:labels="heritage=deckhouse"
// +kubebuilder:metadata:labels="module=virtualization"
// +kubebuilder:printcolumn:name="PHASE",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="BLOCKDEVICE KIND",type=string,JSONPath=`.spec.blockDeviceRef.kind`,priority=1
// +kubebuilder:printcolumn:name="BLOCKDEVICE NAME",type=string,JSONPath=`.spec.blockDeviceRef.name`,priority=1
// +kubebuilder:printcolumn:name="VIRTUALMACHINE",type=string,JSONPath=`.status.virtualMachineName`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VirtualMachineBlockDeviceAttachment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec VirtualMachineBlockDeviceAttachmentSpec `json:"spec"`
	// +optional
	Status VirtualMachineBlockDeviceAttachmentStatus `json:"status,omitempty"`
}

// VirtualMachineBlockDeviceAttachmentList is a list of VirtualMachineBlockDeviceAttachments.
//
// +kubebuilder:object:root=true
type VirtualMachineBlockDeviceAttachmentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachineBlockDeviceAttachment `json:"items"`
}

// VirtualMachineBlockDeviceAttachmentSpec is the desired state of an attachment.
type VirtualMachineBlockDeviceAttachmentSpec struct {
	// VirtualMachineName names the machine in the same namespace.
	// +kubebuilder:validation:MinLength=1
	VirtualMachineName string `json:"virtualMachineName"`
	// BlockDeviceRef names the device to attach.
	BlockDeviceRef VMBDAObjectRef `json:"blockDeviceRef"`
}

// VMBDAObjectRef names the device of an attachment.
type VMBDAObjectRef struct {
	// Kind of the device.
	// +kubebuilder:validation:Enum=VirtualDisk;VirtualImage;ClusterVirtualImage
	Kind BlockDeviceKind `json:"kind"`
	// Name of the device.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// VirtualMachineBlockDeviceAttachmentStatus is the observed state of an attachment.
type VirtualMachineBlockDeviceAttachmentStatus struct {
	// Phase of the attachment.
	// +optional
	Phase VirtualMachineBlockDeviceAttachmentPhase `json:"phase,omitempty"`
	// VirtualMachineName names the machine the device is attached to.
	// +optional
	VirtualMachineName string `json:"virtualMachineName,omitempty"`
	// Conditions of the attachment.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}
