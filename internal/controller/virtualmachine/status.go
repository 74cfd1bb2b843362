package virtualmachine

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/virtlab/dvp/api/v1alpha2"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
	"github.com/virtlab/dvp/internal/sizing"
)

// condition is what one of the machine's conditions says: True when ok,
// else False, for a reason.
type condition struct {
	ok      bool
	reason  string
	message string
}

// setStatus computes the machine's status from what this reconcile found
// and did, once, at its end. Fields whose facts the reconcile did not reach
// keep their stored values. The order of the conditions below is the order
// they first appear in the list.
func setStatus(vm *v1alpha2.VirtualMachine, p *plan, now metav1.Time) {
	st := &vm.Status
	if p.deleting {
		setPhase(st, v1alpha2.VirtualMachinePhaseTerminating, now)
		return
	}
	set := func(t v1alpha2.VirtualMachineConditionType, c condition) {
		ctrlreconcile.SetCondition(&st.Conditions, vm.Generation, t, c.ok, c.reason, c.message)
	}
	if p.launchFailure != nil {
		// Shown until the next attempt replaces it below.
		set(v1alpha2.VirtualMachineConditionRunning, condition{false, "InternalVirtualMachineError", p.launchFailure.Message})
	}
	if p.classChecked {
		set(v1alpha2.VirtualMachineConditionClassReady, classReadyCondition(vm, p))
		if c, ok := sizingCondition(vm, p); ok {
			set(v1alpha2.VirtualMachineConditionSizingPolicyMatched, c)
		} else {
			ctrlreconcile.RemoveCondition(&st.Conditions, v1alpha2.VirtualMachineConditionSizingPolicyMatched)
		}
	}
	if p.devicesChecked {
		set(v1alpha2.VirtualMachineConditionBlockDevicesReady, blockDevicesCondition(p))
	}
	if p.provisioningChecked {
		if c, ok := provisioningCondition(vm, p); ok {
			set(v1alpha2.VirtualMachineConditionProvisioningReady, c)
		} else {
			ctrlreconcile.RemoveCondition(&st.Conditions, v1alpha2.VirtualMachineConditionProvisioningReady)
		}
	}
	if p.powered {
		phase, running := runState(vm, p)
		set(v1alpha2.VirtualMachineConditionRunning, running)
		st.BlockDeviceRefs = blockDeviceRefs(p, phase)
		st.Resources = resourcesStatus(vm, p, p.active)
		st.Node, st.VirtualMachinePods = "", nil
		if p.active != nil {
			st.Node = p.active.Spec.NodeName
			st.VirtualMachinePods = []v1alpha2.VirtualMachinePod{{Name: p.active.Name, Active: true}}
			if v := versions(p.active); v != nil {
				st.Versions = v
			}
		}
		setPhase(st, phase, now)
	}
	if p.addressChecked {
		setAddressStatus(vm, p.address)
	}
	if p.restartChecked {
		st.RestartAwaitingChanges = p.changes
		set(v1alpha2.VirtualMachineConditionAwaitingRestartToApplyConfiguration, restartCondition(p))
	}
}

// classReadyCondition: the class exists.
func classReadyCondition(vm *v1alpha2.VirtualMachine, p *plan) condition {
	if p.class == nil {
		return condition{false, "VirtualMachineClassNotReady", classMissing(vm)}
	}
	return condition{true, "VirtualMachineClassReady", ""}
}

func classMissing(vm *v1alpha2.VirtualMachine) string {
	return fmt.Sprintf("VirtualMachineClass %q not found", vm.Spec.VirtualMachineClassName)
}

// sizingCondition: the machine fits its class's sizing policies. A class
// edited under a running machine leaves it running, saying it no longer
// fits (its edits are refused until it does). No condition (false) when it
// fits.
func sizingCondition(vm *v1alpha2.VirtualMachine, p *plan) (condition, bool) {
	switch {
	case p.class == nil:
		return condition{false, "VirtualMachineClassNotFound", classMissing(vm)}, true
	case !p.class.DeletionTimestamp.IsZero():
		return condition{false, "VirtualMachineClassTerminating", fmt.Sprintf("VirtualMachineClass %s is being deleted", p.class.Name)}, true
	}
	if errs := sizing.Check(p.class, &vm.Spec, field.NewPath("spec")); len(errs) > 0 {
		return condition{false, "SizingPolicyNotMatched", errs.ToAggregate().Error()}, true
	}
	return condition{}, false
}

// blockDevicesCondition: every device can be used. Of several waits the
// first one shows, but a wait for placement gives way to any other: placing
// the machine does not help with those.
func blockDevicesCondition(p *plan) condition {
	var shown *wait
	for i := range p.deviceWaits {
		if shown == nil || shown.reason == reasonWaitingForPlacement {
			shown = &p.deviceWaits[i]
		}
	}
	if shown == nil {
		return condition{true, "BlockDevicesReady", ""}
	}
	return condition{false, shown.reason, shown.message}
}

