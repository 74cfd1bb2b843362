package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

func testClass(name string, nodeLocal bool, mode storagev1.VolumeBindingMode) *storagev1.StorageClass {
	reclaim := corev1.PersistentVolumeReclaimDelete
	return &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: name},
		Provisioner:       ProvisionerName,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &mode,
		Parameters:        map[string]string{ParameterNodeLocal: map[bool]string{true: "true", false: "false"}[nodeLocal]},
	}
}

func testClaim(size string, mode corev1.PersistentVolumeMode, access ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	if len(access) == 0 {
		access = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "disk", Namespace: "vms", UID: "0b1c2d3e"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: access,
			VolumeMode:  &mode,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse(size),
			}},
		},
	}
}

func TestProvisionAndDelete(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		class        *storagev1.StorageClass
		mode         corev1.PersistentVolumeMode
		access       corev1.PersistentVolumeAccessMode
		selectedNode string
		wantNode     string // "" for a shared hostPath volume
	}{
		{name: "shared filesystem", class: testClass("linstor-thin-r2", false, storagev1.VolumeBindingImmediate), mode: corev1.PersistentVolumeFilesystem, access: corev1.ReadWriteMany},
		{name: "shared block", class: testClass("linstor-thin-r2", false, storagev1.VolumeBindingImmediate), mode: corev1.PersistentVolumeBlock, access: corev1.ReadWriteMany},
		{name: "shared block wffc", class: testClass("local-thin", false, storagev1.VolumeBindingWaitForFirstConsumer), mode: corev1.PersistentVolumeBlock, access: corev1.ReadWriteOnce, selectedNode: "node-2"},
		{name: "local filesystem wffc", class: testClass("local", true, storagev1.VolumeBindingWaitForFirstConsumer), mode: corev1.PersistentVolumeFilesystem, access: corev1.ReadWriteOnce, selectedNode: "node-2", wantNode: "node-2"},
		{name: "local block immediate", class: testClass("local", true, storagev1.VolumeBindingImmediate), mode: corev1.PersistentVolumeBlock, access: corev1.ReadOnlyMany, wantNode: "node-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			p, err := NewProvisioner(dataDir, []string{"node-1", "node-2"})
			if err != nil {
				t.Fatal(err)
			}
			opts := controller.ProvisionOptions{
				StorageClass:     tc.class,
				PVName:           "pvc-0b1c2d3e",
				PVC:              testClaim("100M", tc.mode, tc.access),
				SelectedNodeName: tc.selectedNode,
			}
			pv, state, err := p.Provision(ctx, opts)
			if err != nil || state != controller.ProvisioningFinished {
				t.Fatalf("Provision = %v, %v", state, err)
			}
			block := tc.mode == corev1.PersistentVolumeBlock
			wantPath := filepath.Join(dataDir, "volumes", "pvc-0b1c2d3e")
			if block {
				wantPath += ".img"
			}
			checkPV(t, pv, wantPath, tc.mode, tc.access, tc.wantNode)

			fi, err := os.Stat(wantPath)
			if err != nil {
				t.Fatalf("backing: %v", err)
			}
			if block {
				checkSparse(t, wantPath, 97657*1024)
			} else if !fi.IsDir() || fi.Mode().Perm() != filesystemDirMode {
				t.Errorf("backing %s: mode %v, want a directory with %o", wantPath, fi.Mode(), filesystemDirMode)
			}
			assertNoTemporaries(t, filepath.Join(dataDir, "volumes"))

			// The library calls again if storing the PV failed: same volume.
			pv2, _, err := p.Provision(ctx, opts)
			if err != nil {
				t.Fatalf("second Provision: %v", err)
			}
			if pv2.Annotations[AnnotationVolumePath] != wantPath {
				t.Errorf("second Provision path = %q", pv2.Annotations[AnnotationVolumePath])
			}

			if err := p.Delete(ctx, pv); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := os.Lstat(wantPath); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after Delete, %s: %v", wantPath, err)
			}
			if err := p.Delete(ctx, pv); err != nil {
				t.Errorf("Delete of a deleted volume: %v", err)
			}
		})
	}
}

func checkPV(t *testing.T, pv *corev1.PersistentVolume, path string, mode corev1.PersistentVolumeMode, access corev1.PersistentVolumeAccessMode, node string) {
	t.Helper()
	if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.String() != "97657Ki" {
		t.Errorf("capacity = %s, want 97657Ki", got.String())
	}
	if pv.Name != "pvc-0b1c2d3e" || pv.Labels[LabelManagedBy] != "dvp" || pv.Annotations[AnnotationVolumePath] != path {
		t.Errorf("metadata = %s %v %v", pv.Name, pv.Labels, pv.Annotations)
	}
	if pv.Spec.VolumeMode == nil || *pv.Spec.VolumeMode != mode {
		t.Errorf("volumeMode = %v, want %s", pv.Spec.VolumeMode, mode)
	}
	if len(pv.Spec.AccessModes) != 1 || pv.Spec.AccessModes[0] != access {
		t.Errorf("accessModes = %v, want [%s]", pv.Spec.AccessModes, access)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Errorf("reclaimPolicy = %s", pv.Spec.PersistentVolumeReclaimPolicy)
	}
	if node == "" {
		wantType := corev1.HostPathDirectoryOrCreate
		if mode == corev1.PersistentVolumeBlock {
			wantType = corev1.HostPathFile
		}
		if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != path || *pv.Spec.HostPath.Type != wantType || pv.Spec.Local != nil {
			t.Errorf("source = %+v, want hostPath %s type %s", pv.Spec.PersistentVolumeSource, path, wantType)
		}
		if pv.Spec.NodeAffinity != nil {
			t.Errorf("a shared volume has node affinity %+v", pv.Spec.NodeAffinity)
		}
		return
	}
	if pv.Spec.Local == nil || pv.Spec.Local.Path != path || pv.Spec.HostPath != nil {
		t.Errorf("source = %+v, want local %s", pv.Spec.PersistentVolumeSource, path)
	}
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil || len(na.Required.NodeSelectorTerms) != 1 {
		t.Fatalf("nodeAffinity = %+v", na)
	}
	exprs := na.Required.NodeSelectorTerms[0].MatchExpressions
	if len(exprs) != 1 || exprs[0].Key != "kubernetes.io/hostname" || exprs[0].Operator != corev1.NodeSelectorOpIn ||
		len(exprs[0].Values) != 1 || exprs[0].Values[0] != node {
		t.Errorf("nodeAffinity = %+v, want kubernetes.io/hostname In [%s]", exprs, node)
	}
}

