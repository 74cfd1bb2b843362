package storage

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons of the claim's Resizing condition and of the resizer's events,
// spelled as kubelet and the CSI external-resizer spell them, so tooling that
// knows those recognises these.
const (
	reasonResizing        = "Resizing"
	reasonResizeSucceeded = "VolumeResizeSuccessful"
	reasonResizeFailed    = "VolumeResizeFailed"
)

// setResizingCondition returns conds with a True Resizing condition carrying
// message. The transition time is kept when the condition was already True,
// so it tells when the resize began, not when it was last retried.
func setResizingCondition(conds []corev1.PersistentVolumeClaimCondition, message string, now metav1.Time) []corev1.PersistentVolumeClaimCondition {
	out := make([]corev1.PersistentVolumeClaimCondition, 0, len(conds)+1)
	set := corev1.PersistentVolumeClaimCondition{
		Type:               corev1.PersistentVolumeClaimResizing,
		Status:             corev1.ConditionTrue,
		Reason:             reasonResizing,
		Message:            message,
		LastProbeTime:      now,
		LastTransitionTime: now,
	}
	found := false
	for _, c := range conds {
		if c.Type != corev1.PersistentVolumeClaimResizing {
			out = append(out, c)
			continue
		}
		if c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
			set.LastTransitionTime = c.LastTransitionTime
		}
		if !found {
			out = append(out, set)
			found = true
		}
	}
	if !found {
		out = append(out, set)
	}
	return out
}

// removeCondition returns conds without any condition of type t.
func removeCondition(conds []corev1.PersistentVolumeClaimCondition, t corev1.PersistentVolumeClaimConditionType) []corev1.PersistentVolumeClaimCondition {
	var out []corev1.PersistentVolumeClaimCondition
	for _, c := range conds {
		if c.Type != t {
			out = append(out, c)
		}
	}
	return out
}

// hasCondition reports whether conds hold a condition of type t.
func hasCondition(conds []corev1.PersistentVolumeClaimCondition, t corev1.PersistentVolumeClaimConditionType) bool {
	for _, c := range conds {
		if c.Type == t {
			return true
		}
	}
	return false
}
