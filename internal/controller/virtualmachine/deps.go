package virtualmachine

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/controller/importjob"
	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/imagecache"
	"github.com/virtlab/dvp/internal/launcher"
	"github.com/virtlab/dvp/internal/sizing"
)

// reasonWaitingForPlacement is the BlockDevicesReady reason of a disk whose
// data is written only once the machine is placed; any other wait shows
// before it, since placing the machine does not help with those.
const reasonWaitingForPlacement = "WaitingForWaitForFirstConsumerBlockDevicesToBeReady"

const (
	devicePathPrefix = "/dev/disks/"
	diskDirPrefix    = "/var/lib/dvp/disks/"
	userDataDir      = "/etc/dvp-cloudinit"
	serviceCA        = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
)

// reconcileClass finds the machine's class and, from its sizing policy,
// the core fraction the machine gets.
func (r *Reconciler) reconcileClass(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) (ctrl.Result, error) {
	p.cores = int(vm.Spec.CPU.Cores)
	p.sockets = int(sizing.Sockets(vm.Spec.CPU.Cores))
	p.fraction = 100
	if f, err := sizing.ParseCoreFraction(vm.Spec.CPU.CoreFraction); err == nil && f > 0 {
		p.fraction = f
	}
	class := &v1alpha2.VirtualMachineClass{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: vm.Spec.VirtualMachineClassName}, class)
	switch {
	case apierrors.IsNotFound(err):
		p.classChecked = true
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("reading VirtualMachineClass %s: %w", vm.Spec.VirtualMachineClassName, err)
	}
	p.class, p.classChecked = class, true
	if pol := sizing.PolicyFor(class, vm.Spec.CPU.Cores); pol != nil {
		p.fraction = sizing.EffectiveCoreFraction(pol, vm.Spec.CPU.CoreFraction)
	}
	return ctrl.Result{}, nil
}

// bootOrdered returns the block device references in boot order: explicit
// bootOrder first (ascending), then the rest in list order.
func bootOrdered(refs []v1alpha2.BlockDeviceSpecRef) []v1alpha2.BlockDeviceSpecRef {
	out := append([]v1alpha2.BlockDeviceSpecRef(nil), refs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].BootOrder, out[j].BootOrder
		switch {
		case a != nil && b != nil:
			return *a < *b
		case a != nil:
			return true
		default:
			return false
		}
	})
	return out
}

// reconcileDevices resolves the machine's disks and images into the
// launcher's volumes and disks, and records what each one that cannot be
// used yet waits for.
func (r *Reconciler) reconcileDevices(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) (ctrl.Result, error) {
	if err := r.resolveDevices(ctx, vm, p); err != nil {
		return ctrl.Result{}, err
	}
	p.devicesChecked = true
	return ctrl.Result{}, nil
}

