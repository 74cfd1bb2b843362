package v1alpha2

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// VirtualMachine is a virtual machine: its hardware, disks, placement and run policy.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vm,categories=all;virtualization
// +kubebuilder:metadata:labels="heritage=deckhouse"
// +kubebuilder:metadata:labels="module=virtualization"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Cores",type=string,JSONPath=`.status.resources.cpu.cores`,priority=1
// +kubebuilder:printcolumn:name="CoreFraction",type=string,JSONPath=`.status.resources.cpu.coreFraction`,priority=1
// +kubebuilder:printcolumn:name="Memory",type=string,JSONPath=`.status.resources.memory.size`,priority=1
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.nodeName`
// +kubebuilder:printcolumn:name="IPAddress",type=string,JSONPath=`.status.ipAddress`
// +kubebuilder:printcolumn:name="Uptime",type=date,JSONPath=`.status.stats.lastStartTime`,priority=1
// +kubebuilder:printcolumn:name="Need restart",type=string,JSONPath=`.status.conditions[?(@.type=='AwaitingRestartToApplyConfiguration')].status`,priority=1
// +kubebuilder:printcolumn:name="Agent",type=string,JSONPath=`.status.conditions[?(@.type=='AgentReady')].status`,priority=1
// +kubebuilder:printcolumn:name="Migratable",type=string,JSONPath=`.status.conditions[?(@.type=='Migratable')].status`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VirtualMachine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec VirtualMachineSpec `json:"spec"`
	// +optional
	Status VirtualMachineStatus `json:"status,omitempty"`
}

// VirtualMachineList is a list of VirtualMachines.
//
// +kubebuilder:object:root=true
type VirtualMachineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachine `json:"items"`
}

// RunPolicy says when the machine should be running.
// +kubebuilder:validation:Enum=AlwaysOn;AlwaysOff;Manual;AlwaysOnUnlessStoppedManually
type RunPolicy string

const (
	// RunPolicyAlwaysOn keeps the machine running; it is restarted whenever it stops.
	RunPolicyAlwaysOn RunPolicy = "AlwaysOn"
	// RunPolicyAlwaysOff keeps the machine stopped.
	RunPolicyAlwaysOff RunPolicy = "AlwaysOff"
	// RunPolicyManual leaves starting and stopping to the user.
	RunPolicyManual RunPolicy = "Manual"
	// RunPolicyAlwaysOnUnlessStoppedManually starts the machine and restarts it after
	// failures, but not after a stop by the user or by the guest.
	RunPolicyAlwaysOnUnlessStoppedManually RunPolicy = "AlwaysOnUnlessStoppedManually"
)

// RestartApprovalMode says how changes that need a restart are applied.
// +kubebuilder:validation:Enum=Manual;Automatic
type RestartApprovalMode string

const (
	// RestartApprovalModeManual waits for the user to restart the machine.
	RestartApprovalModeManual RestartApprovalMode = "Manual"
	// RestartApprovalModeAutomatic restarts the machine as soon as such a change is made.
	RestartApprovalModeAutomatic RestartApprovalMode = "Automatic"
)

// OsType tunes the emulated hardware for a family of guest systems.
// +kubebuilder:validation:Enum=Windows;Generic;Legacy
type OsType string

const (
	OsTypeWindows OsType = "Windows"
	OsTypeGeneric OsType = "Generic"
	// OsTypeLegacy emulates older hardware (i440fx, BIOS) for old guest systems.
	OsTypeLegacy OsType = "Legacy"
)

// BootloaderType is the machine's firmware.
// +kubebuilder:validation:Enum=BIOS;EFI;EFIWithSecureBoot
type BootloaderType string

const (
	BootloaderBIOS              BootloaderType = "BIOS"
	BootloaderEFI               BootloaderType = "EFI"
	BootloaderEFIWithSecureBoot BootloaderType = "EFIWithSecureBoot"
)

// LiveMigrationPolicy says how the machine is live-migrated.
// +kubebuilder:validation:Enum=AlwaysSafe;PreferSafe;AlwaysForced;PreferForced
type LiveMigrationPolicy string

const (
	// LiveMigrationPolicyAlwaysSafe never slows the guest down to finish a migration.
	LiveMigrationPolicyAlwaysSafe LiveMigrationPolicy = "AlwaysSafe"
	// LiveMigrationPolicyPreferSafe migrates safely unless a forced operation asks otherwise.
	LiveMigrationPolicyPreferSafe LiveMigrationPolicy = "PreferSafe"
	// LiveMigrationPolicyAlwaysForced throttles the guest's CPU when needed to finish.
	LiveMigrationPolicyAlwaysForced LiveMigrationPolicy = "AlwaysForced"
	// LiveMigrationPolicyPreferForced throttles unless an operation asks for a safe migration.
	LiveMigrationPolicyPreferForced LiveMigrationPolicy = "PreferForced"
)

// BlockDeviceKind is the kind of a block device attached to a machine.
// Each field that uses it restricts the allowed values with its own enum.
type BlockDeviceKind string

const (
	BlockDeviceKindClusterVirtualImage BlockDeviceKind = "ClusterVirtualImage"
	BlockDeviceKindVirtualImage        BlockDeviceKind = "VirtualImage"
	BlockDeviceKindVirtualDisk         BlockDeviceKind = "VirtualDisk"
)

// ProvisioningType is the kind of first-boot configuration.
// +kubebuilder:validation:Enum=UserData;UserDataRef;SysprepRef
type ProvisioningType string

const (
	// ProvisioningTypeUserData passes inline cloud-init data.
	ProvisioningTypeUserData ProvisioningType = "UserData"
	// ProvisioningTypeUserDataRef takes cloud-init data from a Secret (key userData).
	ProvisioningTypeUserDataRef ProvisioningType = "UserDataRef"
	// ProvisioningTypeSysprepRef takes Windows answer files from a Secret.
	ProvisioningTypeSysprepRef ProvisioningType = "SysprepRef"
)

// SecretRefKind is the kind of a provisioning data reference.
// +kubebuilder:validation:Enum=Secret
type SecretRefKind string

// SecretRefKindSecret is the only supported kind.
const SecretRefKindSecret SecretRefKind = "Secret"

// NetworkType is the kind of a network interface.
// +kubebuilder:validation:Enum=Main;Network;ClusterNetwork
type NetworkType string

const (
	// NetworkTypeMain is the cluster's pod network, with an address from virtualMachineCIDRs.
	NetworkTypeMain NetworkType = "Main"
	// NetworkTypeNetwork is a namespaced additional network.
	NetworkTypeNetwork NetworkType = "Network"
	// NetworkTypeClusterNetwork is a cluster-wide additional network.
	NetworkTypeClusterNetwork NetworkType = "ClusterNetwork"
)

// The rules below sit outside the doc comment so that gofmt does not rewrite the
// '' in them (gofmt turns two apostrophes in a doc comment into a curly quote).
// +kubebuilder:validation:XValidation:rule="!has(self.cpu.coreFraction) || self.cpu.coreFraction == 'Auto' || (self.cpu.coreFraction.endsWith('%') && int(self.cpu.coreFraction.replace('%', '')) >= 1 && int(self.cpu.coreFraction.replace('%', '')) <= 100)",message="Core fraction must be 'Auto' or a percentage between 1% and 100%."
// +kubebuilder:validation:XValidation:rule="has(self.osType) && self.osType == 'Legacy' ? !has(self.bootloader) || self.bootloader == 'BIOS' : true",message="The Legacy osType requires the BIOS bootloader."
// +kubebuilder:validation:XValidation:rule="has(self.osType) && self.osType == 'Legacy' ? !has(self.provisioning) : true",message="The Legacy osType does not support provisioning: such operating systems have no cloud-init or Sysprep support."
// +kubebuilder:validation:XValidation:rule="has(self.osType) && self.osType == 'Legacy' && has(self.enableParavirtualization) && !self.enableParavirtualization ? size(self.blockDeviceRefs) <= 4 : true",message="The Legacy osType with enableParavirtualization=false supports at most 4 block devices."

// VirtualMachineSpec is the desired state of a VirtualMachine.
type VirtualMachineSpec struct {
	// RunPolicy says when the machine should be running.
	// +kubebuilder:default=AlwaysOnUnlessStoppedManually
	// +optional
	RunPolicy RunPolicy `json:"runPolicy,omitempty"`
	// VirtualMachineIPAddressName names the VirtualMachineIPAddress to use; one is
	// created automatically when empty.
	// +kubebuilder:validation:MinLength=1
	// +optional
	VirtualMachineIPAddress string `json:"virtualMachineIPAddressName,omitempty"`
	// NodeSelector restricts the nodes the machine may run on.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// PriorityClassName of the machine's pod.
	// +kubebuilder:validation:MinLength=1
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// Tolerations of the machine's pod, merged with those of the class.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// Affinity constrains placement relative to nodes, other machines and pods.
	// +optional
	Affinity *VMAffinity `json:"affinity,omitempty"`
	// TopologySpreadConstraints spread machines across topology domains.
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// Disruptions says how changes that need a restart are applied.
	// +optional
	Disruptions *Disruptions `json:"disruptions,omitempty"`
	// TerminationGracePeriodSeconds is how long the guest may take to shut down.
	// +kubebuilder:default=60
	// +optional
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
	// EnableParavirtualization uses virtio devices for disks and network.
	// +kubebuilder:default=true
	// +optional
	EnableParavirtualization *bool `json:"enableParavirtualization,omitempty"`
	// OsType tunes the emulated hardware for the guest system.
	// +kubebuilder:default=Generic
	// +optional
	OsType OsType `json:"osType,omitempty"`
	// Bootloader is the machine's firmware.
	// +kubebuilder:default=BIOS
	// +optional
	Bootloader BootloaderType `json:"bootloader,omitempty"`
	// VirtualMachineClassName names the VirtualMachineClass the machine belongs to.
	// +kubebuilder:validation:MinLength=1
	VirtualMachineClassName string `json:"virtualMachineClassName"`
	// CPU of the machine.
	CPU CPUSpec `json:"cpu"`
	// Memory of the machine.
	Memory MemorySpec `json:"memory"`
	// BlockDeviceRefs lists the disks and images attached to the machine, in boot order
	// unless bootOrder is given.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	BlockDeviceRefs []BlockDeviceSpecRef `json:"blockDeviceRefs"`
	// Provisioning is the first-boot configuration (cloud-init or Sysprep).
	// +optional
	Provisioning *Provisioning `json:"provisioning,omitempty"`
	// LiveMigrationPolicy says how the machine is live-migrated.
	// +kubebuilder:default=PreferSafe
	// +optional
	LiveMigrationPolicy LiveMigrationPolicy `json:"liveMigrationPolicy,omitempty"`
	// Networks lists the machine's network interfaces.
	// +optional
	Networks []NetworksSpec `json:"networks,omitempty"`
	// USBDevices lists the USB devices passed to the machine.
	// +kubebuilder:validation:MaxItems=8
	// +optional
	USBDevices []USBDeviceSpecRef `json:"usbDevices,omitempty"`
	// GPUs lists the GPUs requested by the machine.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	GPUs []GPUSpec `json:"gpus,omitempty"`
}

// Disruptions says how changes that need a restart are applied. approvalMode and
// restartApprovalMode are two spellings of the same setting.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.approvalMode) && has(self.restartApprovalMode)) || self.approvalMode == self.restartApprovalMode",message="approvalMode and restartApprovalMode are two spellings of one setting; set one, or set both to the same value"
type Disruptions struct {
	// ApprovalMode is the short spelling of restartApprovalMode.
	// +optional
	ApprovalMode RestartApprovalMode `json:"approvalMode,omitempty"`
	// RestartApprovalMode says whether the machine is restarted automatically to apply
	// changes (Automatic) or waits for the user (Manual, the default).
	// +optional
	RestartApprovalMode RestartApprovalMode `json:"restartApprovalMode,omitempty"`
}

// EffectiveApprovalMode returns the approval mode in force: restartApprovalMode if
// set, else approvalMode if set, else Manual. It is safe to call on a nil receiver.
func (d *Disruptions) EffectiveApprovalMode() RestartApprovalMode {
	switch {
	case d == nil:
		return RestartApprovalModeManual
	case d.RestartApprovalMode != "":
		return d.RestartApprovalMode
	case d.ApprovalMode != "":
		return d.ApprovalMode
	default:
		return RestartApprovalModeManual
	}
}

// CPUSpec is the machine's CPU.
type CPUSpec struct {
	// Cores is the number of virtual cores.
	// +kubebuilder:validation:Minimum=1
	Cores int32 `json:"cores"`
	// CoreFraction is the guaranteed share of each core, "1%" to "100%", or "Auto".
	// The class's default applies when empty.
	// +kubebuilder:validation:Pattern=`^(Auto|(100|[1-9][0-9]?)%)$`
	// +optional
	CoreFraction string `json:"coreFraction,omitempty"`
}

// MemorySpec is the machine's memory.
type MemorySpec struct {
	// Size of the memory, e.g. 2Gi.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isQuantity(self)",message="must be a quantity such as 1Gi"
	Size resource.Quantity `json:"size"` // CEL, not the quantity pattern: a typo is told in words
}

// BlockDeviceSpecRef refers to a disk or image attached to a machine.
type BlockDeviceSpecRef struct {
	// Kind of the device.
	// +kubebuilder:validation:Enum=ClusterVirtualImage;VirtualImage;VirtualDisk
	Kind BlockDeviceKind `json:"kind"`
	// Name of the device.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// BootOrder of the device; lower boots first.
	// +kubebuilder:validation:Minimum=1
	// +optional
	BootOrder *int `json:"bootOrder,omitempty"`
}

// Provisioning is the first-boot configuration of a machine. Only the member that
// matches type may be set.
//
// +kubebuilder:validation:XValidation:rule="self.type == 'UserData' ? has(self.userData) && !has(self.userDataRef) && !has(self.sysprepRef) : true",message="UserData cannot have userDataRef or sysprepRef."
// +kubebuilder:validation:XValidation:rule="self.type == 'UserDataRef' ? has(self.userDataRef) && !has(self.userData) && !has(self.sysprepRef) : true",message="UserDataRef cannot have userData or sysprepRef."
// +kubebuilder:validation:XValidation:rule="self.type == 'SysprepRef' ? has(self.sysprepRef) && !has(self.userData) && !has(self.userDataRef) : true",message="SysprepRef cannot have userData or userDataRef."
type Provisioning struct {
	// Type of the configuration.
	Type ProvisioningType `json:"type"`
	// UserData is inline cloud-init data.
	// +kubebuilder:validation:XValidation:rule="size(self) <= 2048",message="`userData` exceeds 2048 byte limit; should use `userDataRef` for larger data."
	// +optional
	UserData string `json:"userData,omitempty"`
	// UserDataRef names a Secret whose key userData holds cloud-init data.
	// +optional
	UserDataRef *UserDataRef `json:"userDataRef,omitempty"`
	// SysprepRef names a Secret with autounattend.xml or unattend.xml.
	// +optional
	SysprepRef *SysprepRef `json:"sysprepRef,omitempty"`
}

// UserDataRef names a Secret with cloud-init data.
type UserDataRef struct {
	// Kind of the referenced object.
	// +kubebuilder:default=Secret
	Kind SecretRefKind `json:"kind"`
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// SysprepRef names a Secret with Windows answer files.
type SysprepRef struct {
	// Kind of the referenced object.
	// +kubebuilder:default=Secret
	Kind SecretRefKind `json:"kind"`
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// NetworksSpec is a network interface of a machine.
type NetworksSpec struct {
	// ID of the interface.
	// +optional
	ID *int `json:"id,omitempty"`
	// Type of the network.
	Type NetworkType `json:"type"`
	// Name of the network, for Network and ClusterNetwork.
	// +kubebuilder:validation:MinLength=1
	// +optional
	Name string `json:"name,omitempty"`
	// VirtualMachineMACAddressName names the MAC address resource of the interface.
	// +kubebuilder:validation:MinLength=1
	// +optional
	VirtualMachineMACAddressName string `json:"virtualMachineMACAddressName,omitempty"`
	// IPAddressName names the IP address resource of the interface.
	// +kubebuilder:validation:MinLength=1
	// +optional
	IPAddressName string `json:"ipAddressName,omitempty"`
}

// USBDeviceSpecRef names a USBDevice passed to a machine.
type USBDeviceSpecRef struct {
	// Name of the USBDevice.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// GPUSpec requests a GPU of a class.
type GPUSpec struct {
	// GPUClassName names the GPU class.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	GPUClassName string `json:"gpuClassName"`
}

// VMAffinity constrains where a machine is placed.
type VMAffinity struct {
	// NodeAffinity selects nodes by their labels.
	// +optional
	NodeAffinity *corev1.NodeAffinity `json:"nodeAffinity,omitempty"`
	// VirtualMachineAndPodAffinity places the machine near matching machines and pods.
	// +optional
	VirtualMachineAndPodAffinity *VirtualMachineAndPodAffinity `json:"virtualMachineAndPodAffinity,omitempty"`
	// VirtualMachineAndPodAntiAffinity keeps the machine away from matching machines and pods.
	// +optional
	VirtualMachineAndPodAntiAffinity *VirtualMachineAndPodAntiAffinity `json:"virtualMachineAndPodAntiAffinity,omitempty"`
}

// VirtualMachineAndPodAffinity lists affinity terms.
type VirtualMachineAndPodAffinity struct {
	// RequiredDuringSchedulingIgnoredDuringExecution terms must all be met.
	// +listType=atomic
	// +optional
	RequiredDuringSchedulingIgnoredDuringExecution []VirtualMachineAndPodAffinityTerm `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// PreferredDuringSchedulingIgnoredDuringExecution terms are preferred by weight.
	// +listType=atomic
	// +optional
	PreferredDuringSchedulingIgnoredDuringExecution []WeightedVirtualMachineAndPodAffinityTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// VirtualMachineAndPodAntiAffinity lists anti-affinity terms.
