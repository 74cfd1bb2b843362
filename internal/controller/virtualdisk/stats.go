package virtualdisk

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtlab/dvp/api/v1alpha2"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
)

// observeDurations fills status.stats.creationDuration as the disk passes
// each stage of its creation, once: the first time its data source is
// ready, when it leaves WaitForFirstConsumer, and when it is first Ready.
// Each part is measured from where the previous parts end, so the parts add
// up to the total. prev is the phase the disk had before this reconcile.
func observeDurations(vd *v1alpha2.VirtualDisk, prev v1alpha2.VirtualDiskPhase, now time.Time) {
	d := &vd.Status.Stats.CreationDuration
	if d.TotalProvisioning != nil {
		return
	}
	elapsed := now.Sub(vd.CreationTimestamp.Time)
	dur := func(x time.Duration) *metav1.Duration {
		return &metav1.Duration{Duration: max(x, 0).Round(time.Millisecond)}
	}
	accounted := func() time.Duration {
		var sum time.Duration
		for _, p := range []*metav1.Duration{d.WaitingForDependencies, d.DVCRProvisioning, d.WaitingForFirstConsumer} {
			if p != nil {
				sum += p.Duration
			}
		}
		return sum
	}
	if d.WaitingForDependencies == nil && vd.Spec.DataSource != nil &&
		ctrlreconcile.ConditionTrue(vd.Status.Conditions, v1alpha2.VirtualDiskConditionDatasourceReady) {
		d.WaitingForDependencies = dur(elapsed)
	}
	if d.WaitingForFirstConsumer == nil && prev == v1alpha2.VirtualDiskPhaseWaitForFirstConsumer &&
		vd.Status.Phase != v1alpha2.VirtualDiskPhaseWaitForFirstConsumer {
		d.WaitingForFirstConsumer = dur(elapsed - accounted())
	}
	if vd.Status.Phase == v1alpha2.VirtualDiskPhaseReady {
		d.TotalProvisioning = dur(elapsed)
	}
}

// observeDVCRDone records how long the import into DVCR of a disk's staged
// data took, once.
func observeDVCRDone(vd *v1alpha2.VirtualDisk, now time.Time) {
	d := &vd.Status.Stats.CreationDuration
	if d.DVCRProvisioning != nil || d.TotalProvisioning != nil {
		return
	}
	x := now.Sub(vd.CreationTimestamp.Time)
	if d.WaitingForDependencies != nil {
		x -= d.WaitingForDependencies.Duration
	}
	d.DVCRProvisioning = &metav1.Duration{Duration: max(x, 0).Round(time.Millisecond)}
}
