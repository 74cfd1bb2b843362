package v1alpha2

// This file lists the phases of every kind and the condition types and reasons
// that the controllers write into status.conditions.

// ---------------------------------------------------------------------------
// ClusterVirtualImage

// ClusterVirtualImagePhase is the lifecycle phase of a ClusterVirtualImage.
// +kubebuilder:validation:Enum=Pending;Provisioning;WaitForUserUpload;Ready;Failed;Terminating;ImageLost
type ClusterVirtualImagePhase string

const (
	ClusterVirtualImagePhasePending           ClusterVirtualImagePhase = "Pending"
	ClusterVirtualImagePhaseProvisioning      ClusterVirtualImagePhase = "Provisioning"
	ClusterVirtualImagePhaseWaitForUserUpload ClusterVirtualImagePhase = "WaitForUserUpload"
	ClusterVirtualImagePhaseReady             ClusterVirtualImagePhase = "Ready"
	ClusterVirtualImagePhaseFailed            ClusterVirtualImagePhase = "Failed"
	ClusterVirtualImagePhaseTerminating       ClusterVirtualImagePhase = "Terminating"
	ClusterVirtualImagePhaseImageLost         ClusterVirtualImagePhase = "ImageLost"
)

// ClusterVirtualImageConditionType is a condition type of a ClusterVirtualImage.
type ClusterVirtualImageConditionType string

const (
	ClusterVirtualImageConditionDatasourceReady ClusterVirtualImageConditionType = "DatasourceReady"
	ClusterVirtualImageConditionReady           ClusterVirtualImageConditionType = "Ready"
	ClusterVirtualImageConditionInUse           ClusterVirtualImageConditionType = "InUse"
	ClusterVirtualImageConditionTerminating     ClusterVirtualImageConditionType = "Terminating"
)

// ClusterVirtualImageReason is a condition reason of a ClusterVirtualImage.
type ClusterVirtualImageReason string

const (
	// DatasourceReady reasons.
	ClusterVirtualImageReasonDatasourceReady                     ClusterVirtualImageReason = "DatasourceReady"
	ClusterVirtualImageReasonContainerRegistrySecretNotFound     ClusterVirtualImageReason = "ContainerRegistrySecretNotFound"
	ClusterVirtualImageReasonImageNotReady                       ClusterVirtualImageReason = "ImageNotReady"
	ClusterVirtualImageReasonClusterImageNotReady                ClusterVirtualImageReason = "ClusterImageNotReady"
	ClusterVirtualImageReasonVirtualDiskNotReady                 ClusterVirtualImageReason = "VirtualDiskNotReady"
	ClusterVirtualImageReasonVirtualDiskNotReadyForUse           ClusterVirtualImageReason = "VirtualDiskNotReadyForUse"
	ClusterVirtualImageReasonVirtualDiskAttachedToVirtualMachine ClusterVirtualImageReason = "VirtualDiskAttachedToVirtualMachine"
	ClusterVirtualImageReasonVirtualDiskSnapshotNotReady         ClusterVirtualImageReason = "VirtualDiskSnapshotNotReady"

	// Ready reasons.
	ClusterVirtualImageReasonWaitForUserUpload            ClusterVirtualImageReason = "WaitForUserUpload"
	ClusterVirtualImageReasonWaitForUserUploadTimeout     ClusterVirtualImageReason = "WaitForUserUploadTimeout"
	ClusterVirtualImageReasonProvisioning                 ClusterVirtualImageReason = "Provisioning"
	ClusterVirtualImageReasonProvisioningNotStarted       ClusterVirtualImageReason = "ProvisioningNotStarted"
	ClusterVirtualImageReasonProvisioningFailed           ClusterVirtualImageReason = "ProvisioningFailed"
	ClusterVirtualImageReasonProvisioningFailedTerminally ClusterVirtualImageReason = "ProvisioningFailedTerminally"
	ClusterVirtualImageReasonReady                        ClusterVirtualImageReason = "Ready"
	ClusterVirtualImageReasonImageLost                    ClusterVirtualImageReason = "ImageLost"

	// InUse reasons.
	ClusterVirtualImageReasonAttachedToVirtualMachine ClusterVirtualImageReason = "AttachedToVirtualMachine"
	ClusterVirtualImageReasonNotInUse                 ClusterVirtualImageReason = "NotInUse"

	// Terminating reasons.
	ClusterVirtualImageReasonCleanupPending ClusterVirtualImageReason = "CleanupPending"
)

// ---------------------------------------------------------------------------
// VirtualImage

// VirtualImagePhase is the lifecycle phase of a VirtualImage.
// +kubebuilder:validation:Enum=Pending;Provisioning;WaitForUserUpload;Ready;Failed;Terminating;ImageLost;PVCLost
type VirtualImagePhase string

const (
	VirtualImagePhasePending           VirtualImagePhase = "Pending"
	VirtualImagePhaseProvisioning      VirtualImagePhase = "Provisioning"
	VirtualImagePhaseWaitForUserUpload VirtualImagePhase = "WaitForUserUpload"
	VirtualImagePhaseReady             VirtualImagePhase = "Ready"
	VirtualImagePhaseFailed            VirtualImagePhase = "Failed"
	VirtualImagePhaseTerminating       VirtualImagePhase = "Terminating"
	VirtualImagePhaseImageLost         VirtualImagePhase = "ImageLost"
	VirtualImagePhasePVCLost           VirtualImagePhase = "PVCLost"
)

// VirtualImageConditionType is a condition type of a VirtualImage.
type VirtualImageConditionType string

