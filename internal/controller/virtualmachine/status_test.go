package virtualmachine

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
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

func testVM() *v1alpha2.VirtualMachine {
	vm := &v1alpha2.VirtualMachine{}
	vm.Name, vm.Namespace, vm.Generation = "m", "vms", 4
	vm.Spec.VirtualMachineClassName = "generic"
	vm.Spec.CPU.Cores = 3
	vm.Spec.Memory.Size = resource.MustParse("256Mi")
	return vm
}

func TestDependencyConditions(t *testing.T) {
	class := &v1alpha2.VirtualMachineClass{ObjectMeta: metav1.ObjectMeta{Name: "generic"}}
	terminating := class.DeepCopy()
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	strict := class.DeepCopy()
	strict.Spec.SizingPolicies = []v1alpha2.SizingPolicy{{Cores: &v1alpha2.SizingPolicyCores{Min: 1, Max: 2}}}
	const notFound = `VirtualMachineClass "generic" not found`
	for _, tc := range []struct {
		name       string
		class      *v1alpha2.VirtualMachineClass
		wantClass  condition
		wantSizing *condition
	}{
		{"missing", nil, condition{false, "VirtualMachineClassNotReady", notFound}, &condition{false, "VirtualMachineClassNotFound", notFound}},
		{"fits", class, condition{true, "VirtualMachineClassReady", ""}, nil},
		{"terminating", terminating, condition{true, "VirtualMachineClassReady", ""},
			&condition{false, "VirtualMachineClassTerminating", "VirtualMachineClass generic is being deleted"}},
		{"outgrown", strict, condition{true, "VirtualMachineClassReady", ""},
			&condition{false, "SizingPolicyNotMatched", `spec.cpu.cores: Invalid value: 3: VirtualMachineClass "generic" allows cores in the ranges 1-2 only`}},
	} {
		p := &plan{class: tc.class}
		if got := classReadyCondition(testVM(), p); got != tc.wantClass {
			t.Errorf("%s: class ready %+v, want %+v", tc.name, got, tc.wantClass)
		}
		got, ok := sizingCondition(testVM(), p)
		switch {
		case tc.wantSizing == nil && ok:
			t.Errorf("%s: sizing %+v, want none", tc.name, got)
		case tc.wantSizing != nil && (!ok || got != *tc.wantSizing):
			t.Errorf("%s: sizing %+v (%v), want %+v", tc.name, got, ok, *tc.wantSizing)
		}
	}
}

func TestBlockDevicesCondition(t *testing.T) {
	missing := wait{"BlockDevicesNotReady", `VirtualDisk "a" not found`}
	pending := wait{"BlockDevicesNotReady", `waiting for VirtualDisk "b" to be Ready (now Pending)`}
	placeA := wait{reasonWaitingForPlacement, `VirtualDisk "c" is provisioned where the machine is placed`}
	placeB := wait{reasonWaitingForPlacement, `VirtualDisk "d" is provisioned where the machine is placed`}
	for _, tc := range []struct {
		name  string
		waits []wait
		want  condition
	}{
		{"all usable", nil, condition{true, "BlockDevicesReady", ""}},
		{"the first wait shows", []wait{missing, pending}, condition{false, missing.reason, missing.message}},
		{"placement gives way", []wait{placeA, pending}, condition{false, pending.reason, pending.message}},
		{"placement waits after another", []wait{missing, placeA}, condition{false, missing.reason, missing.message}},
		{"of placements the last", []wait{placeA, placeB}, condition{false, placeB.reason, placeB.message}},
		{"then the first other", []wait{placeA, missing, pending, placeB}, condition{false, missing.reason, missing.message}},
	} {
		if got := blockDevicesCondition(&plan{deviceWaits: tc.waits}); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestProvisioningCondition(t *testing.T) {
	vm := testVM()
	if c, ok := provisioningCondition(vm, &plan{}); ok {
		t.Errorf("no provisioning: %+v, want no condition", c)
	}
	vm.Spec.Provisioning = &v1alpha2.Provisioning{Type: v1alpha2.ProvisioningTypeUserData}
	if c, ok := provisioningCondition(vm, &plan{}); !ok || c != (condition{true, "ProvisioningReady", ""}) {
		t.Errorf("ready: %+v %v", c, ok)
	}
	const msg = `Secret "ci" of provisioning.userDataRef not found`
	if c, ok := provisioningCondition(vm, &plan{provisioningWait: msg}); !ok || c != (condition{false, "ProvisioningNotReady", msg}) {
		t.Errorf("waiting: %+v %v", c, ok)
	}
}

func launcherIn(phase corev1.PodPhase, conds ...corev1.PodCondition) *corev1.Pod {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "virt-launcher-m-x"}}
	pod.Status.Phase, pod.Status.Conditions = phase, conds
	return pod
}

