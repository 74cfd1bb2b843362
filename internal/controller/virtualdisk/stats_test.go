package virtualdisk

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtlab/dvp/api/v1alpha2"
)

func TestObserveDurations(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	vd := &v1alpha2.VirtualDisk{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(t0)}}
	vd.Spec.DataSource = &v1alpha2.VirtualDiskDataSource{Type: v1alpha2.DataSourceTypeHTTP}
	step := func(prev, phase v1alpha2.VirtualDiskPhase, sourceReady bool, at time.Duration) {
		vd.Status.Phase = phase
		st := metav1.ConditionFalse
		if sourceReady {
			st = metav1.ConditionTrue
		}
		vd.Status.Conditions = []metav1.Condition{{Type: string(v1alpha2.VirtualDiskConditionDatasourceReady), Status: st}}
		observeDurations(vd, prev, t0.Add(at))
	}
	step("", v1alpha2.VirtualDiskPhasePending, false, time.Second)
	step(v1alpha2.VirtualDiskPhasePending, v1alpha2.VirtualDiskPhaseProvisioning, true, 3*time.Second)
	observeDVCRDone(vd, t0.Add(10*time.Second))
	step(v1alpha2.VirtualDiskPhaseProvisioning, v1alpha2.VirtualDiskPhaseWaitForFirstConsumer, true, 11*time.Second)
	step(v1alpha2.VirtualDiskPhaseWaitForFirstConsumer, v1alpha2.VirtualDiskPhaseProvisioning, true, 30*time.Second)
	step(v1alpha2.VirtualDiskPhaseProvisioning, v1alpha2.VirtualDiskPhaseReady, true, 42*time.Second)
	// Later passes change nothing.
	step(v1alpha2.VirtualDiskPhaseReady, v1alpha2.VirtualDiskPhaseResizing, true, 50*time.Second)
	step(v1alpha2.VirtualDiskPhaseResizing, v1alpha2.VirtualDiskPhaseReady, true, 60*time.Second)

	d := vd.Status.Stats.CreationDuration
	for name, c := range map[string]struct {
		got  *metav1.Duration
		want time.Duration
	}{
		"waitingForDependencies":  {d.WaitingForDependencies, 3 * time.Second},
		"dvcrProvisioning":        {d.DVCRProvisioning, 7 * time.Second},
		"waitingForFirstConsumer": {d.WaitingForFirstConsumer, 20 * time.Second},
		"totalProvisioning":       {d.TotalProvisioning, 42 * time.Second},
	} {
		if c.got == nil || c.got.Duration != c.want {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
}

func TestObserveDurationsBlank(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	vd := &v1alpha2.VirtualDisk{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(t0)}}
	vd.Status.Phase = v1alpha2.VirtualDiskPhaseReady
	observeDurations(vd, v1alpha2.VirtualDiskPhaseProvisioning, t0.Add(1500*time.Millisecond))
	d := vd.Status.Stats.CreationDuration
	if d.WaitingForDependencies != nil || d.DVCRProvisioning != nil || d.WaitingForFirstConsumer != nil {
		t.Errorf("a blank disk has stages it never went through: %+v", d)
	}
	if d.TotalProvisioning == nil || d.TotalProvisioning.Duration != 1500*time.Millisecond {
		t.Errorf("totalProvisioning = %v", d.TotalProvisioning)
	}
}