const (
	VirtualImageConditionDatasourceReady   VirtualImageConditionType = "DatasourceReady"
	VirtualImageConditionReady             VirtualImageConditionType = "Ready"
	VirtualImageConditionStorageClassReady VirtualImageConditionType = "StorageClassReady"
	VirtualImageConditionInUse             VirtualImageConditionType = "InUse"
	VirtualImageConditionTerminating       VirtualImageConditionType = "Terminating"
)

// VirtualImageReason is a condition reason of a VirtualImage.
type VirtualImageReason string

const (
	// DatasourceReady reasons.
	VirtualImageReasonDatasourceReady                     VirtualImageReason = "DatasourceReady"
	VirtualImageReasonContainerRegistrySecretNotFound     VirtualImageReason = "ContainerRegistrySecretNotFound"
	VirtualImageReasonImageNotReady                       VirtualImageReason = "ImageNotReady"
	VirtualImageReasonClusterImageNotReady                VirtualImageReason = "ClusterImageNotReady"
	VirtualImageReasonVirtualDiskNotReady                 VirtualImageReason = "VirtualDiskNotReady"
	VirtualImageReasonVirtualDiskNotReadyForUse           VirtualImageReason = "VirtualDiskNotReadyForUse"
	VirtualImageReasonVirtualDiskAttachedToVirtualMachine VirtualImageReason = "VirtualDiskAttachedToVirtualMachine"
	VirtualImageReasonVirtualDiskSnapshotNotReady         VirtualImageReason = "VirtualDiskSnapshotNotReady"

	// Ready reasons.
	VirtualImageReasonWaitForUserUpload            VirtualImageReason = "WaitForUserUpload"
	VirtualImageReasonWaitForUserUploadTimeout     VirtualImageReason = "WaitForUserUploadTimeout"
	VirtualImageReasonProvisioning                 VirtualImageReason = "Provisioning"
	VirtualImageReasonProvisioningNotStarted       VirtualImageReason = "ProvisioningNotStarted"
	VirtualImageReasonProvisioningFailed           VirtualImageReason = "ProvisioningFailed"
	VirtualImageReasonProvisioningFailedTerminally VirtualImageReason = "ProvisioningFailedTerminally"
	VirtualImageReasonReady                        VirtualImageReason = "Ready"
	VirtualImageReasonImageLost                    VirtualImageReason = "ImageLost"
	VirtualImageReasonStorageClassNotReady         VirtualImageReason = "StorageClassNotReady"
	VirtualImageReasonQuotaExceeded                VirtualImageReason = "QuotaExceeded"
	VirtualImageReasonImagePullFailed              VirtualImageReason = "ImagePullFailed"
	VirtualImageReasonDatasourceNotReady           VirtualImageReason = "DatasourceNotReady"
	VirtualImageReasonPVCLost                      VirtualImageReason = "PVCLost"

	// StorageClassReady reasons.
	VirtualImageReasonStorageClassReady    VirtualImageReason = "StorageClassReady"
	VirtualImageReasonStorageClassNotFound VirtualImageReason = "StorageClassNotFound"
	VirtualImageReasonDVCRTypeUsed         VirtualImageReason = "DVCRTypeUsed"

	// InUse reasons.
	VirtualImageReasonAttachedToVirtualMachine VirtualImageReason = "AttachedToVirtualMachine"
	VirtualImageReasonNotInUse                 VirtualImageReason = "NotInUse"

	// Terminating reasons.
	VirtualImageReasonCleanupPending VirtualImageReason = "CleanupPending"
)

// ---------------------------------------------------------------------------
// VirtualDisk

// VirtualDiskPhase is the lifecycle phase of a VirtualDisk.
// +kubebuilder:validation:Enum=Pending;Provisioning;WaitForUserUpload;WaitForFirstConsumer;Ready;Resizing;Failed;PVCLost;Exporting;Terminating;Migrating
type VirtualDiskPhase string

const (
	VirtualDiskPhasePending              VirtualDiskPhase = "Pending"
	VirtualDiskPhaseProvisioning         VirtualDiskPhase = "Provisioning"
	VirtualDiskPhaseWaitForUserUpload    VirtualDiskPhase = "WaitForUserUpload"
	VirtualDiskPhaseWaitForFirstConsumer VirtualDiskPhase = "WaitForFirstConsumer"
	VirtualDiskPhaseReady                VirtualDiskPhase = "Ready"
	VirtualDiskPhaseResizing             VirtualDiskPhase = "Resizing"
	VirtualDiskPhaseFailed               VirtualDiskPhase = "Failed"
	VirtualDiskPhasePVCLost              VirtualDiskPhase = "PVCLost"
	VirtualDiskPhaseExporting            VirtualDiskPhase = "Exporting"
	VirtualDiskPhaseTerminating          VirtualDiskPhase = "Terminating"
	VirtualDiskPhaseMigrating            VirtualDiskPhase = "Migrating"
)

// VirtualDiskConditionType is a condition type of a VirtualDisk.
type VirtualDiskConditionType string

const (
	VirtualDiskConditionDatasourceReady   VirtualDiskConditionType = "DatasourceReady"
	VirtualDiskConditionReady             VirtualDiskConditionType = "Ready"
	VirtualDiskConditionResizing          VirtualDiskConditionType = "Resizing"
	VirtualDiskConditionSnapshotting      VirtualDiskConditionType = "Snapshotting"
	VirtualDiskConditionStorageClassReady VirtualDiskConditionType = "StorageClassReady"
	VirtualDiskConditionInUse             VirtualDiskConditionType = "InUse"
	VirtualDiskConditionMigrating         VirtualDiskConditionType = "Migrating"
	VirtualDiskConditionTerminating       VirtualDiskConditionType = "Terminating"
)

