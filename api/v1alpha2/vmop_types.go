package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VirtualMachineOperation asks for one action on a machine: start, stop, restart,
// migrate, evict, restore or clone. Its spec cannot change once created.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vmop,categories=virtualization
// +kubebuilder:metadata:labels="heritage=deckhouse"
// +kubebuilder:metadata:labels="module=virtualization"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`,priority=1
// +kubebuilder:printcolumn:name="VM",type=string,JSONPath=`.spec.virtualMachineName`
// +kubebuilder:printcolumn:name="Progress",type=string,JSONPath=`.status.progress`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VirtualMachineOperation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec VirtualMachineOperationSpec `json:"spec"`
	// +optional
	Status VirtualMachineOperationStatus `json:"status,omitempty"`
}

// VirtualMachineOperationList is a list of VirtualMachineOperations.
//
// +kubebuilder:object:root=true
type VirtualMachineOperationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachineOperation `json:"items"`
}

// VirtualMachineOperationType is the action to perform.
// +kubebuilder:validation:Enum=Restart;Start;Stop;Migrate;Evict;Restore;Clone
type VirtualMachineOperationType string

const (
	VirtualMachineOperationTypeRestart VirtualMachineOperationType = "Restart"
	VirtualMachineOperationTypeStart   VirtualMachineOperationType = "Start"
	VirtualMachineOperationTypeStop    VirtualMachineOperationType = "Stop"
	VirtualMachineOperationTypeMigrate VirtualMachineOperationType = "Migrate"
	VirtualMachineOperationTypeEvict   VirtualMachineOperationType = "Evict"
	VirtualMachineOperationTypeRestore VirtualMachineOperationType = "Restore"
	VirtualMachineOperationTypeClone   VirtualMachineOperationType = "Clone"
)

// OperationMode says how strictly a restore or clone is carried out.
// +kubebuilder:validation:Enum=DryRun;Strict;BestEffort
type OperationMode string

const (
	// OperationModeDryRun only reports what would be done.
	OperationModeDryRun OperationMode = "DryRun"
	// OperationModeStrict fails on any conflict.
	OperationModeStrict OperationMode = "Strict"
	// OperationModeBestEffort skips what cannot be done.
	OperationModeBestEffort OperationMode = "BestEffort"
)

// VirtualMachineOperationSpec is the requested action.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message=".spec is immutable"
// +kubebuilder:validation:XValidation:rule="self.type == 'Start' ? !has(self.force) || !self.force : true",message="The `Start` operation cannot be performed forcibly."
// +kubebuilder:validation:XValidation:rule="self.type == 'Restore' ? has(self.restore) : true",message="Restore requires restore field."
// +kubebuilder:validation:XValidation:rule="self.type == 'Clone' ? has(self.clone) : true",message="Clone requires clone field."
// +kubebuilder:validation:XValidation:rule="!(has(self.migrate)) || self.type == 'Migrate'",message="spec.migrate can only be set when spec.type is 'Migrate'"
type VirtualMachineOperationSpec struct {
	// Type of the action.
	Type VirtualMachineOperationType `json:"type"`
	// VirtualMachineName names the machine in the same namespace.
	// +kubebuilder:validation:MinLength=1
	VirtualMachineName string `json:"virtualMachineName"`
	// Force makes Stop and Restart immediate, and lets Migrate and Evict throttle the
	// guest to finish. Not allowed for Start.
	// +optional
	Force *bool `json:"force,omitempty"`
	// Restore parameters, for the Restore type.
	// +optional
	Restore *VirtualMachineOperationRestoreSpec `json:"restore,omitempty"`
	// Clone parameters, for the Clone type.
	// +optional
	Clone *VirtualMachineOperationCloneSpec `json:"clone,omitempty"`
	// Migrate parameters, for the Migrate type.
	// +optional
	Migrate *VirtualMachineOperationMigrateSpec `json:"migrate,omitempty"`
}

// VirtualMachineOperationRestoreSpec restores a machine from a snapshot.
type VirtualMachineOperationRestoreSpec struct {
	// Mode of the restore.
	Mode OperationMode `json:"mode"`
	// VirtualMachineSnapshotName names the snapshot to restore from.
	// +kubebuilder:validation:MinLength=1
	VirtualMachineSnapshotName string `json:"virtualMachineSnapshotName"`
}

