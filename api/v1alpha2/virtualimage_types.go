package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// VirtualImage is a disk or ISO image available in its own namespace.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vi,categories=virtualization
// +kubebuilder:metadata:labels="heritage=deckhouse"
// +kubebuilder:metadata:labels="module=virtualization"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="CDROM",type=boolean,JSONPath=`.status.cdrom`
// +kubebuilder:printcolumn:name="Progress",type=string,JSONPath=`.status.progress`
// +kubebuilder:printcolumn:name="StoredSize",type=string,JSONPath=`.status.size.stored`,priority=1
// +kubebuilder:printcolumn:name="UnpackedSize",type=string,JSONPath=`.status.size.unpacked`,priority=1
// +kubebuilder:printcolumn:name="Registry URL",type=string,JSONPath=`.status.target.registryURL`,priority=1
// +kubebuilder:printcolumn:name="TargetPVC",type=string,JSONPath=`.status.target.persistentVolumeClaimName`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VirtualImage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec VirtualImageSpec `json:"spec"`
	// +optional
	Status VirtualImageStatus `json:"status,omitempty"`
}

// VirtualImageList is a list of VirtualImages.
//
// +kubebuilder:object:root=true
type VirtualImageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualImage `json:"items"`
}

// ImageStorage says where a VirtualImage keeps its data.
// +kubebuilder:validation:Enum=ContainerRegistry;Kubernetes;PersistentVolumeClaim
type ImageStorage string

const (
	// StorageContainerRegistry keeps the image in DVCR.
	StorageContainerRegistry ImageStorage = "ContainerRegistry"
	// StorageKubernetes is a deprecated alias of StoragePersistentVolumeClaim.
	StorageKubernetes ImageStorage = "Kubernetes"
	// StoragePersistentVolumeClaim keeps the image on a PVC.
	StoragePersistentVolumeClaim ImageStorage = "PersistentVolumeClaim"
)

// VirtualImageSpec is the desired state of a VirtualImage.
type VirtualImageSpec struct {
	// Storage says where the image data is kept.
	// +kubebuilder:default=ContainerRegistry
	Storage ImageStorage `json:"storage"`
	// PersistentVolumeClaim configures the PVC for PersistentVolumeClaim storage.
	// +optional
	PersistentVolumeClaim VirtualImagePersistentVolumeClaim `json:"persistentVolumeClaim,omitempty"`
	// DataSource says where the image data comes from.
	DataSource VirtualImageDataSource `json:"dataSource"`
}

// VirtualImagePersistentVolumeClaim configures the PVC of an image.
type VirtualImagePersistentVolumeClaim struct {
	// StorageClassName of the PVC; the module or cluster default when empty.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// VirtualImageStatusTarget says where the image is stored.
type VirtualImageStatusTarget struct {
	// RegistryURL is the image's address in DVCR.
	// +optional
	RegistryURL string `json:"registryURL,omitempty"`
	// Digest is the digest of the image's manifest in DVCR, recorded when
	// the image became Ready. Everything that reads the image pulls it by
	// this digest, never by tag, so what was pushed later under the tag
	// is not read.
	// +optional
	Digest string `json:"digest,omitempty"`
	// PersistentVolumeClaimName is the PVC holding the image.
	// +optional
	PersistentVolumeClaim string `json:"persistentVolumeClaimName,omitempty"`
}

// VirtualImageStatus is the observed state of a VirtualImage.
type VirtualImageStatus struct {
	// Phase of the image.
	// +optional
	Phase VirtualImagePhase `json:"phase,omitempty"`
	// Progress of the import, in percent (e.g. "66.5%").
	// +optional
	Progress string `json:"progress,omitempty"`
	// DownloadSpeed while the image is being imported.
	// +optional
	DownloadSpeed *StatusSpeed `json:"downloadSpeed,omitempty"`
	// Size of the stored image.
	// +optional
	Size ImageStatusSize `json:"size,omitempty"`
	// Format of the image (e.g. qcow2, raw, iso).
	// +optional
	Format string `json:"format,omitempty"`
	// CDROM is true when the image is attached to machines as a CD-ROM. It is
	// always written, so the CDROM column reads false rather than blank.
	// +optional
	CDROM bool `json:"cdrom"`
	// Target says where the image is stored.
	// +optional
	Target VirtualImageStatusTarget `json:"target,omitempty"`
	// SourceUID is the UID of the source resource, for an ObjectRef source.
	// +optional
	SourceUID *types.UID `json:"sourceUID,omitempty"`
	// UploadCommand is an example upload command. Deprecated: use imageUploadURLs.
	// +optional
	UploadCommand string `json:"uploadCommand,omitempty"`
	// ImageUploadURLs accept the upload for an Upload source.
	// +optional
	ImageUploadURLs *ImageUploadURLs `json:"imageUploadURLs,omitempty"`
	// StorageClassName is the storage class of the image's PVC.
	// +optional
	StorageClassName string `json:"storageClassName,omitempty"`
	// Conditions of the image.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}
