package virtualdisk

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/controller/importjob"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
	"github.com/virtlab/dvp/internal/imagecache"
	"github.com/virtlab/dvp/internal/storage"
)

// Reconciler reconciles VirtualDisks.
type Reconciler struct {
	Client   client.Client
	Recorder record.EventRecorder
	// Jobs gives access to DVCR for disks made from images, and runs the
	// imports of disks from HTTP and container images.
	Jobs *importjob.Env
	// Uploads, when set, serves disks with an Upload data source.
	Uploads *importjob.Uploads
}

// SetupWithManager registers the reconciler; claims it owns trigger it.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("virtualdisk").
		For(&v1alpha2.VirtualDisk{}).
		Owns(&corev1.PersistentVolumeClaim{}).
		Owns(&corev1.Pod{}).
		// Upload Secrets: the gateway records an upload's outcome there.
		Owns(&corev1.Secret{}).
		Watches(&v1alpha2.VirtualMachine{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			vm, ok := o.(*v1alpha2.VirtualMachine)
			if !ok {
				return nil
			}
			var out []reconcile.Request
			for _, ref := range vm.Spec.BlockDeviceRefs {
				if ref.Kind == v1alpha2.BlockDeviceKindVirtualDisk {
					out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: vm.Namespace, Name: ref.Name}})
				}
			}
			return out
		})).
		Complete(ctrlreconcile.QuietConflicts(r))
}

// ClaimName is the PersistentVolumeClaim of a disk, as the printer column
// TARGETPVC shows it: vd-<name>-<uid>.
func ClaimName(vd *v1alpha2.VirtualDisk) string { return fmt.Sprintf("vd-%s-%s", vd.Name, vd.UID) }

func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	vd := &v1alpha2.VirtualDisk{}
	if err := r.Client.Get(ctx, req.NamespacedName, vd); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !vd.DeletionTimestamp.IsZero() {
		// The claim is owned by the disk and goes with it, once no
		// running machine has the disk attached.
		return r.finalize(ctx, vd)
	}
	staged := r.Jobs != nil && stagedSource(vd.Spec.DataSource)
	pvc, err := r.claim(ctx, vd)
	if err != nil {
		return ctrl.Result{}, err
	}
	// Until its claim holds the data, a disk from HTTP, a registry or an
	// upload may have data in DVCR to delete.
	staging := staged && (pvc == nil || pvc.Annotations[FilledAnnotation] != string(vd.UID))
	finalizers := []string{Finalizer}
	if staging {
		finalizers = append(finalizers, importjob.Finalizer)
	}
	if _, err := ctrlreconcile.EnsureFinalizer(ctx, r.Client, vd, finalizers...); err != nil {
		return ctrl.Result{}, err
	}
	status := ctrlreconcile.SnapshotStatus(r.Client, vd, func() any { return *vd.Status.DeepCopy() }, &vd.Status.ObservedGeneration)
	prev := vd.Status.Phase
	defer func() {
		if usedForImage(vd) && retErr == nil && res.RequeueAfter == 0 {
			// Importer pods belong to the image: look again for the end.
			res.RequeueAfter = 5 * time.Second
		}
		observeDurations(vd, prev, time.Now())
		status.Write(ctx, &retErr)
	}()
	if err := r.observeUsers(ctx, vd); err != nil {
		return ctrl.Result{}, err
	}
	if !staging && controllerutil.ContainsFinalizer(vd, importjob.Finalizer) {
		// The data is on the disk (or the source changed to one that
		// does not go through DVCR): the staged copy goes.
		if err := r.dropStage(ctx, vd); err != nil {
			return ctrl.Result{}, err
		}
	}
	if staged {
		return r.reconcileStaged(ctx, vd, pvc)
	}
	var src *source
	size := vd.Spec.PersistentVolumeClaim.Size
	if ds := vd.Spec.DataSource; ds != nil && ds.Type == v1alpha2.DataSourceTypeObjectRef && r.Jobs != nil {
		s, ok, msg := r.resolveImage(ctx, vd)
		if !ok {
			vd.Status.Phase = v1alpha2.VirtualDiskPhasePending
			ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionDatasourceReady, false, string(v1alpha2.VirtualDiskReasonDatasourceIsNotReady), msg)
			ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionReady, false, string(v1alpha2.VirtualDiskReasonDatasourceIsNotReady), msg)
			return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
		}
		ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionDatasourceReady, true, "DatasourceReady", "")
		q, err := diskSize(vd, s)
		if err != nil {
			r.failed(ctx, vd, err.Error())
			return ctrl.Result{}, nil
		}
		src, size = &s, &q
	} else if vd.Spec.DataSource != nil {
		vd.Status.Phase = v1alpha2.VirtualDiskPhasePending
		ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionDatasourceReady, false, string(v1alpha2.VirtualDiskReasonDatasourceIsNotReady),
			fmt.Sprintf("disks from a %s data source are not supported by this platform yet; blank disks are", vd.Spec.DataSource.Type))
		ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionReady, false, string(v1alpha2.VirtualDiskReasonDatasourceIsNotReady), "waiting for a supported data source")
		return ctrl.Result{}, nil
	}

	class, ok := r.observeStorageClass(ctx, vd)
	if !ok {
		return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
	}
	if pvc == nil {
		var clone *corev1.TypedObjectReference
		if src != nil && storage.ThinClones(class) && imagecache.Supports(src.format) {
			group := storage.CloneGroup
			clone = &corev1.TypedObjectReference{APIGroup: &group, Kind: src.kind, Name: src.name}
		}
		if pvc, err = r.ensureClaim(ctx, vd, class, *size, clone); err != nil {
			return ctrl.Result{}, err
		}
	}
	vd.Status.Target.PersistentVolumeClaim = pvc.Name
	if src != nil && pvc.Spec.DataSourceRef == nil {
		if done, res, err := r.write(ctx, vd, pvc, *src, 0); !done || err != nil {
			return res, err
		}
	}
	return r.observeClaim(ctx, vd, class, pvc, *size)
}