type VirtualMachineAndPodAntiAffinity struct {
	// RequiredDuringSchedulingIgnoredDuringExecution terms must all be met.
	// +listType=atomic
	// +optional
	RequiredDuringSchedulingIgnoredDuringExecution []VirtualMachineAndPodAffinityTerm `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// PreferredDuringSchedulingIgnoredDuringExecution terms are preferred by weight.
	// +listType=atomic
	// +optional
	PreferredDuringSchedulingIgnoredDuringExecution []WeightedVirtualMachineAndPodAffinityTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// VirtualMachineAndPodAffinityTerm selects machines and pods, by label, within a
// topology domain; it has the shape of a core/v1 PodAffinityTerm.
type VirtualMachineAndPodAffinityTerm struct {
	// LabelSelector selects machines and pods.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// Namespaces to look in; the machine's namespace when empty.
	// +listType=atomic
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`
	// TopologyKey is the node label that defines the topology domain.
	TopologyKey string `json:"topologyKey"`
	// NamespaceSelector selects the namespaces to look in.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// MatchLabelKeys are label keys whose values are taken from the machine and
	// added to labelSelector with the In operator.
	// +listType=atomic
	// +optional
	MatchLabelKeys []string `json:"matchLabelKeys,omitempty"`
	// MismatchLabelKeys are label keys whose values are taken from the machine and
	// added to labelSelector with the NotIn operator.
	// +listType=atomic
	// +optional
	MismatchLabelKeys []string `json:"mismatchLabelKeys,omitempty"`
}