// VirtualMachineOperationCloneSpec clones a machine under new names.
//
// +kubebuilder:validation:XValidation:rule="(has(self.customization) && ((has(self.customization.namePrefix) && size(self.customization.namePrefix) > 0) || (has(self.customization.nameSuffix) && size(self.customization.nameSuffix) > 0))) || (has(self.nameReplacement) && size(self.nameReplacement) > 0)",message="At least one of customization.namePrefix, customization.nameSuffix, or nameReplacement must be set"
type VirtualMachineOperationCloneSpec struct {
	// Mode of the clone.
	Mode OperationMode `json:"mode"`
	// NameReplacement renames individual resources.
	// +kubebuilder:validation:XValidation:rule="self.all(nr, has(nr.to) && size(nr.to) >= 1 && size(nr.to) <= 59)",message="Each nameReplacement.to must be between 1 and 59 characters"
	// +optional
	NameReplacement []NameReplacement `json:"nameReplacement,omitempty"`
	// Customization adds a prefix or suffix to every name.
	// +optional
	Customization *VirtualMachineOperationCloneCustomization `json:"customization,omitempty"`
}

// NameReplacement renames one resource.
type NameReplacement struct {
	// From selects the resource to rename.
	From NameReplacementFrom `json:"from"`
	// To is the new name.
	// +kubebuilder:validation:MinLength=1
	To string `json:"to"`
}

// NameReplacementFrom selects a resource by kind and name.
type NameReplacementFrom struct {
	// Kind of the resource; any kind when empty.
	// +kubebuilder:validation:MinLength=1
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the resource.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// VirtualMachineOperationCloneCustomization changes every name of a clone.
//
// +kubebuilder:validation:XValidation:rule="!has(self.namePrefix) || (size(self.namePrefix) >= 1 && size(self.namePrefix) <= 59)",message="namePrefix length must be between 1 and 59 characters if set"
// +kubebuilder:validation:XValidation:rule="!has(self.nameSuffix) || (size(self.nameSuffix) >= 1 && size(self.nameSuffix) <= 59)",message="nameSuffix length must be between 1 and 59 characters if set"
type VirtualMachineOperationCloneCustomization struct {
	// NamePrefix is prepended to every name.
	// +optional
	NamePrefix string `json:"namePrefix,omitempty"`
	// NameSuffix is appended to every name.
	// +optional
	NameSuffix string `json:"nameSuffix,omitempty"`
}

// VirtualMachineOperationMigrateSpec narrows the nodes a machine may migrate to.
type VirtualMachineOperationMigrateSpec struct {
	// NodeSelector the target node must match.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
}

// VirtualMachineOperationResourceStatus is the state of one resource handled by a
// restore or clone.
type VirtualMachineOperationResourceStatus struct {
	// APIVersion of the resource.
	APIVersion string `json:"apiVersion"`
	// Kind of the resource.
	Kind string `json:"kind"`
	// Name of the resource.
	Name string `json:"name"`
	// Status of the resource.
	Status VirtualMachineOperationResourceStatusPhase `json:"status"`
	// Message explains the status.
	Message string `json:"message"`
}

// VirtualMachineOperationResourceStatusPhase is the state of one handled resource.
// +kubebuilder:validation:Enum=InProgress;Completed;Failed
type VirtualMachineOperationResourceStatusPhase string

const (
	VirtualMachineOperationResourceInProgress VirtualMachineOperationResourceStatusPhase = "InProgress"
	VirtualMachineOperationResourceCompleted  VirtualMachineOperationResourceStatusPhase = "Completed"
	VirtualMachineOperationResourceFailed     VirtualMachineOperationResourceStatusPhase = "Failed"
)

// VirtualMachineOperationStatus is the observed state of an operation.
type VirtualMachineOperationStatus struct {
	// Phase of the operation.
	Phase VirtualMachineOperationPhase `json:"phase"`
	// Progress of a migration or eviction, in percent.
	// +optional
	Progress *string `json:"progress,omitempty"`
	// Resources handled by a restore or clone.
	// +optional
	Resources []VirtualMachineOperationResourceStatus `json:"resources,omitempty"`
	// Conditions of the operation.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}
