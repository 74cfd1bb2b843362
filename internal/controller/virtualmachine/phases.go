package virtualmachine

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/virtlab/dvp/api/v1alpha2"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
	"github.com/virtlab/dvp/internal/launcher"
)

// launchRetry is how long a launcher that could not even start QEMU is
// kept before the next attempt, so a broken machine does not spin.
const launchRetry = 10 * time.Second

// reconcileLaunchers judges the launchers that ended on their own, oldest
// first, then forgets them: the intent they leave decides whether another
// one starts. The newest one still running is the machine's active pod.
func (r *Reconciler) reconcileLaunchers(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) (ctrl.Result, error) {
	pods, err := r.launcherPods(ctx, vm)
	if err != nil {
		return ctrl.Result{}, err
	}
	for _, pod := range pods {
		if !podFinished(pod) {
			p.active = pod
			continue
		}
		if pod.DeletionTimestamp.IsZero() {
			if wait := r.judge(ctx, vm, pod, p); wait > 0 {
				return ctrl.Result{RequeueAfter: wait}, nil
			}
		}
	}
	return ctrl.Result{}, nil
}

// launcherPods lists the machine's launcher pods, oldest first.
func (r *Reconciler) launcherPods(ctx context.Context, vm *v1alpha2.VirtualMachine) ([]*corev1.Pod, error) {
	var list corev1.PodList
	if err := r.Reader.List(ctx, &list, client.InNamespace(vm.Namespace), client.MatchingLabels{LabelName: vm.Name}); err != nil {
		return nil, fmt.Errorf("listing launcher pods: %w", err)
	}
	var out []*corev1.Pod
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], vm) {
			out = append(out, &list.Items[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreationTimestamp.Before(&out[j].CreationTimestamp) })
	return out, nil
}

// judge applies the run policy to a launcher that ended and deletes it. It
// returns a delay when a launcher that could not even start QEMU should be
// kept a moment before the next attempt, or when a write failed and the
// judgement is to be made again.
func (r *Reconciler) judge(ctx context.Context, vm *v1alpha2.VirtualMachine, pod *corev1.Pod, p *plan) time.Duration {
	e := podEnding(pod)
	if e.Reason == launcher.ReasonFailed {
		p.launchFailure = &e
		if age := time.Since(finishedAt(pod)); age < launchRetry {
			return launchRetry - age
		}
	}
	o := decide(policyOf(vm), e)
	if o.Intent != "" && vm.Annotations[IntentAnnotation] != o.Intent && (policyOf(vm) == v1alpha2.RunPolicyManual || policyOf(vm) == v1alpha2.RunPolicyAlwaysOnUnlessStoppedManually) {
		if err := r.setIntent(ctx, vm, o.Intent); err != nil {
			return time.Second
		}
	}
	r.Recorder.Event(vm, o.EventType, o.Reason, o.Message)
	if err := r.Client.Delete(ctx, pod); err != nil && !apierrors.IsNotFound(err) {
		return time.Second
	}
	log.FromContext(ctx).Info("Removed a launcher pod that ended", "pod", pod.Name, "ended", e.Reason, "outcome", o.Reason, "intent", o.Intent)
	return 0
}

func finishedAt(pod *corev1.Pod) time.Time {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Terminated != nil {
			return cs.State.Terminated.FinishedAt.Time
		}
	}
	return pod.CreationTimestamp.Time
}

// reconcileIntent drops the power intent under policies that do not use
// it, so switching back to Manual or AlwaysOnUnlessStoppedManually starts
// from the policy's default (AlwaysOff -> AlwaysOnUnlessStoppedManually
// starts), and records whether the machine should run.
func (r *Reconciler) reconcileIntent(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) (ctrl.Result, error) {
	switch policyOf(vm) {
	case v1alpha2.RunPolicyAlwaysOn, v1alpha2.RunPolicyAlwaysOff:
		if intent, ok := vm.Annotations[IntentAnnotation]; ok {
			if err := r.setIntent(ctx, vm, ""); err != nil {
				return ctrl.Result{}, fmt.Errorf("clearing the power intent: %w", err)
			}
			log.FromContext(ctx).Info("Cleared the power intent, which the run policy ignores", "intent", intent, "runPolicy", policyOf(vm))
		}
	}
	p.run = shouldRun(vm)
	return ctrl.Result{}, nil
}