// checkSparse asserts the file is exactly size bytes with (almost) no
// blocks allocated.
func checkSparse(t *testing.T, path string, size int64) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size {
		t.Errorf("%s is %d bytes, want %d", path, st.Size, size)
	}
	if allocated := st.Blocks * 512; allocated > 64<<10 {
		t.Errorf("%s has %d bytes allocated, want a sparse file", path, allocated)
	}
}

func assertNoTemporaries(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
}

func TestProvisionRefuses(t *testing.T) {
	ctx := context.Background()
	shared := testClass("shared", false, storagev1.VolumeBindingImmediate)
	for _, tc := range []struct {
		name   string
		nodes  []string
		class  *storagev1.StorageClass
		claim  func(*corev1.PersistentVolumeClaim)
		is     error
		substr string
	}{
		{name: "clone", class: shared, claim: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}
		}, is: ErrCloneNotSupported, substr: "not supported yet"},
		{name: "populator", class: shared, claim: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{Kind: "VolumeSnapshot", Name: "snap"}
		}, is: ErrCloneNotSupported},
		{name: "selector", class: shared, claim: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}, is: ErrSelectorNotSupported},
		{name: "read-write-once-pod", class: shared, claim: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod}
		}, is: ErrAccessMode, substr: "ReadWriteOncePod"},
		{name: "no request", class: shared, claim: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests = nil
		}, substr: "no storage request"},
		{name: "zero request", class: shared, claim: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("0")
		}, substr: "must be positive"},
		{name: "unknown parameter", class: func() *storagev1.StorageClass {
			c := testClass("typo", false, storagev1.VolumeBindingImmediate)
			c.Parameters["nodelocal"] = "true"
			return c
		}(), substr: `unknown parameter "nodelocal"`},
		{name: "bad nodeLocal", class: func() *storagev1.StorageClass {
			c := testClass("typo", false, storagev1.VolumeBindingImmediate)
			c.Parameters[ParameterNodeLocal] = "yes please"
			return c
		}(), substr: "is not true or false"},
		{name: "mount options", class: func() *storagev1.StorageClass {
			c := testClass("mo", false, storagev1.VolumeBindingImmediate)
			c.MountOptions = []string{"noatime"}
			return c
		}(), substr: "mountOptions"},
		{name: "node-local without nodes", class: testClass("local", true, storagev1.VolumeBindingImmediate), is: ErrNoNode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			p, err := NewProvisioner(dataDir, tc.nodes)
			if err != nil {
				t.Fatal(err)
			}
			claim := testClaim("1Gi", corev1.PersistentVolumeFilesystem)
			if tc.claim != nil {
				tc.claim(claim)
			}
			pv, state, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: tc.class, PVName: "pvc-x", PVC: claim})
			if err == nil {
				t.Fatalf("Provision succeeded: %+v", pv)
			}
			if state != controller.ProvisioningFinished {
				t.Errorf("state = %s, want Finished", state)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %q", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error %q does not say %q", err, tc.substr)
			}
			// Nothing was created for a refused claim.
			if entries, _ := os.ReadDir(filepath.Join(dataDir, "volumes")); len(entries) > 0 {
				t.Errorf("refused claim left %d entries in volumes/", len(entries))
			}
		})
	}
}

// A crash between creating a volume under its temporary name and renaming
// it leaves a .tmp- entry: never handed out, swept at start, and no obstacle
// to provisioning the same volume again.
func TestUnfinishedVolumesAreNeverHandedOut(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	vols := filepath.Join(dataDir, "volumes")
	if err := os.MkdirAll(filepath.Join(vols, ".tmp-pvc-a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vols, ".tmp-pvc-b.img"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := NewProvisioner(dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	class := testClass("shared", false, storagev1.VolumeBindingImmediate)
	pv, _, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: class, PVName: "pvc-b", PVC: testClaim("1Mi", corev1.PersistentVolumeBlock)})
	if err != nil {
		t.Fatal(err)
	}
	checkSparse(t, pv.Annotations[AnnotationVolumePath], 1<<20)

	if err := p.store.init(); err != nil {
		t.Fatal(err)
	}
	assertNoTemporaries(t, vols)
	if _, err := os.Stat(filepath.Join(vols, "pvc-b.img")); err != nil {
		t.Errorf("init removed a finished volume: %v", err)
	}
}

func TestDeleteRefusesPathEscapes(t *testing.T) {
	dataDir := t.TempDir()
	p, err := NewProvisioner(dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(dataDir, "keep")
	if err := os.WriteFile(victim, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../keep", "..", "", "a/b"} {
		pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{AnnotationVolumePath: victim},
		}}
		if err := p.Delete(context.Background(), pv); err == nil {
			t.Errorf("Delete of PV named %q succeeded", name)
		}
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("a file outside volumes/ was removed: %v", err)
	}
}