// VirtualDiskReason is a condition reason of a VirtualDisk.
type VirtualDiskReason string

const (
	// DatasourceReady reasons.
	VirtualDiskReasonDatasourceReady                 VirtualDiskReason = "DatasourceReady"
	VirtualDiskReasonContainerRegistrySecretNotFound VirtualDiskReason = "ContainerRegistrySecretNotFound"
	VirtualDiskReasonImageNotReady                   VirtualDiskReason = "ImageNotReady"
	VirtualDiskReasonClusterImageNotReady            VirtualDiskReason = "ClusterImageNotReady"
	VirtualDiskReasonImageNotFound                   VirtualDiskReason = "ImageNotFound"
	VirtualDiskReasonClusterImageNotFound            VirtualDiskReason = "ClusterImageNotFound"
	// VirtualDiskReasonVirtualDiskSnapshotNotReady keeps the upstream string value.
	VirtualDiskReasonVirtualDiskSnapshotNotReady VirtualDiskReason = "VirtualDiskSnapshot"

	// Ready reasons.
	VirtualDiskReasonWaitForUserUpload               VirtualDiskReason = "WaitForUserUpload"
	VirtualDiskReasonWaitForUserUploadTimeout        VirtualDiskReason = "WaitForUserUploadTimeout"
	VirtualDiskReasonProvisioning                    VirtualDiskReason = "Provisioning"
	VirtualDiskReasonProvisioningNotStarted          VirtualDiskReason = "ProvisioningNotStarted"
	VirtualDiskReasonWaitingForFirstConsumer         VirtualDiskReason = "WaitingForFirstConsumer"
	VirtualDiskReasonProvisioningFailed              VirtualDiskReason = "ProvisioningFailed"
	VirtualDiskReasonProvisioningFailedTerminally    VirtualDiskReason = "ProvisioningFailedTerminally"
	VirtualDiskReasonReady                           VirtualDiskReason = "Ready"
	VirtualDiskReasonPVCLost                         VirtualDiskReason = "PVCLost"
	VirtualDiskReasonExporting                       VirtualDiskReason = "Exporting"
	VirtualDiskReasonQuotaExceeded                   VirtualDiskReason = "QuotaExceeded"
	VirtualDiskReasonImagePullFailed                 VirtualDiskReason = "ImagePullFailed"
	VirtualDiskReasonDatasourceIsNotReady            VirtualDiskReason = "DatasourceIsNotReady"
	VirtualDiskReasonDatasourceIsNotFound            VirtualDiskReason = "DatasourceIsNotFound"
	VirtualDiskReasonStorageClassIsNotReady          VirtualDiskReason = "StorageClassIsNotReady"
	VirtualDiskReasonStorageClassProvisionerMismatch VirtualDiskReason = "StorageClassProvisionerMismatch"

	// Resizing, Snapshotting and Migrating reasons.
	VirtualDiskReasonInProgress                 VirtualDiskReason = "InProgress"
	VirtualDiskReasonNotAvailable               VirtualDiskReason = "NotAvailable"
	VirtualDiskReasonSnapshotting               VirtualDiskReason = "Snapshotting"
	VirtualDiskReasonWaitForTargetReady         VirtualDiskReason = "WaitForTargetReady"
	VirtualDiskReasonWaitForTargetVolumeRelease VirtualDiskReason = "WaitForTargetVolumeRelease"
	VirtualDiskReasonWaitForSourceVolumeRelease VirtualDiskReason = "WaitForSourceVolumeRelease"
	VirtualDiskReasonResizingInProgress         VirtualDiskReason = "ResizingInProgress"
	VirtualDiskReasonSnapshottingInProgress     VirtualDiskReason = "SnapshottingInProgress"
	VirtualDiskReasonStorageClassNotFound       VirtualDiskReason = "StorageClassNotFound"

	// StorageClassReady reasons.
	VirtualDiskReasonStorageClassReady    VirtualDiskReason = "StorageClassReady"
	VirtualDiskReasonStorageClassNotReady VirtualDiskReason = "StorageClassNotReady"

	// InUse reasons.
	VirtualDiskReasonUsedForImageCreation     VirtualDiskReason = "UsedForImageCreation"
	VirtualDiskReasonUsedForDataExport        VirtualDiskReason = "UsedForDataExport"
	VirtualDiskReasonAttachedToVirtualMachine VirtualDiskReason = "AttachedToVirtualMachine"
	VirtualDiskReasonNotInUse                 VirtualDiskReason = "NotInUse"

	// Terminating reasons.
	VirtualDiskReasonCleanupPending VirtualDiskReason = "CleanupPending"
)

// ---------------------------------------------------------------------------
// VirtualMachine

// VirtualMachinePhase is the lifecycle phase of a VirtualMachine.
// +kubebuilder:validation:Enum=Pending;Running;Degraded;Terminating;Stopped;Stopping;Starting;Migrating;Pause
type VirtualMachinePhase string

const (
	VirtualMachinePhasePending     VirtualMachinePhase = "Pending"
	VirtualMachinePhaseRunning     VirtualMachinePhase = "Running"
	VirtualMachinePhaseDegraded    VirtualMachinePhase = "Degraded"
	VirtualMachinePhaseTerminating VirtualMachinePhase = "Terminating"
	VirtualMachinePhaseStopped     VirtualMachinePhase = "Stopped"
	VirtualMachinePhaseStopping    VirtualMachinePhase = "Stopping"
	VirtualMachinePhaseStarting    VirtualMachinePhase = "Starting"
	VirtualMachinePhaseMigrating   VirtualMachinePhase = "Migrating"
	VirtualMachinePhasePause       VirtualMachinePhase = "Pause"
)

