package virtualmachine

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"
)

func TestMachineGetsItsOwnAddressOnce(t *testing.T) {
	vm := machine(v1alpha2.RunPolicyAlwaysOff)
	vm.Spec.VirtualMachineIPAddress = ""
	h := newHarness(t, vm, generic())
	h.reconcile()
	h.reconcile()
	var list v1alpha2.VirtualMachineIPAddressList
	if err := h.c.List(context.Background(), &list, client.InNamespace("vms"), client.MatchingLabels{LabelUID: "uid-m"}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d addresses made for one machine", len(list.Items))
	}
	ip := list.Items[0]
	if !strings.HasPrefix(ip.GenerateName, "m-") || ip.Spec.Type != v1alpha2.VirtualMachineIPAddressTypeAuto ||
		len(ip.OwnerReferences) != 1 || ip.OwnerReferences[0].Name != "m" || ip.OwnerReferences[0].Controller == nil {
		t.Errorf("address made: %+v", ip.ObjectMeta)
	}
	c := h.condition(v1alpha2.VirtualMachineConditionIPAddressReady)
	if c.Status != "False" || c.Reason != "VirtualMachineIPAddressNotReady" || !strings.Contains(c.Message, "The IP address is not bound yet") {
		t.Errorf("VirtualMachineIPAddressReady %+v", c)
	}
	if got := h.vm().Status.VirtualMachineIPAddress; got != ip.Name {
		t.Errorf("status.virtualMachineIPAddressName = %q, want %q", got, ip.Name)
	}
}

func TestAddressStatus(t *testing.T) {
	bound := addressFacts{name: "m-ip", address: "10.66.10.2", ready: true, reason: "VirtualMachineIPAddressReady"}
	for _, tc := range []struct {
		name    string
		phase   v1alpha2.VirtualMachinePhase
		shown   string
		facts   addressFacts
		want    string
		wantCnd string
	}{
		{"stopped machine shows its address", v1alpha2.VirtualMachinePhaseStopped, "", bound, "10.66.10.2", "True"},
		{"running machine keeps the address it booted with", v1alpha2.VirtualMachinePhaseRunning, "10.66.10.9", bound, "10.66.10.9", "True"},
		{"running machine without one gets it", v1alpha2.VirtualMachinePhaseRunning, "", bound, "10.66.10.2", "True"},
		{"not bound: none shown", v1alpha2.VirtualMachinePhasePending, "10.66.10.9",
			addressFacts{name: "m-ip", reason: "VirtualMachineIPAddressNotReady", message: "waiting"}, "", "False"},
	} {
		vm := testVM()
		vm.Status.Phase, vm.Status.IPAddress = tc.phase, tc.shown
		setAddressStatus(vm, tc.facts)
		c := vm.Status.Conditions[0]
		if vm.Status.IPAddress != tc.want || string(c.Status) != tc.wantCnd || vm.Status.VirtualMachineIPAddress != "m-ip" {
			t.Errorf("%s: ipAddress %q condition %s, want %q %s", tc.name, vm.Status.IPAddress, c.Status, tc.want, tc.wantCnd)
		}
		if n := vm.Status.Networks; len(n) != 1 || *n[0].ID != 1 || n[0].Type != "Main" || n[0].MAC != macFor(vm) || n[0].IPAddress != tc.want {
			t.Errorf("%s: status.networks %+v", tc.name, n)
		}
	}
}
