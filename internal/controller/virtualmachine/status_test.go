package virtualmachine

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

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
	pod, err := launcherPod(vm, started, "")
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
