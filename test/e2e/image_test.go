package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtlab/dvp/test/harness"
)

// imageFixtures makes small disk images with the real qemu-img.
func imageFixtures(t *testing.T) (dir string, sums map[string]string) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not found: install qemu-utils")
	}
	dir = t.TempDir()
	run := func(args ...string) {
		if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
		}
	}
	raw := filepath.Join(dir, "disk.img")
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	run("convert", "-f", "raw", "-O", "qcow2", raw, filepath.Join(dir, "disk.qcow2"))
	run("resize", "-f", "qcow2", filepath.Join(dir, "disk.qcow2"), "64M")
	sums = map[string]string{}
	for _, f := range []string{"disk.img", "disk.qcow2"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		sums[f] = hex.EncodeToString(h[:])
	}
	return dir, sums
}

// TestImages imports images over HTTP from a server inside the platform's
// network namespace and checks what `kubectl get virtualimage -o wide` shows.
func TestImages(t *testing.T) {
	dir, sums := imageFixtures(t)
	srv := harness.Start(t, harness.Options{})
	base := serveFiles(t, srv, dir)
	srv.MustKubectl("create", "ns", "vms")
	vi := func(name, http string) string {
		return fmt.Sprintf("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: %s, namespace: vms}\nspec:\n  storage: ContainerRegistry\n  dataSource:\n    type: HTTP\n    http: %s\n", name, http)
	}
	srv.MustKubectlStdin(vi("qcow2-img", fmt.Sprintf("{url: %q, checksum: {sha256: %q}}", base+"/disk.qcow2", sums["disk.qcow2"])), "apply", "-f", "-")
	srv.MustKubectlStdin(vi("raw-img", fmt.Sprintf("{url: %q}", base+"/disk.img")), "apply", "-f", "-")
	srv.MustKubectlStdin(vi("missing", fmt.Sprintf("{url: %q}", base+"/nope.img")), "apply", "-f", "-")
	srv.MustKubectlStdin(vi("bad-sum", fmt.Sprintf("{url: %q, checksum: {sha256: %q}}", base+"/disk.img", strings.Repeat("0", 64))), "apply", "-f", "-")

	waitFor(t, srv, "Ready", "-n", "vms", "get", "vi", "qcow2-img", "-o", "jsonpath={.status.phase}")
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vi", "raw-img", "-o", "jsonpath={.status.phase}")
	out := srv.MustKubectl("-n", "vms", "get", "virtualimage", "-o", "wide")
	for name, want := range map[string][]string{
		"qcow2-img": {"qcow2-img", "Ready", "false", "100%", "", "64Mi", "dvcr.d8-virtualization.svc/vi/vms/qcow2-img"},
		"raw-img":   {"raw-img", "Ready", "false", "100%", "4Mi", "4Mi", "dvcr.d8-virtualization.svc/vi/vms/raw-img"},
	} {
		row := tableRow(out, name)
		if len(row) < len(want) {
			t.Errorf("row %s = %q", name, row)
			continue
		}
		for i, w := range want {
			if w != "" && row[i] != w {
				t.Errorf("%s column %d = %q, want %q\n%s", name, i, row[i], w, out)
			}
		}
	}
	if f := srv.MustKubectl("-n", "vms", "get", "vi", "qcow2-img", "-o", "jsonpath={.status.format}/{.status.size.unpackedBytes}"); f != "qcow2/67108864" {
		t.Errorf("format/unpacked = %q", f)
	}

	waitFor(t, srv, "Failed", "-n", "vms", "get", "vi", "missing", "-o", "jsonpath={.status.phase}")
	msg := srv.MustKubectl("-n", "vms", "get", "vi", "missing", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)
	if !strings.Contains(msg, "404") && !strings.Contains(strings.ToLower(msg), "not found") {
		t.Errorf("404 message %q", msg)
	}
	waitFor(t, srv, "Failed", "-n", "vms", "get", "vi", "bad-sum", "-o", "jsonpath={.status.phase}")
	msg = srv.MustKubectl("-n", "vms", "get", "vi", "bad-sum", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)
	if !strings.Contains(msg, "checksum") {
		t.Errorf("checksum message %q", msg)
	}

	// A copy from another image, inside DVCR, and a cluster image.
	srv.MustKubectlStdin("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: copy, namespace: vms}\nspec:\n  storage: ContainerRegistry\n  dataSource:\n    type: ObjectRef\n    objectRef: {kind: VirtualImage, name: qcow2-img}\n", "apply", "-f", "-")
	srv.MustKubectlStdin(fmt.Sprintf("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: ClusterVirtualImage\nmetadata: {name: cluster-raw}\nspec:\n  dataSource:\n    type: HTTP\n    http: {url: %q}\n", base+"/disk.img"), "apply", "-f", "-")
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vi", "copy", "-o", "jsonpath={.status.phase}")
	waitFor(t, srv, "Ready", "get", "cvi", "cluster-raw", "-o", "jsonpath={.status.phase}")
	if f := srv.MustKubectl("-n", "vms", "get", "vi", "copy", "-o", "jsonpath={.status.format}/{.status.size.unpacked}"); f != "qcow2/64Mi" {
		t.Errorf("copy format/size = %q", f)
	}
	if u := srv.MustKubectl("get", "cvi", "cluster-raw", "-o", "jsonpath={.status.target.registryURL}"); u != "dvcr.d8-virtualization.svc/cvi/cluster-raw" {
		t.Errorf("cvi registryURL %q", u)
	}
	// Ready images are frozen.
	r := srv.Kubectl("-n", "vms", "patch", "vi", "raw-img", "--type", "merge", "-p", `{"spec":{"dataSource":{"http":{"url":"http://example.com/other.img"}}}}`)
	if r.Err == nil || !strings.Contains(r.Stderr, "data source cannot be changed if the VirtualImage has already been provisioned") {
		t.Errorf("changing a Ready image: %s", r)
	}
	// DVCR answers nobody without credentials.
	if srv.NetNS != "" {
		r := srv.Run("", "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://"+srv.NodeIP+":5443/v2/vi/vms/qcow2-img/tags/list")
		if r.Stdout != "401" {
			t.Errorf("anonymous DVCR read = %q, want 401: %s", r.Stdout, r)
		}
	}
	// Deleting an image removes it (finalizer done) and its importer leftovers.
	srv.MustKubectl("-n", "vms", "delete", "vi", "raw-img", "missing")
	if left := srv.MustKubectl("-n", "vms", "get", "pods,secrets", "-l", "app.kubernetes.io/component=importer", "-o", "name"); strings.Contains(left, "raw-img") || strings.Contains(left, "missing") {
		t.Errorf("importer leftovers after deletion:\n%s", left)
	}
	// Deleting every image frees DVCR's disk once garbage collection ran.
	before := dirSize(filepath.Join(srv.DataDir, "dvcr"))
	srv.MustKubectl("-n", "vms", "delete", "vi", "--all")
	srv.MustKubectl("delete", "cvi", "--all")
	for i := 0; ; i++ {
		after := dirSize(filepath.Join(srv.DataDir, "dvcr"))
		if after < 512<<10 {
			t.Logf("DVCR on disk: %d bytes before deleting the images, %d after GC", before, after)
			break
		}
		if i == 600 {
			t.Fatalf("DVCR still holds %d bytes after every image was deleted (was %d)", after, before)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
