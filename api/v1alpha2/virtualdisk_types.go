package v1alpha2

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// VirtualDisk is a writable disk of a virtual machine, backed by a PVC.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vd,categories=virtualization
// +kubebuilder:metadata:labels="heritage=deckhouse"
// +kubebuilder:metadata:labels="module=virtualization"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Capacity",type=string,JSONPath=`.status.capacity`
// +kubebuilder:printcolumn:name="InUse",type=string,JSONPath=`.status.conditions[?(@.type=='InUse')].status`,priority=1
// +kubebuilder:printcolumn:name="VirtualMachine",type=string,JSONPath=`.status.attachedToVirtualMachines[?(@.mounted==true)].name`
// +kubebuilder:printcolumn:name="Progress",type=string,JSONPath=`.status.progress`,priority=1
// +kubebuilder:printcolumn:name="StorageClass",type=string,JSONPath=`.status.storageClassName`,priority=1
// +kubebuilder:printcolumn:name="TargetPVC",type=string,JSONPath=`.status.target.persistentVolumeClaimName`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VirtualDisk struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec VirtualDiskSpec `json:"spec"`
	// +optional
	Status VirtualDiskStatus `json:"status,omitempty"`
}

// VirtualDiskList is a list of VirtualDisks.
//
// +kubebuilder:object:root=true
type VirtualDiskList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualDisk `json:"items"`
}

// VirtualDiskSpec is the desired state of a VirtualDisk.
type VirtualDiskSpec struct {
	// DataSource fills the disk at creation; a blank disk is created without it.
	// +optional
	DataSource *VirtualDiskDataSource `json:"dataSource,omitempty"`
	// PersistentVolumeClaim configures the disk's PVC.
	// +optional
	PersistentVolumeClaim VirtualDiskPersistentVolumeClaim `json:"persistentVolumeClaim,omitempty"`
}

// VirtualDiskPersistentVolumeClaim configures the PVC of a disk.
type VirtualDiskPersistentVolumeClaim struct {
	// Size of the disk. Required for a blank disk; defaults to the source's
	// unpacked size otherwise. It can only grow.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int || (size(self) <= 64 && isQuantity(self))",message="must be a quantity such as 10Gi"
	Size *resource.Quantity `json:"size,omitempty"` // CEL, not the quantity pattern: a typo is told in words
	// StorageClassName of the PVC; the module or cluster default when empty.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// VirtualDiskStatusTarget names the disk's PVC.
type VirtualDiskStatusTarget struct {
	// PersistentVolumeClaimName is the PVC holding the disk.
	// +optional
	PersistentVolumeClaim string `json:"persistentVolumeClaimName,omitempty"`
}

// AttachedVirtualMachine is a machine that uses a disk.
type AttachedVirtualMachine struct {
	// Name of the machine.
	// +optional
	Name string `json:"name,omitempty"`
	// Mounted is true while the machine actually has the disk attached.
	// +optional
	Mounted bool `json:"mounted,omitempty"`
}

// VirtualDiskStats holds timings of a disk's life.
type VirtualDiskStats struct {
	// CreationDuration breaks down how long provisioning took.
	// +optional
	CreationDuration VirtualDiskStatsCreationDuration `json:"creationDuration,omitempty"`
}

// VirtualDiskStatsCreationDuration breaks down how long provisioning took.
type VirtualDiskStatsCreationDuration struct {
	// WaitingForDependencies is the time spent waiting for the data source.
	// +nullable
	// +optional
	WaitingForDependencies *metav1.Duration `json:"waitingForDependencies,omitempty"`
	// WaitingForFirstConsumer is the time spent waiting for a consumer of a WaitForFirstConsumer PVC.
	// +nullable
	// +optional
	WaitingForFirstConsumer *metav1.Duration `json:"waitingForFirstConsumer,omitempty"`
	// DVCRProvisioning is the time spent importing into DVCR.
	// +nullable
	// +optional
	DVCRProvisioning *metav1.Duration `json:"dvcrProvisioning,omitempty"`
	// TotalProvisioning is the total provisioning time.
	// +nullable
	// +optional
	TotalProvisioning *metav1.Duration `json:"totalProvisioning,omitempty"`
}

// MigrationResult is the outcome of a migration.
type MigrationResult string

const (
	MigrationResultSucceeded MigrationResult = "Succeeded"
	MigrationResultFailed    MigrationResult = "Failed"
)

// VirtualDiskMigrationState describes the latest move of a disk to another storage class.
type VirtualDiskMigrationState struct {
	// SourcePVC is the PVC the data is moved from.
	// +optional
	SourcePVC string `json:"sourcePVC,omitempty"`
	// TargetPVC is the PVC the data is moved to.
	// +optional
	TargetPVC string `json:"targetPVC,omitempty"`
	// Result of the migration.
	// +kubebuilder:validation:Enum=Succeeded;Failed
	// +optional
	Result MigrationResult `json:"result,omitempty"`
	// Message explains the result.
	// +optional
	Message string `json:"message,omitempty"`
	// StartTimestamp is when the migration started.
	// +optional
	StartTimestamp *metav1.Time `json:"startTimestamp,omitempty"`
	// EndTimestamp is when the migration ended.
	// +optional
	EndTimestamp *metav1.Time `json:"endTimestamp,omitempty"`
}

// VirtualDiskStatus is the observed state of a VirtualDisk.
type VirtualDiskStatus struct {
	// Phase of the disk.
	// +optional
	Phase VirtualDiskPhase `json:"phase,omitempty"`
	// Capacity of the provisioned PVC (e.g. "10Gi").
	// +optional
	Capacity string `json:"capacity,omitempty"`
	// Target names the disk's PVC.
	// +optional
	Target VirtualDiskStatusTarget `json:"target,omitempty"`
	// Progress of the import, in percent.
	// +optional
	Progress string `json:"progress,omitempty"`
	// DownloadSpeed while the disk is being filled.
	// +optional
	DownloadSpeed *StatusSpeed `json:"downloadSpeed,omitempty"`
	// UploadCommand is an example upload command. Deprecated: use imageUploadURLs.
	// +optional
	UploadCommand string `json:"uploadCommand,omitempty"`
	// ImageUploadURLs accept the upload for an Upload source.
	// +optional
	ImageUploadURLs *ImageUploadURLs `json:"imageUploadURLs,omitempty"`
	// AttachedToVirtualMachines lists the machines that use the disk.
	// +optional
	AttachedToVirtualMachines []AttachedVirtualMachine `json:"attachedToVirtualMachines,omitempty"`
	// Stats holds provisioning timings.
	// +optional
	Stats VirtualDiskStats `json:"stats,omitempty"`
	// SourceUID is the UID of the source resource, for an ObjectRef source.
	// +optional
	SourceUID *types.UID `json:"sourceUID,omitempty"`
	// StorageClassName is the storage class of the disk's PVC.
	// +optional
	StorageClassName string `json:"storageClassName,omitempty"`
	// MigrationState describes the latest storage migration.
	// +optional
	MigrationState *VirtualDiskMigrationState `json:"migrationState,omitempty"`
	// Conditions of the disk.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}