func guest(status corev1.ConditionStatus, reason, msg string) corev1.PodCondition {
	return corev1.PodCondition{Type: podGuestRunning, Status: status, Reason: reason, Message: msg}
}

func TestRunState(t *testing.T) {
	ready := &v1alpha2.VirtualMachineClass{}
	deleting := launcherIn(corev1.PodRunning, guest(corev1.ConditionTrue, "Running", ""))
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	unschedulable := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Message: "0/1 nodes are available"}
	tcg := corev1.PodCondition{Type: podAccel, Status: corev1.ConditionFalse, Reason: "TCG", Message: "/dev/kvm is missing"}
	kvm := corev1.PodCondition{Type: podAccel, Status: corev1.ConditionTrue, Reason: "KVM", Message: "ignored"}
	for _, tc := range []struct {
		name      string
		p         *plan
		wantPhase v1alpha2.VirtualMachinePhase
		want      condition
	}{
		{"stopped", &plan{class: ready}, v1alpha2.VirtualMachinePhaseStopped, condition{false, "NotRunning", "the machine is stopped"}},
		{"about to start", &plan{class: ready, run: true, address: addressFacts{ready: true}}, v1alpha2.VirtualMachinePhasePending,
			condition{false, "NotRunning", "waiting for the machine's dependencies"}},
		{"no class", &plan{run: true, provisioningWait: "later"}, v1alpha2.VirtualMachinePhasePending,
			condition{false, "NotRunning", `VirtualMachineClass "generic" not found`}},
		{"waits for a disk", &plan{class: ready, run: true, deviceWaits: []wait{{"BlockDevicesNotReady", "disk"}}, provisioningWait: "later"},
			v1alpha2.VirtualMachinePhasePending, condition{false, "NotRunning", "disk"}},
		{"waits for user data", &plan{class: ready, run: true, provisioningWait: "secret"}, v1alpha2.VirtualMachinePhasePending,
			condition{false, "NotRunning", "secret"}},
		{"pod just created", &plan{run: true, active: launcherIn("")}, v1alpha2.VirtualMachinePhaseStarting,
			condition{false, "PodNotStarted", "launcher pod virt-launcher-m-x is starting"}},
		{"unschedulable", &plan{run: true, active: launcherIn(corev1.PodPending, unschedulable)}, v1alpha2.VirtualMachinePhasePending,
			condition{false, "PodNotStarted", "launcher pod virt-launcher-m-x cannot be scheduled: 0/1 nodes are available"}},
		{"launcher preparing", &plan{run: true, active: launcherIn(corev1.PodRunning)}, v1alpha2.VirtualMachinePhaseStarting,
			condition{false, "GuestNotRunning", "the launcher is preparing the machine"}},
		{"booting", &plan{run: true, active: launcherIn(corev1.PodRunning, guest(corev1.ConditionFalse, "Starting", "QEMU starts"))},
			v1alpha2.VirtualMachinePhaseStarting, condition{false, "GuestNotRunning", "QEMU starts"}},
		{"running", &plan{run: true, active: launcherIn(corev1.PodRunning, guest(corev1.ConditionTrue, "Running", ""))},
			v1alpha2.VirtualMachinePhaseRunning, condition{true, "Running", "the guest is running"}},
		{"running under TCG", &plan{run: true, active: launcherIn(corev1.PodRunning, guest(corev1.ConditionTrue, "Running", ""), tcg)},
			v1alpha2.VirtualMachinePhaseRunning, condition{true, "Running", "the guest is running (acceleration TCG: /dev/kvm is missing)"}},
		{"running under KVM", &plan{run: true, active: launcherIn(corev1.PodRunning, guest(corev1.ConditionTrue, "Running", ""), kvm)},
			v1alpha2.VirtualMachinePhaseRunning, condition{true, "Running", "the guest is running (acceleration KVM)"}},
		{"disk full", &plan{run: true, active: launcherIn(corev1.PodRunning, guest(corev1.ConditionFalse, "IOError", "no space"))},
			v1alpha2.VirtualMachinePhasePause, condition{false, "GuestNotRunning", "no space"}},
		{"paused", &plan{run: true, active: launcherIn(corev1.PodRunning, guest(corev1.ConditionFalse, "Paused", "paused"))},
			v1alpha2.VirtualMachinePhasePause, condition{false, "GuestNotRunning", "paused"}},
		{"stopping", &plan{active: deleting}, v1alpha2.VirtualMachinePhaseStopping, condition{false, "PodTerminating", "the guest is shutting down"}},
	} {
		phase, got := runState(testVM(), tc.p)
		if phase != tc.wantPhase || got != tc.want {
			t.Errorf("%s: %s %+v, want %s %+v", tc.name, phase, got, tc.wantPhase, tc.want)
		}
	}
}

