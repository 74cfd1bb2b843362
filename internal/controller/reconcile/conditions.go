package reconcile

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SetCondition sets condition t on a condition list: True when ok, else
// False. An empty reason becomes the condition's type, because the API
// requires one. The transition time moves only when the status flips.
func SetCondition[T ~string](conds *[]metav1.Condition, generation int64, t T, ok bool, reason, msg string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	if reason == "" {
		reason = string(t)
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: string(t), Status: st, Reason: reason, Message: msg, ObservedGeneration: generation})
}

// Condition returns condition t of a list, or nil when it is not there.
func Condition[T ~string](conds []metav1.Condition, t T) *metav1.Condition {
	return meta.FindStatusCondition(conds, string(t))
}

// ConditionTrue reports whether condition t is present and True.
func ConditionTrue[T ~string](conds []metav1.Condition, t T) bool {
	return meta.IsStatusConditionTrue(conds, string(t))
}

// RemoveCondition drops condition t from a list.
func RemoveCondition[T ~string](conds *[]metav1.Condition, t T) {
	meta.RemoveStatusCondition(conds, string(t))
}