// VirtualMachineConditionType is a condition type of a VirtualMachine.
type VirtualMachineConditionType string

const (
	VirtualMachineConditionIPAddressReady                      VirtualMachineConditionType = "VirtualMachineIPAddressReady"
	VirtualMachineConditionMACAddressReady                     VirtualMachineConditionType = "VirtualMachineMACAddressReady"
	VirtualMachineConditionClassReady                          VirtualMachineConditionType = "VirtualMachineClassReady"
	VirtualMachineConditionBlockDevicesReady                   VirtualMachineConditionType = "BlockDevicesReady"
	VirtualMachineConditionRunning                             VirtualMachineConditionType = "Running"
	VirtualMachineConditionMigrating                           VirtualMachineConditionType = "Migrating"
	VirtualMachineConditionMigratable                          VirtualMachineConditionType = "Migratable"
	VirtualMachineConditionProvisioningReady                   VirtualMachineConditionType = "ProvisioningReady"
	VirtualMachineConditionAgentReady                          VirtualMachineConditionType = "AgentReady"
	VirtualMachineConditionAgentVersionNotSupported            VirtualMachineConditionType = "AgentVersionNotSupported"
	VirtualMachineConditionConfigurationApplied                VirtualMachineConditionType = "ConfigurationApplied"
	VirtualMachineConditionAwaitingRestartToApplyConfiguration VirtualMachineConditionType = "AwaitingRestartToApplyConfiguration"
	VirtualMachineConditionFilesystemFrozen                    VirtualMachineConditionType = "FilesystemFrozen"
	VirtualMachineConditionSizingPolicyMatched                 VirtualMachineConditionType = "SizingPolicyMatched"
	VirtualMachineConditionSnapshotting                        VirtualMachineConditionType = "Snapshotting"
	VirtualMachineConditionFirmwareUpToDate                    VirtualMachineConditionType = "FirmwareUpToDate"
	VirtualMachineConditionEvictionRequired                    VirtualMachineConditionType = "EvictionRequired"
	VirtualMachineConditionNetworkReady                        VirtualMachineConditionType = "NetworkReady"
	VirtualMachineConditionMaintenance                         VirtualMachineConditionType = "Maintenance"
	VirtualMachineConditionGPUClassReady                       VirtualMachineConditionType = "GPUClassReady"
	VirtualMachineConditionCoreFractionAutoscaling             VirtualMachineConditionType = "CoreFractionAutoscaling"
)

// VirtualMachineReason is a condition reason of a VirtualMachine.
type VirtualMachineReason string

