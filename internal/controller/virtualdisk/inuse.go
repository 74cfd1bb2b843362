package virtualdisk

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/controller/importjob"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
)

// Finalizer keeps a deleted disk (and its claim, and the data) while a
// running machine has it attached.
const Finalizer = "virtualization.deckhouse.io/vd-protection"

// users lists the machines that refer to the disk, and whether each has it
// attached now (a running guest).
func (r *Reconciler) users(ctx context.Context, vd *v1alpha2.VirtualDisk) ([]v1alpha2.AttachedVirtualMachine, error) {
	var list v1alpha2.VirtualMachineList
	if err := r.Client.List(ctx, &list, client.InNamespace(vd.Namespace)); err != nil {
		return nil, err
	}
	var out []v1alpha2.AttachedVirtualMachine
	for _, vm := range list.Items {
		for _, ref := range vm.Spec.BlockDeviceRefs {
			if ref.Kind != v1alpha2.BlockDeviceKindVirtualDisk || ref.Name != vd.Name {
				continue
			}
			mounted := false
			for _, st := range vm.Status.BlockDeviceRefs {
				if st.Kind == ref.Kind && st.Name == ref.Name && st.Attached {
					mounted = true
				}
			}
			out = append(out, v1alpha2.AttachedVirtualMachine{Name: vm.Name, Mounted: mounted})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func mountedBy(users []v1alpha2.AttachedVirtualMachine) []string {
	var out []string
	for _, u := range users {
		if u.Mounted {
			out = append(out, u.Name)
		}
	}
	return out
}

// observeUsers fills attachedToVirtualMachines and the InUse condition.
func (r *Reconciler) observeUsers(ctx context.Context, vd *v1alpha2.VirtualDisk) error {
	users, err := r.users(ctx, vd)
	if err != nil {
		return err
	}
	vd.Status.AttachedToVirtualMachines = users
	if m := mountedBy(users); len(m) > 0 {
		ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionInUse, true, string(v1alpha2.VirtualDiskReasonAttachedToVirtualMachine),
			"attached to VirtualMachine "+strings.Join(m, ", "))
		return nil
	}
	if claim := vd.Status.Target.PersistentVolumeClaim; claim != "" {
		pods, err := importjob.ImageCreators(ctx, r.Client, vd.Namespace, claim)
		if err != nil {
			return err
		}
		if len(pods) > 0 {
			// Machines wait: a guest writing the disk would tear the image.
			ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionInUse, true, string(v1alpha2.VirtualDiskReasonUsedForImageCreation),
				"an image is being made from the disk (pod "+strings.Join(pods, ", ")+"); machines using it start when that is done")
			return nil
		}
	}
	ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionInUse, false, string(v1alpha2.VirtualDiskReasonNotInUse), "")
	return nil
}

// usedForImage reports whether an image is being made from the disk.
func usedForImage(vd *v1alpha2.VirtualDisk) bool {
	c := ctrlreconcile.Condition(vd.Status.Conditions, v1alpha2.VirtualDiskConditionInUse)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason == string(v1alpha2.VirtualDiskReasonUsedForImageCreation)
}

// finalize lets a deleted disk go once no running machine has it attached;
// until then it stays Terminating and names the machines.
func (r *Reconciler) finalize(ctx context.Context, vd *v1alpha2.VirtualDisk) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	if controllerutil.ContainsFinalizer(vd, importjob.Finalizer) {
		// Whatever stage it was in: stop the import or upload, delete the
		// importer pod, the Secrets and the staged copy in DVCR.
		if err := r.dropStage(ctx, vd); err != nil {
			return ctrl.Result{}, err
		}
	}
	if !controllerutil.ContainsFinalizer(vd, Finalizer) {
		return ctrl.Result{}, nil
	}
	users, err := r.users(ctx, vd)
	if err != nil {
		return ctrl.Result{}, err
	}
	if m := mountedBy(users); len(m) > 0 {
		// Only the status changes here; observedGeneration stays as the
		// last full reconcile left it.
		status := ctrlreconcile.SnapshotStatus(r.Client, vd, func() any { return *vd.Status.DeepCopy() }, nil)
		if vd.Status.Phase != v1alpha2.VirtualDiskPhaseTerminating {
			log.Info("deletion waits for the machines using the disk", "virtualMachines", m)
		}
		vd.Status.Phase = v1alpha2.VirtualDiskPhaseTerminating
		vd.Status.AttachedToVirtualMachines = users
		ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionInUse, true, string(v1alpha2.VirtualDiskReasonAttachedToVirtualMachine),
			fmt.Sprintf("the disk is deleted once VirtualMachine %s no longer uses it", strings.Join(m, ", ")))
		var err error
		status.Write(ctx, &err)
		return ctrl.Result{RequeueAfter: 5 * time.Second}, err
	}
	if removed, err := ctrlreconcile.RemoveFinalizer(ctx, r.Client, vd, Finalizer); err != nil || !removed {
		return ctrl.Result{}, err
	}
	log.Info("disk released for deletion", "pvc", vd.Status.Target.PersistentVolumeClaim)
	return ctrl.Result{}, nil
}
