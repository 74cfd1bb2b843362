package vmop

import (
	"testing"

	"github.com/virtlab/dvp/api/v1alpha2"
)

func op(t v1alpha2.VirtualMachineOperationType, force bool) *v1alpha2.VirtualMachineOperation {
	return &v1alpha2.VirtualMachineOperation{Spec: v1alpha2.VirtualMachineOperationSpec{Type: t, Force: &force}}
}

func TestApplicable(t *testing.T) {
	vm := func(p v1alpha2.RunPolicy, ph v1alpha2.VirtualMachinePhase) *v1alpha2.VirtualMachine {
		return &v1alpha2.VirtualMachine{Spec: v1alpha2.VirtualMachineSpec{RunPolicy: p}, Status: v1alpha2.VirtualMachineStatus{Phase: ph}}
	}
	const (
		start   = v1alpha2.VirtualMachineOperationTypeStart
		stop    = v1alpha2.VirtualMachineOperationTypeStop
		restart = v1alpha2.VirtualMachineOperationTypeRestart
	)
	for _, tc := range []struct {
		op     *v1alpha2.VirtualMachineOperation
		vm     *v1alpha2.VirtualMachine
		reason string
	}{
		{op(start, false), vm(v1alpha2.RunPolicyManual, v1alpha2.VirtualMachinePhaseStopped), ""},
		{op(start, false), vm(v1alpha2.RunPolicyManual, v1alpha2.VirtualMachinePhaseRunning), "NotApplicableForVirtualMachinePhase"},
		{op(start, false), vm(v1alpha2.RunPolicyAlwaysOff, v1alpha2.VirtualMachinePhaseStopped), "NotApplicableForVirtualMachineRunPolicy"},
		{op(stop, false), vm(v1alpha2.RunPolicyAlwaysOn, v1alpha2.VirtualMachinePhaseRunning), "NotApplicableForVirtualMachineRunPolicy"},
		{op(stop, false), vm("", v1alpha2.VirtualMachinePhaseRunning), ""},
		{op(stop, false), vm("", v1alpha2.VirtualMachinePhaseStopping), "NotApplicableForVirtualMachinePhase"},
		{op(stop, true), vm("", v1alpha2.VirtualMachinePhaseStopping), ""},
		{op(restart, false), vm(v1alpha2.RunPolicyAlwaysOn, v1alpha2.VirtualMachinePhaseRunning), ""},
		{op(restart, false), vm(v1alpha2.RunPolicyAlwaysOff, v1alpha2.VirtualMachinePhaseStopped), "NotApplicableForVirtualMachineRunPolicy"},
		{op(restart, false), vm(v1alpha2.RunPolicyManual, v1alpha2.VirtualMachinePhaseStopped), "NotApplicableForVirtualMachinePhase"},
	} {
		if got := applicable(tc.op, tc.vm); got.Reason != tc.reason {
			t.Errorf("%s (force %v) on %s/%s: %q, want %q", tc.op.Spec.Type, *tc.op.Spec.Force, tc.vm.Spec.RunPolicy, tc.vm.Status.Phase, got.Reason, tc.reason)
		}
	}
}

func TestSupersedes(t *testing.T) {
	if !supersedes(op(v1alpha2.VirtualMachineOperationTypeStop, false), op(v1alpha2.VirtualMachineOperationTypeStart, false)) {
		t.Error("Stop must supersede Start")
	}
	if !supersedes(op(v1alpha2.VirtualMachineOperationTypeStop, true), op(v1alpha2.VirtualMachineOperationTypeStop, false)) {
		t.Error("a forced Stop must supersede a Stop")
	}
	if supersedes(op(v1alpha2.VirtualMachineOperationTypeStop, false), op(v1alpha2.VirtualMachineOperationTypeStop, false)) {
		t.Error("a Stop must wait for a Stop")
	}
}

func TestAbandoned(t *testing.T) {
	stopped, running := v1alpha2.VirtualMachinePhaseStopped, v1alpha2.VirtualMachinePhaseRunning
	for _, tc := range []struct {
		op    v1alpha2.VirtualMachineOperationType
		phase v1alpha2.VirtualMachinePhase
		stop  bool
		want  bool
	}{
		{v1alpha2.VirtualMachineOperationTypeRestart, stopped, true, true},
		{v1alpha2.VirtualMachineOperationTypeStart, stopped, true, true},
		// Between launchers a machine may look Stopped: only a recorded
		// stop intent means nothing will start it.
		{v1alpha2.VirtualMachineOperationTypeRestart, stopped, false, false},
		{v1alpha2.VirtualMachineOperationTypeRestart, running, true, false},
		{v1alpha2.VirtualMachineOperationTypeStop, stopped, true, false},
	} {
		if got := abandoned(op(tc.op, false), tc.phase, tc.stop) != ""; got != tc.want {
			t.Errorf("abandoned(%s, %s, stop intent %v) = %v, want %v", tc.op, tc.phase, tc.stop, got, tc.want)
		}
	}
}
