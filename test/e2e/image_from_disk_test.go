package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtlab/dvp/test/harness"
)

// TestImageFromDisk makes a VirtualImage and a ClusterVirtualImage from a
// VirtualDisk the guest (here: the test) wrote to, makes disks from both
// and compares their data with the original; and checks that an image is
// not made from a disk a running machine holds.
func TestImageFromDisk(t *testing.T) {
	dir, _ := imageFixtures(t)
	srv := harness.Start(t, harness.Options{Config: storageConfig})
	base := serveFiles(t, srv, dir)
	srv.MustKubectl("create", "ns", "vms")

	// The original: a 64 MiB disk from a qcow2 image, then written to
	// after the image (on a thin clone, the write lands in the overlay).
	srv.MustKubectlStdin(httpImage("src", base+"/disk.qcow2"), "apply", "-f", "-")
	srv.MustKubectlStdin(diskFrom("orig", "VirtualImage", "src", ""), "apply", "-f", "-")
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vd", "orig", "-o", "jsonpath={.status.phase}")
	writeDisk(t, srv, "orig", 1<<20, bytes.Repeat([]byte{0x5a}, 64<<10))
	want := diskData(t, srv, "orig")

	// An image from a disk that is not there waits for it.
	srv.MustKubectlStdin(obj("VirtualImage", "early", "storage: ContainerRegistry\ndataSource:\n  type: ObjectRef\n  objectRef: {kind: VirtualDisk, name: later}"), "apply", "-f", "-")
	waitFor(t, srv, "Pending/VirtualDiskNotReady", "-n", "vms", "get", "vi", "early", "-o",
		`jsonpath={.status.phase}/{.status.conditions[?(@.type=="DatasourceReady")].reason}`)

	srv.MustKubectlStdin(obj("VirtualImage", "from-disk", "storage: ContainerRegistry\ndataSource:\n  type: ObjectRef\n  objectRef: {kind: VirtualDisk, name: orig}"), "apply", "-f", "-")
	srv.MustKubectlStdin("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: ClusterVirtualImage\nmetadata: {name: from-disk}\nspec:\n  dataSource:\n    type: ObjectRef\n    objectRef: {kind: VirtualDisk, name: orig, namespace: vms}\n", "apply", "-f", "-")
	for _, img := range [][]string{{"-n", "vms", "get", "vi", "from-disk"}, {"get", "cvi", "from-disk"}} {
		waitFor(t, srv, "Ready", append(img, "-o", "jsonpath={.status.phase}")...)
		got := srv.MustKubectl(append(img, "-o", "jsonpath={.status.format}/{.status.size.unpackedBytes}/{.status.progress}/{.status.target.registryURL}")...)
		parts := strings.Split(got, "/")
		if len(parts) < 4 || parts[0] != "qcow2" || parts[1] != fmt.Sprint(64<<20) || parts[2] != "100%" {
			t.Errorf("%s: format/unpacked/progress/url = %q, want qcow2/%d/100%%/...", strings.Join(img, " "), got, 64<<20)
		}
		stored := srv.MustKubectl(append(img, "-o", "jsonpath={.status.size.storedBytes}")...)
		var n int64
		if fmt.Sscan(stored, &n); n <= 0 || n >= 64<<20 {
			t.Errorf("%s: stored %q bytes of a mostly empty 64 MiB disk: not compact", strings.Join(img, " "), stored)
		}
	}
	if url := srv.MustKubectl("get", "cvi", "from-disk", "-o", "jsonpath={.status.target.registryURL}"); !strings.Contains(url, "/cvi/from-disk") {
		t.Errorf("cvi registry URL %q", url)
	}
	// The importers go once the images are Ready (just after the status
	// says so).
	waitFor(t, srv, "", "-n", "vms", "get", "pods", "-o", "name", "-l", "app.kubernetes.io/component=importer")
	if pods := srv.MustKubectl("-n", "vms", "get", "pods", "-o", "name"); strings.Contains(pods, "importer-from-disk") {
		t.Errorf("importer pods left: %s", pods)
	}

	// Disks from the new images hold the original's data.
	srv.MustKubectlStdin(diskFrom("copy-vi", "VirtualImage", "from-disk", ""), "apply", "-f", "-")
	srv.MustKubectlStdin(diskFrom("copy-cvi", "ClusterVirtualImage", "from-disk", ""), "apply", "-f", "-")
	for _, vd := range []string{"copy-vi", "copy-cvi"} {
		waitFor(t, srv, "Ready", "-n", "vms", "get", "vd", vd, "-o", "jsonpath={.status.phase}")
		if got := diskData(t, srv, vd); !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes differing from the original's %d", vd, len(got), len(want))
		}
	}

	// A blank disk is a Block volume: its raw data becomes the image.
	srv.MustKubectlStdin(obj("VirtualDisk", "blank", "persistentVolumeClaim: {size: 8Mi, storageClassName: linstor-thin-r2}"), "apply", "-f", "-")
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vd", "blank", "-o", "jsonpath={.status.phase}")
	writeDisk(t, srv, "blank", 4096, bytes.Repeat([]byte{0x33}, 4096))
	srv.MustKubectlStdin(obj("VirtualImage", "from-blank", "storage: ContainerRegistry\ndataSource:\n  type: ObjectRef\n  objectRef: {kind: VirtualDisk, name: blank}"), "apply", "-f", "-")
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vi", "from-blank", "-o", "jsonpath={.status.phase}")
	if got := srv.MustKubectl("-n", "vms", "get", "vi", "from-blank", "-o", "jsonpath={.status.format}/{.status.size.unpackedBytes}"); got != fmt.Sprintf("qcow2/%d", 8<<20) {
		t.Errorf("image of a blank 8Mi disk: format/unpacked = %q", got)
	}
	srv.MustKubectlStdin(diskFrom("copy-blank", "VirtualImage", "from-blank", ""), "apply", "-f", "-")
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vd", "copy-blank", "-o", "jsonpath={.status.phase}")
	if got, want := diskData(t, srv, "copy-blank"), diskData(t, srv, "blank"); !bytes.Equal(got, want) {
		t.Errorf("copy-blank: %d bytes differing from the blank disk's %d", len(got), len(want))
	}

	t.Run("AttachedToRunningVM", func(t *testing.T) {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("while-running: %s", srv.Kubectl("-n", "vms", "get", "vi", "while-running", "-o", "jsonpath={.status.conditions}").Stdout)
			}
		})
		if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
			t.Skip("qemu-system-x86_64 not found: install qemu-system-x86")
		}
		// The machine needs no guest: QEMU holding the disk is enough.
		srv.MustKubectlStdin(`apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata: {name: holder, namespace: vms}
spec:
  virtualMachineClassName: generic
  runPolicy: AlwaysOn
  cpu: {cores: 1, coreFraction: 10%}
  memory: {size: 128Mi}
  blockDeviceRefs:
  - {kind: VirtualDisk, name: copy-vi}
`, "apply", "-f", "-")
		waitLong(t, srv, "holder", "-n", "vms", "get", "vd", "copy-vi", "-o", "jsonpath={.status.attachedToVirtualMachines[?(@.mounted==true)].name}")
		srv.MustKubectlStdin(obj("VirtualImage", "while-running", "storage: ContainerRegistry\ndataSource:\n  type: ObjectRef\n  objectRef: {kind: VirtualDisk, name: copy-vi}"), "apply", "-f", "-")
		waitFor(t, srv, "Pending/VirtualDiskAttachedToVirtualMachine", "-n", "vms", "get", "vi", "while-running", "-o",
			`jsonpath={.status.phase}/{.status.conditions[?(@.type=="DatasourceReady")].reason}`)
		msg := srv.MustKubectl("-n", "vms", "get", "vi", "while-running", "-o", `jsonpath={.status.conditions[?(@.type=="DatasourceReady")].message}`)
		if !strings.Contains(msg, "VirtualMachine holder") || !strings.Contains(msg, "stop") {
			t.Errorf("DatasourceReady message %q: want the machine named and what to do", msg)
		}
		if r := srv.Kubectl("-n", "vms", "get", "pod", "vi-importer-while-running"); r.Err == nil {
			t.Error("the importer started while the machine runs")
		}
		// Stopped, the machine lets the image be made.
		srv.MustKubectl("-n", "vms", "patch", "vm", "holder", "--type", "merge", "-p", `{"spec":{"runPolicy":"AlwaysOff"}}`)
		waitLong(t, srv, "Ready", "-n", "vms", "get", "vi", "while-running", "-o", "jsonpath={.status.phase}")
	})
}

