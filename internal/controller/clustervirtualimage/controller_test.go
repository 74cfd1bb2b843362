package clustervirtualimage

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/controller/importjob"
	"github.com/virtlab/dvp/internal/platform"
)

func launcher(name, claim string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "vms", Name: name}}
	p.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
	p.Status.Phase = corev1.PodRunning
	return p
}

func finished(p *corev1.Pod) *corev1.Pod {
	p.Status.Phase = corev1.PodSucceeded
	return p
}

// TestImageFromDisk reconciles a ClusterVirtualImage from a VirtualDisk in
// the states the disk can be in, and checks what the image says and the
// importer pod it makes.
func TestImageFromDisk(t *testing.T) {
	block, fs := corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem
	disk := func(phase v1alpha2.VirtualDiskPhase, mode *corev1.PersistentVolumeMode, vms ...v1alpha2.AttachedVirtualMachine) []client.Object {
		vd := &v1alpha2.VirtualDisk{ObjectMeta: metav1.ObjectMeta{Namespace: "vms", Name: "root"}}
		vd.Status.Phase, vd.Status.AttachedToVirtualMachines = phase, vms
		vd.Status.Target.PersistentVolumeClaim = "vd-root-uid"
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "vms", Name: "vd-root-uid"}}
		pvc.Spec.VolumeMode = mode
		return []client.Object{vd, pvc}
	}
	tests := []struct {
		name   string
		objs   []client.Object
		reason string // DatasourceReady False, or "" when the import starts
		msg    string
		mode   string
	}{
		{"no disk", nil, "VirtualDiskNotReady", "not found", ""},
		{"disk provisioning", disk(v1alpha2.VirtualDiskPhaseProvisioning, &block), "VirtualDiskNotReady", `now "Provisioning"`, ""},
		{"disk in a running machine", disk(v1alpha2.VirtualDiskPhaseReady, &block, v1alpha2.AttachedVirtualMachine{Name: "web", Mounted: true}),
			"VirtualDiskAttachedToVirtualMachine", "VirtualMachine web: stop", ""},
		{"disk of a stopping machine", append(disk(v1alpha2.VirtualDiskPhaseReady, &block), launcher("virt-launcher-web", "vd-root-uid")),
			"VirtualDiskNotReadyForUse", "in use by pod virt-launcher-web", ""},
		{"disk of a stopped machine, Block", disk(v1alpha2.VirtualDiskPhaseReady, &block, v1alpha2.AttachedVirtualMachine{Name: "web"}), "", "", "Block"},
		{"Filesystem thin clone", disk(v1alpha2.VirtualDiskPhaseReady, &fs), "", "", "Filesystem"},
		{"a finished pod had the claim", append(disk(v1alpha2.VirtualDiskPhaseReady, &fs), finished(launcher("old", "vd-root-uid"))), "", "", "Filesystem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cvi := &v1alpha2.ClusterVirtualImage{ObjectMeta: metav1.ObjectMeta{Name: "golden", UID: "cvi-uid"}}
			cvi.Spec.DataSource = v1alpha2.ClusterVirtualImageDataSource{Type: v1alpha2.DataSourceTypeObjectRef,
				ObjectRef: &v1alpha2.ClusterVirtualImageObjectRef{Kind: v1alpha2.ObjectRefKindVirtualDisk, Name: "root", Namespace: "vms"}}
			c := fake.NewClientBuilder().WithScheme(platform.Scheme()).
				WithStatusSubresource(&v1alpha2.ClusterVirtualImage{}).
				WithObjects(append(tt.objs, cvi)...).Build()
			r := &Reconciler{Client: c, Recorder: record.NewFakeRecorder(10),
				Jobs: &importjob.Env{Client: c, DVCRAddress: "dvcr.test:5443", DVCRHost: "dvcr.test", DVCRSecret: []byte("s")}}
			ctx := context.Background()
			req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(cvi)}
			if _, err := r.Reconcile(ctx, req); err != nil {
				t.Fatal(err)
			}
			if err := c.Get(ctx, req.NamespacedName, cvi); err != nil {
				t.Fatal(err)
			}
			cond := meta.FindStatusCondition(cvi.Status.Conditions, "DatasourceReady")
			pod := &corev1.Pod{}
			podErr := c.Get(ctx, client.ObjectKey{Namespace: "vms", Name: "cvi-importer-golden"}, pod)
			if tt.reason != "" {
				if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != tt.reason || !strings.Contains(cond.Message, tt.msg) {
					t.Errorf("DatasourceReady %+v, want False %s with %q", cond, tt.reason, tt.msg)
				}
				if cvi.Status.Phase != v1alpha2.ClusterVirtualImagePhasePending {
					t.Errorf("phase %q, want Pending", cvi.Status.Phase)
				}
				if podErr == nil {
					t.Error("the importer pod was made")
				}
				return
			}
			if cond == nil || cond.Status != metav1.ConditionTrue {
				t.Errorf("DatasourceReady %+v, want True", cond)
			}
			if podErr != nil {
				t.Fatalf("importer pod in the disk's namespace: %v", podErr)
			}
			if !metav1.IsControlledBy(pod, cvi) {
				t.Error("the importer pod is not owned by the image")
			}
			env := map[string]string{}
			for _, e := range pod.Spec.Containers[0].Env {
				env[e.Name] = e.Value
			}
			ctr := pod.Spec.Containers[0]
			if env["IMPORTER_SOURCE"] != "volume" || env["IMPORTER_VOLUME_MODE"] != tt.mode || env["IMPORTER_DEST"] != "dvcr.test:5443/cvi/golden:cvi-uid" {
				t.Errorf("env %v", env)
			}
			var claim *corev1.PersistentVolumeClaimVolumeSource
			for _, v := range pod.Spec.Volumes {
				if v.PersistentVolumeClaim != nil {
					claim = v.PersistentVolumeClaim
				}
			}
			if claim == nil || claim.ClaimName != "vd-root-uid" || !claim.ReadOnly {
				t.Errorf("claim volume %+v", claim)
			}
			switch tt.mode {
			case "Block":
				if len(ctr.VolumeDevices) != 1 || env["IMPORTER_URL"] != ctr.VolumeDevices[0].DevicePath {
					t.Errorf("devices %+v, url %s", ctr.VolumeDevices, env["IMPORTER_URL"])
				}
			case "Filesystem":
				ok := false
				for _, m := range ctr.VolumeMounts {
					ok = ok || m.Name == "disk" && m.ReadOnly && env["IMPORTER_URL"] == m.MountPath+"/disk.qcow2"
				}
				if !ok || len(ctr.VolumeDevices) != 0 {
					t.Errorf("mounts %+v, devices %+v, url %s", ctr.VolumeMounts, ctr.VolumeDevices, env["IMPORTER_URL"])
				}
			}

			// Once the import runs, a machine starting with the disk does
			// not stop it.
			vd := &v1alpha2.VirtualDisk{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: "vms", Name: "root"}, vd); err != nil {
				t.Fatal(err)
			}
			vd.Status.AttachedToVirtualMachines = []v1alpha2.AttachedVirtualMachine{{Name: "web", Mounted: true}}
			if err := c.Update(ctx, vd); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Reconcile(ctx, req); err != nil {
				t.Fatal(err)
			}
			if err := c.Get(ctx, req.NamespacedName, cvi); err != nil {
				t.Fatal(err)
			}
			if cond := meta.FindStatusCondition(cvi.Status.Conditions, "DatasourceReady"); cond.Status != metav1.ConditionTrue || cvi.Status.Phase != v1alpha2.ClusterVirtualImagePhaseProvisioning {
				t.Errorf("after the machine started: phase %s, DatasourceReady %+v", cvi.Status.Phase, cond)
			}
		})
	}
}
