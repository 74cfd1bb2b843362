package e2e

import (
	"bytes"
	"os"
	"strings"
	"testing"

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

	// A disk from an image says plainly that it is not supported yet.
	srv.MustKubectlStdin(strings.Replace(readFile(t, "testdata/seed/08-vd-ubuntu-root.yaml"), "name: ubuntu-root\n", "name: from-image\n", 1), "apply", "-f", "-")
	waitFor(t, srv, "Pending", "-n", "vms", "get", "vd", "from-image", "-o", "jsonpath={.status.phase}")
	msg := srv.MustKubectl("-n", "vms", "get", "vd", "from-image", "-o", `jsonpath={.status.conditions[?(@.type=="DatasourceReady")].message}`)
	if !strings.Contains(msg, "not supported by this platform yet") {
		t.Errorf("disk from an image: %q", msg)
	}

	// Deleting a disk deletes its claim.
	srv.MustKubectl("-n", "vms", "delete", "vd", "vd-blank")
	waitFor(t, srv, "", "-n", "vms", "get", "pvc", "vd-vd-blank-"+uid, "--ignore-not-found", "-o", "name")
}