const (
	// VirtualMachineIPAddressReady reasons.
	VirtualMachineReasonIPAddressReady        VirtualMachineReason = "VirtualMachineIPAddressReady"
	VirtualMachineReasonIPAddressNotReady     VirtualMachineReason = "VirtualMachineIPAddressNotReady"
	VirtualMachineReasonIPAddressNotAssigned  VirtualMachineReason = "VirtualMachineIPAddressNotAssigned"
	VirtualMachineReasonIPAddressNotAvailable VirtualMachineReason = "VirtualMachineIPAddressNotAvailable"

	// VirtualMachineMACAddressReady reasons.
	VirtualMachineReasonMACAddressReady        VirtualMachineReason = "VirtualMachineMACAddressReady"
	VirtualMachineReasonMACAddressNotReady     VirtualMachineReason = "VirtualMachineMACAddressNotReady"
	VirtualMachineReasonMACAddressNotAvailable VirtualMachineReason = "VirtualMachineMACAddressNotAvailable"

	// VirtualMachineClassReady reasons.
	VirtualMachineReasonClassReady    VirtualMachineReason = "VirtualMachineClassReady"
	VirtualMachineReasonClassNotReady VirtualMachineReason = "VirtualMachineClassNotReady"

	// BlockDevicesReady reasons.
	VirtualMachineReasonBlockDevicesReady                                   VirtualMachineReason = "BlockDevicesReady"
	VirtualMachineReasonWaitingForWaitForFirstConsumerBlockDevicesToBeReady VirtualMachineReason = "WaitingForWaitForFirstConsumerBlockDevicesToBeReady"
	VirtualMachineReasonBlockDevicesNotReady                                VirtualMachineReason = "BlockDevicesNotReady"
	VirtualMachineReasonBlockDeviceLimitExceeded                            VirtualMachineReason = "BlockDeviceLimitExceeded"

	// Running reasons.
	VirtualMachineReasonNotRunning                  VirtualMachineReason = "NotRunning"
	VirtualMachineReasonRunning                     VirtualMachineReason = "Running"
	VirtualMachineReasonNoBootableDevice            VirtualMachineReason = "NoBootableDevice"
	VirtualMachineReasonInternalVirtualMachineError VirtualMachineReason = "InternalVirtualMachineError"
	VirtualMachineReasonPodNotStarted               VirtualMachineReason = "PodNotStarted"
	VirtualMachineReasonPodTerminating              VirtualMachineReason = "PodTerminating"
	VirtualMachineReasonPodNotFound                 VirtualMachineReason = "PodNotFound"
	VirtualMachineReasonPodConditionMissing         VirtualMachineReason = "PodConditionMissing"
	VirtualMachineReasonGuestNotRunning             VirtualMachineReason = "GuestNotRunning"

	// Migrating reasons.
	VirtualMachineReasonMigrationPending VirtualMachineReason = "Pending"
	VirtualMachineReasonReadyToMigrate   VirtualMachineReason = "ReadyToMigrate"
	VirtualMachineReasonMigrationRunning VirtualMachineReason = "InProgress"

	// Migratable reasons.
	VirtualMachineReasonMigratable               VirtualMachineReason = "VirtualMachineMigratable"
	VirtualMachineReasonNonMigratable            VirtualMachineReason = "VirtualMachineNonMigratable"
	VirtualMachineReasonDisksNotMigratable       VirtualMachineReason = "VirtualMachineDisksNotMigratable"
	VirtualMachineReasonDisksShouldBeMigrating   VirtualMachineReason = "VirtualMachineDisksShouldBeMigrating"
	VirtualMachineReasonHostDevicesNotMigratable VirtualMachineReason = "VirtualMachineHostDevicesNotMigratable"

	// ProvisioningReady reasons.
	VirtualMachineReasonProvisioningReady             VirtualMachineReason = "ProvisioningReady"
	VirtualMachineReasonProvisioningNotReady          VirtualMachineReason = "ProvisioningNotReady"
	VirtualMachineReasonProvisioningReadyWithWarnings VirtualMachineReason = "ProvisioningReadyWithWarnings"

	// AgentReady and AgentVersionNotSupported reasons.
	VirtualMachineReasonAgentReady               VirtualMachineReason = "AgentReady"
	VirtualMachineReasonAgentNotReady            VirtualMachineReason = "AgentNotReady"
	VirtualMachineReasonAgentVersionSupported    VirtualMachineReason = "AgentVersionSupported"
	VirtualMachineReasonAgentVersionNotSupported VirtualMachineReason = "AgentVersionNotSupported"

	// ConfigurationApplied reasons.
	VirtualMachineReasonConfigurationApplied    VirtualMachineReason = "ConfigurationApplied"
	VirtualMachineReasonConfigurationNotApplied VirtualMachineReason = "ConfigurationNotApplied"

	// AwaitingRestartToApplyConfiguration reasons.
	VirtualMachineReasonChangesPendingRestart VirtualMachineReason = "ChangesPendingRestart"
	VirtualMachineReasonNoRestartRequired     VirtualMachineReason = "NoRestartRequired"
	VirtualMachineReasonUnexpectedState       VirtualMachineReason = "UnexpectedState"

	// FilesystemFrozen reasons.
	VirtualMachineReasonFrozen VirtualMachineReason = "Frozen"

	// SizingPolicyMatched reasons.
	VirtualMachineReasonSizingPolicyNotMatched VirtualMachineReason = "SizingPolicyNotMatched"
	VirtualMachineReasonClassTerminating       VirtualMachineReason = "VirtualMachineClassTerminating"
	VirtualMachineReasonClassNotFound          VirtualMachineReason = "VirtualMachineClassNotFound"

	// Snapshotting reasons.
	VirtualMachineReasonWaitingForTheSnapshotToStart VirtualMachineReason = "WaitingForTheSnapshotToStart"
	VirtualMachineReasonSnapshottingInProgress       VirtualMachineReason = "SnapshottingInProgress"

	// FirmwareUpToDate reasons.
	VirtualMachineReasonFirmwareUpToDate  VirtualMachineReason = "FirmwareUpToDate"
	VirtualMachineReasonFirmwareOutOfDate VirtualMachineReason = "FirmwareOutOfDate"

	// EvictionRequired reasons.
	VirtualMachineReasonEvictionRequired VirtualMachineReason = "EvictionRequired"

	// NetworkReady reasons.
	VirtualMachineReasonNetworkReady      VirtualMachineReason = "NetworkReady"
	VirtualMachineReasonNetworkNotReady   VirtualMachineReason = "NetworkNotReady"
	VirtualMachineReasonSDNModuleDisabled VirtualMachineReason = "SDNModuleDisabled"

	// Maintenance reasons.
	VirtualMachineReasonRestoreInProgress VirtualMachineReason = "RestoreInProgress"
)

// ---------------------------------------------------------------------------
// VirtualMachineBlockDeviceAttachment

// VirtualMachineBlockDeviceAttachmentPhase is the lifecycle phase of an attachment.
// +kubebuilder:validation:Enum=Pending;InProgress;Attached;Failed;Terminating
type VirtualMachineBlockDeviceAttachmentPhase string

const (
	BlockDeviceAttachmentPhasePending     VirtualMachineBlockDeviceAttachmentPhase = "Pending"
	BlockDeviceAttachmentPhaseInProgress  VirtualMachineBlockDeviceAttachmentPhase = "InProgress"
	BlockDeviceAttachmentPhaseAttached    VirtualMachineBlockDeviceAttachmentPhase = "Attached"
	BlockDeviceAttachmentPhaseFailed      VirtualMachineBlockDeviceAttachmentPhase = "Failed"
	BlockDeviceAttachmentPhaseTerminating VirtualMachineBlockDeviceAttachmentPhase = "Terminating"
)

// BlockDeviceAttachmentConditionType is a condition type of a VirtualMachineBlockDeviceAttachment.
type BlockDeviceAttachmentConditionType string

const (
	BlockDeviceAttachmentConditionBlockDeviceReady    BlockDeviceAttachmentConditionType = "BlockDeviceReady"
	BlockDeviceAttachmentConditionVirtualMachineReady BlockDeviceAttachmentConditionType = "VirtualMachineReady"
	BlockDeviceAttachmentConditionAttached            BlockDeviceAttachmentConditionType = "Attached"
	// BlockDeviceAttachmentConditionDiskAttachmentCapacityAvailable keeps the
	// upstream string value, which ends in "Type".
	BlockDeviceAttachmentConditionDiskAttachmentCapacityAvailable BlockDeviceAttachmentConditionType = "DiskAttachmentCapacityAvailableType"
	BlockDeviceAttachmentConditionTerminating                     BlockDeviceAttachmentConditionType = "Terminating"
)

