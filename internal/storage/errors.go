package storage

import "errors"

// Reasons the provisioner refuses a claim. The provisioning library shows the
// error in a ProvisioningFailed event on the claim, so each says what to do.
var (
	// ErrCloneNotSupported: a claim with a dataSource or dataSourceRef.
	ErrCloneNotSupported = errors.New("volumes with a dataSource (clones, snapshots, populators) are not supported yet by " + ProvisionerName + ": create an empty claim and copy the data")
	// ErrSelectorNotSupported: a claim with a label selector, which dynamic
	// provisioning cannot satisfy (the volume does not exist yet).
	ErrSelectorNotSupported = errors.New("claims with a selector cannot be provisioned dynamically: remove spec.selector or bind a pre-created volume")
	// ErrAccessMode: ReadWriteOncePod, which nothing on this host enforces.
	ErrAccessMode = errors.New("unsupported access mode")
	// ErrNoNode: a node-local volume with no node to pin it to.
	ErrNoNode = errors.New("no node to place a node-local volume on")
)