// reconcileStaged makes a disk from HTTP, a container image or an upload:
// stage 1 imports the data into DVCR while the disk has no claim; then the
// claim is created with the size known and filled from DVCR.
func (r *Reconciler) reconcileStaged(ctx context.Context, vd *v1alpha2.VirtualDisk, pvc *corev1.PersistentVolumeClaim) (ctrl.Result, error) {
	if vd.Status.Phase == v1alpha2.VirtualDiskPhaseFailed && vd.Status.ObservedGeneration == vd.Generation {
		// Failed stays Failed until the spec changes; the importer pod
		// and Secrets stay for inspection until the disk is deleted.
		return ctrl.Result{}, nil
	}
	class, ok := r.observeStorageClass(ctx, vd)
	if !ok {
		return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
	}
	var size resource.Quantity
	src := stagedImage(vd, 0)
	if pvc == nil {
		res, unpacked, done, err := r.importToDVCR(ctx, vd)
		if err != nil || !done {
			return res, err
		}
		observeDVCRDone(vd, time.Now())
		ctrl.LoggerFrom(ctx).Info("import into DVCR finished", "unpackedBytes", unpacked)
		src = stagedImage(vd, unpacked)
		if size, err = diskSize(vd, src); err != nil {
			r.failed(ctx, vd, err.Error())
			return ctrl.Result{}, nil
		}
		if pvc, err = r.ensureClaim(ctx, vd, class, size, nil); err != nil {
			return ctrl.Result{}, err
		}
	} else {
		// The claim was made with the size the data needs.
		size = pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if s := vd.Spec.PersistentVolumeClaim.Size; s != nil {
			size = *s
		}
	}
	vd.Status.Target.PersistentVolumeClaim = pvc.Name
	if done, res, err := r.write(ctx, vd, pvc, src, stageShare); !done || err != nil {
		return res, err
	}
	res, err := r.observeClaim(ctx, vd, class, pvc, size)
	if p := vd.Status.Phase; p == v1alpha2.VirtualDiskPhaseProvisioning || p == v1alpha2.VirtualDiskPhaseWaitForFirstConsumer {
		// The data is in DVCR: half way.
		vd.Status.Progress = importjob.FormatProgress(stageShare)
	}
	return res, err
}

// write fills a bound claim with src once. done is true when there is
// nothing (more) to write; progress runs from base to 100%.
func (r *Reconciler) write(ctx context.Context, vd *v1alpha2.VirtualDisk, pvc *corev1.PersistentVolumeClaim, src source, base float64) (done bool, res ctrl.Result, err error) {
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Annotations[FilledAnnotation] == src.uid {
		return true, ctrl.Result{}, nil
	}
	phase, msg, progress, err := r.fill(ctx, vd, pvc, src)
	switch {
	case err != nil:
		return false, ctrl.Result{}, err
	case phase == fillFailed:
		r.failed(ctx, vd, msg)
		return false, ctrl.Result{}, nil
	case phase == fillRunning:
		vd.Status.Phase = v1alpha2.VirtualDiskPhaseProvisioning
		if vd.Status.Progress == "" {
			vd.Status.Progress = importjob.FormatProgress(base)
		}
		if progress >= 0 {
			setProgress(vd, base+min(progress, 99.9)*(100-base)/100)
		}
		ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionReady, false, string(v1alpha2.VirtualDiskReasonProvisioning), "writing the image onto the disk")
		return false, ctrl.Result{RequeueAfter: time.Second}, nil
	}
	if src.uid == string(vd.UID) {
		// Written from the disk's own staged copy: it is not needed any more.
		if err := r.dropStage(ctx, vd); err != nil {
			return false, ctrl.Result{}, err
		}
	}
	return true, ctrl.Result{}, nil
}

