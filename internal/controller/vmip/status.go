package vmip

import (
	"context"

	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"
)

func setBound(ip *v1alpha2.VirtualMachineIPAddress, ok bool, reason v1alpha2.VirtualMachineIPAddressReason, msg string) {
	ctrlreconcile.SetCondition(&ip.Status.Conditions, ip.Generation, v1alpha2.VirtualMachineIPAddressConditionBound, ok, string(reason), msg)
}

// setAttached records which machine uses the address (nil: none).
func setAttached(ip *v1alpha2.VirtualMachineIPAddress, vm *v1alpha2.VirtualMachine) {
	if vm == nil {
		ip.Status.VirtualMachine = ""
		ctrlreconcile.SetCondition(&ip.Status.Conditions, ip.Generation, v1alpha2.VirtualMachineIPAddressConditionAttached, false,
			string(v1alpha2.VirtualMachineIPAddressReasonVirtualMachineNotFound), "VirtualMachineIPAddress is not attached to any virtual machine.")
		return
	}
	ip.Status.VirtualMachine = vm.Name
	ctrlreconcile.SetCondition(&ip.Status.Conditions, ip.Generation, v1alpha2.VirtualMachineIPAddressConditionAttached, true,
		string(v1alpha2.VirtualMachineIPAddressReasonAttached), "")
}

// phase: Pending until Bound, Attached once a machine uses it too.
func phase(ip *v1alpha2.VirtualMachineIPAddress) v1alpha2.VirtualMachineIPAddressPhase {
	switch {
	case !ctrlreconcile.ConditionTrue(ip.Status.Conditions, v1alpha2.VirtualMachineIPAddressConditionBound):
		return v1alpha2.VirtualMachineIPAddressPhasePending
	case ctrlreconcile.ConditionTrue(ip.Status.Conditions, v1alpha2.VirtualMachineIPAddressConditionAttached):
		return v1alpha2.VirtualMachineIPAddressPhaseAttached
	default:
		return v1alpha2.VirtualMachineIPAddressPhaseBound
	}
}

// attachedMachine is the machine using the address: the first in its
// namespace whose status names it, else whose spec names it, else the
// machine owning it. A machine being deleted whose pods are gone has let
// go already.
func (r *Reconciler) attachedMachine(ctx context.Context, ip *v1alpha2.VirtualMachineIPAddress) (*v1alpha2.VirtualMachine, error) {
	var list v1alpha2.VirtualMachineList
	if err := r.Client.List(ctx, &list, client.InNamespace(ip.Namespace)); err != nil {
		return nil, err
	}
	return pickMachine(ip, list.Items), nil
}

func pickMachine(ip *v1alpha2.VirtualMachineIPAddress, vms []v1alpha2.VirtualMachine) *v1alpha2.VirtualMachine {
	holds := func(vm *v1alpha2.VirtualMachine) bool {
		return vm.DeletionTimestamp.IsZero() || len(vm.Status.VirtualMachinePods) > 0
	}
	owner := ""
	for _, o := range ip.OwnerReferences {
		if o.Kind == "VirtualMachine" && o.Controller != nil && *o.Controller {
			owner = o.Name
		}
	}
	for _, match := range []func(*v1alpha2.VirtualMachine) bool{
		func(vm *v1alpha2.VirtualMachine) bool { return vm.Status.VirtualMachineIPAddress == ip.Name },
		func(vm *v1alpha2.VirtualMachine) bool { return vm.Spec.VirtualMachineIPAddress == ip.Name },
		func(vm *v1alpha2.VirtualMachine) bool {
			return owner != "" && vm.Name == owner && vm.Spec.VirtualMachineIPAddress == ""
		},
	} {
		for i := range vms {
			if match(&vms[i]) && holds(&vms[i]) {
				return &vms[i]
			}
		}
	}
	return nil
}