// BlockDeviceAttachmentReason is a condition reason of a VirtualMachineBlockDeviceAttachment.
type BlockDeviceAttachmentReason string

const (
	BlockDeviceAttachmentReasonBlockDeviceReady         BlockDeviceAttachmentReason = "BlockDeviceReady"
	BlockDeviceAttachmentReasonBlockDeviceNotReady      BlockDeviceAttachmentReason = "BlockDeviceNotReady"
	BlockDeviceAttachmentReasonVirtualMachineReady      BlockDeviceAttachmentReason = "VirtualMachineReady"
	BlockDeviceAttachmentReasonVirtualMachineNotReady   BlockDeviceAttachmentReason = "VirtualMachineNotReady"
	BlockDeviceAttachmentReasonAttached                 BlockDeviceAttachmentReason = "Attached"
	BlockDeviceAttachmentReasonNotAttached              BlockDeviceAttachmentReason = "NotAttached"
	BlockDeviceAttachmentReasonAttachmentRequestSent    BlockDeviceAttachmentReason = "AttachmentRequestSent"
	BlockDeviceAttachmentReasonConflict                 BlockDeviceAttachmentReason = "Conflict"
	BlockDeviceAttachmentReasonDeviceNotAvailableOnNode BlockDeviceAttachmentReason = "DeviceNotAvailableOnNode"
	BlockDeviceAttachmentReasonCapacityAvailable        BlockDeviceAttachmentReason = "CapacityAvailable"
	BlockDeviceAttachmentReasonCapacityReached          BlockDeviceAttachmentReason = "CapacityReached"
	BlockDeviceAttachmentReasonCapacityUnknown          BlockDeviceAttachmentReason = "CapacityUnknown"
	BlockDeviceAttachmentReasonDetachPending            BlockDeviceAttachmentReason = "DetachPending"
)

// ---------------------------------------------------------------------------
// VirtualMachineIPAddress

// VirtualMachineIPAddressPhase is the lifecycle phase of a VirtualMachineIPAddress.
// +kubebuilder:validation:Enum=Pending;Bound;Attached
type VirtualMachineIPAddressPhase string

const (
	VirtualMachineIPAddressPhasePending  VirtualMachineIPAddressPhase = "Pending"
	VirtualMachineIPAddressPhaseBound    VirtualMachineIPAddressPhase = "Bound"
	VirtualMachineIPAddressPhaseAttached VirtualMachineIPAddressPhase = "Attached"
)

// VirtualMachineIPAddressConditionType is a condition type of a VirtualMachineIPAddress.
type VirtualMachineIPAddressConditionType string

const (
	VirtualMachineIPAddressConditionBound    VirtualMachineIPAddressConditionType = "Bound"
	VirtualMachineIPAddressConditionAttached VirtualMachineIPAddressConditionType = "Attached"
)

// VirtualMachineIPAddressReason is a condition reason of a VirtualMachineIPAddress.
type VirtualMachineIPAddressReason string

const (
	// Bound reasons.
	VirtualMachineIPAddressReasonOutOfTheValidRange     VirtualMachineIPAddressReason = "VirtualMachineIPAddressIsOutOfTheValidRange"
	VirtualMachineIPAddressReasonLeaseAlreadyExists     VirtualMachineIPAddressReason = "VirtualMachineIPAddressLeaseAlreadyExists"
	VirtualMachineIPAddressReasonLeaseLost              VirtualMachineIPAddressReason = "VirtualMachineIPAddressLeaseLost"
	VirtualMachineIPAddressReasonLeaseNotFound          VirtualMachineIPAddressReason = "VirtualMachineIPAddressLeaseNotFound"
	VirtualMachineIPAddressReasonLeaseNotReady          VirtualMachineIPAddressReason = "VirtualMachineIPAddressLeaseNotReady"
	VirtualMachineIPAddressReasonBound                  VirtualMachineIPAddressReason = "Bound"
	VirtualMachineIPAddressReasonVirtualMachineNotFound VirtualMachineIPAddressReason = "VirtualMachineNotFound"
	VirtualMachineIPAddressReasonAttached               VirtualMachineIPAddressReason = "Attached"
)

// ---------------------------------------------------------------------------
// VirtualMachineIPAddressLease

// VirtualMachineIPAddressLeasePhase is the lifecycle phase of a lease.
// +kubebuilder:validation:Enum=Bound;Released
type VirtualMachineIPAddressLeasePhase string

const (
	VirtualMachineIPAddressLeasePhaseBound    VirtualMachineIPAddressLeasePhase = "Bound"
	VirtualMachineIPAddressLeasePhaseReleased VirtualMachineIPAddressLeasePhase = "Released"
)

// VirtualMachineIPAddressLeaseConditionType is a condition type of a lease.
type VirtualMachineIPAddressLeaseConditionType string

const (
	VirtualMachineIPAddressLeaseConditionBound VirtualMachineIPAddressLeaseConditionType = "Bound"
)

// VirtualMachineIPAddressLeaseReason is a condition reason of a lease.
type VirtualMachineIPAddressLeaseReason string

const (
	VirtualMachineIPAddressLeaseReasonBound    VirtualMachineIPAddressLeaseReason = "Bound"
	VirtualMachineIPAddressLeaseReasonReleased VirtualMachineIPAddressLeaseReason = "Released"
)

// ---------------------------------------------------------------------------
// VirtualMachineOperation

// VirtualMachineOperationPhase is the lifecycle phase of an operation.
// +kubebuilder:validation:Enum=Pending;InProgress;Completed;Failed;Terminating;Superseded
type VirtualMachineOperationPhase string

