package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ClusterVirtualImage is a disk or ISO image available to every namespace. Its data
// is always kept in the platform's container registry (DVCR).
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cvi,categories=virtualization-cluster
// +kubebuilder:metadata:labels="heritage=deckhouse"
// +kubebuilder:metadata:labels="module=virtualization"
// +kubebuilder:metadata:labels="backup.deckhouse.io/cluster-config=true"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="CDROM",type=boolean,JSONPath=`.status.cdrom`
// +kubebuilder:printcolumn:name="Progress",type=string,JSONPath=`.status.progress`
// +kubebuilder:printcolumn:name="StoredSize",type=string,JSONPath=`.status.size.stored`,priority=1
// +kubebuilder:printcolumn:name="UnpackedSize",type=string,JSONPath=`.status.size.unpacked`,priority=1
// +kubebuilder:printcolumn:name="Registry URL",type=string,JSONPath=`.status.target.registryURL`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterVirtualImage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ClusterVirtualImageSpec `json:"spec"`
	// +optional
	Status ClusterVirtualImageStatus `json:"status,omitempty"`
}

// ClusterVirtualImageList is a list of ClusterVirtualImages.
//
// +kubebuilder:object:root=true
type ClusterVirtualImageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterVirtualImage `json:"items"`
}

// ClusterVirtualImageSpec is the desired state of a ClusterVirtualImage.
type ClusterVirtualImageSpec struct {
	// DataSource says where the image data comes from.
	DataSource ClusterVirtualImageDataSource `json:"dataSource"`
}

// ClusterVirtualImageStatusTarget says where the image is stored.
type ClusterVirtualImageStatusTarget struct {
	// RegistryURL is the image's address in DVCR.
	// +optional
	RegistryURL string `json:"registryURL,omitempty"`
	// Digest is the digest of the image's manifest in DVCR, recorded when
	// the image became Ready. Everything that reads the image pulls it by
	// this digest, never by tag, so what was pushed later under the tag
	// is not read.
	// +optional
	Digest string `json:"digest,omitempty"`
}

// ClusterVirtualImageStatus is the observed state of a ClusterVirtualImage.
type ClusterVirtualImageStatus struct {
	// Phase of the image.
	// +optional
	Phase ClusterVirtualImagePhase `json:"phase,omitempty"`
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
	Target ClusterVirtualImageStatusTarget `json:"target,omitempty"`
	// SourceUID is the UID of the source resource, for an ObjectRef source.
	// +optional
	SourceUID *types.UID `json:"sourceUID,omitempty"`
	// UploadCommand is an example upload command. Deprecated: use imageUploadURLs.
	// +optional
	UploadCommand string `json:"uploadCommand,omitempty"`
	// ImageUploadURLs accept the upload for an Upload source.
	// +optional
	ImageUploadURLs *ImageUploadURLs `json:"imageUploadURLs,omitempty"`
	// UsedInNamespaces lists the namespaces whose resources use this image.
	// +optional
	UsedInNamespaces []string `json:"usedInNamespaces,omitempty"`
	// Conditions of the image.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}