// failed marks the disk Failed with msg, with an event when it was not
// Failed already.
func (r *Reconciler) failed(ctx context.Context, vd *v1alpha2.VirtualDisk, msg string) {
	if vd.Status.Phase != v1alpha2.VirtualDiskPhaseFailed {
		r.Recorder.Event(vd, corev1.EventTypeWarning, "ProvisioningFailed", msg)
		ctrl.LoggerFrom(ctx).Info("disk failed", "reason", msg)
	}
	vd.Status.Phase, vd.Status.DownloadSpeed = v1alpha2.VirtualDiskPhaseFailed, nil
	ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionReady, false, string(v1alpha2.VirtualDiskReasonProvisioningFailed), msg)
}

// dropStage deletes the disk's stage-1 leftovers (see forgetStage) and then
// the finalizer that stood for them.
func (r *Reconciler) dropStage(ctx context.Context, vd *v1alpha2.VirtualDisk) error {
	if r.Jobs != nil {
		if err := r.forgetStage(ctx, vd); err != nil {
			return err
		}
	}
	removed, err := ctrlreconcile.RemoveFinalizer(ctx, r.Client, vd, importjob.Finalizer)
	if removed && err == nil {
		ctrl.LoggerFrom(ctx).Info("staged import cleaned up", "repository", r.stageJob(vd).Repository)
	}
	return err
}

// claim is the disk's claim, nil while there is none.
func (r *Reconciler) claim(ctx context.Context, vd *v1alpha2.VirtualDisk) (*corev1.PersistentVolumeClaim, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: vd.Namespace, Name: ClaimName(vd)}, pvc)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return pvc, nil
}

// observeStorageClass resolves the disk's class into the status; ok is
// false (the disk Pending, saying why) while there is none.
func (r *Reconciler) observeStorageClass(ctx context.Context, vd *v1alpha2.VirtualDisk) (*storagev1.StorageClass, bool) {
	class, err := r.storageClass(ctx, vd)
	if err != nil {
		vd.Status.Phase = v1alpha2.VirtualDiskPhasePending
		ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionStorageClassReady, false, string(v1alpha2.VirtualDiskReasonStorageClassNotReady), err.Error())
		ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionReady, false, "StorageClassIsNotReady", err.Error())
		return nil, false
	}
	ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionStorageClassReady, true, string(v1alpha2.VirtualDiskReasonStorageClassReady), "")
	vd.Status.StorageClassName = class.Name
	return class, true
}

// storageClass is the disk's class, else the cluster default.
func (r *Reconciler) storageClass(ctx context.Context, vd *v1alpha2.VirtualDisk) (*storagev1.StorageClass, error) {
	if name := vd.Spec.PersistentVolumeClaim.StorageClassName; name != nil && *name != "" {
		sc := &storagev1.StorageClass{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: *name}, sc); err != nil {
			return nil, fmt.Errorf("StorageClass %q: %w", *name, err)
		}
		return sc, nil
	}
	var list storagev1.StorageClassList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			return &list.Items[i], nil
		}
	}
	return nil, fmt.Errorf("no storageClassName given and no default StorageClass: set spec.persistentVolumeClaim.storageClassName")
}

// ensureClaim creates the disk's claim: a Block volume the data is written
// onto, or, when clone names an image, a Filesystem volume the provisioner
// makes a thin clone of the image in (a qcow2 overlay on the node's cached
// copy), which costs the same whatever the image's size.
func (r *Reconciler) ensureClaim(ctx context.Context, vd *v1alpha2.VirtualDisk, class *storagev1.StorageClass, size resource.Quantity, clone *corev1.TypedObjectReference) (*corev1.PersistentVolumeClaim, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: vd.Namespace, Name: ClaimName(vd)}, pvc)
	if err == nil || !apierrors.IsNotFound(err) {
		return pvc, err
	}
	// Block: a VM sees the raw volume, no filesystem layer in between.
	block := corev1.PersistentVolumeBlock
	if clone != nil {
		block = corev1.PersistentVolumeFilesystem
	}
	pvc = &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: vd.Namespace, Name: ClaimName(vd),
			Labels: map[string]string{"app.kubernetes.io/managed-by": "dvp", "virtualization.deckhouse.io/virtual-disk": vd.Name}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeMode:       &block,
			StorageClassName: &class.Name,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
			DataSourceRef:    clone,
		},
	}
	if err := controllerutil.SetControllerReference(vd, pvc, r.Client.Scheme()); err != nil {
		return nil, err
	}
	if err := r.Client.Create(ctx, pvc); err != nil {
		if apierrors.IsAlreadyExists(err) { // the cache is behind
			return pvc, r.Client.Get(ctx, client.ObjectKeyFromObject(pvc), pvc)
		}
		return nil, fmt.Errorf("creating PersistentVolumeClaim %s: %w", pvc.Name, err)
	}
	log := ctrl.LoggerFrom(ctx).WithValues("pvc", pvc.Name, "storageClass", class.Name, "size", size.String())
	if clone != nil {
		log.Info("claim created", "cloneOf", clone.Kind+"/"+clone.Name)
		r.Recorder.Eventf(vd, corev1.EventTypeNormal, "Provisioning", "Created PersistentVolumeClaim %s on StorageClass %s as a thin clone of %s %s", pvc.Name, class.Name, clone.Kind, clone.Name)
	} else {
		log.Info("claim created")
		r.Recorder.Eventf(vd, corev1.EventTypeNormal, "Provisioning", "Created PersistentVolumeClaim %s on StorageClass %s", pvc.Name, class.Name)
	}
	return pvc, nil
}