const (
	VirtualMachineOperationPhasePending     VirtualMachineOperationPhase = "Pending"
	VirtualMachineOperationPhaseInProgress  VirtualMachineOperationPhase = "InProgress"
	VirtualMachineOperationPhaseCompleted   VirtualMachineOperationPhase = "Completed"
	VirtualMachineOperationPhaseFailed      VirtualMachineOperationPhase = "Failed"
	VirtualMachineOperationPhaseTerminating VirtualMachineOperationPhase = "Terminating"
	VirtualMachineOperationPhaseSuperseded  VirtualMachineOperationPhase = "Superseded"
)

// VirtualMachineOperationConditionType is a condition type of an operation.
type VirtualMachineOperationConditionType string

const (
	VirtualMachineOperationConditionCompleted       VirtualMachineOperationConditionType = "Completed"
	VirtualMachineOperationConditionSignalSent      VirtualMachineOperationConditionType = "SignalSent"
	VirtualMachineOperationConditionMaintenanceMode VirtualMachineOperationConditionType = "MaintenanceMode"
	VirtualMachineOperationConditionSnapshotReady   VirtualMachineOperationConditionType = "SnapshotReady"
)

// VirtualMachineOperationReason is a condition reason of an operation.
type VirtualMachineOperationReason string

const (
	// Completed reasons: applicability.
	VirtualMachineOperationReasonVirtualMachineNotFound              VirtualMachineOperationReason = "VirtualMachineNotFound"
	VirtualMachineOperationReasonNotApplicableForRunPolicy           VirtualMachineOperationReason = "NotApplicableForVirtualMachineRunPolicy"
	VirtualMachineOperationReasonNotApplicableForVirtualMachinePhase VirtualMachineOperationReason = "NotApplicableForVirtualMachinePhase"
	VirtualMachineOperationReasonNotApplicableForLiveMigrationPolicy VirtualMachineOperationReason = "NotApplicableForLiveMigrationPolicy"
	VirtualMachineOperationReasonNotReadyToBeExecuted                VirtualMachineOperationReason = "NotReadyToBeExecuted"
	VirtualMachineOperationReasonSuperseded                          VirtualMachineOperationReason = "Superseded"

	// Completed reasons: power operations, restore and clone.
	VirtualMachineOperationReasonRestartInProgress VirtualMachineOperationReason = "RestartInProgress"
	VirtualMachineOperationReasonStartInProgress   VirtualMachineOperationReason = "StartInProgress"
	VirtualMachineOperationReasonStopInProgress    VirtualMachineOperationReason = "StopInProgress"
	VirtualMachineOperationReasonRestoreInProgress VirtualMachineOperationReason = "RestoreInProgress"
	VirtualMachineOperationReasonCloneInProgress   VirtualMachineOperationReason = "CloneInProgress"

	// Completed reasons: migration and eviction.
	VirtualMachineOperationReasonMigrationPending       VirtualMachineOperationReason = "MigrationPending"
	VirtualMachineOperationReasonMigrationPrepareTarget VirtualMachineOperationReason = "MigrationPrepareTarget"
	VirtualMachineOperationReasonMigrationTargetReady   VirtualMachineOperationReason = "MigrationTargetReady"
	VirtualMachineOperationReasonMigrationRunning       VirtualMachineOperationReason = "MigrationRunning"
	VirtualMachineOperationReasonTargetScheduling       VirtualMachineOperationReason = "TargetScheduling"
	VirtualMachineOperationReasonTargetUnschedulable    VirtualMachineOperationReason = "TargetUnschedulable"
	VirtualMachineOperationReasonTargetDiskError        VirtualMachineOperationReason = "TargetDiskError"
	VirtualMachineOperationReasonTargetPreparing        VirtualMachineOperationReason = "TargetPreparing"
	VirtualMachineOperationReasonSyncing                VirtualMachineOperationReason = "Syncing"
	VirtualMachineOperationReasonWaitingForSyncSlot     VirtualMachineOperationReason = "WaitingForSyncSlot"
	VirtualMachineOperationReasonNotConverging          VirtualMachineOperationReason = "NotConverging"
	VirtualMachineOperationReasonSourceSuspended        VirtualMachineOperationReason = "SourceSuspended"
	VirtualMachineOperationReasonTargetResumed          VirtualMachineOperationReason = "TargetResumed"
	VirtualMachineOperationReasonCompleted              VirtualMachineOperationReason = "Completed"
	VirtualMachineOperationReasonAborted                VirtualMachineOperationReason = "Aborted"
	VirtualMachineOperationReasonFailed                 VirtualMachineOperationReason = "Failed"

	// Completed reasons: other outcomes.
	VirtualMachineOperationReasonOtherMigrationInProgress                   VirtualMachineOperationReason = "OtherMigrationInProgress"
	VirtualMachineOperationReasonHotplugDisksNotShared                      VirtualMachineOperationReason = "HotplugDisksNotShared"
	VirtualMachineOperationReasonQuotaExceeded                              VirtualMachineOperationReason = "QuotaExceeded"
	VirtualMachineOperationReasonWaitingForVirtualMachineToBeReadyToMigrate VirtualMachineOperationReason = "WaitingForVirtualMachineToBeReadyToMigrate"
	VirtualMachineOperationReasonOperationFailed                            VirtualMachineOperationReason = "OperationFailed"
	VirtualMachineOperationReasonOperationCompleted                         VirtualMachineOperationReason = "OperationCompleted"
	VirtualMachineOperationReasonMigrationNetworkUnavailable                VirtualMachineOperationReason = "MigrationNetworkUnavailable"

	// SignalSent reasons.
	VirtualMachineOperationReasonSignalSentError   VirtualMachineOperationReason = "SignalSentError"
	VirtualMachineOperationReasonSignalSentSuccess VirtualMachineOperationReason = "SignalSentSuccess"

	// MaintenanceMode reasons.
	VirtualMachineOperationReasonMaintenanceModeEnabled  VirtualMachineOperationReason = "MaintenanceModeEnabled"
	VirtualMachineOperationReasonMaintenanceModeDisabled VirtualMachineOperationReason = "MaintenanceModeDisabled"
	VirtualMachineOperationReasonMaintenanceModeFailure  VirtualMachineOperationReason = "MaintenanceModeFailure"

	// SnapshotReady reasons.
	VirtualMachineOperationReasonSnapshotInProgress VirtualMachineOperationReason = "SnapshotInProgress"
	VirtualMachineOperationReasonSnapshotReady      VirtualMachineOperationReason = "SnapshotReady"
	VirtualMachineOperationReasonSnapshotCleanedUp  VirtualMachineOperationReason = "SnapshotCleanedUp"
	VirtualMachineOperationReasonSnapshotFailed     VirtualMachineOperationReason = "SnapshotFailed"
)

