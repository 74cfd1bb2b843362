package v1alpha2

import "strings"

// DataSourceType names the kind of source an image or disk is filled from.
// +kubebuilder:validation:Enum=HTTP;ContainerImage;ObjectRef;Upload
type DataSourceType string

const (
	// DataSourceTypeHTTP downloads the data from an HTTP(S) URL.
	DataSourceTypeHTTP DataSourceType = "HTTP"
	// DataSourceTypeContainerImage pulls the data from an OCI image in a registry.
	DataSourceTypeContainerImage DataSourceType = "ContainerImage"
	// DataSourceTypeObjectRef copies the data from another resource of the platform.
	DataSourceTypeObjectRef DataSourceType = "ObjectRef"
	// DataSourceTypeUpload waits for the user to upload the data.
	DataSourceTypeUpload DataSourceType = "Upload"
)

// ObjectRefKind names the kind of a resource a data source or device refers to.
// Each field that uses it restricts the allowed values with its own enum.
type ObjectRefKind string

const (
	ObjectRefKindClusterVirtualImage ObjectRefKind = "ClusterVirtualImage"
	ObjectRefKindVirtualImage        ObjectRefKind = "VirtualImage"
	ObjectRefKindVirtualDisk         ObjectRefKind = "VirtualDisk"
	ObjectRefKindVirtualDiskSnapshot ObjectRefKind = "VirtualDiskSnapshot"
)

// Checksum lists expected digests of the source data, as hex strings.
// Every digest that is set must match.
type Checksum struct {
	// MD5 digest.
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{32}$`
	// +kubebuilder:validation:MinLength=32
	// +kubebuilder:validation:MaxLength=32
	// +optional
	MD5 string `json:"md5,omitempty"`
	// SHA-1 digest.
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{40}$`
	// +kubebuilder:validation:MinLength=40
	// +kubebuilder:validation:MaxLength=40
	// +optional
	SHA1 string `json:"sha1,omitempty"`
	// SHA-256 digest.
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{64}$`
	// +kubebuilder:validation:MinLength=64
	// +kubebuilder:validation:MaxLength=64
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// SHA-512 digest.
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{128}$`
	// +kubebuilder:validation:MinLength=128
	// +kubebuilder:validation:MaxLength=128
	// +optional
	SHA512 string `json:"sha512,omitempty"`
	// GOST R 34.11-2012 (Streebog) 256-bit digest.
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{64}$`
	// +kubebuilder:validation:MinLength=64
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Streebog256 string `json:"streebog256,omitempty"`
	// GOST R 34.11-2012 (Streebog) 512-bit digest.
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{128}$`
	// +kubebuilder:validation:MinLength=128
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Streebog512 string `json:"streebog512,omitempty"`
}

// DataSourceHTTP downloads a disk image (qcow2, raw, vmdk, vdi or iso, optionally
// gz- or xz-compressed) from a URL.
type DataSourceHTTP struct {
	// URL of the file.
	// +kubebuilder:validation:Pattern=`^http[s]?:\/\/(?:[a-zA-Z]|[0-9]|[$-_@.&+]|[!*\(\),]|(?:%[0-9a-fA-F][0-9a-fA-F]))+$`
	URL string `json:"url"`
	// CABundle is a PEM bundle used to verify the server's TLS certificate.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`
	// Checksum of the downloaded file.
	// +optional
	Checksum *Checksum `json:"checksum,omitempty"`
}

// DataSourceUpload waits for the user to upload the file.
type DataSourceUpload struct {
	// Checksum of the uploaded file.
	// +optional
	Checksum *Checksum `json:"checksum,omitempty"`
}

// ImagePullSecret names a Secret with registry credentials in the resource's namespace.
type ImagePullSecret struct {
	// Name of the Secret.
	// +optional
	Name string `json:"name,omitempty"`
}

