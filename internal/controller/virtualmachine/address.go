package virtualmachine

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/virtlab/dvp/api/v1alpha2"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
)

// LabelUID marks an address made for a machine with the machine's UID.
const LabelUID = "virtualization.deckhouse.io/virtual-machine-uid"

// addressFacts is what the address phase found: the machine's
// VirtualMachineIPAddress and whether its address is bound to it.
type addressFacts struct {
	name    string
	address string
	ready   bool
	reason  string
	message string
}

// reconcileAddress records the machine's address facts; the machine does
// not start until its address is bound (plan.ready).
func (r *Reconciler) reconcileAddress(ctx context.Context, vm *v1alpha2.VirtualMachine, p *plan) (ctrl.Result, error) {
	a, err := r.resolveAddress(ctx, vm)
	if err != nil {
		return ctrl.Result{}, err
	}
	p.addressChecked, p.address = true, a
	return ctrl.Result{}, nil
}

// resolveAddress finds the machine's address resource, making one
// (`<vm>-xxxxx`, type Auto, owned by the machine) when the spec names none,
// and reports whether it is bound. A machine does not start before it is.
func (r *Reconciler) resolveAddress(ctx context.Context, vm *v1alpha2.VirtualMachine) (addressFacts, error) {
	name := vm.Spec.VirtualMachineIPAddress
	if name == "" {
		made, err := r.ownAddress(ctx, vm)
		if err != nil || made == nil {
			return addressFacts{reason: string(v1alpha2.VirtualMachineReasonIPAddressNotReady),
				message: "The IP address is not bound yet: waiting for it to be assigned."}, err
		}
		name = made.Name
	}
	ip := &v1alpha2.VirtualMachineIPAddress{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: vm.Namespace, Name: name}, ip)
	if apierrors.IsNotFound(err) {
		return addressFacts{name: name, reason: string(v1alpha2.VirtualMachineReasonIPAddressNotReady),
			message: fmt.Sprintf("The requested VirtualMachineIPAddress %q was not found: waiting for it to appear.", name)}, nil
	}
	if err != nil {
		return addressFacts{}, err
	}
	if holder := ip.Status.VirtualMachine; holder != "" && holder != vm.Name {
		return addressFacts{name: name, reason: string(v1alpha2.VirtualMachineReasonIPAddressNotAvailable),
			message: fmt.Sprintf("The requested VirtualMachineIPAddress %q is attached to VirtualMachine %q: waiting for it to be released.", name, holder)}, nil
	}
	if !ctrlreconcile.ConditionTrue(ip.Status.Conditions, v1alpha2.VirtualMachineIPAddressConditionBound) || ip.Status.Address == "" {
		msg := "The IP address is not bound yet: waiting for it to be assigned."
		if c := ctrlreconcile.Condition(ip.Status.Conditions, v1alpha2.VirtualMachineIPAddressConditionBound); c != nil && c.Message != "" {
			msg += " " + c.Message
		}
		return addressFacts{name: name, reason: string(v1alpha2.VirtualMachineReasonIPAddressNotReady), message: msg}, nil
	}
	return addressFacts{name: name, address: ip.Status.Address, ready: true, reason: string(v1alpha2.VirtualMachineReasonIPAddressReady)}, nil
}

// ownAddress returns the address resource made for this machine, making it
// if there is none. It is found by the machine's UID label, read from the
// API, so a lost status write never makes a second one.
func (r *Reconciler) ownAddress(ctx context.Context, vm *v1alpha2.VirtualMachine) (*v1alpha2.VirtualMachineIPAddress, error) {
	if name := vm.Status.VirtualMachineIPAddress; name != "" {
		ip := &v1alpha2.VirtualMachineIPAddress{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: vm.Namespace, Name: name}, ip)
		if err == nil && ip.Labels[LabelUID] == string(vm.UID) {
			return ip, nil
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	var list v1alpha2.VirtualMachineIPAddressList
	if err := r.Reader.List(ctx, &list, client.InNamespace(vm.Namespace), client.MatchingLabels{LabelUID: string(vm.UID)}); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp.IsZero() {
			return &list.Items[i], nil
		}
	}
	if !vm.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	ip := &v1alpha2.VirtualMachineIPAddress{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: vm.Name + "-",
			Namespace:    vm.Namespace,
			Labels:       map[string]string{LabelUID: string(vm.UID)},
		},
		Spec: v1alpha2.VirtualMachineIPAddressSpec{Type: v1alpha2.VirtualMachineIPAddressTypeAuto},
	}
	if err := controllerutil.SetControllerReference(vm, ip, r.Client.Scheme()); err != nil {
		return nil, err
	}
	if err := r.Client.Create(ctx, ip); err != nil {
		return nil, fmt.Errorf("creating the machine's VirtualMachineIPAddress: %w", err)
	}
	log.FromContext(ctx).Info("address resource created", "virtualMachineIPAddress", ip.Name)
	return ip, nil
}

// setAddressStatus records the address facts on the machine. The address
// shown is frozen while the machine runs, as upstream: the guest keeps the
// address it booted with until a restart.
func setAddressStatus(vm *v1alpha2.VirtualMachine, a addressFacts) {
	ctrlreconcile.SetCondition(&vm.Status.Conditions, vm.Generation, v1alpha2.VirtualMachineConditionIPAddressReady, a.ready, a.reason, a.message)
	if a.name != "" {
		vm.Status.VirtualMachineIPAddress = a.name
	}
	defer func() {
		// The main interface, as upstream lists it (id 1, type Main), with
		// the MAC the guest sees and the address it was given.
		id := 1
		vm.Status.Networks = []v1alpha2.NetworksStatus{{ID: &id, Type: "Main", MAC: macFor(vm), IPAddress: vm.Status.IPAddress}}
	}()
	switch vm.Status.Phase {
	case v1alpha2.VirtualMachinePhaseRunning, v1alpha2.VirtualMachinePhaseStopping:
		if vm.Status.IPAddress != "" {
			return
		}
	}
	vm.Status.IPAddress = a.address
}
