package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtlab/dvp/test/harness"
)

// TestAPI runs the API-level scenarios against one shared server: every seed
// manifest applies, kubectl prints the seed's columns, bad input is refused
// with a message that names the field, and RBAC applies to a non-admin user.
func TestAPI(t *testing.T) {
	srv := harness.Start(t, harness.Options{Config: "virtualMachineCIDRs: [\"10.66.10.0/24\"]\n"})
	srv.MustKubectl("create", "ns", "vms")

	t.Run("SeedManifestsApply", func(t *testing.T) { testSeedManifestsApply(t, srv) })
	t.Run("PrinterColumns", func(t *testing.T) { testPrinterColumns(t, srv) })
	t.Run("GenericClass", func(t *testing.T) { testGenericClass(t, srv) })
	t.Run("InvalidManifests", func(t *testing.T) { testInvalidManifests(t, srv) })
	t.Run("InvalidUpdates", func(t *testing.T) { testInvalidUpdates(t, srv) })
	t.Run("DefaultClass", func(t *testing.T) { testDefaultClass(t, srv) })
	t.Run("MissingDiskEvent", func(t *testing.T) { testMissingDiskEvent(t, srv) })
	t.Run("RBAC", func(t *testing.T) { testRBAC(t, srv) })
	t.Run("NoAnonymousAccess", func(t *testing.T) { testNoAnonymousAccess(t, srv) })
	t.Run("EtcdNeedsItsClientCertificate", func(t *testing.T) { testEtcdNeedsItsClientCertificate(t, srv) })
	t.Run("D8ConsoleParses", func(t *testing.T) { testD8Console(t, srv) })
	t.Run("QuietLog", func(t *testing.T) { testQuietLog(t, srv) })
}

// testQuietLog reads the log of a healthy server that served all of the
// above, refusals included: a short start and no error lines, so that an
// error line always means something is wrong.
func testQuietLog(t *testing.T, srv *harness.Server) {
	b, err := os.ReadFile(srv.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	start, _, ok := strings.Cut(log, "Platform ready")
	if !ok {
		t.Fatalf("no \"Platform ready\" in the log:\n%s", log)
	}
	if n := strings.Count(start, "\n"); n > 20 {
		t.Errorf("%d lines before \"Platform ready\", want a handful:\n%s", n, start)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, "E") {
			t.Errorf("error line in a healthy server's log: %s", line)
		}
	}
}

func testSeedManifestsApply(t *testing.T, srv *harness.Server) {
	files := append(testdataFiles(t, "seed"), testdataFiles(t, "fragments")...)
	// The static address must exist before the VM that names it only for
	// readability; admission does not require it.
	for _, f := range files {
		r := srv.Kubectl("apply", "--server-side", "-n", "vms", "-f", f)
		if r.Err != nil {
			t.Errorf("%s: %s", filepath.Base(f), r)
		}
	}
	out := srv.MustKubectl("get", "virtualization", "-n", "vms", "-o", "name")
	for _, want := range []string{
		"virtualimage.virtualization.deckhouse.io/ubuntu",
		"virtualimage.virtualization.deckhouse.io/ubuntu-2204",
		"virtualimage.virtualization.deckhouse.io/some-image",
		"virtualdisk.virtualization.deckhouse.io/linux-disk",
		"virtualdisk.virtualization.deckhouse.io/vd-blank",
		"virtualmachine.virtualization.deckhouse.io/linux-vm",
		"virtualmachine.virtualization.deckhouse.io/linux-vm-userdataref",
		"virtualmachineblockdeviceattachment.virtualization.deckhouse.io/vd-blank-attachment",
		"virtualmachineipaddress.virtualization.deckhouse.io/linux-vm-ip",
		"virtualmachineoperation.virtualization.deckhouse.io/restart-linux-vm",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("`kubectl get virtualization -n vms` lacks %s:\n%s", want, out)
		}
	}
	// The seed's approvalMode spelling is stored as written.
	mode := srv.MustKubectl("-n", "vms", "get", "vm", "linux-vm-automatic", "-o", "jsonpath={.spec.disruptions.approvalMode}")
	if mode != "Automatic" {
		t.Errorf("disruptions.approvalMode = %q, want Automatic", mode)
	}
}