// WeightedVirtualMachineAndPodAffinityTerm is a preferred term with its weight.
type WeightedVirtualMachineAndPodAffinityTerm struct {
	// Weight of the term, 1 to 100.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`
	// VirtualMachineAndPodAffinityTerm is the term.
	VirtualMachineAndPodAffinityTerm VirtualMachineAndPodAffinityTerm `json:"virtualMachineAndPodAffinityTerm"`
}

// VirtualMachineStatus is the observed state of a VirtualMachine.
type VirtualMachineStatus struct {
	// Phase of the machine.
	// +optional
	Phase VirtualMachinePhase `json:"phase,omitempty"`
	// Node the machine runs on.
	// +optional
	Node string `json:"nodeName,omitempty"`
	// VirtualMachineIPAddressName names the machine's VirtualMachineIPAddress.
	// +optional
	VirtualMachineIPAddress string `json:"virtualMachineIPAddressName,omitempty"`
	// IPAddress of the machine on the main network.
	// +optional
	IPAddress string `json:"ipAddress,omitempty"`
	// BlockDeviceRefs lists the block devices of the machine and their state.
	// +optional
	BlockDeviceRefs []BlockDeviceStatusRef `json:"blockDeviceRefs,omitempty"`
	// GuestOSInfo is what the guest agent reports about the guest system.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	GuestOSInfo *runtime.RawExtension `json:"guestOSInfo,omitempty"`
	// Stats holds phase transitions and timings.
	// +optional
	Stats *VirtualMachineStats `json:"stats,omitempty"`
	// MigrationState describes the latest live migration.
	// +optional
	MigrationState *VirtualMachineMigrationState `json:"migrationState,omitempty"`
	// RestartAwaitingChanges lists the spec changes that wait for a restart, each as
	// {operation, path, currentValue, desiredValue}.
	// +optional
	RestartAwaitingChanges []runtime.RawExtension `json:"restartAwaitingChanges,omitempty"`
	// RecommendedResources are the resources suggested for the machine.
	// +optional
	RecommendedResources *RecommendedResources `json:"recommendedResources,omitempty"`
	// VirtualMachinePods lists the machine's pods.
	// +optional
	VirtualMachinePods []VirtualMachinePod `json:"virtualMachinePods,omitempty"`
	// Versions of the hypervisor components running the machine.
	// +optional
	Versions *Versions `json:"versions,omitempty"`
	// Resources actually given to the machine.
	// +optional
	Resources *ResourcesStatus `json:"resources,omitempty"`
	// USBDevices lists the USB devices of the machine and their state.
	// +optional
	USBDevices []USBDeviceStatusRef `json:"usbDevices,omitempty"`
	// Networks lists the machine's network interfaces and their state.
	// +optional
	Networks []NetworksStatus `json:"networks,omitempty"`
	// Conditions of the machine.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// BlockDeviceStatusRef is a block device of a machine and its state.
type BlockDeviceStatusRef struct {
	// Kind of the device.
	// +kubebuilder:validation:Enum=ClusterVirtualImage;VirtualImage;VirtualDisk
	Kind BlockDeviceKind `json:"kind"`
	// Name of the device.
	Name string `json:"name"`
	// Size of the device.
	Size string `json:"size"`
	// Target is the device name inside the machine (e.g. sda).
	// +optional
	Target string `json:"target,omitempty"`
	// Attached is true when the device is attached to the running machine.
	Attached bool `json:"attached"`
	// Hotplugged is true when the device was attached while the machine ran.
	// +optional
	Hotplugged bool `json:"hotplugged,omitempty"`
	// VirtualMachineBlockDeviceAttachmentName names the attachment that added the device.
	// +optional
	VirtualMachineBlockDeviceAttachmentName string `json:"virtualMachineBlockDeviceAttachmentName,omitempty"`
	// BootOrder of the device.
	// +optional
	BootOrder *int `json:"bootOrder,omitempty"`
}

// VirtualMachineStats holds phase transitions and timings of a machine.
type VirtualMachineStats struct {
	// PhasesTransitions lists recent phase changes.
	// +optional
	PhasesTransitions []VirtualMachinePhaseTransition `json:"phasesTransitions,omitempty"`
	// LaunchTimeDuration breaks down the latest start.
	// +optional
	LaunchTimeDuration VirtualMachineLaunchTimeDuration `json:"launchTimeDuration,omitempty"`
	// LastStartTime is when the machine last started.
	// +nullable
	// +optional
	LastStartTime *metav1.Time `json:"lastStartTime,omitempty"`
}

// VirtualMachinePhaseTransition is one phase change.
type VirtualMachinePhaseTransition struct {
	// Phase entered.
	// +optional
	Phase VirtualMachinePhase `json:"phase,omitempty"`
	// Timestamp of the change.
	// +nullable
	// +optional
	Timestamp metav1.Time `json:"timestamp,omitempty"`
}

// VirtualMachineLaunchTimeDuration breaks down how long a start took.
type VirtualMachineLaunchTimeDuration struct {
	// WaitingForDependencies is the time spent waiting for disks, images and addresses.
	// +nullable
	// +optional
	WaitingForDependencies *metav1.Duration `json:"waitingForDependencies,omitempty"`
	// VirtualMachineStarting is the time from the start request to a running machine.
	// +nullable
	// +optional
	VirtualMachineStarting *metav1.Duration `json:"virtualMachineStarting,omitempty"`
	// GuestOSAgentStarting is the time until the guest agent answered.
	// +nullable
	// +optional
	GuestOSAgentStarting *metav1.Duration `json:"guestOSAgentStarting,omitempty"`
}

// VirtualMachineMigrationState describes the latest live migration of a machine.
type VirtualMachineMigrationState struct {
	// StartTimestamp is when the migration started.
	// +nullable
	// +optional
	StartTimestamp *metav1.Time `json:"startTimestamp,omitempty"`
	// EndTimestamp is when the migration ended.
	// +nullable
	// +optional
	EndTimestamp *metav1.Time `json:"endTimestamp,omitempty"`
	// Target is where the machine moved to.
	// +optional
	Target VirtualMachineLocation `json:"target,omitempty"`
	// Source is where the machine moved from.
	// +optional
	Source VirtualMachineLocation `json:"source,omitempty"`
	// Result of the migration.
	// +kubebuilder:validation:Enum="";Succeeded;Failed
	// +optional
	Result MigrationResult `json:"result,omitempty"`
}

// VirtualMachineLocation is a node and pod of a machine.
type VirtualMachineLocation struct {
	// Node name.
	// +optional
	Node string `json:"node,omitempty"`
	// Pod name.
	// +optional
	Pod string `json:"pod,omitempty"`
}

// RecommendedResources are resources suggested for a machine.
type RecommendedResources struct {
	// CPU suggestions.
	// +optional
	CPU *RecommendedCPU `json:"cpu,omitempty"`
}

// RecommendedCPU is a suggested CPU setting.
type RecommendedCPU struct {
	// CoreFraction suggested for the machine.
	// +kubebuilder:validation:Pattern=`^(100|[1-9][0-9]?)%$`
	// +optional
	CoreFraction string `json:"coreFraction,omitempty"`
}

// VirtualMachinePod is a pod that runs (or ran) the machine.
type VirtualMachinePod struct {
	// Name of the pod.
	Name string `json:"name"`
	// Active is true for the pod the machine currently runs in.
	Active bool `json:"active"`
}

// Versions of the hypervisor components.
type Versions struct {
	// Qemu version.
	// +optional
	Qemu string `json:"qemu,omitempty"`
	// Libvirt version.
	// +optional
	Libvirt string `json:"libvirt,omitempty"`
}

// ResourcesStatus holds the resources actually given to a machine.
type ResourcesStatus struct {
	// CPU given to the machine.
	// +optional
	CPU *CPUStatus `json:"cpu,omitempty"`
	// Memory given to the machine.
	// +optional
	Memory *MemoryStatus `json:"memory,omitempty"`
}

// CPUStatus is the CPU actually given to a machine.
type CPUStatus struct {
	// Cores is the number of virtual cores.
	Cores int `json:"cores"`
	// CoreFraction is the guaranteed share of each core.
	// +optional
	CoreFraction string `json:"coreFraction,omitempty"`
	// RequestedCores is the CPU requested from the scheduler.
	// +optional
	RequestedCores *resource.Quantity `json:"requestedCores,omitempty"`
	// RuntimeOverhead is the CPU used by the hypervisor itself.
	// +optional
	RuntimeOverhead *resource.Quantity `json:"runtimeOverhead,omitempty"`
	// Topology of the virtual CPU.
	// +optional
	Topology *Topology `json:"topology,omitempty"`
}

// Topology is the socket layout of a virtual CPU.
type Topology struct {
	// CoresPerSocket is the number of cores in each socket.
	CoresPerSocket int `json:"coresPerSocket"`
	// Sockets is the number of sockets.
	Sockets int `json:"sockets"`
}

// MemoryStatus is the memory actually given to a machine.
type MemoryStatus struct {
	// Size of the guest memory.
	Size resource.Quantity `json:"size"`
	// RuntimeOverhead is the memory used by the hypervisor itself.
	// +optional
	RuntimeOverhead *resource.Quantity `json:"runtimeOverhead,omitempty"`
}

// USBDeviceStatusRef is a USB device of a machine and its state.
type USBDeviceStatusRef struct {
	// Name of the USBDevice.
	Name string `json:"name"`
	// Attached is true when the device is attached to the machine.
	Attached bool `json:"attached"`
	// Ready is true when the device can be used.
	Ready bool `json:"ready"`
	// Address of the device on the guest's USB bus.
	// +optional
	Address *USBAddress `json:"address,omitempty"`
	// Hotplugged is true when the device was attached while the machine ran.
	// +optional
	Hotplugged bool `json:"hotplugged,omitempty"`
}

// USBAddress is a position on a USB bus.
type USBAddress struct {
	// Bus number.
	// +optional
	Bus int `json:"bus,omitempty"`
	// Port number.
	// +optional
	Port int `json:"port,omitempty"`
}

// NetworksStatus is a network interface of a machine and its state.
type NetworksStatus struct {
	// ID of the interface.
	// +optional
	ID *int `json:"id,omitempty"`
	// Type of the network (Main, Network or ClusterNetwork).
	Type string `json:"type"`
	// Name of the network.
	// +optional
	Name string `json:"name,omitempty"`
	// MAC address of the interface.
	// +optional
	MAC string `json:"macAddress,omitempty"`
	// VirtualMachineMACAddressName names the MAC address resource of the interface.
	// +optional
	VirtualMachineMACAddressName string `json:"virtualMachineMACAddressName,omitempty"`
	// IPAddress of the interface.
	// +optional
	IPAddress string `json:"ipAddress,omitempty"`
}
