package virtualmachine

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/virtlab/dvp/internal/launcher"
)

const (
	// LabelName marks a launcher pod with the name of its VirtualMachine.
	LabelName = "vm.virtualization.deckhouse.io/name"
	// IntentAnnotation records, on the VirtualMachine, whether a Manual or
	// AlwaysOnUnlessStoppedManually machine was last asked to run or to
	// stop (by an operation or by its guest powering off). The other
	// policies decide alone and clear it.
	IntentAnnotation = "vm.virtualization.deckhouse.io/power-intent"
	// AppliedSpecAnnotation, on a launcher pod, holds the machine spec the
	// pod was built from, to tell which changes await a restart.
	AppliedSpecAnnotation = "vm.virtualization.deckhouse.io/applied-spec"
	// Finalizer keeps a deleted machine Terminating until its guest is
	// shut down.
	Finalizer = "vm.virtualization.deckhouse.io/cleanup"

	IntentRunning = "Running"
	IntentStopped = "Stopped"

	// ContainerName is the launcher container, as upstream names it.
	ContainerName = "d8v-compute"

	// Pod conditions the launcher reports through the node runtime.
	podGuestRunning = corev1.PodConditionType("virtualization.deckhouse.io/GuestRunning")
	podAccel        = corev1.PodConditionType("virtualization.deckhouse.io/Acceleration")
	podQEMUVersion  = corev1.PodConditionType("virtualization.deckhouse.io/QEMUVersion")
)

// PodPrefix is the generateName of a machine's launcher pods.
func PodPrefix(vm string) string { return "virt-launcher-" + vm + "-" }

// ended is how a finished launcher pod ended: the reason word the launcher
// wrote first in its termination message, and the rest.
type ended struct {
	Reason  string
	Message string
}

func podEnding(pod *corev1.Pod) ended {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != ContainerName || cs.State.Terminated == nil {
			continue
		}
		t := cs.State.Terminated
		msg := strings.TrimSpace(t.Message)
		if reason, rest, ok := strings.Cut(msg, ":"); ok && knownReasons[reason] {
			return ended{Reason: reason, Message: strings.TrimSpace(rest)}
		}
		if t.ExitCode == 0 {
			return ended{Reason: launcher.ReasonHostShutdown, Message: msg}
		}
		if msg == "" {
			msg = t.Reason
		}
		return ended{Reason: launcher.ReasonQEMUExited, Message: msg}
	}
	return ended{Reason: launcher.ReasonQEMUExited, Message: "the launcher pod ended without a status: " + pod.Status.Message}
}

var knownReasons = map[string]bool{
	launcher.ReasonGuestShutdown: true, launcher.ReasonGuestReset: true, launcher.ReasonGuestPanic: true,
	launcher.ReasonHostShutdown: true, launcher.ReasonQEMUExited: true, launcher.ReasonFailed: true,
}

func podFinished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}
