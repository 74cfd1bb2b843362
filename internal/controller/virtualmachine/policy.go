package virtualmachine

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/launcher"
)

// outcome is what the run policy makes of a launcher pod that ended.
type outcome struct {
	// Intent, when set, is the new power intent of the machine.
	Intent string
	// Event to record on the machine.
	EventType, Reason, Message string
}

// decide applies the run policy to how a launcher ended on its own (a pod
// deleted by someone is not judged here: the machine simply starts again if
// it should run). The intent decides whether a new launcher starts.
func decide(policy v1alpha2.RunPolicy, e ended) outcome {
	detail := e.Message
	if detail != "" {
		detail = ": " + detail
	}
	switch e.Reason {
	case launcher.ReasonGuestShutdown:
		switch policy {
		case v1alpha2.RunPolicyAlwaysOn:
			return outcome{EventType: corev1.EventTypeNormal, Reason: "Restarting", Message: "The guest powered off; starting it again as the AlwaysOn run policy requires"}
		default:
			return outcome{Intent: IntentStopped, EventType: corev1.EventTypeNormal, Reason: "Stopped", Message: "The guest powered off"}
		}
	case launcher.ReasonGuestReset:
		// A reboot inside the guest becomes a fresh start, so changes that
		// wait for a restart apply now.
		return outcome{EventType: corev1.EventTypeNormal, Reason: "Restarting", Message: "The guest rebooted; starting a new launcher so pending changes apply"}
	case launcher.ReasonHostShutdown:
		// The launcher was stopped from outside (its pod deleted): a machine
		// that should run runs again.
		return outcome{EventType: corev1.EventTypeNormal, Reason: "LauncherStopped", Message: "The launcher was stopped" + detail}
	default:
		crash := e.Reason + detail
		if policy == v1alpha2.RunPolicyManual {
			return outcome{Intent: IntentStopped, EventType: corev1.EventTypeWarning, Reason: "Crashed", Message: "The machine stopped unexpectedly (" + crash + "); the Manual run policy leaves it stopped"}
		}
		return outcome{EventType: corev1.EventTypeWarning, Reason: "Crashed", Message: "The machine stopped unexpectedly (" + crash + "); starting it again"}
	}
}

// shouldRun says whether the machine should have a launcher now.
func shouldRun(vm *v1alpha2.VirtualMachine) bool {
	switch policyOf(vm) {
	case v1alpha2.RunPolicyAlwaysOn:
		return true
	case v1alpha2.RunPolicyAlwaysOff:
		return false
	case v1alpha2.RunPolicyManual:
		return vm.Annotations[IntentAnnotation] == IntentRunning
	default:
		return vm.Annotations[IntentAnnotation] != IntentStopped
	}
}

func policyOf(vm *v1alpha2.VirtualMachine) v1alpha2.RunPolicy {
	if vm.Spec.RunPolicy == "" {
		return v1alpha2.RunPolicyAlwaysOnUnlessStoppedManually
	}
	return vm.Spec.RunPolicy
}