func TestVersions(t *testing.T) {
	qemu := corev1.PodCondition{Type: podQEMUVersion, Status: corev1.ConditionTrue, Reason: "9.2.0"}
	deleting := launcherIn(corev1.PodRunning, qemu)
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"reported", launcherIn(corev1.PodRunning, qemu), "9.2.0"},
		{"not yet", launcherIn(corev1.PodRunning), ""},
		{"pending", launcherIn(corev1.PodPending, qemu), ""},
		{"stopping", deleting, ""},
	} {
		got := ""
		if v := versions(tc.pod); v != nil {
			got = v.Qemu
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRestartCondition(t *testing.T) {
	if got := restartCondition(&plan{}); got != (condition{false, "NoRestartRequired", ""}) {
		t.Errorf("no changes: %+v", got)
	}
	got := restartCondition(&plan{changes: []runtimeRaw{{Raw: []byte(`{"path":"memory"}`)}}})
	if !got.ok || got.reason != "ChangesPendingRestart" || !strings.Contains(got.message, "d8 v restart") {
		t.Errorf("pending changes: %+v", got)
	}
}

func TestSetPhase(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	at := func(s int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(s) * time.Second)) }
	st := &v1alpha2.VirtualMachineStatus{}
	setPhase(st, v1alpha2.VirtualMachinePhasePending, at(0))
	setPhase(st, v1alpha2.VirtualMachinePhaseStarting, at(1))
	setPhase(st, v1alpha2.VirtualMachinePhaseStarting, at(2)) // no transition
	setPhase(st, v1alpha2.VirtualMachinePhaseRunning, at(8))
	if st.Phase != v1alpha2.VirtualMachinePhaseRunning || len(st.Stats.PhasesTransitions) != 3 {
		t.Fatalf("status %+v", st)
	}
	if !st.Stats.LastStartTime.Equal(ptrTime(at(8))) || st.Stats.LaunchTimeDuration.VirtualMachineStarting.Duration != 7*time.Second {
		t.Errorf("start stats %+v", st.Stats)
	}
	for i, ph := range []v1alpha2.VirtualMachinePhase{"Stopping", "Stopped", "Starting", "Running"} {
		setPhase(st, ph, at(10+i))
	}
	if n := len(st.Stats.PhasesTransitions); n != maxTransitions || st.Stats.PhasesTransitions[n-1].Phase != "Running" ||
		st.Stats.LaunchTimeDuration.VirtualMachineStarting.Duration != time.Second {
		t.Errorf("after a restart: %+v", st.Stats)
	}
}

func ptrTime(t metav1.Time) *metav1.Time { return &t }

