package virtualdisk

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/controller/importjob"
	"github.com/virtlab/dvp/internal/image"
)

// FilledAnnotation on a disk's claim records the image UID written onto it,
// so the data is written once, whatever happens to the disk's status.
const FilledAnnotation = "virtualization.deckhouse.io/filled-from"

const fillDevice = "/dev/disk-target"

// source is a Ready image a disk is made from.
type source struct {
	ref      importjob.ImageRef
	uid      string
	unpacked int64
	// kind, name and format are set for VirtualImages and
	// ClusterVirtualImages, which a disk may be a thin clone of.
	kind, name, format string
}

// resolveImage finds the image a disk names; ok is false with a message
// while it is not Ready.
func (r *Reconciler) resolveImage(ctx context.Context, vd *v1alpha2.VirtualDisk) (source, bool, string) {
	ref := vd.Spec.DataSource.ObjectRef
	if ref == nil {
		return source{}, false, "objectRef is missing"
	}
	img, ok, msg := importjob.ResolveImageRef(ctx, r.Client, string(ref.Kind), vd.Namespace, ref.Name)
	if !ok {
		return source{}, false, msg
	}
	var bytes, format string
	switch ref.Kind {
	case v1alpha2.ObjectRefKindVirtualImage:
		vi := &v1alpha2.VirtualImage{}
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: vd.Namespace, Name: ref.Name}, vi); err != nil {
			return source{}, false, err.Error()
		}
		bytes, format = vi.Status.Size.UnpackedBytes, vi.Status.Format
	default:
		cvi := &v1alpha2.ClusterVirtualImage{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: ref.Name}, cvi); err != nil {
			return source{}, false, err.Error()
		}
		bytes, format = cvi.Status.Size.UnpackedBytes, cvi.Status.Format
	}
	var n int64
	fmt.Sscan(bytes, &n)
	return source{ref: img, uid: img.Tag, unpacked: n, kind: string(ref.Kind), name: ref.Name, format: format}, true, ""
}

// diskSize is the disk's size: the spec's, else the image's unpacked size.
func diskSize(vd *v1alpha2.VirtualDisk, src source) (resource.Quantity, error) {
	img := *resource.NewQuantity(src.unpacked, resource.BinarySI)
	size := vd.Spec.PersistentVolumeClaim.Size
	if size == nil {
		return img, nil
	}
	if size.Cmp(img) < 0 {
		return resource.Quantity{}, fmt.Errorf("spec.persistentVolumeClaim.size %s is smaller than the image (%s unpacked): set at least %s or leave the size out", size, img.String(), img.String())
	}
	return *size, nil
}

type fillPhase int

const (
	fillRunning fillPhase = iota
	fillDone
	fillFailed
)

// fill runs the vd-importer pod that writes the image onto the claim, once.
// While it runs, progress is the pod's percentage (-1 when unknown).
func (r *Reconciler) fill(ctx context.Context, vd *v1alpha2.VirtualDisk, pvc *corev1.PersistentVolumeClaim, src source) (phase fillPhase, msg string, progress float64, err error) {
	name := "vd-importer-" + vd.Name
	pod := &corev1.Pod{}
	err = r.Client.Get(ctx, client.ObjectKey{Namespace: vd.Namespace, Name: name}, pod)
	if apierrors.IsNotFound(err) {
		return fillRunning, "", 0, r.createFillPod(ctx, vd, pvc, src, name)
	}
	if err != nil {
		return fillRunning, "", -1, err
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		patch := client.MergeFrom(pvc.DeepCopy())
		if pvc.Annotations == nil {
			pvc.Annotations = map[string]string{}
		}
		pvc.Annotations[FilledAnnotation] = src.uid
		if err := r.Client.Patch(ctx, pvc, patch); err != nil {
			return fillRunning, "", -1, err
		}
		ctrl.LoggerFrom(ctx).Info("disk filled", "source", src.ref.Repository, "pvc", pvc.Name)
		return fillDone, "", 100, r.deleteFill(ctx, vd.Namespace, name)
	case corev1.PodFailed:
		var res struct{ Error, Reason string }
		msg := importjob.TerminationMessage(pod)
		if json.Unmarshal([]byte(msg), &res) != nil || res.Error == "" {
			res.Error = msg
		}
		return fillFailed, res.Error, -1, nil
	}
	p, _ := r.Jobs.PodProgress(ctx, pod)
	return fillRunning, "", p, nil
}

func (r *Reconciler) createFillPod(ctx context.Context, vd *v1alpha2.VirtualDisk, pvc *corev1.PersistentVolumeClaim, src source, name string) error {
	// No credentials in the API: the node runtime gives the pod pull
	// credentials for the repository, bound to the pod (DVP_DVCR_SCOPE).
	ref := src.ref.Pinned(r.Jobs.DVCRAddress)
	if src.ref.Digest == "" {
		// A disk's own staging repository (stage 1 of an HTTP, registry or
		// upload source), which only that disk's importer pod could push.
		ref = fmt.Sprintf("%s/%s:%s", r.Jobs.DVCRAddress, src.ref.Repository, src.ref.Tag)
	}
	scratchVol, scratchMount := importjob.ScratchVolume()
	pod := importjob.WorkerPod(vd.Namespace, name, []string{"dvp-worker", "fill"},
		[]corev1.EnvVar{
			{Name: "FILL_SOURCE", Value: ref},
			{Name: "FILL_CA_FILE", Value: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"},
			{Name: "FILL_TARGET", Value: fillDevice},
			{Name: "FILL_SCRATCH", Value: importjob.ScratchDir},
			{Name: image.DVCRScopeEnv, Value: image.DVCRScope{Repository: src.ref.Repository}.String()},
		},
		[]corev1.VolumeMount{scratchMount},
		[]corev1.VolumeDevice{{Name: "disk", DevicePath: fillDevice}},
		[]corev1.Volume{
			{Name: "disk", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc.Name}}},
			scratchVol,
		})
	// The pod follows its volume: on a node-local class the volume's node
	// was chosen by the disk's consumer (the machine's placement), whose
	// taints the importer must not be kept out by.
	pod.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	if err := controllerutil.SetControllerReference(vd, pod, r.Client.Scheme()); err != nil {
		return err
	}
	if err := r.Client.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating importer pod: %w", err)
	}
	ctrl.LoggerFrom(ctx).Info("writing the image onto the disk", "pod", name, "source", src.ref.Repository, "pvc", pvc.Name)
	r.Recorder.Eventf(vd, corev1.EventTypeNormal, "Provisioning", "Writing %s onto PersistentVolumeClaim %s (pod %s)", src.ref.Repository, pvc.Name, name)
	return nil
}

// deleteFill removes the importer pod and its Secret; they follow the
// import job naming (pod, pod-dvcr), so the job's own cleanup applies.
func (r *Reconciler) deleteFill(ctx context.Context, ns, name string) error {
	return r.Jobs.Delete(ctx, &importjob.Job{Namespace: ns, Name: name})
}
