package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

type recordingNotifier struct {
	mu    sync.Mutex
	calls []int64
	err   error
}

func (n *recordingNotifier) VolumeResized(_ context.Context, pvName string, newBytes int64) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, newBytes)
	return n.err
}

func (n *recordingNotifier) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.calls)
}

// bound provisions a 100M volume with p and returns the PV and a claim bound
// to it, as the library and kube-controller-manager would leave them.
func bound(t *testing.T, p *Provisioner, mode corev1.PersistentVolumeMode) (*corev1.PersistentVolume, *corev1.PersistentVolumeClaim) {
	t.Helper()
	claim := testClaim("100M", mode)
	pv, _, err := p.Provision(context.Background(), controller.ProvisionOptions{
		StorageClass: testClass("linstor-thin-r2", false, storagev1.VolumeBindingImmediate),
		PVName:       "pvc-0b1c2d3e",
		PVC:          claim,
	})
	if err != nil {
		t.Fatal(err)
	}
	pv.Annotations[annProvisionedBy] = ProvisionerName
	claim.Spec.VolumeName = pv.Name
	claim.Status = corev1.PersistentVolumeClaimStatus{
		Phase:       corev1.ClaimBound,
		AccessModes: claim.Spec.AccessModes,
		Capacity:    corev1.ResourceList{corev1.ResourceStorage: pv.Spec.Capacity[corev1.ResourceStorage]},
	}
	return pv, claim
}