// ImagePullSecretWithNamespace names a Secret with registry credentials.
type ImagePullSecretWithNamespace struct {
	// Name of the Secret.
	// +optional
	Name string `json:"name,omitempty"`
	// Namespace of the Secret.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// DataSourceContainerImage pulls an OCI image whose /disk/ directory holds the disk file.
type DataSourceContainerImage struct {
	// Image reference, e.g. registry.example.com/images/ubuntu:22.04.
	// +kubebuilder:validation:Pattern=`^(?P<name>(?:(?P<domain>(?:(?:localhost|[\w-]+(?:\.[\w-]+)+)(?::\d+)?)|[\w]+:\d+)/)?(?P<image>[a-z0-9_.-]+(?:/[a-z0-9_.-]+)*))(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[+.-_][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$`
	Image string `json:"image"`
	// ImagePullSecret holds the registry credentials.
	// +optional
	ImagePullSecret *ImagePullSecret `json:"imagePullSecret,omitempty"`
	// CABundle is a PEM bundle used to verify the registry's TLS certificate.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`
}

// ClusterVirtualImageContainerImage is DataSourceContainerImage for a cluster-scoped
// image: the pull secret carries its namespace.
type ClusterVirtualImageContainerImage struct {
	// Image reference, e.g. registry.example.com/images/ubuntu:22.04.
	// +kubebuilder:validation:Pattern=`^(?P<name>(?:(?P<domain>(?:(?:localhost|[\w-]+(?:\.[\w-]+)+)(?::\d+)?)|[\w]+:\d+)/)?(?P<image>[a-z0-9_.-]+(?:/[a-z0-9_.-]+)*))(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[+.-_][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$`
	Image string `json:"image"`
	// ImagePullSecret holds the registry credentials.
	// +optional
	ImagePullSecret *ImagePullSecretWithNamespace `json:"imagePullSecret,omitempty"`
	// CABundle is a PEM bundle used to verify the registry's TLS certificate.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`
}

// VirtualImageObjectRef points a VirtualImage at an existing image, disk or disk snapshot
// in the same namespace.
type VirtualImageObjectRef struct {
	// Kind of the referenced resource.
	// +kubebuilder:validation:Enum=ClusterVirtualImage;VirtualImage;VirtualDisk;VirtualDiskSnapshot
	Kind ObjectRefKind `json:"kind"`
	// Name of the referenced resource.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// ClusterVirtualImageObjectRef points a ClusterVirtualImage at an existing image, disk
// or disk snapshot. Namespaced sources need a namespace.
// +kubebuilder:validation:XValidation:rule="self.kind == 'VirtualImage' || self.kind == 'VirtualDisk' || self.kind == 'VirtualDiskSnapshot' ? has(self.__namespace__) && size(self.__namespace__) > 0 : true",message="The namespace is required for VirtualDisk, VirtualImage and VirtualDiskSnapshot"
// +kubebuilder:validation:XValidation:rule="self.kind == 'VirtualImage'  || self.kind == 'VirtualDisk' || self.kind == 'VirtualDiskSnapshot' ? has(self.__namespace__) && size(self.__namespace__) < 64 : true",message="The namespace must be no longer than 63 characters."
type ClusterVirtualImageObjectRef struct {
	// Kind of the referenced resource.
	// +kubebuilder:validation:Enum=ClusterVirtualImage;VirtualImage;VirtualDisk;VirtualDiskSnapshot
	Kind ObjectRefKind `json:"kind"`
	// Name of the referenced resource.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Namespace of the referenced resource; required for namespaced kinds.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// VirtualDiskObjectRef points a VirtualDisk at an existing image or disk snapshot
// in the same namespace.
type VirtualDiskObjectRef struct {
	// Kind of the referenced resource.
	// +kubebuilder:validation:Enum=ClusterVirtualImage;VirtualImage;VirtualDiskSnapshot
	Kind ObjectRefKind `json:"kind"`
	// Name of the referenced resource.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// VirtualImageDataSource says where a VirtualImage gets its data. Only the member
// that matches type may be set.
// +kubebuilder:validation:XValidation:rule="self.type == 'HTTP' ? has(self.http) && !has(self.containerImage) && !has(self.objectRef) && !has(self.upload) : true",message="HTTP requires http and cannot have ContainerImage, ObjectRef or Upload."
// +kubebuilder:validation:XValidation:rule="self.type == 'ContainerImage' ? has(self.containerImage) && !has(self.http) && !has(self.objectRef) && !has(self.upload) : true",message="ContainerImage requires containerImage and cannot have HTTP, ObjectRef or Upload."
// +kubebuilder:validation:XValidation:rule="self.type == 'ObjectRef' ? has(self.objectRef) && !has(self.http) && !has(self.containerImage) && !has(self.upload) : true",message="ObjectRef requires objectRef and cannot have HTTP, ContainerImage or Upload."
// +kubebuilder:validation:XValidation:rule="self.type == 'Upload' ? !has(self.http) && !has(self.containerImage) && !has(self.objectRef) : true",message="Upload cannot have HTTP, ContainerImage or ObjectRef."
type VirtualImageDataSource struct {
	// Type of the source.
	// +optional
	Type DataSourceType `json:"type,omitempty"`
	// HTTP source.
	// +optional
	HTTP *DataSourceHTTP `json:"http,omitempty"`
	// ContainerImage source.
	// +optional
	ContainerImage *DataSourceContainerImage `json:"containerImage,omitempty"`
	// ObjectRef source.
	// +optional
	ObjectRef *VirtualImageObjectRef `json:"objectRef,omitempty"`
	// Upload source.
	// +optional
	Upload *DataSourceUpload `json:"upload,omitempty"`
}

// ClusterVirtualImageDataSource says where a ClusterVirtualImage gets its data. Only
// the member that matches type may be set.
// +kubebuilder:validation:XValidation:rule="self.type == 'HTTP' ? has(self.http) && !has(self.containerImage) && !has(self.objectRef) && !has(self.upload) : true",message="HTTP requires http and cannot have ContainerImage, ObjectRef or Upload."
// +kubebuilder:validation:XValidation:rule="self.type == 'ContainerImage' ? has(self.containerImage) && !has(self.http) && !has(self.objectRef) && !has(self.upload) : true",message="ContainerImage requires containerImage and cannot have HTTP, ObjectRef or Upload."
// +kubebuilder:validation:XValidation:rule="self.type == 'ObjectRef' ? has(self.objectRef) && !has(self.http) && !has(self.containerImage) && !has(self.upload) : true",message="ObjectRef requires objectRef and cannot have HTTP, ContainerImage or Upload."
// +kubebuilder:validation:XValidation:rule="self.type == 'Upload' ? !has(self.http) && !has(self.containerImage) && !has(self.objectRef) : true",message="Upload cannot have HTTP, ContainerImage or ObjectRef."
type ClusterVirtualImageDataSource struct {
	// Type of the source.
	Type DataSourceType `json:"type"`
	// HTTP source.
	// +optional
	HTTP *DataSourceHTTP `json:"http,omitempty"`
	// ContainerImage source.
	// +optional
	ContainerImage *ClusterVirtualImageContainerImage `json:"containerImage,omitempty"`
	// ObjectRef source.
	// +optional
	ObjectRef *ClusterVirtualImageObjectRef `json:"objectRef,omitempty"`
	// Upload source.
	// +optional
	Upload *DataSourceUpload `json:"upload,omitempty"`
}

// VirtualDiskDataSource says where a VirtualDisk gets its initial data. Only the
// member that matches type may be set.
// +kubebuilder:validation:XValidation:rule="self.type == 'HTTP' ? has(self.http) && !has(self.containerImage) && !has(self.objectRef) && !has(self.upload) : true",message="HTTP requires http and cannot have ContainerImage, ObjectRef or Upload."
// +kubebuilder:validation:XValidation:rule="self.type == 'ContainerImage' ? has(self.containerImage) && !has(self.http) && !has(self.objectRef) && !has(self.upload) : true",message="ContainerImage requires containerImage and cannot have HTTP, ObjectRef or Upload."
// +kubebuilder:validation:XValidation:rule="self.type == 'ObjectRef' ? has(self.objectRef) && !has(self.http) && !has(self.containerImage) && !has(self.upload) : true",message="ObjectRef requires objectRef and cannot have HTTP, ContainerImage or Upload."
// +kubebuilder:validation:XValidation:rule="self.type == 'Upload' ? !has(self.http) && !has(self.containerImage) && !has(self.objectRef) : true",message="Upload cannot have HTTP, ContainerImage or ObjectRef."
type VirtualDiskDataSource struct {
	// Type of the source.
	// +optional
	Type DataSourceType `json:"type,omitempty"`
	// HTTP source.
	// +optional
	HTTP *DataSourceHTTP `json:"http,omitempty"`
	// ContainerImage source.
	// +optional
	ContainerImage *DataSourceContainerImage `json:"containerImage,omitempty"`
	// ObjectRef source.
	// +optional
	ObjectRef *VirtualDiskObjectRef `json:"objectRef,omitempty"`
	// Upload source.
	// +optional
	Upload *DataSourceUpload `json:"upload,omitempty"`
}

// StatusSpeed reports the transfer speed while data is being imported.
type StatusSpeed struct {
	// Avg is the average speed, human readable.
	// +optional
	Avg string `json:"avg,omitempty"`
	// AvgBytes is the average speed in bytes per second.
	// +optional
	AvgBytes string `json:"avgBytes,omitempty"`
	// Current is the current speed, human readable.
	// +optional
	Current string `json:"current,omitempty"`
	// CurrentBytes is the current speed in bytes per second.
	// +optional
	CurrentBytes string `json:"currentBytes,omitempty"`
}

// ImageStatusSize reports an image's size as stored and as unpacked.
type ImageStatusSize struct {
	// Stored size, human readable.
	// +optional
	Stored string `json:"stored,omitempty"`
	// StoredBytes is the stored size in bytes.
	// +optional
	StoredBytes string `json:"storedBytes,omitempty"`
	// Unpacked (virtual disk) size, human readable.
	// +optional
	Unpacked string `json:"unpacked,omitempty"`
	// UnpackedBytes is the unpacked size in bytes.
	// +optional
	UnpackedBytes string `json:"unpackedBytes,omitempty"`
}

// ImageUploadURLs are the addresses that accept an upload.
type ImageUploadURLs struct {
	// External URL, reachable from outside the cluster.
	// +optional
	External string `json:"external,omitempty"`
	// InCluster URL, reachable from inside the cluster.
	// +optional
	InCluster string `json:"inCluster,omitempty"`
}

// Pairs renders the checksums as "alg:hex,alg:hex" (sorted), the form the
// importer reads; "" when none is set.
func (c *Checksum) Pairs() string {
	if c == nil {
		return ""
	}
	var parts []string
	for _, p := range [][2]string{{"md5", c.MD5}, {"sha1", c.SHA1}, {"sha256", c.SHA256}, {"sha512", c.SHA512}} {
		if p[1] != "" {
			parts = append(parts, p[0]+":"+p[1])
		}
	}
	return strings.Join(parts, ",")
}