// ---------------------------------------------------------------------------
// VirtualMachineClass

// VirtualMachineClassPhase is the lifecycle phase of a VirtualMachineClass.
// +kubebuilder:validation:Enum=Pending;Ready;Terminating
type VirtualMachineClassPhase string

const (
	VirtualMachineClassPhasePending     VirtualMachineClassPhase = "Pending"
	VirtualMachineClassPhaseReady       VirtualMachineClassPhase = "Ready"
	VirtualMachineClassPhaseTerminating VirtualMachineClassPhase = "Terminating"
)

// VirtualMachineClassConditionType is a condition type of a VirtualMachineClass.
type VirtualMachineClassConditionType string

const (
	VirtualMachineClassConditionReady      VirtualMachineClassConditionType = "Ready"
	VirtualMachineClassConditionDiscovered VirtualMachineClassConditionType = "Discovered"
	VirtualMachineClassConditionInUse      VirtualMachineClassConditionType = "InUse"
)

// VirtualMachineClassReason is a condition reason of a VirtualMachineClass.
type VirtualMachineClassReason string

const (
	VirtualMachineClassReasonNoCpuFeaturesEnabled     VirtualMachineClassReason = "NoCpuFeaturesEnabled"
	VirtualMachineClassReasonNoSuitableNodesFound     VirtualMachineClassReason = "NoSuitableNodesFound"
	VirtualMachineClassReasonSuitableNodesFound       VirtualMachineClassReason = "SuitableNodesFound"
	VirtualMachineClassReasonDiscoverySucceeded       VirtualMachineClassReason = "DiscoverySucceeded"
	VirtualMachineClassReasonDiscoverySkip            VirtualMachineClassReason = "DiscoverySkip"
	VirtualMachineClassReasonDiscoveryFailed          VirtualMachineClassReason = "DiscoveryFailed"
	VirtualMachineClassReasonVirtualMachineClassInUse VirtualMachineClassReason = "VirtualMachineClassInUse"
)

// String returns the condition type as a plain string (for metav1.Condition.Type).
func (t ClusterVirtualImageConditionType) String() string { return string(t) }

// String returns the condition type as a plain string (for metav1.Condition.Type).
func (t VirtualImageConditionType) String() string { return string(t) }

// String returns the condition type as a plain string (for metav1.Condition.Type).
func (t VirtualDiskConditionType) String() string { return string(t) }

// String returns the condition type as a plain string (for metav1.Condition.Type).
func (t VirtualMachineConditionType) String() string { return string(t) }

// String returns the condition type as a plain string (for metav1.Condition.Type).
func (t BlockDeviceAttachmentConditionType) String() string { return string(t) }

// String returns the condition type as a plain string (for metav1.Condition.Type).
func (t VirtualMachineIPAddressConditionType) String() string { return string(t) }

// String returns the condition type as a plain string (for metav1.Condition.Type).
func (t VirtualMachineIPAddressLeaseConditionType) String() string { return string(t) }

// String returns the condition type as a plain string (for metav1.Condition.Type).
func (t VirtualMachineOperationConditionType) String() string { return string(t) }

// String returns the condition type as a plain string (for metav1.Condition.Type).
func (t VirtualMachineClassConditionType) String() string { return string(t) }

// String returns the reason as a plain string (for metav1.Condition.Reason).
func (r ClusterVirtualImageReason) String() string { return string(r) }

// String returns the reason as a plain string (for metav1.Condition.Reason).
func (r VirtualImageReason) String() string { return string(r) }

// String returns the reason as a plain string (for metav1.Condition.Reason).
func (r VirtualDiskReason) String() string { return string(r) }

// String returns the reason as a plain string (for metav1.Condition.Reason).
func (r VirtualMachineReason) String() string { return string(r) }

// String returns the reason as a plain string (for metav1.Condition.Reason).
func (r BlockDeviceAttachmentReason) String() string { return string(r) }

// String returns the reason as a plain string (for metav1.Condition.Reason).
func (r VirtualMachineIPAddressReason) String() string { return string(r) }

// String returns the reason as a plain string (for metav1.Condition.Reason).
func (r VirtualMachineIPAddressLeaseReason) String() string { return string(r) }

// String returns the reason as a plain string (for metav1.Condition.Reason).
func (r VirtualMachineOperationReason) String() string { return string(r) }

// String returns the reason as a plain string (for metav1.Condition.Reason).
func (r VirtualMachineClassReason) String() string { return string(r) }
