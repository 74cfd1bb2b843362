package e2e

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtlab/dvp/internal/storage"
	"github.com/virtlab/dvp/test/harness"
)

// storageConfig declares the classes of the user documentation's examples:
// a default local class that waits for a consumer and a shared, immediately
// bound one named like the reference platform's replicated storage.
const storageConfig = `storageClasses:
  - {name: local-thin, volumeBindingMode: WaitForFirstConsumer, default: true}
  - {name: linstor-thin-r2, volumeBindingMode: Immediate}
`

// TestStorage provisions, expands and deletes volumes of the Immediate class
// through the real kubectl, and checks their backing on disk (the server runs
// on this machine, so its data directory is readable here). The
// WaitForFirstConsumer class needs a pod to bind and is covered with the node
// runtime.
func TestStorage(t *testing.T) {
	srv := harness.Start(t, harness.Options{Config: storageConfig})
	storageRequireProvisioner(t, srv)

	t.Run("StorageClasses", func(t *testing.T) { testStorageClasses(t, srv) })
	t.Run("ProvisionExpandDelete", func(t *testing.T) { testStorageLifecycle(t, srv) })
}

// storageRequireProvisioner skips the test on a server that does not run
// the local provisioner yet.
func storageRequireProvisioner(t *testing.T, srv *harness.Server) {
	t.Helper()
	out := srv.MustKubectl("get", "storageclass", "-o", `jsonpath={range .items[*]}{.provisioner}{"\n"}{end}`)
	for _, p := range strings.Fields(out) {
		if p == storage.ProvisionerName {
			return
		}
	}
	t.Skipf("the server has no StorageClass with provisioner %s: the local provisioner is not wired in", storage.ProvisionerName)
}

func testStorageClasses(t *testing.T, srv *harness.Server) {
	out := srv.MustKubectl("get", "storageclass")
	if got := strings.Join(tableHeader(out), " "); got != "NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE" {
		t.Errorf("kubectl get storageclass header = %q\n%s", got, out)
	}
	for name, want := range map[string][]string{
		"local-thin (default)": {"local-thin (default)", storage.ProvisionerName, "Delete", "WaitForFirstConsumer", "true"},
		"linstor-thin-r2":      {"linstor-thin-r2", storage.ProvisionerName, "Delete", "Immediate", "true"},
	} {
		row := tableRow(out, name)
		if len(row) != len(want)+1 || strings.Join(row[:len(want)], "|") != strings.Join(want, "|") {
			t.Errorf("row %q = %q, want %q followed by the age\n%s", name, row, want, out)
		}
	}
	if n := strings.Count(out, "(default)"); n != 1 {
		t.Errorf("%d default classes, want 1:\n%s", n, out)
	}
}

const storageNS = "storage-e2e"

func storagePVC(name, mode string) string {
	return `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: ` + name + `
  namespace: ` + storageNS + `
spec:
  storageClassName: linstor-thin-r2
  volumeMode: ` + mode + `
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 100M
`
}

