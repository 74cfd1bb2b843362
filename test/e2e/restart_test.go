package e2e

import (
	"strings"
	"testing"

	"github.com/virtlab/dvp/test/harness"
)

// TestRestartKeepsObjects stops the server cleanly, then kills it with -9,
// and checks after each start on the same data directory that every object
// is intact and that the built-in class is not recreated once deleted.
func TestRestartKeepsObjects(t *testing.T) {
	srv := harness.Start(t, harness.Options{})
	srv.MustKubectl("create", "ns", "vms")
	// Deleted before any machine uses it (a class in use is kept).
	srv.MustKubectl("delete", "vmclass", "generic")
	for _, f := range []string{"01-vi-ubuntu.yaml", "02-vd-linux-disk.yaml", "03-vm-linux-vm.yaml", "07-vd-blank.yaml", "13-vmop-restart.yaml"} {
		srv.MustKubectl("apply", "--server-side", "-f", "testdata/seed/"+f)
	}
	// The machine makes its own address resource: six objects in all.
	waitNonEmpty(t, srv, "-n", "vms", "get", "vm", "linux-vm", "-o", "jsonpath={.status.virtualMachineIPAddressName}")
	want := srv.MustKubectl("-n", "vms", "get", "virtualization", "-o", "jsonpath={range .items[*]}{.kind}/{.metadata.name}/{.metadata.uid}{\"\\n\"}{end}")
	if strings.Count(want, "\n") != 6 || !strings.Contains(want, "VirtualMachineIPAddress/linux-vm-") {
		t.Fatalf("expected 6 objects before restart (the machine's address among them), got:\n%s", want)
	}
	for _, kill := range []bool{false, true} {
		srv.Restart(kill)
		got := srv.MustKubectl("-n", "vms", "get", "virtualization", "-o", "jsonpath={range .items[*]}{.kind}/{.metadata.name}/{.metadata.uid}{\"\\n\"}{end}")
		if got != want {
			t.Errorf("after restart (kill -9: %v) objects differ:\nbefore:\n%s\nafter:\n%s", kill, want, got)
		}
		if out := srv.MustKubectl("get", "vmclass", "-o", "name"); strings.Contains(out, "generic") {
			t.Errorf("after restart (kill -9: %v) the deleted generic class came back", kill)
		}
		// Admission still works after a restart: a shrink is refused.
		r := srv.Kubectl("-n", "vms", "patch", "vd", "vd-blank", "--type", "merge", "-p", `{"spec":{"persistentVolumeClaim":{"size":"10M"}}}`)
		if r.Err == nil || !strings.Contains(r.Stderr, "should be greater than or equal to the current value (100M)") {
			t.Errorf("after restart (kill -9: %v) shrink: %s", kill, r)
		}
	}
}
