package storage

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSetResizingCondition(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	other := corev1.PersistentVolumeClaimCondition{Type: "FileSystemResizePending", Status: corev1.ConditionTrue}
	resizing := func(msg string, transition metav1.Time, status corev1.ConditionStatus) corev1.PersistentVolumeClaimCondition {
		return corev1.PersistentVolumeClaimCondition{
			Type: corev1.PersistentVolumeClaimResizing, Status: status, Reason: reasonResizing,
			Message: msg, LastProbeTime: t1, LastTransitionTime: transition,
		}
	}
	for _, tc := range []struct {
		name string
		in   []corev1.PersistentVolumeClaimCondition
		want []corev1.PersistentVolumeClaimCondition
	}{
		{
			name: "added to none",
			want: []corev1.PersistentVolumeClaimCondition{resizing("m", t1, corev1.ConditionTrue)},
		},
		{
			name: "others kept in order",
			in:   []corev1.PersistentVolumeClaimCondition{other},
			want: []corev1.PersistentVolumeClaimCondition{other, resizing("m", t1, corev1.ConditionTrue)},
		},
		{
			name: "already true keeps its transition time",
			in:   []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionTrue, LastTransitionTime: t0}},
			want: []corev1.PersistentVolumeClaimCondition{resizing("m", t0, corev1.ConditionTrue)},
		},
		{
			name: "false becomes true now",
			in:   []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionFalse, LastTransitionTime: t0}},
			want: []corev1.PersistentVolumeClaimCondition{resizing("m", t1, corev1.ConditionTrue)},
		},
		{
			name: "duplicates collapse",
			in: []corev1.PersistentVolumeClaimCondition{
				{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionTrue, LastTransitionTime: t0},
				other,
				{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionTrue, LastTransitionTime: t0},
			},
			want: []corev1.PersistentVolumeClaimCondition{resizing("m", t0, corev1.ConditionTrue), other},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := setResizingCondition(tc.in, "m", t1)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("setResizingCondition (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRemoveCondition(t *testing.T) {
	a := corev1.PersistentVolumeClaimCondition{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionTrue}
	b := corev1.PersistentVolumeClaimCondition{Type: "Other", Status: corev1.ConditionTrue}
	for _, tc := range []struct {
		name string
		in   []corev1.PersistentVolumeClaimCondition
		want []corev1.PersistentVolumeClaimCondition
	}{
		{name: "none"},
		{name: "only it", in: []corev1.PersistentVolumeClaimCondition{a}},
		{name: "others kept", in: []corev1.PersistentVolumeClaimCondition{b, a, b}, want: []corev1.PersistentVolumeClaimCondition{b, b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := removeCondition(tc.in, corev1.PersistentVolumeClaimResizing)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("removeCondition (-want +got):\n%s", diff)
			}
			if hasCondition(got, corev1.PersistentVolumeClaimResizing) {
				t.Error("hasCondition still true")
			}
		})
	}
}
