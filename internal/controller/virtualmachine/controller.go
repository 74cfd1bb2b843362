package virtualmachine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/controller/importjob"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
	"github.com/virtlab/dvp/internal/launcher"
	"github.com/virtlab/dvp/internal/sizing"
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

func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	vm := &v1alpha2.VirtualMachine{}
	if err := r.Reader.Get(ctx, req.NamespacedName, vm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if vm.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(vm, Finalizer) {
		patch := client.MergeFrom(vm.DeepCopy())
		controllerutil.AddFinalizer(vm, Finalizer)
		if err := r.Client.Patch(ctx, vm, patch); err != nil {
			return ctrl.Result{}, err
		}
	}
	before := vm.Status.DeepCopy()
	defer func() {
		vm.Status.ObservedGeneration = vm.Generation
		if !equality.Semantic.DeepEqual(*before, vm.Status) {
			if err := r.Client.Status().Update(ctx, vm); err != nil && retErr == nil && !apierrors.IsNotFound(err) {
				retErr = err
			}
		}
	}()

	pods, err := r.launcherPods(ctx, vm)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !vm.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, vm, pods)
	}

	// Judge launchers that ended on their own, oldest first, then forget
	// them: the intent they leave decides whether another one starts.
	var active *corev1.Pod
	for _, pod := range pods {
		if podFinished(pod) {
			if pod.DeletionTimestamp.IsZero() {
				if wait := r.judge(ctx, vm, pod); wait > 0 {
					return ctrl.Result{RequeueAfter: wait}, nil
				}
			}
			continue
		}
		active = pod // the newest unfinished one
	}
	if err := r.normalizeIntent(ctx, vm); err != nil {
		return ctrl.Result{}, err
	}

	p, err := r.plan(ctx, vm)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.setDependencyConditions(vm, p)
	run := shouldRun(vm)

	// A placement pod lives only while disks wait to be placed.
	if !run || active != nil || p.ready() || len(p.placing) == 0 {
		if err := r.removePlacement(ctx, vm); err != nil {
			return ctrl.Result{}, err
		}
	} else if err := r.ensurePlacement(ctx, vm, p); err != nil {
		return ctrl.Result{}, err
	}

	switch {
	case run && active == nil && p.ready():
		pod, err := r.start(ctx, vm, p)
		if err != nil {
			return ctrl.Result{}, err
		}
		active = pod
	case !run && active != nil && active.DeletionTimestamp.IsZero():
		if policyOf(vm) == v1alpha2.RunPolicyAlwaysOff {
			r.Recorder.Event(vm, corev1.EventTypeNormal, "Stopping", "Stop initiated by controller to ensure AlwaysOff policy")
		} else {
			r.Recorder.Eventf(vm, corev1.EventTypeNormal, "Stopping", "Shutting the guest down (ACPI power button, forced after %ds)", grace(vm))
		}
		if err := r.Client.Delete(ctx, active); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		active.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	}
	r.observe(ctx, vm, p, active, run)
	return r.applyRestartPolicy(ctx, vm, active)
}

func grace(vm *v1alpha2.VirtualMachine) int64 {
	if vm.Spec.TerminationGracePeriodSeconds != nil {
		return *vm.Spec.TerminationGracePeriodSeconds
	}
	return 60
}

