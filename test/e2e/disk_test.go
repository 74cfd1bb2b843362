package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/virtlab/dvp/test/harness"
)

// TestBlankDisks creates blank VirtualDisks as the user documentation does
// and checks the columns, an online resize with the data intact, the
// WaitForFirstConsumer phase, and deletion of the claim with the disk.
func TestBlankDisks(t *testing.T) {
	srv := harness.Start(t, harness.Options{Config: storageConfig})
	srv.MustKubectl("create", "ns", "vms")

	// The seed's blank disk, unchanged.
	srv.MustKubectl("apply", "-f", "testdata/seed/07-vd-blank.yaml")
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vd", "vd-blank", "-o", "jsonpath={.status.phase}")
	uid := srv.MustKubectl("-n", "vms", "get", "vd", "vd-blank", "-o", "jsonpath={.metadata.uid}")
	out := srv.MustKubectl("-n", "vms", "get", "virtualdisk", "-o", "wide")
	cells := tableCells(out, "vd-blank")
	for h, w := range map[string]string{"PHASE": "Ready", "CAPACITY": "97657Ki", "PROGRESS": "100%", "STORAGECLASS": "linstor-thin-r2", "TARGETPVC": "vd-vd-blank-" + uid} {
		if cells[h] != w {
			t.Errorf("column %s = %q, want %q\n%s", h, cells[h], w, out)
		}
	}

	// Resize, online, with the seed's command; bytes written before survive.
	srv.MustKubectlStdin(obj("VirtualDisk", "ubuntu-root", "persistentVolumeClaim: {size: 10Gi, storageClassName: linstor-thin-r2}"), "apply", "-f", "-")
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vd", "ubuntu-root", "-o", "jsonpath={.status.phase}")
	pvc := srv.MustKubectl("-n", "vms", "get", "vd", "ubuntu-root", "-o", "jsonpath={.status.target.persistentVolumeClaimName}")
	pv := srv.MustKubectl("-n", "vms", "get", "pvc", pvc, "-o", "jsonpath={.spec.volumeName}")
	path := srv.MustKubectl("get", "pv", pv, "-o", `jsonpath={.metadata.annotations.virtualization\.deckhouse\.io/volume-path}`)
	data := bytes.Repeat([]byte("disk data "), 1000)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("opening the disk's backing %q: %v", path, err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	srv.MustKubectl("-n", "vms", "patch", "virtualdisk", "ubuntu-root", "--type", "merge", "-p", `{"spec":{"persistentVolumeClaim":{"size":"11Gi"}}}`)
	waitFor(t, srv, "11Gi", "-n", "vms", "get", "vd", "ubuntu-root", "-o", "jsonpath={.status.capacity}")
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vd", "ubuntu-root", "-o", "jsonpath={.status.phase}")
	got := make([]byte, len(data))
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ReadAt(got, 0)
	fi, _ := f.Stat()
	f.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("data changed by the resize (%v)", err)
	}
	if fi.Size() != 11<<30 {
		t.Errorf("backing file is %d bytes, want 11Gi", fi.Size())
	}

	// The default class waits for a consumer.
	srv.MustKubectlStdin(obj("VirtualDisk", "waits", "persistentVolumeClaim: {size: 1Gi}"), "apply", "-f", "-")
	waitFor(t, srv, "WaitForFirstConsumer", "-n", "vms", "get", "vd", "waits", "-o", "jsonpath={.status.phase}")
	if sc := srv.MustKubectl("-n", "vms", "get", "vd", "waits", "-o", "jsonpath={.status.storageClassName}"); sc != "local-thin" {
		t.Errorf("disk without a class got %q, want the default local-thin", sc)
	}

	// The seed's disk straight from HTTP is imported at once, although its
	// class waits for a consumer; the internet is out of reach here, so it
	// fails saying so.
	srv.MustKubectl("apply", "-f", "testdata/seed/10-vd-ubuntu-2204-root.yaml")
	waitFor(t, srv, "Provisioning", "-n", "vms", "get", "vd", "ubuntu-2204-root", "-o", "jsonpath={.status.phase}")
	waitLonger(t, srv, "Failed", "-n", "vms", "get", "vd", "ubuntu-2204-root", "-o", "jsonpath={.status.phase}")
	msg := srv.MustKubectl("-n", "vms", "get", "vd", "ubuntu-2204-root", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}`)
	if !strings.HasPrefix(msg, "ProvisioningFailed: ") || !strings.Contains(msg, "cloud-images.ubuntu.com") ||
		!strings.Contains(msg, "does not resolve") && !strings.Contains(msg, "check that it is reachable") {
		t.Errorf("disk from an unreachable URL: %q", msg)
	}
	t.Logf("seed disk from the internet: %s", msg)

	// Deleting a disk deletes its claim.
	srv.MustKubectl("-n", "vms", "delete", "vd", "vd-blank")
	waitFor(t, srv, "", "-n", "vms", "get", "pvc", "vd-vd-blank-"+uid, "--ignore-not-found", "-o", "name")
}

// TestDiskFromImage writes images onto disks and compares the bytes the
// volume holds with the source.
func TestDiskFromImage(t *testing.T) {
	dir, _ := imageFixtures(t)
	raw, err := os.ReadFile(dir + "/disk.img")
	if err != nil {
		t.Fatal(err)
	}
	srv := harness.Start(t, harness.Options{Config: storageConfig})
	base := serveFiles(t, srv, dir)
	srv.MustKubectl("create", "ns", "vms")
	for name, file := range map[string]string{"raw-src": "disk.img", "qcow2-src": "disk.qcow2"} {
		srv.MustKubectlStdin(httpImage(name, base+"/"+file), "apply", "-f", "-")
	}
	disk := func(name, kind, image, pvc string) string {
		return obj("VirtualDisk", name, fmt.Sprintf("persistentVolumeClaim: %s\ndataSource:\n  type: ObjectRef\n  objectRef: {kind: %s, name: %s}", pvc, kind, image))
	}
	srv.MustKubectlStdin(disk("from-raw", "VirtualImage", "raw-src", "{storageClassName: linstor-thin-r2}"), "apply", "-f", "-")
	srv.MustKubectlStdin(disk("from-qcow2", "VirtualImage", "qcow2-src", "{size: 1Gi, storageClassName: linstor-thin-r2}"), "apply", "-f", "-")
	srv.MustKubectlStdin(disk("too-small", "VirtualImage", "qcow2-src", "{size: 1Mi, storageClassName: linstor-thin-r2}"), "apply", "-f", "-")

	backing := func(vd string) []byte {
		b, err := os.ReadFile(diskRaw(t, srv, vd))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Without a size the disk takes the image's size.
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vd", "from-raw", "-o", "jsonpath={.status.phase}")
	if c := srv.MustKubectl("-n", "vms", "get", "vd", "from-raw", "-o", "jsonpath={.status.capacity}"); c != "4Mi" {
		t.Errorf("capacity of a disk from a 4 MiB image = %q", c)
	}
	if b := backing("from-raw"); !bytes.Equal(b, raw) {
		t.Errorf("disk from the raw image holds other bytes (%d bytes, want %d)", len(b), len(raw))
	}
	// A qcow2 image is written as raw data onto a larger disk.
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vd", "from-qcow2", "-o", "jsonpath={.status.phase}")
	if c := srv.MustKubectl("-n", "vms", "get", "vd", "from-qcow2", "-o", "jsonpath={.status.capacity}"); c != "1Gi" {
		t.Errorf("capacity = %q, want 1Gi", c)
	}
	b := backing("from-qcow2")
	if len(b) != 1<<30 || !bytes.Equal(b[:len(raw)], raw) || !bytes.Equal(b[len(raw):64<<20], make([]byte, 64<<20-len(raw))) {
		t.Errorf("disk from the qcow2 image does not hold the image's data (%d bytes)", len(b))
	}
	if d := srv.MustKubectl("-n", "vms", "get", "vd", "from-qcow2", "-o", "jsonpath={.status.stats.creationDuration.waitingForDependencies}/{.status.stats.creationDuration.totalProvisioning}"); !regexp.MustCompile(`^[0-9.]+m?s/[0-9.]+m?s$`).MatchString(d) {
		t.Errorf("creationDuration waitingForDependencies/totalProvisioning = %q", d)
	}
	// Both are thin clones: a qcow2 overlay on the node's cached copy of
	// the image, named by a relative path, on a Filesystem claim.
	for _, vd := range []string{"from-raw", "from-qcow2"} {
		pvc := srv.MustKubectl("-n", "vms", "get", "vd", vd, "-o", "jsonpath={.status.target.persistentVolumeClaimName}")
		if got := srv.MustKubectl("-n", "vms", "get", "pvc", pvc, "-o", "jsonpath={.spec.volumeMode}/{.spec.dataSourceRef.kind}"); got != "Filesystem/VirtualImage" {
			t.Errorf("%s claim mode/source = %q, want a Filesystem clone of a VirtualImage", vd, got)
		}
		out, err := exec.Command("qemu-img", "info", "--output=json", filepath.Join(backingPath(t, srv, vd), "disk.qcow2")).CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"backing-filename": "../../image-cache/`) {
			t.Errorf("%s overlay: %v\n%s", vd, err, out)
		}
	}
	// A thin clone grows offline: qemu-img resizes the overlay, the data
	// stays.
	srv.MustKubectl("-n", "vms", "patch", "vd", "from-qcow2", "--type", "merge", "-p", `{"spec":{"persistentVolumeClaim":{"size":"2Gi"}}}`)
	waitFor(t, srv, "2Gi/Ready", "-n", "vms", "get", "vd", "from-qcow2", "-o", "jsonpath={.status.capacity}/{.status.phase}")
	if b := backing("from-qcow2"); len(b) != 2<<30 || !bytes.Equal(b[:len(raw)], raw) {
		t.Errorf("thin clone after growing to 2Gi: %d bytes, data intact %v", len(b), len(b) >= len(raw) && bytes.Equal(b[:len(raw)], raw))
	}
	// Deleting the image leaves its disks whole: the cache entry lives
	// while a disk needs it.
	cached := func() int {
		es, _ := os.ReadDir(filepath.Join(srv.DataDir, "image-cache"))
		return len(es)
	}
	if n := cached(); n != 2 {
		t.Errorf("image cache holds %d entries, want 2 (one per image)", n)
	}
	srv.MustKubectl("-n", "vms", "delete", "vi", "raw-src")
	if b := backing("from-raw"); !bytes.Equal(b, raw) {
		t.Errorf("disk from a deleted image holds other bytes")
	}
	srv.MustKubectl("-n", "vms", "delete", "vd", "from-raw")
	for i := 0; cached() != 1; i++ {
		if i == 600 {
			t.Fatalf("image cache still holds %d entries after the image and its only disk were deleted", cached())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A disk smaller than the image says what to do.
	waitFor(t, srv, "Failed", "-n", "vms", "get", "vd", "too-small", "-o", "jsonpath={.status.phase}")
	msg := srv.MustKubectl("-n", "vms", "get", "vd", "too-small", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)
	if !strings.Contains(msg, "is smaller than the image (64Mi unpacked)") {
		t.Errorf("too-small message %q", msg)
	}
	// The seed's form: a disk from a ClusterVirtualImage.
	srv.MustKubectlStdin(fmt.Sprintf("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: ClusterVirtualImage\nmetadata: {name: ubuntu-img}\nspec:\n  dataSource:\n    type: HTTP\n    http: {url: %q}\n", base+"/disk.img"), "apply", "-f", "-")
	srv.MustKubectlStdin(strings.Replace(readFile(t, "testdata/seed/08-vd-ubuntu-root.yaml"), "storageClassName: linstor-thin-r2", "storageClassName: linstor-thin-r2\n", 1), "apply", "-f", "-")
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vd", "ubuntu-root", "-o", "jsonpath={.status.phase}")
	if c := srv.MustKubectl("-n", "vms", "get", "vd", "ubuntu-root", "-o", "jsonpath={.status.capacity}"); c != "10Gi" {
		t.Errorf("seed ubuntu-root capacity = %q, want 10Gi", c)
	}
}

// httpImage is a VirtualImage in vms imported over HTTP from url.
func httpImage(name, url string) string {
	return fmt.Sprintf("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: %s, namespace: vms}\nspec:\n  storage: ContainerRegistry\n  dataSource:\n    type: HTTP\n    http: {url: %q}\n", name, url)
}

// diskRaw returns a raw file holding the data of a disk: the Block
// volume's file itself, or a thin clone's overlay converted to raw.
func diskRaw(t *testing.T, srv *harness.Server, vd string) string {
	t.Helper()
	path := backingPath(t, srv, vd)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() {
		return path
	}
	out := filepath.Join(t.TempDir(), vd+".raw")
	if b, err := exec.Command("qemu-img", "convert", "-O", "raw", filepath.Join(path, "disk.qcow2"), out).CombinedOutput(); err != nil {
		t.Fatalf("reading thin clone %s: %v\n%s", vd, err, b)
	}
	return out
}
