package storage

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
)

// ResizeNotifier is told when the backing of a volume has grown, before the
// claim reports the new size: the seam through which a running VM's disk is
// resized online. It is called again if a later step fails and the resize is
// retried, so it must be idempotent.
type ResizeNotifier interface {
	VolumeResized(ctx context.Context, pvName string, newBytes int64) error
}

// resizer grows volumes of ProvisionerName whose claims ask for more than
// they have. Every step is derived from the claim, the volume and the size of
// the backing file, and every step is a no-op when already done, so a resize
// interrupted at any point completes on the next attempt.
type resizer struct {
	kube     kubernetes.Interface
	store    volumeStore
	notifier ResizeNotifier
	recorder record.EventRecorder
	now      func() metav1.Time
}

// needsResize reports whether claim asks for more than its status reports,
// or still carries a Resizing condition that must be settled.
func needsResize(claim *corev1.PersistentVolumeClaim) bool {
	if claim.Status.Phase != corev1.ClaimBound || claim.Spec.VolumeName == "" {
		return false
	}
	if hasCondition(claim.Status.Conditions, corev1.PersistentVolumeClaimResizing) {
		return true
	}
	request, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return false
	}
	current := claim.Status.Capacity[corev1.ResourceStorage]
	return request.Cmp(current) > 0
}

// resize brings claim, bound to pv, to its requested size.
func (r *resizer) resize(ctx context.Context, claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	request := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	current := claim.Status.Capacity[corev1.ResourceStorage]
	if request.Cmp(current) <= 0 {
		// Done already; a Resizing condition left by a crash is stale.
		if !hasCondition(claim.Status.Conditions, corev1.PersistentVolumeClaimResizing) {
			return nil
		}
		claim.Status.Conditions = removeCondition(claim.Status.Conditions, corev1.PersistentVolumeClaimResizing)
		if _, err := r.kube.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("clearing Resizing condition: %w", err)
		}
		return nil
	}
	capacity, size, err := RoundCapacity(request)
	if err != nil {
		return err
	}
	// Never report less than the volume already has (a request lowered
	// after a partial resize).
	if pvCap, ok := pv.Spec.Capacity[corev1.ResourceStorage]; ok && pvCap.Cmp(capacity) > 0 {
		capacity = pvCap.DeepCopy()
		size = pvCap.Value()
	}

	if !hasCondition(claim.Status.Conditions, corev1.PersistentVolumeClaimResizing) {
		msg := fmt.Sprintf("growing volume %s from %s to %s", pv.Name, current.String(), capacity.String())
		claim.Status.Conditions = setResizingCondition(claim.Status.Conditions, msg, r.now())
		updated, err := r.kube.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("setting Resizing condition: %w", err)
		}
		claim = updated
		r.recorder.Event(claim, corev1.EventTypeNormal, reasonResizing, msg)
	}

	if err := r.grow(ctx, claim, pv, size); err != nil {
		r.recorder.Event(claim, corev1.EventTypeWarning, reasonResizeFailed, err.Error())
		return err
	}
	if err := r.updatePVCapacity(ctx, pv.Name, capacity); err != nil {
		return err
	}

	claim.Status.Capacity = setStorage(claim.Status.Capacity, capacity)
	claim.Status.AllocatedResources = setStorage(claim.Status.AllocatedResources, capacity)
	claim.Status.Conditions = removeCondition(claim.Status.Conditions, corev1.PersistentVolumeClaimResizing)
	if _, err := r.kube.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("recording new capacity on claim: %w", err)
	}
	r.recorder.Eventf(claim, corev1.EventTypeNormal, reasonResizeSucceeded, "volume %s grew to %s", pv.Name, capacity.String())
	return nil
}

// grow extends the backing of pv to size bytes and tells the notifier.
func (r *resizer) grow(ctx context.Context, claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume, size int64) error {
	if err := checkName(pv.Name); err != nil {
		return err
	}
	block := pv.Spec.VolumeMode != nil && *pv.Spec.VolumeMode == corev1.PersistentVolumeBlock
	path := r.store.path(pv.Name, block)
	fi, err := os.Stat(path)
	if err != nil {
		// Never recreate a missing backing: that would hand out an empty
		// volume in place of the user's data.
		return fmt.Errorf("backing of volume %s: %w", pv.Name, err)
	}
	if block {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("backing of volume %s: %s is not a regular file", pv.Name, path)
		}
		if err := growFile(path, size); err != nil {
			return fmt.Errorf("volume %s: %w", pv.Name, err)
		}
	} else if !fi.IsDir() {
		return fmt.Errorf("backing of volume %s: %s is not a directory", pv.Name, path)
	} else if err := growOverlay(ctx, path, size); err != nil {
		// A plain Filesystem volume is a directory on the host's
		// filesystem, with nothing to grow; a thin clone's disk is.
		return fmt.Errorf("volume %s: %w", pv.Name, err)
	}
	if r.notifier != nil {
		if err := r.notifier.VolumeResized(ctx, pv.Name, size); err != nil {
			return fmt.Errorf("notifying consumers of volume %s: %w", pv.Name, err)
		}
	}
	return nil
}

// updatePVCapacity raises the PV's capacity to at least capacity.
func (r *resizer) updatePVCapacity(ctx context.Context, name string, capacity resource.Quantity) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pv, err := r.kube.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur, ok := pv.Spec.Capacity[corev1.ResourceStorage]; ok && cur.Cmp(capacity) >= 0 {
			return nil
		}
		pv.Spec.Capacity = setStorage(pv.Spec.Capacity, capacity)
		_, err = r.kube.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("updating capacity of volume %s: %w", name, err)
	}
	return nil
}

func setStorage(l corev1.ResourceList, q resource.Quantity) corev1.ResourceList {
	out := make(corev1.ResourceList, len(l)+1)
	for k, v := range l {
		out[k] = v
	}
	out[corev1.ResourceStorage] = q
	return out
}