// TestSetStatusKeepsWhatItDidNotLearn: a reconcile cut short (an API error,
// a launcher kept before a retry, a deletion) changes only the fields whose
// facts it gathered.
func TestSetStatusKeepsWhatItDidNotLearn(t *testing.T) {
	stored := func() *v1alpha2.VirtualMachine {
		vm := testVM()
		vm.Status.Phase, vm.Status.Node = v1alpha2.VirtualMachinePhaseRunning, "node-a"
		for _, c := range []v1alpha2.VirtualMachineConditionType{v1alpha2.VirtualMachineConditionClassReady,
			v1alpha2.VirtualMachineConditionBlockDevicesReady, v1alpha2.VirtualMachineConditionRunning} {
			vm.Status.Conditions = append(vm.Status.Conditions, metav1.Condition{Type: string(c), Status: metav1.ConditionTrue, Reason: string(c)})
		}
		return vm
	}
	reason := func(vm *v1alpha2.VirtualMachine, t v1alpha2.VirtualMachineConditionType) string {
		for _, c := range vm.Status.Conditions {
			if c.Type == string(t) {
				return c.Reason
			}
		}
		return "-"
	}
	for _, tc := range []struct {
		name                                   string
		p                                      *plan
		phase                                  v1alpha2.VirtualMachinePhase
		node                                   string
		class, devices, sizing, running, await string
	}{
		{"nothing learnt", &plan{}, "Running", "node-a", "VirtualMachineClassReady", "BlockDevicesReady", "-", "Running", "-"},
		{"deleted", &plan{deleting: true, powered: true}, "Terminating", "node-a", "VirtualMachineClassReady", "BlockDevicesReady", "-", "Running", "-"},
		{"launcher failed, kept", &plan{launchFailure: &ended{Message: "no firmware"}}, "Running", "node-a",
			"VirtualMachineClassReady", "BlockDevicesReady", "-", "InternalVirtualMachineError", "-"},
		{"class gone, then an error", &plan{classChecked: true, run: true}, "Running", "node-a",
			"VirtualMachineClassNotReady", "BlockDevicesReady", "VirtualMachineClassNotFound", "Running", "-"},
		{"launcher failed, next one created", &plan{launchFailure: &ended{}, classChecked: true, class: &v1alpha2.VirtualMachineClass{},
			devicesChecked: true, provisioningChecked: true, run: true, active: launcherIn(""), powered: true}, "Starting", "",
			"VirtualMachineClassReady", "BlockDevicesReady", "-", "PodNotStarted", "-"},
		{"stopped", &plan{classChecked: true, class: &v1alpha2.VirtualMachineClass{}, devicesChecked: true,
			provisioningChecked: true, powered: true, restartChecked: true}, "Stopped", "",
			"VirtualMachineClassReady", "BlockDevicesReady", "-", "NotRunning", "NoRestartRequired"},
	} {
		vm := stored()
		tc.p.cores, tc.p.fraction, tc.p.sockets = 3, 100, 1 // as reconcileClass leaves them
		setStatus(vm, tc.p, metav1.Now())
		got := []string{string(vm.Status.Phase), vm.Status.Node, reason(vm, v1alpha2.VirtualMachineConditionClassReady),
			reason(vm, v1alpha2.VirtualMachineConditionBlockDevicesReady), reason(vm, v1alpha2.VirtualMachineConditionSizingPolicyMatched),
			reason(vm, v1alpha2.VirtualMachineConditionRunning), reason(vm, v1alpha2.VirtualMachineConditionAwaitingRestartToApplyConfiguration)}
		want := []string{string(tc.phase), tc.node, tc.class, tc.devices, tc.sizing, tc.running, tc.await}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, want)
		}
		for _, c := range vm.Status.Conditions {
			if c.Reason != string(c.Type) && c.ObservedGeneration != vm.Generation {
				t.Errorf("%s: condition %s set without the generation", tc.name, c.Type)
			}
		}
	}
}

// TestSetStatusRunning: a running machine's devices are attached, and its
// node, pod and QEMU version are shown.
func TestSetStatusRunning(t *testing.T) {
	vm := testVM()
	pod := launcherIn(corev1.PodRunning, guest(corev1.ConditionTrue, "Running", ""),
		corev1.PodCondition{Type: podQEMUVersion, Status: corev1.ConditionTrue, Reason: "9.2.0"})
	pod.Spec.NodeName = "node-a"
	p := &plan{classChecked: true, class: &v1alpha2.VirtualMachineClass{}, devicesChecked: true, provisioningChecked: true,
		run: true, active: pod, powered: true, cores: 3, fraction: 100, sockets: 1,
		deviceStatus: []v1alpha2.BlockDeviceStatusRef{{Kind: v1alpha2.BlockDeviceKindVirtualDisk, Name: "root"}}}
	setStatus(vm, p, metav1.Now())
	st := vm.Status
	if st.Phase != v1alpha2.VirtualMachinePhaseRunning || st.Node != "node-a" || len(st.VirtualMachinePods) != 1 ||
		st.VirtualMachinePods[0].Name != pod.Name || !st.VirtualMachinePods[0].Active || st.Versions == nil || st.Versions.Qemu != "9.2.0" {
		t.Errorf("status %+v", st)
	}
	if len(st.BlockDeviceRefs) != 1 || !st.BlockDeviceRefs[0].Attached || p.deviceStatus[0].Attached {
		t.Errorf("devices %+v (plan %+v)", st.BlockDeviceRefs, p.deviceStatus)
	}
	if st.Resources == nil || st.Resources.CPU.Cores != 3 {
		t.Errorf("resources %+v", st.Resources)
	}
}