func newTestResizer(t *testing.T, c *fake.Clientset, dataDir string, n ResizeNotifier) *resizer {
	t.Helper()
	store, err := newVolumeStore(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return &resizer{kube: c, store: store, notifier: n, recorder: record.NewFakeRecorder(100), now: metav1.Now}
}

func expand(claim *corev1.PersistentVolumeClaim, size string) {
	claim.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse(size)
}

func getBoth(t *testing.T, c *fake.Clientset) (*corev1.PersistentVolume, *corev1.PersistentVolumeClaim) {
	t.Helper()
	ctx := context.Background()
	pv, err := c.CoreV1().PersistentVolumes().Get(ctx, "pvc-0b1c2d3e", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claim, err := c.CoreV1().PersistentVolumeClaims("vms").Get(ctx, "disk", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pv, claim
}

func checkResized(t *testing.T, c *fake.Clientset, want string) {
	t.Helper()
	pv, claim := getBoth(t, c)
	if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.String() != want {
		t.Errorf("PV capacity = %s, want %s", got.String(), want)
	}
	if got := claim.Status.Capacity[corev1.ResourceStorage]; got.String() != want {
		t.Errorf("claim status.capacity = %s, want %s", got.String(), want)
	}
	if got := claim.Status.AllocatedResources[corev1.ResourceStorage]; got.String() != want {
		t.Errorf("claim status.allocatedResources = %s, want %s", got.String(), want)
	}
	if hasCondition(claim.Status.Conditions, corev1.PersistentVolumeClaimResizing) {
		t.Errorf("Resizing condition left: %+v", claim.Status.Conditions)
	}
}

// pattern fills a KiB with bytes that differ from zeros and from each other.
func pattern(seed byte) []byte {
	b := make([]byte, 1024)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func TestResizeBlockKeepsData(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	p, err := NewProvisioner(dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	pv, claim := bound(t, p, corev1.PersistentVolumeBlock)
	path := pv.Annotations[AnnotationVolumePath]
	oldSize := int64(97657 * 1024)

	head, tail := pattern(1), pattern(101)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(head, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(tail, oldSize-int64(len(tail))); err != nil {
		t.Fatal(err)
	}
	f.Close()

	expand(claim, "200M")
	c := fake.NewClientset(pv, claim)
	n := &recordingNotifier{}
	r := newTestResizer(t, c, dataDir, n)
	if !needsResize(claim) {
		t.Fatal("needsResize = false for 200M over 97657Ki")
	}
	if err := r.resize(ctx, claim.DeepCopy(), pv); err != nil {
		t.Fatal(err)
	}
	checkResized(t, c, "195313Ki")
	newSize := int64(195313 * 1024)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != newSize {
		t.Errorf("file is %d bytes, want %d", fi.Size(), newSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data[:1024], head) {
		t.Error("first KiB changed")
	}
	if !bytes.Equal(data[oldSize-1024:oldSize], tail) {
		t.Error("last KiB of the old size changed")
	}
	if !bytes.Equal(data[oldSize:], make([]byte, newSize-oldSize)) {
		t.Error("the grown range does not read as zeros")
	}
	if len(n.calls) != 1 || n.calls[0] != newSize {
		t.Errorf("notifier calls = %v, want [%d]", n.calls, newSize)
	}

	// Done: a second pass changes nothing and tells no one.
	pv, claim = getBoth(t, c)
	if needsResize(claim) {
		t.Error("needsResize after the resize")
	}
	if err := r.resize(ctx, claim.DeepCopy(), pv); err != nil {
		t.Fatal(err)
	}
	if len(n.calls) != 1 {
		t.Errorf("notifier called again: %v", n.calls)
	}
}

func TestResizeFilesystem(t *testing.T) {
	dataDir := t.TempDir()
	p, err := NewProvisioner(dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	pv, claim := bound(t, p, corev1.PersistentVolumeFilesystem)
	expand(claim, "10Gi")
	c := fake.NewClientset(pv, claim)
	if err := newTestResizer(t, c, dataDir, nil).resize(context.Background(), claim.DeepCopy(), pv); err != nil {
		t.Fatal(err)
	}
	checkResized(t, c, "10Gi")
}

// Each way a resize can be cut short: the next attempt finishes it.
func TestResizeResumes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		crash func(t *testing.T, path string, pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim)
	}{
		{name: "after the condition was set", crash: func(t *testing.T, _ string, _ *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) {
			claim.Status.Conditions = setResizingCondition(nil, "growing", metav1.Now())
		}},
		{name: "after the file grew", crash: func(t *testing.T, path string, _ *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) {
			claim.Status.Conditions = setResizingCondition(nil, "growing", metav1.Now())
			if err := os.Truncate(path, 195313*1024); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "after the PV grew", crash: func(t *testing.T, path string, pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) {
			claim.Status.Conditions = setResizingCondition(nil, "growing", metav1.Now())
			if err := os.Truncate(path, 195313*1024); err != nil {
				t.Fatal(err)
			}
			pv.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("195313Ki")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			p, err := NewProvisioner(dataDir, nil)
			if err != nil {
				t.Fatal(err)
			}
			pv, claim := bound(t, p, corev1.PersistentVolumeBlock)
			expand(claim, "200M")
			tc.crash(t, pv.Annotations[AnnotationVolumePath], pv, claim)
			c := fake.NewClientset(pv, claim)
			if err := newTestResizer(t, c, dataDir, nil).resize(ctx, claim.DeepCopy(), pv); err != nil {
				t.Fatal(err)
			}
			checkResized(t, c, "195313Ki")
			if fi, _ := os.Stat(pv.Annotations[AnnotationVolumePath]); fi.Size() != 195313*1024 {
				t.Errorf("file is %d bytes", fi.Size())
			}
		})
	}
}

// A stale Resizing condition on a claim that already has its size is cleared.
func TestResizeClearsStaleCondition(t *testing.T) {
	dataDir := t.TempDir()
	p, err := NewProvisioner(dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	pv, claim := bound(t, p, corev1.PersistentVolumeBlock)
	claim.Status.Conditions = setResizingCondition(nil, "growing", metav1.Now())
	if !needsResize(claim) {
		t.Fatal("needsResize = false with a Resizing condition")
	}
	c := fake.NewClientset(pv, claim)
	if err := newTestResizer(t, c, dataDir, nil).resize(context.Background(), claim.DeepCopy(), pv); err != nil {
		t.Fatal(err)
	}
	checkResizedCondOnly(t, c)
}

func checkResizedCondOnly(t *testing.T, c *fake.Clientset) {
	t.Helper()
	_, claim := getBoth(t, c)
	if hasCondition(claim.Status.Conditions, corev1.PersistentVolumeClaimResizing) {
		t.Errorf("Resizing condition left: %+v", claim.Status.Conditions)
	}
	if got := claim.Status.Capacity[corev1.ResourceStorage]; got.String() != "97657Ki" {
		t.Errorf("capacity changed to %s", got.String())
	}
}

// Failures leave the claim Resizing at its old size, and never create a
// backing in place of a lost one.
func TestResizeFailures(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		damage   func(t *testing.T, path string)
		notifier *recordingNotifier
	}{
		{name: "backing missing", damage: func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "notifier fails", notifier: &recordingNotifier{err: errors.New("qmp: block_resize failed")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			p, err := NewProvisioner(dataDir, nil)
			if err != nil {
				t.Fatal(err)
			}
			pv, claim := bound(t, p, corev1.PersistentVolumeBlock)
			path := pv.Annotations[AnnotationVolumePath]
			if tc.damage != nil {
				tc.damage(t, path)
			}
			expand(claim, "200M")
			c := fake.NewClientset(pv, claim)
			var n ResizeNotifier
			if tc.notifier != nil {
				n = tc.notifier
			}
			r := newTestResizer(t, c, dataDir, n)
			if err := r.resize(ctx, claim.DeepCopy(), pv); err == nil {
				t.Fatal("resize succeeded")
			}
			pv, got := getBoth(t, c)
			if !hasCondition(got.Status.Conditions, corev1.PersistentVolumeClaimResizing) {
				t.Error("no Resizing condition after a failure")
			}
			if q := got.Status.Capacity[corev1.ResourceStorage]; q.String() != "97657Ki" {
				t.Errorf("claim capacity = %s after a failure", q.String())
			}
			if q := pv.Spec.Capacity[corev1.ResourceStorage]; q.String() != "97657Ki" {
				t.Errorf("PV capacity = %s after a failure", q.String())
			}
			if tc.damage != nil {
				if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a lost backing was recreated: %v", err)
				}
			}
			events := r.recorder.(*record.FakeRecorder).Events
			close(events)
			var warned bool
			for e := range events {
				warned = warned || strings.HasPrefix(e, "Warning "+reasonResizeFailed)
			}
			if !warned {
				t.Error("no VolumeResizeFailed event")
			}
		})
	}
}

// RunResizer notices an expanded claim through its watch and completes it;
// claims of other provisioners are left alone.
func TestRunResizer(t *testing.T) {
	dataDir := t.TempDir()
	p, err := NewProvisioner(dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	pv, claim := bound(t, p, corev1.PersistentVolumeBlock)
	other := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-other", Annotations: map[string]string{annProvisionedBy: "nfs.csi.k8s.io"}},
		Spec:       corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}
	otherClaim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "nfs", Namespace: "vms"},
		Spec: corev1.PersistentVolumeClaimSpec{
			VolumeName: "pvc-other",
			Resources:  corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}
	c := fake.NewClientset(pv, claim, other, otherClaim)
	n := &recordingNotifier{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunResizer(ctx, c, dataDir, WithResizeNotifier(n)) }()

	expand(claim, "200M")
	if _, err := c.CoreV1().PersistentVolumeClaims("vms").Update(ctx, claim, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, got := getBoth(t, c)
		if q := got.Status.Capacity[corev1.ResourceStorage]; q.String() == "195313Ki" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("claim not resized within 10s: %+v", got.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkResized(t, c, "195313Ki")
	if n.count() != 1 {
		t.Errorf("notifier called %d times", n.count())
	}
	got, _ := c.CoreV1().PersistentVolumes().Get(ctx, "pvc-other", metav1.GetOptions{})
	if q := got.Spec.Capacity[corev1.ResourceStorage]; q.String() != "1Gi" {
		t.Errorf("a foreign PV was resized to %s", q.String())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunResizer = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunResizer did not return after cancel")
	}
}
