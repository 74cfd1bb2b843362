package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of every kind in this package.
const GroupName = "virtualization.deckhouse.io"

// Version is the API version of this package.
const Version = "v1alpha2"

var (
	// GroupVersion identifies this API version.
	GroupVersion = schema.GroupVersion{Group: GroupName, Version: Version}

	// SchemeGroupVersion is an alias of GroupVersion for code that expects the
	// client-go naming.
	SchemeGroupVersion = GroupVersion

	// SchemeBuilder collects the functions that register this package's types.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme registers this package's types in a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind names.
const (
	ClusterVirtualImageKind                 = "ClusterVirtualImage"
	VirtualImageKind                        = "VirtualImage"
	VirtualDiskKind                         = "VirtualDisk"
	VirtualMachineKind                      = "VirtualMachine"
	VirtualMachineBlockDeviceAttachmentKind = "VirtualMachineBlockDeviceAttachment"
	VirtualMachineIPAddressKind             = "VirtualMachineIPAddress"
	VirtualMachineIPAddressLeaseKind        = "VirtualMachineIPAddressLease"
	VirtualMachineOperationKind             = "VirtualMachineOperation"
	VirtualMachineClassKind                 = "VirtualMachineClass"
)

// Resource (plural) names.
const (
	ClusterVirtualImageResource                 = "clustervirtualimages"
	VirtualImageResource                        = "virtualimages"
	VirtualDiskResource                         = "virtualdisks"
	VirtualMachineResource                      = "virtualmachines"
	VirtualMachineBlockDeviceAttachmentResource = "virtualmachineblockdeviceattachments"
	VirtualMachineIPAddressResource             = "virtualmachineipaddresses"
	VirtualMachineIPAddressLeaseResource        = "virtualmachineipaddressleases"
	VirtualMachineOperationResource             = "virtualmachineoperations"
	VirtualMachineClassResource                 = "virtualmachineclasses"
)

// Kind returns a GroupKind of this group.
func Kind(kind string) schema.GroupKind {
	return GroupVersion.WithKind(kind).GroupKind()
}

// Resource returns a GroupResource of this group.
func Resource(resource string) schema.GroupResource {
	return GroupVersion.WithResource(resource).GroupResource()
}

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&ClusterVirtualImage{}, &ClusterVirtualImageList{},
		&VirtualImage{}, &VirtualImageList{},
		&VirtualDisk{}, &VirtualDiskList{},
		&VirtualMachine{}, &VirtualMachineList{},
		&VirtualMachineBlockDeviceAttachment{}, &VirtualMachineBlockDeviceAttachmentList{},
		&VirtualMachineIPAddress{}, &VirtualMachineIPAddressList{},
		&VirtualMachineIPAddressLease{}, &VirtualMachineIPAddressLeaseList{},
		&VirtualMachineOperation{}, &VirtualMachineOperationList{},
		&VirtualMachineClass{}, &VirtualMachineClassList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