func testStorageLifecycle(t *testing.T, srv *harness.Server) {
	srv.MustKubectl("create", "ns", storageNS)
	claims := []struct{ name, mode string }{{"vd-block", "Block"}, {"vd-fs", "Filesystem"}}
	for _, c := range claims {
		if r := srv.KubectlStdin(storagePVC(c.name, c.mode), "apply", "-f", "-"); r.Err != nil {
			t.Fatalf("creating claim %s: %s", c.name, r)
		}
	}
	pvs := map[string]string{}   // claim -> PV
	paths := map[string]string{} // claim -> backing path
	for _, c := range claims {
		storageWaitJSONPath(t, srv, "pvc/"+c.name, "{.status.phase}", "Bound")
		pv := srv.MustKubectl("-n", storageNS, "get", "pvc", c.name, "-o", "jsonpath={.spec.volumeName}")
		pvs[c.name] = pv
		want := filepath.Join(srv.DataDir, "volumes", pv)
		if c.mode == "Block" {
			want += ".img"
		}
		paths[c.name] = want
		got := srv.MustKubectl("get", "pv", pv, "-o", `jsonpath={.metadata.annotations.virtualization\.deckhouse\.io/volume-path}`)
		if got != want {
			t.Errorf("PV %s volume-path = %q, want %q", pv, got, want)
		}
		// Shared class: a hostPath every node reaches, no node affinity.
		src := srv.MustKubectl("get", "pv", pv, "-o", "jsonpath={.spec.hostPath.path}|{.spec.nodeAffinity}")
		if src != want+"|" {
			t.Errorf("PV %s hostPath|nodeAffinity = %q, want %q", pv, src, want+"|")
		}
	}
	storageCheckCapacity(t, srv, claims[0].name, claims[1].name, "97657Ki")

	const oldSize, newSize = 97657 * 1024, 195313 * 1024
	if fi, err := os.Stat(paths["vd-fs"]); err != nil || !fi.IsDir() {
		t.Errorf("Filesystem backing %s: %v", paths["vd-fs"], err)
	}
	block := paths["vd-block"]
	if fi, err := os.Stat(block); err != nil || fi.Size() != oldSize {
		t.Fatalf("Block backing %s: %v (want %d bytes)", block, err, oldSize)
	}
	head, tail := bytes.Repeat([]byte("dvp-head"), 128), bytes.Repeat([]byte("dvp-tail"), 128)
	storageWriteAt(t, block, head, 0)
	storageWriteAt(t, block, tail, oldSize-int64(len(tail)))

	for _, c := range claims {
		srv.MustKubectl("-n", storageNS, "patch", "pvc", c.name, "--type", "merge", "-p", `{"spec":{"resources":{"requests":{"storage":"200M"}}}}`)
	}
	for _, c := range claims {
		storageWaitJSONPath(t, srv, "pvc/"+c.name, "{.status.capacity.storage}", "195313Ki")
	}
	storageCheckCapacity(t, srv, claims[0].name, claims[1].name, "195313Ki")
	for _, c := range claims {
		out := srv.MustKubectl("get", "pv", pvs[c.name], "-o", "jsonpath={.spec.capacity.storage}")
		if out != "195313Ki" {
			t.Errorf("PV %s capacity = %s after expansion, want 195313Ki", pvs[c.name], out)
		}
		cond := srv.MustKubectl("-n", storageNS, "get", "pvc", c.name, "-o", `jsonpath={.status.conditions[?(@.type=="Resizing")].status}`)
		if cond != "" {
			t.Errorf("claim %s still has a Resizing condition (%s)", c.name, cond)
		}
	}
	data, err := os.ReadFile(block)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != newSize {
		t.Errorf("Block backing is %d bytes after expansion, want %d", len(data), newSize)
	} else {
		if !bytes.Equal(data[:len(head)], head) || !bytes.Equal(data[oldSize-len(tail):oldSize], tail) {
			t.Error("data written before the expansion changed")
		}
		if !bytes.Equal(data[oldSize:], make([]byte, newSize-oldSize)) {
			t.Error("the grown range does not read as zeros")
		}
	}

	for _, c := range claims {
		srv.MustKubectl("-n", storageNS, "delete", "pvc", c.name, "--wait=true", "--timeout=60s")
	}
	for _, c := range claims {
		if r := srv.Kubectl("wait", "pv/"+pvs[c.name], "--for=delete", "--timeout=60s"); r.Err != nil {
			t.Errorf("PV %s not deleted after its claim: %s", pvs[c.name], r)
		}
		if _, err := os.Lstat(paths[c.name]); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("backing %s still there after the PV went: %v", paths[c.name], err)
		}
	}
}

// storageWaitJSONPath waits until jsonpath of obj in the test namespace
// equals want.
func storageWaitJSONPath(t *testing.T, srv *harness.Server, obj, jsonpath, want string) {
	t.Helper()
	r := srv.Kubectl("-n", storageNS, "wait", obj, "--for=jsonpath="+jsonpath+"="+want, "--timeout=90s")
	if r.Err != nil {
		events := srv.Kubectl("-n", storageNS, "get", "events", "--sort-by=.lastTimestamp")
		t.Fatalf("%s: %s never became %s: %s\nevents:\n%s", obj, jsonpath, want, r, events.Stdout)
	}
}

// storageCheckCapacity asserts what `kubectl get pvc` prints for both claims.
func storageCheckCapacity(t *testing.T, srv *harness.Server, a, b, want string) {
	t.Helper()
	out := srv.MustKubectl("-n", storageNS, "get", "pvc")
	header := tableHeader(out)
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, need := range []string{"NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS"} {
		if _, ok := col[need]; !ok {
			t.Fatalf("kubectl get pvc has no %s column: %q", need, header)
		}
	}
	for _, name := range []string{a, b} {
		row := tableRow(out, name)
		if len(row) != len(header) {
			t.Errorf("row %s = %q does not match header %q", name, row, header)
			continue
		}
		if row[col["STATUS"]] != "Bound" || row[col["CAPACITY"]] != want ||
			row[col["ACCESS MODES"]] != "RWO" || row[col["STORAGECLASS"]] != "linstor-thin-r2" {
			t.Errorf("kubectl get pvc %s: %q, want Bound %s RWO linstor-thin-r2\n%s", name, row, want, out)
		}
	}
}

func storageWriteAt(t *testing.T, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}
