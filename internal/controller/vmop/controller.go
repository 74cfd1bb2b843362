package vmop

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/virtlab/dvp/api/v1alpha2"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
	"github.com/virtlab/dvp/internal/controller/virtualmachine"
)

// restartedPodAnnotation, on a Restart operation, names the launcher pod
// it stopped: the restart is done when another pod runs the machine.
const restartedPodAnnotation = "vmop.virtualization.deckhouse.io/restarted-pod"

// Reconciler reconciles VirtualMachineOperations.
type Reconciler struct {
	Client   client.Client
	Reader   client.Reader
	Recorder record.EventRecorder
}

// SetupWithManager registers the reconciler; a machine's changes wake its
// unfinished operations.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("vmop").
		For(&v1alpha2.VirtualMachineOperation{}).
		Watches(&v1alpha2.VirtualMachine{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var list v1alpha2.VirtualMachineOperationList
			if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
				return nil
			}
			var out []reconcile.Request
			for _, op := range list.Items {
				if op.Spec.VirtualMachineName == o.GetName() && !final(&op) {
					out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: op.Namespace, Name: op.Name}})
				}
			}
			return out
		})).
		Complete(ctrlreconcile.QuietConflicts(r))
}

func final(op *v1alpha2.VirtualMachineOperation) bool {
	switch op.Status.Phase {
	case v1alpha2.VirtualMachineOperationPhaseCompleted, v1alpha2.VirtualMachineOperationPhaseFailed, v1alpha2.VirtualMachineOperationPhaseSuperseded:
		return true
	}
	return false
}

func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	op := &v1alpha2.VirtualMachineOperation{}
	if err := r.Reader.Get(ctx, req.NamespacedName, op); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if final(op) || !op.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	log := ctrl.LoggerFrom(ctx).WithValues("type", op.Spec.Type, "virtualMachine", op.Spec.VirtualMachineName)
	status := ctrlreconcile.SnapshotStatus(r.Client, op, func() any { return *op.Status.DeepCopy() }, &op.Status.ObservedGeneration)
	defer status.Write(ctx, &retErr)

	vm := &v1alpha2.VirtualMachine{}
	err := r.Reader.Get(ctx, client.ObjectKey{Namespace: op.Namespace, Name: op.Spec.VirtualMachineName}, vm)
	if apierrors.IsNotFound(err) {
		fail(op, string(v1alpha2.VirtualMachineOperationReasonVirtualMachineNotFound), fmt.Sprintf("VirtualMachine %s not found", op.Spec.VirtualMachineName))
		log.Info("operation failed: the machine does not exist")
		return ctrl.Result{}, nil
	} else if err != nil {
		return ctrl.Result{}, err
	}

	if op.Status.Phase != v1alpha2.VirtualMachineOperationPhaseInProgress {
		wait, err := r.takeTurn(ctx, op)
		if err != nil || wait != "" {
			if wait != "" {
				op.Status.Phase = v1alpha2.VirtualMachineOperationPhasePending
				ctrlreconcile.SetCondition(&op.Status.Conditions, op.Generation, v1alpha2.VirtualMachineOperationConditionCompleted, false, string(v1alpha2.VirtualMachineOperationReasonNotReadyToBeExecuted), wait)
			}
			return ctrl.Result{RequeueAfter: 2 * time.Second}, err
		}
		if ref := applicable(op, vm); ref.Reason != "" {
			fail(op, ref.Reason, ref.Message)
			r.Recorder.Event(op, corev1.EventTypeWarning, ref.Reason, ref.Message)
			log.Info("operation refused", "reason", ref.Reason, "message", ref.Message)
			return ctrl.Result{}, nil
		}
		if err := r.signal(ctx, op, vm); err != nil {
			return ctrl.Result{}, err
		}
		op.Status.Phase = v1alpha2.VirtualMachineOperationPhaseInProgress
		ctrlreconcile.SetCondition(&op.Status.Conditions, op.Generation, v1alpha2.VirtualMachineOperationConditionSignalSent, true, "SignalSentSuccess", "")
		ctrlreconcile.SetCondition(&op.Status.Conditions, op.Generation, v1alpha2.VirtualMachineOperationConditionCompleted, false, string(op.Spec.Type)+"InProgress", "")
		log.Info("operation signalled")
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	if r.done(op, vm) {
		op.Status.Phase = v1alpha2.VirtualMachineOperationPhaseCompleted
		ctrlreconcile.SetCondition(&op.Status.Conditions, op.Generation, v1alpha2.VirtualMachineOperationConditionCompleted, true, "OperationCompleted", "")
		log.Info("operation done")
		return ctrl.Result{}, nil
	}
	if msg := abandoned(op, vm.Status.Phase, vm.Annotations[virtualmachine.IntentAnnotation] == virtualmachine.IntentStopped); msg != "" {
		fail(op, "OperationFailed", msg)
		r.Recorder.Event(op, corev1.EventTypeWarning, "OperationFailed", msg)
		log.Info("operation failed", "reason", msg)
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
}

// takeTurn enforces one active operation per machine. It returns a message
// when this operation must wait.
func (r *Reconciler) takeTurn(ctx context.Context, op *v1alpha2.VirtualMachineOperation) (string, error) {
	var list v1alpha2.VirtualMachineOperationList
	if err := r.Reader.List(ctx, &list, client.InNamespace(op.Namespace)); err != nil {
		return "", err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].CreationTimestamp.Before(&list.Items[j].CreationTimestamp) })
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID == op.UID || other.Spec.VirtualMachineName != op.Spec.VirtualMachineName ||
			other.Status.Phase != v1alpha2.VirtualMachineOperationPhaseInProgress {
			continue
		}
		if supersedes(op, other) {
			other.Status.Phase = v1alpha2.VirtualMachineOperationPhaseSuperseded
			ctrlreconcile.SetCondition(&other.Status.Conditions, other.Generation, v1alpha2.VirtualMachineOperationConditionCompleted, true, string(v1alpha2.VirtualMachineOperationReasonSuperseded),
				fmt.Sprintf("Superseded by %s with type %s", op.Name, op.Spec.Type))
			if err := r.Client.Status().Update(ctx, other); err != nil {
				return "", err
			}
			ctrl.LoggerFrom(ctx).Info("operation superseded", "superseded", other.Name, "supersededType", other.Spec.Type)
			continue
		}
		return fmt.Sprintf("waiting for operation %s (%s) on VirtualMachine %s to finish", other.Name, other.Spec.Type, op.Spec.VirtualMachineName), nil
	}
	return "", nil
}

