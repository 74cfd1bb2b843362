package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtlab/dvp/test/harness"
)

// ipamConfig: two ranges, and released leases kept for seconds rather than
// the default ten minutes so retention can be watched.
const ipamConfig = `
virtualMachineCIDRs: [10.66.10.0/24, 10.66.20.0/28]
network:
  leaseRetention: 20s
`

// offVM is a machine that never runs: addresses are given to machines
// whether or not they run, and none of this needs a guest.
func offVM(name, extra string) string {
	return fmt.Sprintf(`apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata:
  name: %s
  namespace: vms
spec:
  virtualMachineClassName: generic
  runPolicy: AlwaysOff
  cpu: {cores: 1, coreFraction: 10%%}
  memory: {size: 256Mi}
  blockDeviceRefs: [{kind: VirtualDisk, name: none}]
%s`, name, extra)
}

func staticIP(name, addr string) string {
	return fmt.Sprintf(`apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineIPAddress
metadata:
  name: %s
  namespace: vms
spec:
  type: Static
  staticIP: %q
`, name, addr)
}

// TestIPAddresses covers addresses without guests: a machine's own
// address, static addresses and their refusals, many at once, release,
// retention and a range removed from the settings.
func TestIPAddresses(t *testing.T) {
	srv := harness.Start(t, harness.Options{Config: ipamConfig})
	srv.MustKubectl("create", "ns", "vms")
	ipOf := func(vm string) string {
		return waitNonEmpty(t, srv, "-n", "vms", "get", "vm", vm, "-o", "jsonpath={.status.ipAddress}")
	}

	t.Run("MachineGetsAnAddress", func(t *testing.T) {
		srv.MustKubectlStdin(offVM("first", ""), "apply", "-f", "-")
		if got := ipOf("first"); got != "10.66.10.2" {
			t.Errorf("first machine's address = %q, want 10.66.10.2 (.1 is the gateway)", got)
		}
		out := srv.MustKubectl("-n", "vms", "get", "vm", "-o", "wide")
		if cells := tableCells(out, "first"); cells["IPADDRESS"] != "10.66.10.2" {
			t.Errorf("IPADDRESS column: %q\n%s", cells["IPADDRESS"], out)
		}
		vmip := srv.MustKubectl("-n", "vms", "get", "vm", "first", "-o", "jsonpath={.status.virtualMachineIPAddressName}")
		if !strings.HasPrefix(vmip, "first-") {
			t.Fatalf("status.virtualMachineIPAddressName = %q, want first-xxxxx", vmip)
		}
		waitFor(t, srv, "Attached", "-n", "vms", "get", "vmip", vmip, "-o", "jsonpath={.status.phase}")
		out = srv.MustKubectl("-n", "vms", "get", "vmip", vmip)
		if cells := tableCells(out, vmip); cells["ADDRESS"] != "10.66.10.2" || cells["STATUS"] != "Attached" || cells["VM"] != "first" {
			t.Errorf("vmip columns: %v\n%s", cells, out)
		}
		if got := srv.MustKubectl("-n", "vms", "get", "vmip", vmip, "-o", "jsonpath={.spec.type} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}"); got != "Auto VirtualMachine/first" {
			t.Errorf("vmip type and owner: %q", got)
		}
		out = srv.MustKubectl("get", "vmipl", "ip-10-66-10-2")
		if cells := tableCells(out, "ip-10-66-10-2"); cells["STATUS"] != "Bound" || !strings.Contains(cells["VIRTUALMACHINEIPADDRESS"], vmip) {
			t.Errorf("lease columns: %v\n%s", cells, out)
		}
		cond := srv.MustKubectl("-n", "vms", "get", "vm", "first", "-o", `jsonpath={.status.conditions[?(@.type=="VirtualMachineIPAddressReady")].status}`)
		if cond != "True" {
			t.Errorf("VirtualMachineIPAddressReady = %q", cond)
		}
	})

	t.Run("StaticAddress", func(t *testing.T) {
		srv.MustKubectlStdin(staticIP("web-ip", "10.66.10.50"), "apply", "-f", "-")
		waitFor(t, srv, "Bound", "-n", "vms", "get", "vmip", "web-ip", "-o", "jsonpath={.status.phase}")
		srv.MustKubectlStdin(offVM("web", "  virtualMachineIPAddressName: web-ip\n"), "apply", "-f", "-")
		if got := ipOf("web"); got != "10.66.10.50" {
			t.Errorf("static address = %q, want 10.66.10.50", got)
		}
		waitFor(t, srv, "Attached", "-n", "vms", "get", "vmip", "web-ip", "-o", "jsonpath={.status.phase}")
	})

	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct{ addr, want string }{
			{"10.66.30.5", "the requested address 10.66.30.5 is out of the valid range"},
			{"10.66.10.0", "out of the valid range"},
			{"10.66.10.255", "out of the valid range"},
			{"10.66.10.1", "it is the gateway of 10.66.10.0/24"},
			{"10.66.10.50", "the specified IP address 10.66.10.50 has already been allocated and has not been released"},
			{"garbage", "must be an IPv4 address"},
			{"fd00::5", "must be an IPv4 address"},
		} {
			r := srv.KubectlStdin(staticIP("bad", tc.addr), "apply", "-f", "-")
			if r.Err == nil || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("static %s: %v\n%s, want %q", tc.addr, r.Err, r.Stderr, tc.want)
			}
		}
		if out := srv.Kubectl("-n", "vms", "get", "vmip", "bad"); out.Err == nil {
			t.Errorf("a refused address was stored:\n%s", out.Stdout)
		}
	})

	t.Run("ManyAtOnce", func(t *testing.T) {
		const n = 200
		var b strings.Builder
		b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
		for i := range n {
			fmt.Fprintf(&b, "- apiVersion: virtualization.deckhouse.io/v1alpha2\n  kind: VirtualMachineIPAddress\n  metadata: {name: many-%03d, namespace: vms}\n  spec: {type: Auto}\n", i)
		}
		start := time.Now()
		srv.MustKubectlStdin(b.String(), "apply", "-f", "-")
		var phases string
		for {
			phases = srv.MustKubectl("-n", "vms", "get", "vmip", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.phase}={.status.address}{"\n"}{end}`)
			if strings.Count(phases, "=Bound=") >= n || time.Since(start) > 5*time.Minute {
				break
			}
			time.Sleep(time.Second)
		}
		seen := map[string]string{}
		bound := 0
		for _, line := range strings.Split(strings.TrimSpace(phases), "\n") {
			f := strings.Split(line, "=")
			if len(f) != 3 || !strings.HasPrefix(f[0], "many-") {
				continue
			}
			if f[1] != "Bound" {
				continue
			}
			bound++
			if other, dup := seen[f[2]]; dup {
				t.Errorf("%s and %s share %s", f[0], other, f[2])
			}
			seen[f[2]] = f[0]
		}
		if bound != n {
			t.Fatalf("%d of %d addresses Bound:\n%s", bound, n, phases)
		}
		t.Logf("%d addresses bound in %s", n, time.Since(start).Round(time.Millisecond))
		leases := srv.MustKubectl("get", "vmipl", "-o", "name")
		if got := len(strings.Fields(leases)); got != n+2 {
			t.Errorf("%d leases for %d addresses (+2 of the machines)\n%s\n%s", got, n,
				srv.MustKubectl("get", "vmipl", "-o", `custom-columns=NAME:.metadata.name,REF:.spec.virtualMachineIPAddressRef.name,UID:.metadata.labels.virtualization\.deckhouse\.io/virtual-machine-ip-address-uid,PHASE:.status.phase`),
				srv.MustKubectl("get", "vmip", "-A", "-o", `custom-columns=NAME:.metadata.name,ADDR:.status.address,UID:.metadata.uid`))
		}
		names := strings.Fields(srv.MustKubectl("-n", "vms", "get", "vmip", "-o", `jsonpath={range .items[*]}{.metadata.name}{" "}{end}`))
		var many []string
		for _, n := range names {
			if strings.HasPrefix(n, "many-") {
				many = append(many, n)
			}
		}
		srv.MustKubectl(append([]string{"-n", "vms", "delete", "vmip", "--wait=false"}, many...)...)
	})

	t.Run("ReleasedAndRetained", func(t *testing.T) {
		addr := ipOf("first")
		srv.MustKubectl("-n", "vms", "delete", "vm", "first")
		lease := "ip-" + strings.ReplaceAll(addr, ".", "-")
		waitFor(t, srv, "Released", "get", "vmipl", lease, "-o", "jsonpath={.status.phase}")
		if ns := srv.MustKubectl("get", "vmipl", lease, "-o", "jsonpath={.spec.virtualMachineIPAddressRef.namespace}/{.spec.virtualMachineIPAddressRef.name}"); ns != "vms/" {
			t.Errorf("released lease ref = %q, want the namespace kept and the name cleared", ns)
		}
		// Claimed again by a Static address of the same namespace.
		srv.MustKubectlStdin(staticIP("again", addr), "apply", "-f", "-")
		waitFor(t, srv, "Bound", "-n", "vms", "get", "vmip", "again", "-o", "jsonpath={.status.phase}")
		waitFor(t, srv, "Bound", "get", "vmipl", lease, "-o", "jsonpath={.status.phase}")
		// Released once more, it goes when the retention has passed.
		srv.MustKubectl("-n", "vms", "delete", "vmip", "again")
		waitFor(t, srv, "Released", "get", "vmipl", lease, "-o", "jsonpath={.status.phase}")
		waitObjectGone(t, srv, "get", "vmipl", lease)
	})

	t.Run("RangeRemovedWhileLeased", func(t *testing.T) {
		srv.MustKubectlStdin(staticIP("in-second", "10.66.20.5"), "apply", "-f", "-")
		waitFor(t, srv, "Bound", "-n", "vms", "get", "vmip", "in-second", "-o", "jsonpath={.status.phase}")
		srv.Stop()
		cfg := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(cfg, []byte("virtualMachineCIDRs: [10.66.10.0/24]\nimport: {allowedAddresses: []}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// A guard against a hang, not a measurement.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := srv.Command(srv.Bin("dvp"), "server", "--data-dir", srv.DataDir, "--config", cfg)
		out, err := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "ip-10-66-20-5 (vms/in-second)") {
			t.Errorf("server with the range removed: %v\n%s", err, tail(string(out), 3000))
		}
	})
}

// waitNonEmpty polls a kubectl jsonpath until it prints something.
func waitNonEmpty(t *testing.T, srv *harness.Server, args ...string) string {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r := srv.Kubectl(args...); r.Err == nil && r.Stdout != "" {
			return r.Stdout
		}
	}
	t.Fatalf("kubectl %s printed nothing", strings.Join(args, " "))
	return ""
}

// waitObjectGone polls until kubectl get says the object is not found.
func waitObjectGone(t *testing.T, srv *harness.Server, args ...string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if r := srv.Kubectl(args...); r.Err != nil && strings.Contains(r.Stderr, "NotFound") {
			return
		}
	}
	t.Fatalf("kubectl %s: still there", strings.Join(args, " "))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