func testPrinterColumns(t *testing.T, srv *harness.Server) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-n", "vms", "get", "virtualdisk", "-o", "wide"}, []string{"NAME", "PHASE", "CAPACITY", "PROGRESS", "STORAGECLASS", "TARGETPVC", "AGE"}},
		{[]string{"-n", "vms", "get", "virtualimage", "-o", "wide"}, []string{"NAME", "PHASE", "CDROM", "PROGRESS", "STOREDSIZE", "UNPACKEDSIZE", "REGISTRY URL", "AGE"}},
		{[]string{"-n", "vms", "get", "virtualmachine", "-o", "wide"}, []string{"NAME", "PHASE", "CORES", "COREFRACTION", "MEMORY", "NODE", "IPADDRESS", "AGE"}},
		{[]string{"-n", "vms", "get", "virtualmachine"}, []string{"NAME", "PHASE", "NODE", "IPADDRESS", "AGE"}},
		{[]string{"-n", "vms", "get", "virtualmachineblockdeviceattachments"}, []string{"NAME", "PHASE"}},
		{[]string{"-n", "vms", "get", "virtualmachineoperations", "restart-linux-vm"}, []string{"NAME", "PHASE", "VM", "AGE"}},
		{[]string{"get", "vmclass"}, []string{"NAME", "PHASE", "ISDEFAULT", "AGE"}},
	} {
		out := srv.MustKubectl(tc.args...)
		got := tableHeader(out)
		if !isSubsequence(tc.want, got) {
			t.Errorf("kubectl %s\nheader %q\nmust contain, in order, %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	// Without -o wide the VM table is exactly the seed's.
	got := tableHeader(srv.MustKubectl("-n", "vms", "get", "virtualmachine"))
	if strings.Join(got, " ") != "NAME PHASE NODE IPADDRESS AGE" {
		t.Errorf("kubectl get virtualmachine header = %q, want the seed's NAME PHASE NODE IPADDRESS AGE", got)
	}
	// Short names resolve.
	for _, short := range []string{"cvi", "vi", "vd", "vm", "vmbda", "vmip", "vmipl", "vmop", "vmclass"} {
		if r := srv.Kubectl("get", short, "-A"); r.Err != nil {
			t.Errorf("kubectl get %s: %s", short, r)
		}
	}
}

func testGenericClass(t *testing.T, srv *harness.Server) {
	out := srv.MustKubectl("get", "vmclass", "generic", "-o", "jsonpath={.spec.cpu.type}/{.spec.cpu.model}/{.spec.sizingPolicies[0].coreFractions}")
	if out != "Model/Nehalem/[5,10,20,50,100]" {
		t.Errorf("generic class = %q", out)
	}
}

func testRBAC(t *testing.T, srv *harness.Server) {
	alice := srv.UserKubeconfig("alice", "dev")
	r := srv.KubectlAs(alice, "-n", "vms", "get", "virtualmachines")
	if r.Err == nil || !strings.Contains(r.Stderr, "forbidden") {
		t.Fatalf("alice without RBAC listed VMs: %s", r)
	}
	srv.MustKubectl("-n", "vms", "create", "role", "vm-reader", "--verb=get,list", "--resource=virtualmachines.virtualization.deckhouse.io")
	srv.MustKubectl("-n", "vms", "create", "rolebinding", "dev-vm-reader", "--role=vm-reader", "--group=dev")
	r = srv.KubectlAs(alice, "-n", "vms", "get", "virtualmachines", "-o", "name")
	if r.Err != nil || !strings.Contains(r.Stdout, "virtualmachine.virtualization.deckhouse.io/linux-vm") {
		t.Fatalf("alice with the vm-reader role: %s", r)
	}
	r = srv.KubectlAs(alice, "-n", "vms", "delete", "virtualmachine", "linux-vm")
	if r.Err == nil || !strings.Contains(r.Stderr, "forbidden") {
		t.Fatalf("alice deleted a VM with a read-only role: %s", r)
	}

	// kubectl's RBAC helpers know the console subresource's group.
	srv.MustKubectl("-n", "vms", "create", "role", "vm-console", "--verb=get", "--resource=virtualmachines.subresources.virtualization.deckhouse.io/console")
	// ... while `kubectl get vm` stays on the CRD group.
	if out := srv.MustKubectl("-n", "vms", "get", "vm", "-o", "name"); !strings.Contains(out, "virtualmachine.virtualization.deckhouse.io/linux-vm") {
		t.Errorf("kubectl get vm after the subresources group lists virtualmachines: %q", out)
	}
	// The platform's roles aggregate into the built-in ones.
	carol := srv.UserKubeconfig("carol")
	srv.MustKubectl("-n", "vms", "create", "rolebinding", "carol-edit", "--clusterrole=edit", "--user=carol")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "virtualmachineoperations", "-n", "vms"}, "yes"},
		{[]string{"delete", "virtualdisks", "-n", "vms"}, "yes"},
		{[]string{"get", "virtualmachines.subresources.virtualization.deckhouse.io", "--subresource=console", "-n", "vms"}, "yes"},
		{[]string{"create", "clustervirtualimages"}, "no"},
		{[]string{"list", "virtualmachineclasses"}, "no"}, // a RoleBinding grants nothing cluster-wide
	} {
		r := srv.KubectlAs(carol, append([]string{"auth", "can-i"}, c.args...)...)
		if got := strings.TrimSpace(r.Stdout); got != c.want {
			t.Errorf("carol with edit: can-i %s = %q, want %s (%s)", strings.Join(c.args, " "), got, c.want, r.Stderr)
		}
	}
}