// signal sends the operation's one signal to the machine.
func (r *Reconciler) signal(ctx context.Context, op *v1alpha2.VirtualMachineOperation, vm *v1alpha2.VirtualMachine) error {
	force := op.Spec.Force != nil && *op.Spec.Force
	switch op.Spec.Type {
	case v1alpha2.VirtualMachineOperationTypeStart:
		r.Recorder.Eventf(vm, corev1.EventTypeNormal, "StartRequested", "Start requested by operation %s", op.Name)
		return virtualmachine.SetIntent(ctx, r.Client, vm, virtualmachine.IntentRunning)
	case v1alpha2.VirtualMachineOperationTypeStop:
		r.Recorder.Eventf(vm, corev1.EventTypeNormal, "StopRequested", "Stop requested by operation %s (force: %t)", op.Name, force)
		if err := virtualmachine.SetIntent(ctx, r.Client, vm, virtualmachine.IntentStopped); err != nil {
			return err
		}
		if force {
			_, err := r.deleteLaunchers(ctx, vm, true)
			return err
		}
		return nil
	case v1alpha2.VirtualMachineOperationTypeRestart:
		r.Recorder.Eventf(vm, corev1.EventTypeNormal, "RestartRequested", "Restart requested by operation %s (force: %t)", op.Name, force)
		stopped, err := r.deleteLaunchers(ctx, vm, force)
		if err != nil {
			return err
		}
		patch := client.MergeFrom(op.DeepCopy())
		status := op.Status.DeepCopy()
		if op.Annotations == nil {
			op.Annotations = map[string]string{}
		}
		op.Annotations[restartedPodAnnotation] = stopped
		err = r.Client.Patch(ctx, op, patch)
		op.Status = *status
		return err
	}
	return nil
}

// deleteLaunchers stops the machine's running launcher (grace 1 s when
// forced) and returns its name.
func (r *Reconciler) deleteLaunchers(ctx context.Context, vm *v1alpha2.VirtualMachine, force bool) (string, error) {
	var pods corev1.PodList
	if err := r.Reader.List(ctx, &pods, client.InNamespace(vm.Namespace), client.MatchingLabels{virtualmachine.LabelName: vm.Name}); err != nil {
		return "", err
	}
	name := ""
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !metav1.IsControlledBy(pod, vm) || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		if !pod.DeletionTimestamp.IsZero() && !force {
			continue
		}
		var opts []client.DeleteOption
		if force {
			// One second, not zero: a zero grace period removes the pod
			// object at once, before the node has stopped its QEMU, and
			// the next launcher would find the disks still locked. With
			// one second the node kills the machine at once and removes
			// the pod when its processes are gone (as kubectl turns
			// --grace-period=0 into 1 without --force).
			opts = append(opts, client.GracePeriodSeconds(1))
		}
		if err := r.Client.Delete(ctx, pod, opts...); err != nil && !apierrors.IsNotFound(err) {
			return "", err
		}
		ctrl.LoggerFrom(ctx).Info("launcher pod deleted", "pod", pod.Name, "force", force)
		name = pod.Name
	}
	return name, nil
}

func (r *Reconciler) done(op *v1alpha2.VirtualMachineOperation, vm *v1alpha2.VirtualMachine) bool {
	switch op.Spec.Type {
	case v1alpha2.VirtualMachineOperationTypeStart:
		return vm.Status.Phase == v1alpha2.VirtualMachinePhaseRunning
	case v1alpha2.VirtualMachineOperationTypeStop:
		return vm.Status.Phase == v1alpha2.VirtualMachinePhaseStopped
	case v1alpha2.VirtualMachineOperationTypeRestart:
		if vm.Status.Phase != v1alpha2.VirtualMachinePhaseRunning {
			return false
		}
		old := op.Annotations[restartedPodAnnotation]
		for _, p := range vm.Status.VirtualMachinePods {
			if p.Active && p.Name != old {
				return true
			}
		}
	}
	return false
}

func fail(op *v1alpha2.VirtualMachineOperation, reason, msg string) {
	op.Status.Phase = v1alpha2.VirtualMachineOperationPhaseFailed
	ctrlreconcile.SetCondition(&op.Status.Conditions, op.Generation, v1alpha2.VirtualMachineOperationConditionCompleted, false, reason, msg)
}