func (r *Reconciler) resolveDevices(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) error {
	notReady := func(reason, msg string) { p.deviceWaits = append(p.deviceWaits, wait{reason: reason, message: msg}) }
	for i, ref := range bootOrdered(vm.Spec.BlockDeviceRefs) {
		order := i + 1
		st := v1alpha2.BlockDeviceStatusRef{Kind: ref.Kind, Name: ref.Name, Target: target(i), BootOrder: &order}
		disk := launcher.Disk{Name: ref.Name, Kind: string(ref.Kind), BootOrder: order, Serial: serial(ref)}
		switch ref.Kind {
		case v1alpha2.BlockDeviceKindVirtualDisk:
			vd := &v1alpha2.VirtualDisk{}
			err := r.Client.Get(ctx, client.ObjectKey{Namespace: vm.Namespace, Name: ref.Name}, vd)
			if apierrors.IsNotFound(err) {
				notReady("BlockDevicesNotReady", fmt.Sprintf("VirtualDisk %q not found", ref.Name))
				p.deviceStatus = append(p.deviceStatus, st)
				continue
			} else if err != nil {
				return fmt.Errorf("reading VirtualDisk %s: %w", ref.Name, err)
			}
			st.Size = vd.Status.Capacity
			claim := vd.Status.Target.PersistentVolumeClaim
			switch {
			case vd.Status.Phase == v1alpha2.VirtualDiskPhaseReady || vd.Status.Phase == v1alpha2.VirtualDiskPhaseResizing:
			case vd.Status.Phase == v1alpha2.VirtualDiskPhaseWaitForFirstConsumer && vd.Spec.DataSource == nil && claim != "":
				// A blank disk on a WaitForFirstConsumer class is bound
				// where the launcher pod lands: the pod is its consumer.
			case vd.Status.Phase == v1alpha2.VirtualDiskPhaseWaitForFirstConsumer && claim != "":
				// Its data must be written before the machine boots, on
				// the node the machine will run on: a placement pod with
				// the machine's constraints binds the volume first.
				notReady(reasonWaitingForPlacement,
					fmt.Sprintf("VirtualDisk %q is provisioned where the machine is placed; placing the machine to import its data there", ref.Name))
				p.placing = append(p.placing, ref.Name)
			default:
				phase := string(vd.Status.Phase)
				if phase == "" {
					phase = "Pending"
				}
				notReady("BlockDevicesNotReady", fmt.Sprintf("waiting for VirtualDisk %q to be Ready (now %s)", ref.Name, phase))
				p.deviceStatus = append(p.deviceStatus, st)
				continue
			}
			if c := meta.FindStatusCondition(vd.Status.Conditions, string(v1alpha2.VirtualDiskConditionInUse)); c != nil &&
				c.Status == metav1.ConditionTrue && c.Reason == string(v1alpha2.VirtualDiskReasonUsedForImageCreation) {
				notReady("BlockDevicesNotReady", fmt.Sprintf("VirtualDisk %q is being read to make an image; the machine starts when that is done", ref.Name))
				p.deviceStatus = append(p.deviceStatus, st)
				continue
			}
			vol := "vd-" + ref.Name
			thin, err := r.thinClone(ctx, vm.Namespace, claim)
			if err != nil {
				return fmt.Errorf("reading PersistentVolumeClaim %s: %w", claim, err)
			}
			p.volumes = append(p.volumes, corev1.Volume{Name: vol, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
			if thin {
				// A thin clone: a qcow2 file on a Filesystem volume.
				dir := diskDirPrefix + vol
				disk.Path, disk.Format = dir+"/"+imagecache.OverlayName, launcher.FormatQcow2
				p.mounts = append(p.mounts, corev1.VolumeMount{Name: vol, MountPath: dir})
			} else {
				// Raw, never probed: the bytes are the guest's, and a
				// guest-written qcow2 header must not become a chain.
				disk.Path, disk.Format = devicePathPrefix+vol, launcher.FormatRaw
				p.devices = append(p.devices, corev1.VolumeDevice{Name: vol, DevicePath: disk.Path})
			}
		case v1alpha2.BlockDeviceKindVirtualImage, v1alpha2.BlockDeviceKindClusterVirtualImage:
			ref2, ok, msg := importjob.ResolveImageRef(ctx, r.Client, string(ref.Kind), vm.Namespace, ref.Name)
			if !ok {
				notReady("BlockDevicesNotReady", msg)
				p.deviceStatus = append(p.deviceStatus, st)
				continue
			}
			size, cdrom, err := r.imageFacts(ctx, vm.Namespace, ref)
			if err != nil {
				return fmt.Errorf("reading %s %s: %w", ref.Kind, ref.Name, err)
			}
			if r.DVCR == nil {
				notReady("BlockDevicesNotReady", "images cannot be attached: this controller has no access to DVCR")
				p.deviceStatus = append(p.deviceStatus, st)
				continue
			}
			st.Size = importjob.HumanBytes(size)
			p.pullScopes = append(p.pullScopes, image.DVCRScope{Repository: ref2.Repository})
			disk.Pull = &launcher.Pull{
				// By the digest the image's status recorded, never by
				// tag: the tag may have been moved since.
				Ref:    ref2.Pinned(r.DVCR.DVCRAddress),
				CAFile: serviceCA, Size: size,
			}
			disk.CDROM, disk.ReadOnly = cdrom, true
		}
		st.Attached = false
		p.deviceStatus = append(p.deviceStatus, st)
		p.config.Disks = append(p.config.Disks, disk)
	}
	return nil
}

// imageFacts returns the unpacked size and the CD-ROM flag of an image.
func (r *Reconciler) imageFacts(ctx context.Context, ns string, ref v1alpha2.BlockDeviceSpecRef) (int64, bool, error) {
	if ref.Kind == v1alpha2.BlockDeviceKindClusterVirtualImage {
		cvi := &v1alpha2.ClusterVirtualImage{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: ref.Name}, cvi); err != nil {
			return 0, false, err
		}
		n, _ := strconv.ParseInt(cvi.Status.Size.UnpackedBytes, 10, 64)
		return n, cvi.Status.CDROM, nil
	}
	vi := &v1alpha2.VirtualImage{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, vi); err != nil {
		return 0, false, err
	}
	n, _ := strconv.ParseInt(vi.Status.Size.UnpackedBytes, 10, 64)
	return n, vi.Status.CDROM, nil
}

// target is the device name the guest sees, in attachment order.
func target(i int) string {
	return "sd" + string(rune('a'+i))
}

// serial is the disk serial the guest sees under /dev/disk/by-id: stable
// for the device, at most 20 characters as SCSI and ATA allow.
func serial(ref v1alpha2.BlockDeviceSpecRef) string {
	sum := sha256.Sum256([]byte(string(ref.Kind) + "/" + ref.Name))
	return fmt.Sprintf("%x", sum[:10])
}

// reconcileProvisioning resolves the machine's cloud-init user data, or
// records why it cannot be given to the guest yet.
func (r *Reconciler) reconcileProvisioning(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) (ctrl.Result, error) {
	if err := r.resolveProvisioning(ctx, vm, p); err != nil {
		return ctrl.Result{}, err
	}
	p.provisioningChecked = true
	return ctrl.Result{}, nil
}

func (r *Reconciler) resolveProvisioning(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) error {
	prov := vm.Spec.Provisioning
	if prov == nil {
		return nil
	}
	ci := &launcher.CloudInit{InstanceID: string(vm.UID), Hostname: vm.Name}
	switch prov.Type {
	case v1alpha2.ProvisioningTypeUserData:
		ci.UserData = prov.UserData
	case v1alpha2.ProvisioningTypeUserDataRef:
		if prov.UserDataRef == nil {
			p.provisioningWait = "provisioning.userDataRef is not set"
			return nil
		}
		s := &corev1.Secret{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: vm.Namespace, Name: prov.UserDataRef.Name}, s)
		if apierrors.IsNotFound(err) {
			p.provisioningWait = fmt.Sprintf("Secret %q of provisioning.userDataRef not found", prov.UserDataRef.Name)
			return nil
		} else if err != nil {
			return fmt.Errorf("reading Secret %s: %w", prov.UserDataRef.Name, err)
		}
		if _, ok := s.Data["userData"]; !ok {
			p.provisioningWait = fmt.Sprintf("Secret %q has no key userData (the cloud-init user data goes there)", s.Name)
			return nil
		}
		ci.UserDataFile = userDataDir + "/userData"
		p.volumes = append(p.volumes, corev1.Volume{Name: "cloudinit", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: s.Name, Items: []corev1.KeyToPath{{Key: "userData", Path: "userData"}}}}})
		p.mounts = append(p.mounts, corev1.VolumeMount{Name: "cloudinit", MountPath: userDataDir, ReadOnly: true})
	case v1alpha2.ProvisioningTypeSysprepRef:
		p.provisioningWait = "Sysprep provisioning is not supported by this platform yet; use UserData or UserDataRef"
		return nil
	}
	p.config.CloudInit = ci
	return nil
}

// thinClone reports whether the claim holds a thin clone (a Filesystem
// volume with a qcow2 overlay) rather than a raw Block volume.
func (r *Reconciler) thinClone(ctx context.Context, ns, claim string) (bool, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: claim}, pvc); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return pvc.Spec.VolumeMode != nil && *pvc.Spec.VolumeMode == corev1.PersistentVolumeFilesystem, nil
}
