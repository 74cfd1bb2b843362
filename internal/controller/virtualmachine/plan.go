package virtualmachine

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/launcher"
)

// plan is what one reconcile of a machine found and did. The phases fill
// it in as they act; the status is computed from it once, at the end
// (status.go), so no phase writes the machine's status. A phase that did
// not run leaves its facts unset and its "checked" flag false, and the
// status fields that depend on them keep their stored values: a reconcile
// cut short by an API error does not guess.
type plan struct {
	// deleting: the machine is being deleted (reconcileDelete ran).
	deleting bool

	// active is the newest launcher pod that has not ended, nil when there
	// is none; a pod this reconcile deleted carries a deletion timestamp.
	active *corev1.Pod
	// launchFailure is how the last launcher that could not start QEMU
	// ended (launcher.ReasonFailed), if reconcileLaunchers judged one.
	launchFailure *ended

	// run: the run policy and the power intent want a launcher now.
	run bool

	// The machine's class (reconcileClass): nil when it does not exist.
	classChecked bool
	class        *v1alpha2.VirtualMachineClass

	// The block devices (reconcileDevices): what keeps each one that is
	// not usable yet from being used, in boot order.
	devicesChecked bool
	deviceWaits    []wait

	// Provisioning (reconcileProvisioning): why its user data cannot be
	// given to the guest, empty when it can (or there is none).
	provisioningChecked bool
	provisioningWait    string

	// The machine's address (reconcileAddress).
	addressChecked bool
	address        addressFacts

	// powered: reconcilePower ran, so active and run are final and the
	// machine's run state can be observed.
	powered bool

	// restartChecked: reconcileRestart compared the running launcher's
	// spec with the current one; changes lists what awaits a restart.
	restartChecked bool
	changes        []runtimeRaw

	// What a start of the machine needs, resolved by the dependency phases.
	config  launcher.Config
	volumes []corev1.Volume
	devices []corev1.VolumeDevice
	mounts  []corev1.VolumeMount
	// pullScopes are the DVCR repositories the launcher pulls images
	// from; the node runtime gives it credentials bound to the pod.
	pullScopes []image.DVCRScope
	// deviceStatus is status.blockDeviceRefs before attachment.
	deviceStatus []v1alpha2.BlockDeviceStatusRef

	cores, fraction int
	sockets         int

	// placing lists disks with a data source on WaitForFirstConsumer
	// classes that wait for the machine to be placed before their import.
	placing []string
}

// wait is one reason a machine cannot start yet, as its condition says it.
type wait struct {
	reason  string
	message string
}

// ready reports whether everything a start needs is there.
func (p *plan) ready() bool {
	return p.class != nil && len(p.deviceWaits) == 0 && p.provisioningWait == "" && p.address.ready
}