// diskFrom is a VirtualDisk in vms made from an image of kind.
func diskFrom(name, kind, image, size string) string {
	pvc := "{storageClassName: linstor-thin-r2}"
	if size != "" {
		pvc = fmt.Sprintf("{size: %s, storageClassName: linstor-thin-r2}", size)
	}
	return obj("VirtualDisk", name, fmt.Sprintf("persistentVolumeClaim: %s\ndataSource:\n  type: ObjectRef\n  objectRef: {kind: %s, name: %s}", pvc, kind, image))
}

// diskData reads a disk's data as the guest sees it: a Block volume's file,
// or a Filesystem volume's disk.qcow2 (a thin clone) converted to raw.
func diskData(t *testing.T, srv *harness.Server, vd string) []byte {
	t.Helper()
	path := backingPath(t, srv, vd)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	raw := path
	if fi.IsDir() {
		raw = filepath.Join(t.TempDir(), vd+".raw")
		if out, err := exec.Command("qemu-img", "convert", "-f", "qcow2", "-O", "raw", filepath.Join(path, "disk.qcow2"), raw).CombinedOutput(); err != nil {
			t.Fatalf("reading %s: %v\n%s", vd, err, out)
		}
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeDisk writes data at off onto a disk that no machine runs with, as a
// guest would.
func writeDisk(t *testing.T, srv *harness.Server, vd string, off int64, data []byte) {
	t.Helper()
	path := backingPath(t, srv, vd)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.IsDir() {
		// qemu-io writes through the qcow2 overlay, as QEMU does; it
		// takes a pattern byte.
		if !bytes.Equal(data, bytes.Repeat(data[:1], len(data))) {
			t.Fatal("writeDisk writes only a repeated byte on a thin clone")
		}
		cmd := fmt.Sprintf("write -P 0x%02x %d %d", data[0], off, len(data))
		if out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", cmd, filepath.Join(path, "disk.qcow2")).CombinedOutput(); err != nil {
			t.Fatalf("qemu-io on %s: %v\n%s", vd, err, out)
		}
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}