func testNoAnonymousAccess(t *testing.T, srv *harness.Server) {
	url := "https://" + srv.NodeIP + ":6443/apis/virtualization.deckhouse.io/v1alpha2/virtualmachines"
	if srv.NetNS == "" {
		t.Skip("the anonymous check runs inside the server's network namespace")
	}
	r := srv.Run("", "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", url)
	if r.Stdout != "401" {
		t.Errorf("anonymous GET %s = %q, want 401: %s", url, r.Stdout, r)
	}
	// The admission webhooks listen on the node address too; only the
	// apiserver (with its client certificate) may call them.
	hook := "https://" + srv.NodeIP + ":9443/validate-virtualdisk"
	r = srv.Run("", "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Content-Type: application/json", "-d", "{}", hook)
	if r.Stdout != "403" {
		t.Errorf("anonymous POST %s = %q, want 403: %s", hook, r.Stdout, r)
	}
}

func testD8Console(t *testing.T, srv *harness.Server) {
	// The seed's machine cannot start here (its image URL is on the
	// internet): the console waits for it, then says why it gave up.
	r := srv.Run("", srv.Bin("d8"), "--kubeconfig", srv.Kubeconfig, "v", "console", "-n", "vms", "linux-vm", "--timeout", "3s")
	if strings.Contains(r.Stderr, "unknown") || strings.Contains(r.Stderr, "Usage:") {
		t.Fatalf("d8 v console -n vms linux-vm did not parse: %s", r)
	}
	if r.Err == nil || !strings.Contains(r.Stdout+r.Stderr, "is not running") {
		t.Errorf("console of a machine that is not running: %s", r)
	}
	r = srv.Run("", srv.Bin("d8"), "--kubeconfig", srv.Kubeconfig, "v", "console", "-n", "vms", "no-such-vm")
	if r.Err == nil || !strings.Contains(r.Stderr, `VirtualMachine "no-such-vm" not found in namespace "vms"`) {
		t.Fatalf("d8 v console of a missing VM: %s", r)
	}
}

// testMissingDiskEvent: a machine naming a disk that does not exist is
// accepted (as upstream) and says what it waits for in one Warning event,
// not one per reconcile.
func testMissingDiskEvent(t *testing.T, srv *harness.Server) {
	srv.MustKubectlStdin(vm("waits", map[string]string{"blockDeviceRefs": "blockDeviceRefs: [{kind: VirtualDisk, name: nowhere}]"}), "create", "-f", "-")
	selector := "involvedObject.kind=VirtualMachine,involvedObject.name=waits,type=Warning"
	waitLong(t, srv, `Waiting: VirtualDisk "nowhere" not found`, "-n", "vms", "get", "events", "--field-selector", selector, "-o", "jsonpath={.items[*].message}")
	// More reconciles (a label change) do not repeat it.
	srv.MustKubectl("-n", "vms", "label", "vm", "waits", "touched=yes")
	time.Sleep(3 * time.Second)
	counts := srv.MustKubectl("-n", "vms", "get", "events", "--field-selector", selector, "-o", "jsonpath={range .items[*]}{.reason}={.count} {end}")
	if strings.TrimSpace(counts) != "BlockDevicesNotReady=1" {
		t.Errorf("Warning events of a machine waiting for a missing disk: %q", counts)
	}
}
