package virtualmachine

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/controller/importjob"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
)

// Reconciler reconciles VirtualMachines.
type Reconciler struct {
	Client client.Client
	// Reader reads around the cache: a machine and its pods must be seen
	// as they are now, or a stale cache would start a second launcher.
	Reader   client.Reader
	Recorder record.EventRecorder
	// DVCR, when set, lets machines attach VirtualImages and
	// ClusterVirtualImages (their launchers pull them from DVCR).
	DVCR *importjob.Env
}

// SetupWithManager registers the reconciler: its launcher pods, and the
// classes, disks, images, secrets and operations machines depend on,
// trigger it.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	byDevice := func(kind v1alpha2.BlockDeviceKind) handler.EventHandler {
		return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.machinesUsing(ctx, o.GetNamespace(), func(vm *v1alpha2.VirtualMachine) bool {
				for _, ref := range vm.Spec.BlockDeviceRefs {
					if ref.Kind == kind && ref.Name == o.GetName() {
						return true
					}
				}
				return false
			})
		})
	}
	return ctrl.NewControllerManagedBy(mgr).Named("virtualmachine").
		For(&v1alpha2.VirtualMachine{}).
		Owns(&corev1.Pod{}).
		Watches(&v1alpha2.VirtualMachineIPAddress{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.machinesUsing(ctx, o.GetNamespace(), func(vm *v1alpha2.VirtualMachine) bool {
				return vm.Spec.VirtualMachineIPAddress == o.GetName() || vm.Status.VirtualMachineIPAddress == o.GetName() ||
					metav1.IsControlledBy(o, vm)
			})
		})).
		Watches(&v1alpha2.VirtualDisk{}, byDevice(v1alpha2.BlockDeviceKindVirtualDisk)).
		Watches(&v1alpha2.VirtualImage{}, byDevice(v1alpha2.BlockDeviceKindVirtualImage)).
		Watches(&v1alpha2.ClusterVirtualImage{}, byDevice(v1alpha2.BlockDeviceKindClusterVirtualImage)).
		Watches(&v1alpha2.VirtualMachineClass{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.machinesUsing(ctx, "", func(vm *v1alpha2.VirtualMachine) bool { return vm.Spec.VirtualMachineClassName == o.GetName() })
		})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.machinesUsing(ctx, o.GetNamespace(), func(vm *v1alpha2.VirtualMachine) bool {
				p := vm.Spec.Provisioning
				return p != nil && p.UserDataRef != nil && p.UserDataRef.Name == o.GetName()
			})
		})).
		// Several machines at once: a reconcile is mostly waiting on API
		// reads around the cache, and the work queue never hands one
		// machine to two workers.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(ctrlreconcile.QuietConflicts(r))
}

func (r *Reconciler) machinesUsing(ctx context.Context, ns string, match func(*v1alpha2.VirtualMachine) bool) []reconcile.Request {
	var list v1alpha2.VirtualMachineList
	var opts []client.ListOption
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if match(&list.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}})
		}
	}
	return out
}

// phase is one step of a reconcile. It acts (creates and deletes pods,
// records the power intent, sends events, logs what it did) and records what
// it found and did in the plan; it never writes the status. An error or a
// requeue ends the reconcile there: the phases after it build on its work.
type phase func(context.Context, *v1alpha2.VirtualMachine, *plan) (ctrl.Result, error)

// phases are the steps of a machine's reconcile, in order. Hot-plug
// (VirtualMachineBlockDeviceAttachment) and live migration are to be
// appended to this list as phases of their own, with their facts in the plan
// and their conditions in status.go: both act on the running launcher that
// reconcilePower settled.
func (r *Reconciler) phases() []phase {
	return []phase{
		r.reconcileLaunchers,
		r.reconcileIntent,
		r.reconcileClass,
		r.reconcileDevices,
		r.reconcileProvisioning,
		r.reconcileAddress,
		r.reconcilePlacement,
		r.reconcilePower,
		r.reconcileRestart,
	}
}

// Reconcile gets the machine, keeps its finalizer, runs the phases, and
// computes and writes the status once, from what they recorded.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	vm := &v1alpha2.VirtualMachine{}
	if err := r.Reader.Get(ctx, req.NamespacedName, vm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	phases := r.phases()
	if !vm.DeletionTimestamp.IsZero() {
		phases = []phase{r.reconcileDelete}
	} else if _, err := ctrlreconcile.EnsureFinalizer(ctx, r.Client, vm, Finalizer); err != nil {
		return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
	}

	p := &plan{}
	w := ctrlreconcile.SnapshotStatus(r.Client, vm, func() any { return *vm.Status.DeepCopy() }, &vm.Status.ObservedGeneration)
	defer w.Write(ctx, &retErr)
	defer r.updateStatus(vm, p)

	for _, ph := range phases {
		if res, err := ph(ctx, vm, p); err != nil || !res.IsZero() {
			return res, err
		}
	}
	return ctrl.Result{}, nil
}

// updateStatus computes the status from the plan and says, in a Warning
// event, when the machine starts waiting for a dependency or waits for
// something else (once per change, not on every reconcile).
func (r *Reconciler) updateStatus(vm *v1alpha2.VirtualMachine, p *plan) {
	before := append([]metav1.Condition(nil), vm.Status.Conditions...)
	setStatus(vm, p, metav1.Now())
	for _, t := range []v1alpha2.VirtualMachineConditionType{
		v1alpha2.VirtualMachineConditionClassReady,
		v1alpha2.VirtualMachineConditionBlockDevicesReady,
		v1alpha2.VirtualMachineConditionProvisioningReady,
	} {
		now := ctrlreconcile.Condition(vm.Status.Conditions, t)
		if now != nil && waitChanged(ctrlreconcile.Condition(before, t), now.Status == metav1.ConditionTrue, now.Reason, now.Message) {
			r.Recorder.Eventf(vm, corev1.EventTypeWarning, now.Reason, "Waiting: %s", now.Message)
		}
	}
}

// waitChanged reports whether a dependency condition going from old to
// (ok, reason, msg) is news worth an event: it is not ready, and it was
// ready, unset, or not ready for another reason.
func waitChanged(old *metav1.Condition, ok bool, reason, msg string) bool {
	if ok || msg == "" {
		return false
	}
	return old == nil || old.Status != metav1.ConditionFalse || old.Reason != reason || old.Message != msg
}
