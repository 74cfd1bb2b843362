package vmop

import (
	"fmt"

	"github.com/virtlab/dvp/api/v1alpha2"
)

// refusal says why an operation does not apply to a machine; empty Reason
// means it applies.
type refusal struct{ Reason, Message string }

// applicable checks an operation against the machine's run policy and
// phase, as upstream's power-state rules do.
func applicable(op *v1alpha2.VirtualMachineOperation, vm *v1alpha2.VirtualMachine) refusal {
	policy := vm.Spec.RunPolicy
	if policy == "" {
		policy = v1alpha2.RunPolicyAlwaysOnUnlessStoppedManually
	}
	phase := vm.Status.Phase
	force := op.Spec.Force != nil && *op.Spec.Force
	var policies []v1alpha2.RunPolicy
	var phases []v1alpha2.VirtualMachinePhase
	switch op.Spec.Type {
	case v1alpha2.VirtualMachineOperationTypeStart:
		policies = []v1alpha2.RunPolicy{v1alpha2.RunPolicyManual, v1alpha2.RunPolicyAlwaysOnUnlessStoppedManually}
		phases = []v1alpha2.VirtualMachinePhase{v1alpha2.VirtualMachinePhaseStopped, v1alpha2.VirtualMachinePhaseStopping}
	case v1alpha2.VirtualMachineOperationTypeStop:
		policies = []v1alpha2.RunPolicy{v1alpha2.RunPolicyManual, v1alpha2.RunPolicyAlwaysOnUnlessStoppedManually}
		phases = []v1alpha2.VirtualMachinePhase{v1alpha2.VirtualMachinePhaseRunning, v1alpha2.VirtualMachinePhaseDegraded,
			v1alpha2.VirtualMachinePhaseStarting, v1alpha2.VirtualMachinePhasePause, v1alpha2.VirtualMachinePhasePending}
		if force {
			phases = append(phases, v1alpha2.VirtualMachinePhaseStopping)
		}
	case v1alpha2.VirtualMachineOperationTypeRestart:
		policies = []v1alpha2.RunPolicy{v1alpha2.RunPolicyManual, v1alpha2.RunPolicyAlwaysOnUnlessStoppedManually, v1alpha2.RunPolicyAlwaysOn}
		phases = []v1alpha2.VirtualMachinePhase{v1alpha2.VirtualMachinePhaseRunning, v1alpha2.VirtualMachinePhaseDegraded,
			v1alpha2.VirtualMachinePhaseStarting, v1alpha2.VirtualMachinePhasePause}
		if force {
			phases = append(phases, v1alpha2.VirtualMachinePhaseStopping)
		}
	default:
		return refusal{"NotApplicableForVirtualMachinePhase", fmt.Sprintf("%s operations are not supported by this platform yet", op.Spec.Type)}
	}
	if !contains(policies, policy) {
		return refusal{string(v1alpha2.VirtualMachineOperationReasonNotApplicableForRunPolicy),
			fmt.Sprintf("The %s operation is not applicable to VirtualMachine %s with runPolicy %s", op.Spec.Type, vm.Name, policy)}
	}
	if !contains(phases, phase) {
		return refusal{string(v1alpha2.VirtualMachineOperationReasonNotApplicableForVirtualMachinePhase),
			fmt.Sprintf("The %s operation is not applicable to VirtualMachine %s in phase %s", op.Spec.Type, vm.Name, phaseName(phase))}
	}
	return refusal{}
}

func phaseName(p v1alpha2.VirtualMachinePhase) string {
	if p == "" {
		return "Pending"
	}
	return string(p)
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// supersedes says whether a newer operation replaces an older one still in
// progress on the same machine: a stop wins over a start, a forced stop
// over a stop, a restart over a start; anything else waits its turn.
func supersedes(newer, older *v1alpha2.VirtualMachineOperation) bool {
	nf := newer.Spec.Force != nil && *newer.Spec.Force
	of := older.Spec.Force != nil && *older.Spec.Force
	switch newer.Spec.Type {
	case v1alpha2.VirtualMachineOperationTypeStop:
		return older.Spec.Type == v1alpha2.VirtualMachineOperationTypeStart ||
			older.Spec.Type == v1alpha2.VirtualMachineOperationTypeRestart ||
			(older.Spec.Type == v1alpha2.VirtualMachineOperationTypeStop && nf && !of)
	case v1alpha2.VirtualMachineOperationTypeRestart:
		return older.Spec.Type == v1alpha2.VirtualMachineOperationTypeStart ||
			(older.Spec.Type == v1alpha2.VirtualMachineOperationTypeRestart && nf && !of)
	case v1alpha2.VirtualMachineOperationTypeStart:
		return older.Spec.Type == v1alpha2.VirtualMachineOperationTypeStop
	}
	return false
}

// abandoned says why a Start or Restart in progress can no longer complete:
// the machine is Stopped and its run policy will not start it again (it
// crashed or powered off under Manual, which records a stop intent). Empty
// when the operation may still complete.
func abandoned(op *v1alpha2.VirtualMachineOperation, phase v1alpha2.VirtualMachinePhase, stopIntended bool) string {
	t := op.Spec.Type
	if (t != v1alpha2.VirtualMachineOperationTypeStart && t != v1alpha2.VirtualMachineOperationTypeRestart) ||
		phase != v1alpha2.VirtualMachinePhaseStopped || !stopIntended {
		return ""
	}
	return fmt.Sprintf("the machine stopped before it was running again and its run policy leaves it stopped (see the VirtualMachine's events); run d8 v start %s to try again", op.Spec.VirtualMachineName)
}
