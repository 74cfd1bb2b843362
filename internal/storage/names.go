package storage

// ProvisionerName is the provisioner of every StorageClass this package
// manages and the value of pv.kubernetes.io/provisioned-by on its volumes.
const ProvisionerName = "local.virtualization.deckhouse.io"

const (
	// LabelManagedBy marks StorageClasses and PersistentVolumes this package
	// created, so it can tell its own objects from an administrator's.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	managedByValue = "dvp"

	// AnnotationVolumePath carries the absolute path of a volume's backing
	// directory or file, so the node runtime resolves a volume without
	// knowing about hostPath and local sources.
	AnnotationVolumePath = "virtualization.deckhouse.io/volume-path"

	// ParameterNodeLocal is the StorageClass parameter ("true"/"false") that
	// selects local volumes pinned to one node instead of shared hostPath ones.
	ParameterNodeLocal = "nodeLocal"
	// ParameterThinClones ("true"/"false", default true) makes disks from
	// images thin qcow2 clones of the node's cached image.
	ParameterThinClones = "thinClones"

	annDefaultClass     = "storageclass.kubernetes.io/is-default-class"
	annBetaDefaultClass = "storageclass.beta.kubernetes.io/is-default-class"
	// annProvisionedBy is set on a PV by the provisioning library.
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"

	// volumesDirName is the directory under the data directory that holds
	// every volume.
	volumesDirName = "volumes"
	// tmpPrefix names volumes under construction. A PV name is a DNS
	// subdomain and cannot start with a dot, so it never collides.
	tmpPrefix = ".tmp-"
	// blockSuffix is the extension of a Block volume's file.
	blockSuffix = ".img"
)
