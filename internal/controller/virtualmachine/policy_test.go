package virtualmachine

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/launcher"
)

func TestDecide(t *testing.T) {
	const (
		on     = v1alpha2.RunPolicyAlwaysOn
		manual = v1alpha2.RunPolicyManual
		unless = v1alpha2.RunPolicyAlwaysOnUnlessStoppedManually
	)
	for _, tc := range []struct {
		policy     v1alpha2.RunPolicy
		reason     string
		wantIntent string
	}{
		{on, launcher.ReasonGuestShutdown, ""},
		{on, launcher.ReasonQEMUExited, ""},
		{on, launcher.ReasonGuestReset, ""},
		{unless, launcher.ReasonGuestShutdown, IntentStopped},
		{unless, launcher.ReasonGuestReset, ""},
		{unless, launcher.ReasonGuestPanic, ""},
		{unless, launcher.ReasonQEMUExited, ""},
		{manual, launcher.ReasonGuestShutdown, IntentStopped},
		{manual, launcher.ReasonGuestReset, ""},
		{manual, launcher.ReasonQEMUExited, IntentStopped},
	} {
		got := decide(tc.policy, ended{Reason: tc.reason})
		if got.Intent != tc.wantIntent {
			t.Errorf("%s after %s: intent %q, want %q", tc.policy, tc.reason, got.Intent, tc.wantIntent)
		}
		if got.Message == "" || got.Reason == "" {
			t.Errorf("%s after %s: no event", tc.policy, tc.reason)
		}
	}
}

func TestShouldRun(t *testing.T) {
	vm := func(p v1alpha2.RunPolicy, intent string) *v1alpha2.VirtualMachine {
		v := &v1alpha2.VirtualMachine{Spec: v1alpha2.VirtualMachineSpec{RunPolicy: p}}
		if intent != "" {
			v.Annotations = map[string]string{IntentAnnotation: intent}
		}
		return v
	}
	for _, tc := range []struct {
		vm   *v1alpha2.VirtualMachine
		want bool
	}{
		{vm(v1alpha2.RunPolicyAlwaysOn, IntentStopped), true},
		{vm(v1alpha2.RunPolicyAlwaysOff, IntentRunning), false},
		{vm(v1alpha2.RunPolicyManual, ""), false},
		{vm(v1alpha2.RunPolicyManual, IntentRunning), true},
		{vm("", ""), true},
		{vm(v1alpha2.RunPolicyAlwaysOnUnlessStoppedManually, IntentStopped), false},
	} {
		if got := shouldRun(tc.vm); got != tc.want {
			t.Errorf("policy %q intent %q: %v, want %v", tc.vm.Spec.RunPolicy, tc.vm.Annotations[IntentAnnotation], got, tc.want)
		}
	}
}

func TestPodEnding(t *testing.T) {
	pod := func(code int32, msg string) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: ContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: msg, Reason: "Error"}},
		}}}}
	}
	if e := podEnding(pod(0, "GuestShutdown: the guest powered off")); e.Reason != launcher.ReasonGuestShutdown || e.Message != "the guest powered off" {
		t.Errorf("got %+v", e)
	}
	if e := podEnding(pod(137, "")); e.Reason != launcher.ReasonQEMUExited {
		t.Errorf("killed launcher: got %+v", e)
	}
	if e := podEnding(pod(1, "panic: something bad happened")); e.Reason != launcher.ReasonQEMUExited {
		t.Errorf("free text: got %+v", e)
	}
}

func TestBootOrdered(t *testing.T) {
	two, one := 2, 1
	refs := []v1alpha2.BlockDeviceSpecRef{{Name: "a"}, {Name: "b", BootOrder: &two}, {Name: "c", BootOrder: &one}}
	got := bootOrdered(refs)
	if got[0].Name != "c" || got[1].Name != "b" || got[2].Name != "a" {
		t.Errorf("order %s %s %s", got[0].Name, got[1].Name, got[2].Name)
	}
}

func TestPendingChanges(t *testing.T) {
	vm := &v1alpha2.VirtualMachine{Spec: v1alpha2.VirtualMachineSpec{CPU: v1alpha2.CPUSpec{Cores: 1}, RunPolicy: v1alpha2.RunPolicyManual}}
	applied, _ := json.Marshal(vm.Spec)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AppliedSpecAnnotation: string(applied)}}}
	if got := pendingChanges(vm, pod); len(got) != 0 {
		t.Fatalf("unchanged spec: %d changes", len(got))
	}
	vm.Spec.RunPolicy = v1alpha2.RunPolicyAlwaysOn // applies at once
	vm.Spec.CPU.Cores = 2
	got := pendingChanges(vm, pod)
	if len(got) != 1 {
		t.Fatalf("got %d changes, want 1 (cpu)", len(got))
	}
	var c map[string]any
	_ = json.Unmarshal(got[0].Raw, &c)
	if c["path"] != "cpu" || c["operation"] != "replace" {
		t.Errorf("change %v", c)
	}
}

func TestAffinityConversion(t *testing.T) {
	vm := &v1alpha2.VirtualMachine{}
	raw := `{"virtualMachineAndPodAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":10,"virtualMachineAndPodAffinityTerm":{"topologyKey":"kubernetes.io/hostname","labelSelector":{"matchLabels":{"vm":"linux"}}}}]}}`
	if err := json.Unmarshal([]byte(raw), &vm.Spec.Affinity); err != nil {
		t.Fatal(err)
	}
	a := affinity(vm, nil)
	if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("got %+v", a)
	}
	term := a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0]
	if term.Weight != 10 || term.PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" || term.PodAffinityTerm.LabelSelector.MatchLabels["vm"] != "linux" {
		t.Errorf("term %+v", term)
	}
}
