package virtualmachine

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtlab/dvp/api/v1alpha2"
)

// TestResourcesStatusIsWhatRuns: with a launcher, status.resources (the
// CORES, COREFRACTION and MEMORY columns) is what the launcher was started
// with, not a change awaiting a restart; without one, it is what the next
// start gives.
func TestResourcesStatusIsWhatRuns(t *testing.T) {
	vm := &v1alpha2.VirtualMachine{}
	vm.Name, vm.Namespace = "m", "vms"
	vm.Spec.CPU.Cores, vm.Spec.CPU.CoreFraction = 2, "25%"
	vm.Spec.Memory.Size = resource.MustParse("256Mi")
	started := &plan{cores: 2, fraction: 25, sockets: 1}
	pod, err := launcherPod(vm, started)
	if err != nil {
		t.Fatal(err)
	}

	// A pending change: more memory, more cores, another fraction.
	vm.Spec.Memory.Size = resource.MustParse("320Mi")
	vm.Spec.CPU.Cores, vm.Spec.CPU.CoreFraction = 4, "50%"
	next := &plan{cores: 4, fraction: 50, sockets: 1}

	for _, tc := range []struct {
		name     string
		rs       *v1alpha2.ResourcesStatus
		cores    int
		fraction string
		memory   string
	}{
		{"running", resourcesStatus(vm, next, pod), 2, "25%", "256Mi"},
		{"stopped", resourcesStatus(vm, next, nil), 4, "50%", "320Mi"},
	} {
		if got := tc.rs.CPU.Cores; got != tc.cores {
			t.Errorf("%s: cores %d, want %d", tc.name, got, tc.cores)
		}
		if got := tc.rs.CPU.CoreFraction; got != tc.fraction {
			t.Errorf("%s: coreFraction %s, want %s", tc.name, got, tc.fraction)
		}
		if got := tc.rs.Memory.Size.String(); got != tc.memory {
			t.Errorf("%s: memory %s, want %s", tc.name, got, tc.memory)
		}
	}
}

// TestWaitChanged: a Warning event when a machine starts waiting for a
// class, disk or secret, or waits for something else; none while it
// waits for the same thing or is ready.
func TestWaitChanged(t *testing.T) {
	waiting := func(reason, msg string) *metav1.Condition {
		return &metav1.Condition{Status: metav1.ConditionFalse, Reason: reason, Message: msg}
	}
	ready := &metav1.Condition{Status: metav1.ConditionTrue, Reason: "BlockDevicesReady"}
	const missing = `VirtualDisk "root" not found`
	for _, tc := range []struct {
		name string
		old  *metav1.Condition
		ok   bool
		msg  string
		want bool
	}{
		{"first reconcile, missing disk", nil, false, missing, true},
		{"still missing", waiting("BlockDevicesNotReady", missing), false, missing, false},
		{"another disk now", waiting("BlockDevicesNotReady", missing), false, `VirtualDisk "data" not found`, true},
		{"was ready", ready, false, missing, true},
		{"ready now", waiting("BlockDevicesNotReady", missing), true, "", false},
		{"ready from the start", nil, true, "", false},
	} {
		if got := waitChanged(tc.old, tc.ok, "BlockDevicesNotReady", tc.msg); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