// provisioningCondition: the user data can be given to the guest. No
// condition (false) for a machine without provisioning.
func provisioningCondition(vm *v1alpha2.VirtualMachine, p *plan) (condition, bool) {
	if vm.Spec.Provisioning == nil {
		return condition{}, false
	}
	if p.provisioningWait != "" {
		return condition{false, "ProvisioningNotReady", p.provisioningWait}, true
	}
	return condition{true, "ProvisioningReady", ""}, true
}

// runState is the machine's phase and Running condition, from its active
// launcher pod or, without one, from whether it should run.
func runState(vm *v1alpha2.VirtualMachine, p *plan) (v1alpha2.VirtualMachinePhase, condition) {
	switch {
	case p.active == nil && p.run:
		msg := "waiting for the machine's dependencies"
		if !p.ready() {
			msg = firstNonEmpty(classReadyCondition(vm, p).message, blockDevicesCondition(p).message, p.provisioningWait, p.address.message)
		}
		return v1alpha2.VirtualMachinePhasePending, condition{false, "NotRunning", msg}
	case p.active == nil:
		return v1alpha2.VirtualMachinePhaseStopped, condition{false, "NotRunning", "the machine is stopped"}
	}
	return podState(p.active)
}

// podState reads the guest's state from the launcher pod: the scheduler's
// verdict while it is pending, then what the launcher reports.
func podState(pod *corev1.Pod) (v1alpha2.VirtualMachinePhase, condition) {
	if !pod.DeletionTimestamp.IsZero() {
		return v1alpha2.VirtualMachinePhaseStopping, condition{false, "PodTerminating", "the guest is shutting down"}
	}
	if pod.Status.Phase == corev1.PodPending || pod.Status.Phase == "" {
		if c := podCondition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
			return v1alpha2.VirtualMachinePhasePending, condition{false, "PodNotStarted", fmt.Sprintf("launcher pod %s cannot be scheduled: %s", pod.Name, c.Message)}
		}
		return v1alpha2.VirtualMachinePhaseStarting, condition{false, "PodNotStarted", fmt.Sprintf("launcher pod %s is starting", pod.Name)}
	}
	g := podCondition(pod, podGuestRunning)
	switch {
	case g == nil:
		return v1alpha2.VirtualMachinePhaseStarting, condition{false, "GuestNotRunning", "the launcher is preparing the machine"}
	case g.Status == corev1.ConditionTrue:
		msg := "the guest is running"
		if a := acceleration(pod); a != "" {
			msg += " (acceleration " + a + ")"
		}
		return v1alpha2.VirtualMachinePhaseRunning, condition{true, "Running", msg}
	case g.Reason == "Paused" || g.Reason == "IOError":
		return v1alpha2.VirtualMachinePhasePause, condition{false, "GuestNotRunning", g.Message}
	default:
		return v1alpha2.VirtualMachinePhaseStarting, condition{false, "GuestNotRunning", g.Message}
	}
}

// acceleration is the accelerator the launcher reports, with the reason
// when it is not the one wanted (TCG instead of KVM).
func acceleration(pod *corev1.Pod) string {
	a := podCondition(pod, podAccel)
	switch {
	case a == nil:
		return ""
	case a.Status != corev1.ConditionTrue && a.Message != "":
		return a.Reason + ": " + a.Message
	}
	return a.Reason
}

// versions is the QEMU version a launcher that got past its start reports,
// nil when it does not (the stored one stays).
func versions(pod *corev1.Pod) *v1alpha2.Versions {
	if !pod.DeletionTimestamp.IsZero() || pod.Status.Phase == corev1.PodPending || pod.Status.Phase == "" {
		return nil
	}
	if q := podCondition(pod, podQEMUVersion); q != nil {
		return &v1alpha2.Versions{Qemu: q.Reason}
	}
	return nil
}

// blockDeviceRefs are the machine's devices, attached while it runs.
func blockDeviceRefs(p *plan, phase v1alpha2.VirtualMachinePhase) []v1alpha2.BlockDeviceStatusRef {
	out := append([]v1alpha2.BlockDeviceStatusRef(nil), p.deviceStatus...)
	if phase == v1alpha2.VirtualMachinePhaseRunning {
		for i := range out {
			out[i].Attached = true
		}
	}
	return out
}

// restartCondition: the running launcher was built from a spec that
// differs, in fields that need a new launcher, from the current one.
func restartCondition(p *plan) condition {
	if len(p.changes) == 0 {
		return condition{false, "NoRestartRequired", ""}
	}
	return condition{true, "ChangesPendingRestart",
		"the configuration changed in ways that apply at the next restart; run d8 v restart, or set disruptions.restartApprovalMode: Automatic"}
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
func setPhase(st *v1alpha2.VirtualMachineStatus, phase v1alpha2.VirtualMachinePhase, now metav1.Time) {
	if st.Phase == phase {
		return
	}
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