// SetIntent records the power intent on a machine.
func SetIntent(ctx context.Context, c client.Client, vm *v1alpha2.VirtualMachine, intent string) error {
	patch := client.MergeFrom(vm.DeepCopy())
	if vm.Annotations == nil {
		vm.Annotations = map[string]string{}
	}
	if intent == "" {
		delete(vm.Annotations, IntentAnnotation)
	} else {
		vm.Annotations[IntentAnnotation] = intent
	}
	return c.Patch(ctx, vm, patch)
}

// setIntent is SetIntent keeping the in-memory status: the patch response
// carries the stored one.
func (r *Reconciler) setIntent(ctx context.Context, vm *v1alpha2.VirtualMachine, intent string) error {
	status := vm.Status.DeepCopy()
	err := SetIntent(ctx, r.Client, vm, intent)
	vm.Status = *status
	return err
}

// reconcilePower starts a launcher for a machine that should run and has
// everything it needs, or stops the one of a machine that should not run.
func (r *Reconciler) reconcilePower(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) (ctrl.Result, error) {
	switch {
	case p.run && p.active == nil && p.ready():
		pod, err := r.start(ctx, vm, p)
		if err != nil {
			return ctrl.Result{}, err
		}
		p.active = pod
	case !p.run && p.active != nil && p.active.DeletionTimestamp.IsZero():
		if policyOf(vm) == v1alpha2.RunPolicyAlwaysOff {
			r.Recorder.Event(vm, corev1.EventTypeNormal, "Stopping", "Stop initiated by controller to ensure AlwaysOff policy")
		} else {
			r.Recorder.Eventf(vm, corev1.EventTypeNormal, "Stopping", "Shutting the guest down (ACPI power button, forced after %ds)", grace(vm))
		}
		if err := r.Client.Delete(ctx, p.active); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("deleting launcher pod %s: %w", p.active.Name, err)
		}
		log.FromContext(ctx).Info("Deleted the launcher pod to stop the machine", "pod", p.active.Name, "runPolicy", policyOf(vm))
		p.active.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	}
	p.powered = true
	return ctrl.Result{}, nil
}

func grace(vm *v1alpha2.VirtualMachine) int64 {
	if vm.Spec.TerminationGracePeriodSeconds != nil {
		return *vm.Spec.TerminationGracePeriodSeconds
	}
	return 60
}

func (r *Reconciler) start(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) (*corev1.Pod, error) {
	pod, err := launcherPod(vm, p)
	if err != nil {
		return nil, fmt.Errorf("building launcher pod: %w", err)
	}
	if err := controllerutil.SetControllerReference(vm, pod, r.Client.Scheme()); err != nil {
		return nil, err
	}
	if err := r.Client.Create(ctx, pod); err != nil {
		return nil, fmt.Errorf("creating launcher pod: %w", err)
	}
	r.Recorder.Eventf(vm, corev1.EventTypeNormal, "Starting", "Starting the machine in launcher pod %s", pod.Name)
	log.FromContext(ctx).Info("Created a launcher pod to start the machine", "pod", pod.Name)
	return pod, nil
}

// reconcileDelete shuts the guest down and lets the machine go once no
// launcher is left.
func (r *Reconciler) reconcileDelete(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) (ctrl.Result, error) {
	pods, err := r.launcherPods(ctx, vm)
	if err != nil {
		return ctrl.Result{}, err
	}
	p.deleting = true
	left := 0
	for _, pod := range pods {
		if pod.DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, pod); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("deleting launcher pod %s: %w", pod.Name, err)
			}
			log.FromContext(ctx).Info("Deleted a launcher pod of the deleted machine", "pod", pod.Name)
		}
		if !podFinished(pod) {
			left++
		}
	}
	if left > 0 {
		return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
	}
	removed, err := ctrlreconcile.RemoveFinalizer(ctx, r.Client, vm, Finalizer)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("removing finalizer: %w", err)
	}
	if removed {
		log.FromContext(ctx).Info("No launcher left; removed the finalizer of the deleted machine")
	}
	return ctrl.Result{}, nil
}