// launcherPods lists the machine's launcher pods, oldest first.
func (r *Reconciler) launcherPods(ctx context.Context, vm *v1alpha2.VirtualMachine) ([]*corev1.Pod, error) {
	var list corev1.PodList
	if err := r.Reader.List(ctx, &list, client.InNamespace(vm.Namespace), client.MatchingLabels{LabelName: vm.Name}); err != nil {
		return nil, err
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
// kept a moment before the next attempt, so a broken machine does not spin.
func (r *Reconciler) judge(ctx context.Context, vm *v1alpha2.VirtualMachine, pod *corev1.Pod) time.Duration {
	e := podEnding(pod)
	if e.Reason == launcher.ReasonFailed {
		setCondition(vm, v1alpha2.VirtualMachineConditionRunning, false, "InternalVirtualMachineError", e.Message)
		if age := time.Since(finishedAt(pod)); age < 10*time.Second {
			return 10*time.Second - age
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

func (r *Reconciler) setIntent(ctx context.Context, vm *v1alpha2.VirtualMachine, intent string) error {
	status := vm.Status.DeepCopy()
	err := SetIntent(ctx, r.Client, vm, intent)
	vm.Status = *status
	return err
}

// normalizeIntent drops the intent under policies that do not use it, so
// switching back to Manual or AlwaysOnUnlessStoppedManually starts from
// the policy's default (AlwaysOff -> AlwaysOnUnlessStoppedManually starts).
func (r *Reconciler) normalizeIntent(ctx context.Context, vm *v1alpha2.VirtualMachine) error {
	switch policyOf(vm) {
	case v1alpha2.RunPolicyAlwaysOn, v1alpha2.RunPolicyAlwaysOff:
		if _, ok := vm.Annotations[IntentAnnotation]; ok {
			return r.setIntent(ctx, vm, "")
		}
	}
	return nil
}

func (r *Reconciler) start(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) (*corev1.Pod, error) {
	pod, err := launcherPod(vm, p)
	if err != nil {
		return nil, err
	}
	if err := controllerutil.SetControllerReference(vm, pod, r.Client.Scheme()); err != nil {
		return nil, err
	}
	if err := r.Client.Create(ctx, pod); err != nil {
		return nil, fmt.Errorf("creating launcher pod: %w", err)
	}
	r.Recorder.Eventf(vm, corev1.EventTypeNormal, "Starting", "Starting the machine in launcher pod %s", pod.Name)
	return pod, nil
}

// finalize shuts the guest down and lets the machine go once no launcher
// is left.
func (r *Reconciler) finalize(ctx context.Context, vm *v1alpha2.VirtualMachine, pods []*corev1.Pod) (ctrl.Result, error) {
	r.setPhase(vm, v1alpha2.VirtualMachinePhaseTerminating)
	left := 0
	for _, pod := range pods {
		if pod.DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, pod); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, err
			}
		}
		if !podFinished(pod) {
			left++
		}
	}
	if left > 0 {
		return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
	}
	if controllerutil.ContainsFinalizer(vm, Finalizer) {
		status := vm.Status.DeepCopy()
		patch := client.MergeFrom(vm.DeepCopy())
		controllerutil.RemoveFinalizer(vm, Finalizer)
		if err := r.Client.Patch(ctx, vm, patch); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		vm.Status = *status
	}
	return ctrl.Result{}, nil
}

func (r *Reconciler) setDependencyConditions(vm *v1alpha2.VirtualMachine, p *plan) {
	r.setWaitCondition(vm, v1alpha2.VirtualMachineConditionClassReady, p.classReady, p.classReason, p.classMessage)
	// A class edited under a running machine: the machine keeps running,
	// and says it no longer fits (its edits are refused until it does).
	switch {
	case p.class == nil:
		setCondition(vm, v1alpha2.VirtualMachineConditionSizingPolicyMatched, false, "VirtualMachineClassNotFound", p.classMessage)
	case !p.class.DeletionTimestamp.IsZero():
		setCondition(vm, v1alpha2.VirtualMachineConditionSizingPolicyMatched, false, "VirtualMachineClassTerminating",
			fmt.Sprintf("VirtualMachineClass %s is being deleted", p.class.Name))
	default:
		if errs := sizing.Check(p.class, &vm.Spec, field.NewPath("spec")); len(errs) > 0 {
			setCondition(vm, v1alpha2.VirtualMachineConditionSizingPolicyMatched, false, "SizingPolicyNotMatched", errs.ToAggregate().Error())
		} else {
			meta.RemoveStatusCondition(&vm.Status.Conditions, string(v1alpha2.VirtualMachineConditionSizingPolicyMatched))
		}
	}
	r.setWaitCondition(vm, v1alpha2.VirtualMachineConditionBlockDevicesReady, p.devicesReady, p.devicesReason, p.devicesMessage)
	if vm.Spec.Provisioning != nil {
		reason := "ProvisioningReady"
		if !p.provisioningReady {
			reason = "ProvisioningNotReady"
		}
		r.setWaitCondition(vm, v1alpha2.VirtualMachineConditionProvisioningReady, p.provisioningReady, reason, p.provisioningMessage)
	} else {
		meta.RemoveStatusCondition(&vm.Status.Conditions, string(v1alpha2.VirtualMachineConditionProvisioningReady))
	}
}

// setWaitCondition sets a condition on something the machine depends on
// and, when it starts waiting or waits for something else, says so in a
// Warning event (once per change, not on every reconcile).
func (r *Reconciler) setWaitCondition(vm *v1alpha2.VirtualMachine, t v1alpha2.VirtualMachineConditionType, ok bool, reason, msg string) {
	if waitChanged(meta.FindStatusCondition(vm.Status.Conditions, string(t)), ok, reason, msg) {
		r.Recorder.Eventf(vm, corev1.EventTypeWarning, reason, "Waiting: %s", msg)
	}
	setCondition(vm, t, ok, reason, msg)
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

func setCondition(vm *v1alpha2.VirtualMachine, t v1alpha2.VirtualMachineConditionType, ok bool, reason, msg string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	if reason == "" {
		reason = string(t)
	}
	meta.SetStatusCondition(&vm.Status.Conditions, metav1.Condition{Type: string(t), Status: st, Reason: reason, Message: msg, ObservedGeneration: vm.Generation})
}

// observe maps the launcher's state onto the machine's status.
func (r *Reconciler) observe(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan, active *corev1.Pod, run bool) {
	st := &vm.Status
	st.BlockDeviceRefs = p.status
	st.Resources = resourcesStatus(vm, p, active)
	st.Node = ""
	st.VirtualMachinePods = nil
	phase := v1alpha2.VirtualMachinePhaseStopped
	switch {
	case active == nil && run:
		phase = v1alpha2.VirtualMachinePhasePending
		msg := "waiting for the machine's dependencies"
		if !p.ready() {
			msg = firstNonEmpty(p.classMessage, p.devicesMessage, p.provisioningMessage)
		}
		setCondition(vm, v1alpha2.VirtualMachineConditionRunning, false, "NotRunning", msg)
	case active == nil:
		setCondition(vm, v1alpha2.VirtualMachineConditionRunning, false, "NotRunning", "the machine is stopped")
	default:
		st.Node = active.Spec.NodeName
		st.VirtualMachinePods = []v1alpha2.VirtualMachinePod{{Name: active.Name, Active: true}}
		phase = r.observePod(vm, active)
	}
	if phase == v1alpha2.VirtualMachinePhaseRunning {
		for i := range st.BlockDeviceRefs {
			st.BlockDeviceRefs[i].Attached = true
		}
	}
	r.setPhase(vm, phase)
}

func (r *Reconciler) observePod(vm *v1alpha2.VirtualMachine, pod *corev1.Pod) v1alpha2.VirtualMachinePhase {
	if !pod.DeletionTimestamp.IsZero() {
		setCondition(vm, v1alpha2.VirtualMachineConditionRunning, false, "PodTerminating", "the guest is shutting down")
		return v1alpha2.VirtualMachinePhaseStopping
	}
	if pod.Status.Phase == corev1.PodPending || pod.Status.Phase == "" {
		if c := podCondition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
			setCondition(vm, v1alpha2.VirtualMachineConditionRunning, false, "PodNotStarted", fmt.Sprintf("launcher pod %s cannot be scheduled: %s", pod.Name, c.Message))
			return v1alpha2.VirtualMachinePhasePending
		}
		setCondition(vm, v1alpha2.VirtualMachineConditionRunning, false, "PodNotStarted", fmt.Sprintf("launcher pod %s is starting", pod.Name))
		return v1alpha2.VirtualMachinePhaseStarting
	}
	if q := podCondition(pod, podQEMUVersion); q != nil {
		vm.Status.Versions = &v1alpha2.Versions{Qemu: q.Reason}
	}
	accel := ""
	if a := podCondition(pod, podAccel); a != nil {
		accel = a.Reason
		if a.Status != corev1.ConditionTrue && a.Message != "" {
			accel = a.Reason + ": " + a.Message
		}
	}
	g := podCondition(pod, podGuestRunning)
	switch {
	case g == nil:
		setCondition(vm, v1alpha2.VirtualMachineConditionRunning, false, "GuestNotRunning", "the launcher is preparing the machine")
		return v1alpha2.VirtualMachinePhaseStarting
	case g.Status == corev1.ConditionTrue:
		msg := "the guest is running"
		if accel != "" {
			msg += " (acceleration " + accel + ")"
		}
		setCondition(vm, v1alpha2.VirtualMachineConditionRunning, true, "Running", msg)
		return v1alpha2.VirtualMachinePhaseRunning
	case g.Reason == "Paused" || g.Reason == "IOError":
		setCondition(vm, v1alpha2.VirtualMachineConditionRunning, false, "GuestNotRunning", g.Message)
		return v1alpha2.VirtualMachinePhasePause
	default:
		setCondition(vm, v1alpha2.VirtualMachineConditionRunning, false, "GuestNotRunning", g.Message)
		return v1alpha2.VirtualMachinePhaseStarting
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

const maxTransitions = 5

// setPhase records a phase change in the stats (the last few transitions,
// and the start time when the machine enters Running).
func (r *Reconciler) setPhase(vm *v1alpha2.VirtualMachine, phase v1alpha2.VirtualMachinePhase) {
	st := &vm.Status
	if st.Phase == phase {
		return
	}
	now := metav1.Now()
	if st.Stats == nil {
		st.Stats = &v1alpha2.VirtualMachineStats{}
	}
	st.Stats.PhasesTransitions = append(st.Stats.PhasesTransitions, v1alpha2.VirtualMachinePhaseTransition{Phase: phase, Timestamp: now})
	if n := len(st.Stats.PhasesTransitions); n > maxTransitions {
		st.Stats.PhasesTransitions = st.Stats.PhasesTransitions[n-maxTransitions:]
	}
	if phase == v1alpha2.VirtualMachinePhaseRunning {
		st.Stats.LastStartTime = &now
		if d := startDuration(st.Stats.PhasesTransitions); d != nil {
			st.Stats.LaunchTimeDuration.VirtualMachineStarting = d
		}
	}
	st.Phase = phase
}

// startDuration is the time from the latest Starting to now (Running).
func startDuration(ts []v1alpha2.VirtualMachinePhaseTransition) *metav1.Duration {
	if len(ts) < 2 {
		return nil
	}
	last := ts[len(ts)-1]
	for i := len(ts) - 2; i >= 0; i-- {
		if ts[i].Phase == v1alpha2.VirtualMachinePhaseStarting {
			return &metav1.Duration{Duration: last.Timestamp.Sub(ts[i].Timestamp.Time)}
		}
	}
	return nil
}

// resourcesStatus is what the machine runs with: its launcher's resources
// while it has one (a change awaiting a restart shows in
// restartAwaitingChanges, not here, as upstream's columns read status),
// else what the next start gives it.
func resourcesStatus(vm *v1alpha2.VirtualMachine, p *plan, active *corev1.Pod) *v1alpha2.ResourcesStatus {
	if rs := runningResources(active); rs != nil {
		return rs
	}
	return newResourcesStatus(p.cores, p.fraction, p.sockets, vm.Spec.Memory.Size)
}

func newResourcesStatus(cores, fraction, sockets int, memory resource.Quantity) *v1alpha2.ResourcesStatus {
	requested := resource.NewMilliQuantity(int64(cores)*int64(fraction)*10, resource.DecimalSI)
	overhead := resource.NewQuantity(memoryOverhead(cores), resource.BinarySI)
	return &v1alpha2.ResourcesStatus{
		CPU: &v1alpha2.CPUStatus{
			Cores: cores, CoreFraction: fmt.Sprintf("%d%%", fraction), RequestedCores: requested,
			Topology: &v1alpha2.Topology{Sockets: sockets, CoresPerSocket: cores / sockets},
		},
		Memory: &v1alpha2.MemoryStatus{Size: memory, RuntimeOverhead: overhead},
	}
}

// runningResources reads a launcher pod's resources back: memory from the
// spec it was built from, cores and fraction from its CPU limit and
// request (the fraction the class policy gave it). Nil when the pod does
// not say.
func runningResources(pod *corev1.Pod) *v1alpha2.ResourcesStatus {
	if pod == nil {
		return nil
	}
	applied, ok := pod.Annotations[AppliedSpecAnnotation]
	if !ok {
		return nil
	}
	var spec v1alpha2.VirtualMachineSpec
	if json.Unmarshal([]byte(applied), &spec) != nil {
		return nil
	}
	for _, c := range pod.Spec.Containers {
		if c.Name != ContainerName {
			continue
		}
		limit, request := c.Resources.Limits.Cpu(), c.Resources.Requests.Cpu()
		cores := int(limit.Value())
		if cores <= 0 || request.IsZero() {
			return nil
		}
		fraction := int(request.MilliValue() / int64(cores) / 10)
		return newResourcesStatus(cores, fraction, int(sizing.Sockets(int32(cores))), spec.Memory.Size)
	}
	return nil
}

// restartFields are the spec fields whose change needs a new launcher
// (the rest, such as runPolicy and disruptions, apply at once).
var restartFields = []string{
	"virtualMachineClassName", "cpu", "memory", "blockDeviceRefs", "provisioning", "enableParavirtualization",
	"osType", "bootloader", "terminationGracePeriodSeconds", "nodeSelector", "tolerations", "affinity",
	"priorityClassName", "topologySpreadConstraints", "virtualMachineIPAddressName", "networks",
}

// applyRestartPolicy compares the spec the running launcher was built from
// with the current one: changes that need a restart are listed in the
// status, and applied at once under restartApprovalMode Automatic.
func (r *Reconciler) applyRestartPolicy(ctx context.Context, vm *v1alpha2.VirtualMachine, active *corev1.Pod) (ctrl.Result, error) {
	changes := pendingChanges(vm, active)
	vm.Status.RestartAwaitingChanges = changes
	if len(changes) == 0 {
		setCondition(vm, v1alpha2.VirtualMachineConditionAwaitingRestartToApplyConfiguration, false, "NoRestartRequired", "")
		return ctrl.Result{}, nil
	}
	setCondition(vm, v1alpha2.VirtualMachineConditionAwaitingRestartToApplyConfiguration, true, "ChangesPendingRestart",
		"the configuration changed in ways that apply at the next restart; run d8 v restart, or set disruptions.restartApprovalMode: Automatic")
	if vm.Spec.Disruptions.EffectiveApprovalMode() == v1alpha2.RestartApprovalModeAutomatic && active.DeletionTimestamp.IsZero() {
		r.Recorder.Event(vm, corev1.EventTypeNormal, "ChangesApplied", "Restarting the machine to apply changes (restartApprovalMode: Automatic)")
		if err := r.Client.Delete(ctx, active); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		r.Recorder.Event(vm, corev1.EventTypeNormal, "Restarted", "Launcher "+active.Name+" stopped; a new one starts with the current configuration")
	}
	return ctrl.Result{}, nil
}

func pendingChanges(vm *v1alpha2.VirtualMachine, active *corev1.Pod) []runtimeRaw {
	if active == nil || !active.DeletionTimestamp.IsZero() {
		return nil
	}
	applied, ok := active.Annotations[AppliedSpecAnnotation]
	if !ok {
		return nil
	}
	var was, now map[string]json.RawMessage
	if json.Unmarshal([]byte(applied), &was) != nil {
		return nil
	}
	b, _ := json.Marshal(vm.Spec)
	_ = json.Unmarshal(b, &now)
	var out []runtimeRaw
	for _, f := range restartFields {
		a, b := was[f], now[f]
		if equalJSON(a, b) {
			continue
		}
		op := "replace"
		switch {
		case len(a) == 0:
			op = "add"
		case len(b) == 0:
			op = "remove"
		}
		change := map[string]any{"operation": op, "path": f}
		if len(a) > 0 {
			change["currentValue"] = json.RawMessage(a)
		}
		if len(b) > 0 {
			change["desiredValue"] = json.RawMessage(b)
		}
		raw, _ := json.Marshal(change)
		out = append(out, runtimeRaw{Raw: raw})
	}
	return out
}

func equalJSON(a, b json.RawMessage) bool {
	var x, y any
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(b, &y)
	return equality.Semantic.DeepEqual(x, y)
}