// observeClaim maps the claim onto the disk, and grows it when the disk's
// size grew (admission allows only growth).
func (r *Reconciler) observeClaim(ctx context.Context, vd *v1alpha2.VirtualDisk, class *storagev1.StorageClass, pvc *corev1.PersistentVolumeClaim, want resource.Quantity) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	switch pvc.Status.Phase {
	case corev1.ClaimLost:
		if vd.Status.Phase != v1alpha2.VirtualDiskPhasePVCLost {
			log.Info("claim lost its volume", "pvc", pvc.Name)
		}
		vd.Status.Phase = v1alpha2.VirtualDiskPhasePVCLost
		ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionReady, false, string(v1alpha2.VirtualDiskReasonPVCLost), fmt.Sprintf("PersistentVolumeClaim %s lost its volume", pvc.Name))
		return ctrl.Result{}, nil
	case corev1.ClaimBound:
	default:
		if msg := pvc.Annotations[storage.RefusedAnnotation]; msg != "" {
			r.failed(ctx, vd, msg)
			return ctrl.Result{}, nil
		}
		if class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
			vd.Status.Phase = v1alpha2.VirtualDiskPhaseWaitForFirstConsumer
			vd.Status.Progress = "0%"
			ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionReady, false, string(v1alpha2.VirtualDiskReasonWaitingForFirstConsumer),
				fmt.Sprintf("StorageClass %s provisions the volume when its first consumer (a virtual machine) is scheduled", class.Name))
			return ctrl.Result{}, nil
		}
		vd.Status.Phase = v1alpha2.VirtualDiskPhaseProvisioning
		vd.Status.Progress = "0%"
		ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionReady, false, string(v1alpha2.VirtualDiskReasonProvisioning), "waiting for the volume to be provisioned")
		return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
	}

	capacity := pvc.Status.Capacity[corev1.ResourceStorage]
	vd.Status.Capacity = capacity.String()
	vd.Status.Progress = "100%"
	requested := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if want.Cmp(requested) > 0 {
		patch := client.MergeFrom(pvc.DeepCopy())
		pvc.Spec.Resources.Requests[corev1.ResourceStorage] = want
		if err := r.Client.Patch(ctx, pvc, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("growing PersistentVolumeClaim %s: %w", pvc.Name, err)
		}
		r.Recorder.Eventf(vd, corev1.EventTypeNormal, "Resizing", "Growing the disk from %s to %s", requested.String(), want.String())
		log.Info("growing disk", "from", requested.String(), "to", want.String())
		requested = want
	}
	if capacity.Cmp(requested) < 0 {
		vd.Status.Phase = v1alpha2.VirtualDiskPhaseResizing
		ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionResizing, true, string(v1alpha2.VirtualDiskReasonInProgress),
			fmt.Sprintf("growing from %s to %s", capacity.String(), requested.String()))
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	ctrlreconcile.RemoveCondition(&vd.Status.Conditions, v1alpha2.VirtualDiskConditionResizing)
	switch vd.Status.Phase {
	case v1alpha2.VirtualDiskPhaseReady:
	case v1alpha2.VirtualDiskPhaseResizing:
		r.Recorder.Eventf(vd, corev1.EventTypeNormal, "Ready", "Disk of %s ready on PersistentVolumeClaim %s", vd.Status.Capacity, pvc.Name)
		log.Info("disk resized", "capacity", vd.Status.Capacity)
	default:
		r.Recorder.Eventf(vd, corev1.EventTypeNormal, "Ready", "Disk of %s ready on PersistentVolumeClaim %s", vd.Status.Capacity, pvc.Name)
		log.Info("disk ready", "capacity", vd.Status.Capacity, "pvc", pvc.Name)
	}
	vd.Status.Phase = v1alpha2.VirtualDiskPhaseReady
	ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionReady, true, string(v1alpha2.VirtualDiskReasonReady), "")
	return ctrl.Result{}, nil
}
