package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtlab/dvp/test/guest"
	"github.com/virtlab/dvp/test/harness"
)

// seedImageURL is the image URL in the user documentation's quick start;
// the tests serve the tiny guest in its place.
const seedImageURL = "https://cloud-images.ubuntu.com/minimal/releases/jammy/release-20230615/ubuntu-22.04-minimal-cloudimg-amd64.img"

// vmPlatform starts a server with the documentation's storage classes and
// serves the tiny guest image over HTTP inside its network namespace. It
// returns the server and the image URL.
func vmPlatform(t *testing.T, config string) (*harness.Server, string) {
	t.Helper()
	img := guest.TinyBIOS(t)
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not found: install qemu-system-x86")
	}
	srv := harness.Start(t, harness.Options{Config: config})
	base := serveFiles(t, srv, filepath.Dir(img))
	srv.MustKubectl("create", "ns", "vms")
	return srv, base + "/" + filepath.Base(img)
}

// waitLong is waitFor for things that take a guest boot or a shutdown.
func waitLong(t *testing.T, srv *harness.Server, want string, args ...string) string {
	t.Helper()
	return waitWithin(t, srv, 4*time.Minute, want, args...)
}

func vmPhase(name string) []string {
	return []string{"-n", "vms", "get", "vm", name, "-o", "jsonpath={.status.phase}"}
}

func activePod(t *testing.T, srv *harness.Server, vm string) string {
	t.Helper()
	return srv.MustKubectl("-n", "vms", "get", "vm", vm, "-o", `jsonpath={.status.virtualMachinePods[?(@.active==true)].name}`)
}

// d8 runs the CLI with a kubeconfig inside the server's namespace.
func d8(srv *harness.Server, kubeconfig string, args ...string) harness.Result {
	return srv.Run("", srv.Bin("d8"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
}

// console opens `d8 v console` as the given user.
func console(t *testing.T, srv *harness.Server, kubeconfig string, args ...string) *consoleProc {
	t.Helper()
	return startConsole(t, srv.Command(srv.Bin("d8"), append([]string{"--kubeconfig", kubeconfig, "v", "console"}, args...)...))
}

// login logs in on the tiny guest's serial console with the seed's user.
func login(t *testing.T, c *consoleProc, host string) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		_ = c.Send("\n")
		if _, _, err := c.Wait(5*time.Second, host+" login:"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no login prompt of %s\n%s", host, c.Tail(3000))
		}
	}
	_ = c.Send("cloud\n")
	c.Expect(t, "Password:", time.Minute)
	_ = c.Send("cloud\n")
	// login discards what is typed before the shell runs: wait for the
	// prompt first.
	c.Expect(t, "$ ", 2*time.Minute)
	if out, code := c.Run(t, "echo logged-in-as-$(id -un)", time.Minute); code != 0 || !strings.Contains(out, "logged-in-as-cloud") {
		t.Fatalf("after login: %q (exit %d)", out, code)
	}
}

// TestVirtualMachineQuickStart runs the user documentation's quick start
// unchanged but for the image URL: an image over HTTP, a disk from it, the
// machine; then the console as a user allowed to use it, and refused to one
// who is not.
func TestVirtualMachineQuickStart(t *testing.T) {
	srv, url := vmPlatform(t, storageConfig)
	vi := strings.Replace(readFile(t, "testdata/seed/01-vi-ubuntu.yaml"), seedImageURL, url, 1)
	srv.MustKubectlStdin(vi, "apply", "-f", "-")
	srv.MustKubectl("apply", "-f", "testdata/seed/02-vd-linux-disk.yaml")
	srv.MustKubectl("apply", "-f", "testdata/seed/03-vm-linux-vm.yaml")
	waitLong(t, srv, "Running", vmPhase("linux-vm")...)

	out := srv.MustKubectl("-n", "vms", "get", "virtualmachine", "-o", "wide")
	cells := tableCells(out, "linux-vm")
	for h, w := range map[string]string{"PHASE": "Running", "IPADDRESS": "10.66.10.2", "CORES": "1", "COREFRACTION": "10%", "MEMORY": "1Gi", "NODE": srv.MustKubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")} {
		if cells[h] != w {
			t.Errorf("column %s = %q, want %q\n%s", h, cells[h], w, out)
		}
	}
	pod := activePod(t, srv, "linux-vm")
	if !strings.HasPrefix(pod, "virt-launcher-linux-vm-") {
		t.Errorf("launcher pod %q, want virt-launcher-linux-vm-*", pod)
	}
	req := srv.MustKubectl("-n", "vms", "get", "pod", pod, "-o", "jsonpath={.spec.containers[0].resources.requests.cpu} {.spec.containers[0].resources.limits.cpu}")
	if req != "100m 1" {
		t.Errorf("launcher CPU request/limit = %q, want \"100m 1\" (1 core at 10%%)", req)
	}

	// A user with the built-in edit role (the platform's roles aggregate
	// into it) logs in as the seed's cloud-init user.
	srv.MustKubectl("-n", "vms", "create", "rolebinding", "alice-edit", "--clusterrole=edit", "--user=alice")
	alice := srv.UserKubeconfig("alice")
	c := console(t, srv, alice, "-n", "vms", "linux-vm")
	c.Expect(t, "Successfully connected to linux-vm console. The escape sequence is ^]", time.Minute)
	login(t, c, "linux-vm")
	if out, code := c.Run(t, "hostname", time.Minute); code != 0 || !strings.Contains(out, "linux-vm") {
		t.Errorf("in the guest: %q (exit %d)", out, code)
	}
	if srv.NetNS != "" {
		// On the node's VM network the guest took, over DHCP, the address
		// its status shows.
		if out, _ := c.Run(t, "ip -4 addr show eth0", time.Minute); !strings.Contains(out, "inet 10.66.10.2/24") {
			t.Errorf("the guest's address is not 10.66.10.2/24:\n%s", out)
		}
	}
	// A guest whose network is up reaches none of the host's services.
	testGuestCannotReachHost(t, srv, c)
	// The seed's resize, online: the guest sees 11Gi without a restart.
	size := func() string {
		out, _ := c.Run(t, "cat /sys/block/sda/size", time.Minute)
		return strings.TrimSpace(out)
	}
	if got := size(); got != fmt.Sprint(10<<30/512) {
		t.Errorf("disk size in the guest before the resize: %q sectors", got)
	}
	srv.MustKubectl("-n", "vms", "patch", "virtualdisk", "linux-disk", "--type", "merge", "-p", `{"spec":{"persistentVolumeClaim":{"size":"11Gi"}}}`)
	waitLong(t, srv, "11Gi", "-n", "vms", "get", "vd", "linux-disk", "-o", "jsonpath={.status.capacity}")
	for deadline := time.Now().Add(time.Minute); size() != fmt.Sprint(11<<30/512); {
		if time.Now().After(deadline) {
			t.Fatalf("the guest still sees %s sectors after the resize to 11Gi", size())
		}
		time.Sleep(time.Second)
	}
	_ = c.Send("\x1d")
	if err := c.wait(t, 30*time.Second); err != nil {
		t.Errorf("d8 v console after Ctrl+]: %v\n%s", err, c.Tail(1000))
	}

	// Without the role: refused by the apiserver's RBAC.
	bob := srv.UserKubeconfig("bob")
	srv.MustKubectlStdin(`apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-view, namespace: vms}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}
`, "apply", "-f", "-")
	if r := srv.KubectlAs(bob, "-n", "vms", "get", "vm", "linux-vm", "-o", "name"); r.Err != nil || strings.TrimSpace(r.Stdout) != "virtualmachine.virtualization.deckhouse.io/linux-vm" {
		t.Errorf("a user with view lists machines: %s", r)
	}
	r := srv.Run("", srv.Bin("d8"), "--kubeconfig", bob, "v", "console", "-n", "vms", "linux-vm", "--timeout", "5s")
	if r.Err == nil || !strings.Contains(r.Stdout+r.Stderr, "forbidden") {
		t.Errorf("console for a user without the right: %s", r)
	}

	// AlwaysOn cannot be stopped; a restart is a new launcher pod.
	r = d8(srv, srv.Kubeconfig, "v", "stop", "-n", "vms", "linux-vm")
	if r.Err == nil || !strings.Contains(r.Stdout+r.Stderr, "NotApplicableForVirtualMachineRunPolicy") {
		t.Errorf("d8 v stop of an AlwaysOn machine: %s", r)
	}
	srv.MustKubectl("apply", "-f", "testdata/seed/13-vmop-restart.yaml")
	waitLong(t, srv, "Completed", "-n", "vms", "get", "vmop", "restart-linux-vm", "-o", "jsonpath={.status.phase}")
	if now := activePod(t, srv, "linux-vm"); now == pod || now == "" {
		t.Errorf("after the restart the launcher pod is %q (was %q)", now, pod)
	}
	out = srv.MustKubectl("-n", "vms", "get", "virtualmachineoperations", "restart-linux-vm")
	if row := tableCells(out, "restart-linux-vm"); row["PHASE"] != "Completed" {
		t.Errorf("vmop columns:\n%s", out)
	}

	// kill -9 of QEMU: AlwaysOn starts the machine again in a new pod.
	pod = activePod(t, srv, "linux-vm")
	pids := qemuPIDs(t, srv, "linux-vm")
	if len(pids) != 1 {
		t.Fatalf("QEMU processes of linux-vm: %v", pids)
	}
	if out, err := exec.Command("kill", "-9", pids[0]).CombinedOutput(); err != nil {
		t.Fatalf("kill -9 qemu: %v %s", err, out)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		now := activePod(t, srv, "linux-vm")
		if now != "" && now != pod && srv.MustKubectl(vmPhase("linux-vm")...) == "Running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new launcher after QEMU was killed (pod %q)\n%s", now, srv.MustKubectl("-n", "vms", "get", "events"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ev := srv.MustKubectl("-n", "vms", "get", "events", "--field-selector", "involvedObject.name=linux-vm,reason=Crashed", "-o", "jsonpath={.items[*].message}"); !strings.Contains(ev, "QEMUExited") {
		t.Errorf("crash events: %q", ev)
	}

	// A disk in use is kept while the machine runs, and named as such.
	out = srv.MustKubectl("-n", "vms", "get", "vd", "linux-disk", "-o", "wide")
	if cells := tableCells(out, "linux-disk"); cells["INUSE"] != "True" || cells["VIRTUALMACHINE"] != "linux-vm" {
		t.Errorf("disk of a running machine:\n%s", out)
	}
	srv.MustKubectl("-n", "vms", "delete", "vd", "linux-disk", "--wait=false")
	waitLong(t, srv, "Terminating", "-n", "vms", "get", "vd", "linux-disk", "-o", "jsonpath={.status.phase}")
	msg := srv.MustKubectl("-n", "vms", "get", "vd", "linux-disk", "-o", `jsonpath={.status.conditions[?(@.type=="InUse")].message}`)
	if !strings.Contains(msg, "linux-vm") {
		t.Errorf("InUse of a deleted disk in use: %q", msg)
	}
	if p := srv.MustKubectl(vmPhase("linux-vm")...); p != "Running" {
		t.Errorf("the machine is %s after its disk was deleted, want it to keep running", p)
	}
	srv.MustKubectl("-n", "vms", "delete", "vm", "linux-vm", "--wait=false")
	waitLong(t, srv, "", "-n", "vms", "get", "vd,vm", "-o", "name")
}

// powerOffOnce is cloud-config whose first boot powers the guest off (it
// marks the blank state disk so later boots stay up).
const powerOffOnce = `#cloud-config
users:
- name: cloud
  passwd: $6$rounds=4096$vln/.aPHBOI7BMYR$bBMkqQvuGs5Gyd/1H5DP4m9HjQSy.kgrxpaGEHwkX7KEFV8BS.HZWPitAtZ2Vd8ZqIZRqmlykRCagTgPejt1i.
  lock_passwd: false
runcmd:
- for d in /dev/sdb /dev/vdb; do [ -b $d ] && D=$d; done; if [ "$(head -c 6 $D)" != booted ]; then printf booted > $D; sync; poweroff; fi
`

func vmWithState(name, policy, provisioning string) string {
	return fmt.Sprintf(`apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata: {name: %[1]s-root, namespace: vms}
spec:
  persistentVolumeClaim: {storageClassName: linstor-thin-r2}
  dataSource: {type: ObjectRef, objectRef: {kind: VirtualImage, name: tiny}}
---
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata: {name: %[1]s-state, namespace: vms}
spec:
  persistentVolumeClaim: {size: 1Mi, storageClassName: linstor-thin-r2}
---
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata: {name: %[1]s, namespace: vms}
spec:
  virtualMachineClassName: generic
  runPolicy: %[2]s
  terminationGracePeriodSeconds: 30
  cpu: {cores: 1, coreFraction: 10%%}
  memory: {size: 256Mi}
%[3]s
  blockDeviceRefs:
  - {kind: VirtualDisk, name: %[1]s-root}
  - {kind: VirtualDisk, name: %[1]s-state}
`, name, policy, provisioning)
}

func inlineUserData(ud string) string {
	return "  provisioning:\n    type: UserData\n    userData: |\n" + indentBy(ud, "      ")
}

func indentBy(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

// TestRunPolicies checks what each run policy makes of a guest that powers
// off, and the Start/Stop/Restart operations and their refusals.
func TestRunPolicies(t *testing.T) {
	srv, url := vmPlatform(t, storageConfig)
	srv.MustKubectlStdin(fmt.Sprintf("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: tiny, namespace: vms}\nspec:\n  storage: ContainerRegistry\n  dataSource: {type: HTTP, http: {url: %q}}\n", url), "apply", "-f", "-")
	waitLong(t, srv, "Ready", "-n", "vms", "get", "vi", "tiny", "-o", "jsonpath={.status.phase}")

	t.Run("AlwaysOff", func(t *testing.T) {
		srv.MustKubectlStdin(vmWithState("dormant", "AlwaysOff", ""), "apply", "-f", "-")
		waitLong(t, srv, "Ready", "-n", "vms", "get", "vd", "dormant-root", "-o", "jsonpath={.status.phase}")
		waitLong(t, srv, "Stopped", vmPhase("dormant")...)
		r := d8(srv, srv.Kubeconfig, "v", "start", "-n", "vms", "dormant")
		if r.Err == nil || !strings.Contains(r.Stdout+r.Stderr, "NotApplicableForVirtualMachineRunPolicy") {
			t.Errorf("start of an AlwaysOff machine: %s", r)
		}
		// Switching to AlwaysOnUnlessStoppedManually starts it.
		srv.MustKubectl("-n", "vms", "patch", "vm", "dormant", "--type", "merge", "-p", `{"spec":{"runPolicy":"AlwaysOnUnlessStoppedManually"}}`)
		waitLong(t, srv, "Running", vmPhase("dormant")...)
		// And back to AlwaysOff stops it.
		srv.MustKubectl("-n", "vms", "patch", "vm", "dormant", "--type", "merge", "-p", `{"spec":{"runPolicy":"AlwaysOff"}}`)
		waitLong(t, srv, "Stopped", vmPhase("dormant")...)
		if ev := srv.MustKubectl("-n", "vms", "get", "events", "--field-selector", "involvedObject.name=dormant,reason=Stopping", "-o", "jsonpath={.items[*].message}"); !strings.Contains(ev, "AlwaysOff") {
			t.Errorf("stop events: %q", ev)
		}
	})
	t.Run("AlwaysOnPowerOff", func(t *testing.T) {
		srv.MustKubectlStdin(vmWithState("always", "AlwaysOn", inlineUserData(powerOffOnce)), "apply", "-f", "-")
		// The first boot powers off; AlwaysOn starts a second launcher,
		// whose boot finds the state disk marked and stays up.
		waitLong(t, srv, "Restarting", "-n", "vms", "get", "events", "--field-selector", "involvedObject.name=always,reason=Restarting",
			"-o", "jsonpath={.items[0].reason}")
		waitLong(t, srv, "Running", vmPhase("always")...)
		msg := srv.MustKubectl("-n", "vms", "get", "events", "--field-selector", "involvedObject.name=always,reason=Restarting", "-o", "jsonpath={.items[0].message}")
		if !strings.Contains(msg, "powered off") {
			t.Errorf("restart event: %q", msg)
		}
	})
	t.Run("AlwaysOnUnlessStoppedManuallyPowerOff", func(t *testing.T) {
		srv.MustKubectlStdin(vmWithState("unless", "AlwaysOnUnlessStoppedManually", inlineUserData(powerOffOnce)), "apply", "-f", "-")
		waitLong(t, srv, "Running", vmPhase("unless")...)
		// The guest powers itself off: the machine stays Stopped.
		waitLong(t, srv, "Stopped", vmPhase("unless")...)
		time.Sleep(3 * time.Second)
		if p := srv.MustKubectl(vmPhase("unless")...); p != "Stopped" {
			t.Fatalf("after the guest powered off the machine is %s, want it to stay Stopped", p)
		}
		// d8 v start brings it back; the marked state disk keeps it up.
		if r := d8(srv, srv.Kubeconfig, "v", "start", "-n", "vms", "unless", "--wait"); r.Err != nil {
			t.Fatalf("d8 v start: %s", r)
		}
		if p := srv.MustKubectl(vmPhase("unless")...); p != "Running" {
			t.Errorf("after d8 v start --wait: %s", p)
		}
		// Start of a running machine is refused with the upstream reason.
		r := d8(srv, srv.Kubeconfig, "v", "start", "-n", "vms", "unless")
		if r.Err == nil || !strings.Contains(r.Stdout+r.Stderr, "NotApplicableForVirtualMachinePhase") {
			t.Errorf("start of a running machine: %s", r)
		}
		// A graceful stop: the guest gets the ACPI power button.
		if r := d8(srv, srv.Kubeconfig, "v", "stop", "-n", "vms", "unless", "--wait"); r.Err != nil {
			t.Fatalf("d8 v stop: %s", r)
		}
		if p := srv.MustKubectl(vmPhase("unless")...); p != "Stopped" {
			t.Errorf("after d8 v stop --wait: %s", p)
		}
	})
	t.Run("ManualWithUserDataRef", func(t *testing.T) {
		srv.MustKubectlStdin(`apiVersion: v1
kind: Secret
metadata: {name: manual-cloud-init, namespace: vms}
type: provisioning.virtualization.deckhouse.io/cloud-init
stringData:
  userData: |
    #cloud-config
    hostname: from-secret
    users:
    - name: cloud
      passwd: $6$rounds=4096$vln/.aPHBOI7BMYR$bBMkqQvuGs5Gyd/1H5DP4m9HjQSy.kgrxpaGEHwkX7KEFV8BS.HZWPitAtZ2Vd8ZqIZRqmlykRCagTgPejt1i.
      lock_passwd: false
`, "apply", "-f", "-")
		srv.MustKubectlStdin(vmWithState("manual", "Manual", "  provisioning:\n    type: UserDataRef\n    userDataRef: {kind: Secret, name: manual-cloud-init}\n"), "apply", "-f", "-")
		waitLong(t, srv, "Ready", "-n", "vms", "get", "vd", "manual-root", "-o", "jsonpath={.status.phase}")
		time.Sleep(2 * time.Second)
		if p := srv.MustKubectl(vmPhase("manual")...); p != "Stopped" {
			t.Fatalf("a Manual machine is %s after creation, want Stopped", p)
		}
		r := d8(srv, srv.Kubeconfig, "v", "restart", "-n", "vms", "manual")
		if r.Err == nil || !strings.Contains(r.Stdout+r.Stderr, "NotApplicableForVirtualMachinePhase") {
			t.Errorf("restart of a stopped machine: %s", r)
		}
		if r := d8(srv, srv.Kubeconfig, "v", "start", "manual.vms", "-w"); r.Err != nil {
			t.Fatalf("d8 v start: %s", r)
		}
		c := console(t, srv, srv.Kubeconfig, "-n", "vms", "manual")
		login(t, c, "from-secret")
		first := activePod(t, srv, "manual")
		// A change that needs a restart waits for one (restartApprovalMode
		// defaults to Manual) and says so in the Need restart column.
		srv.MustKubectl("-n", "vms", "patch", "vm", "manual", "--type", "merge", "-p", `{"spec":{"memory":{"size":"320Mi"}}}`)
		waitLong(t, srv, "True", "-n", "vms", "get", "vm", "manual", "-o", `jsonpath={.status.conditions[?(@.type=="AwaitingRestartToApplyConfiguration")].status}`)
		if ch := srv.MustKubectl("-n", "vms", "get", "vm", "manual", "-o", "jsonpath={.status.restartAwaitingChanges}"); !strings.Contains(ch, `"path":"memory"`) {
			t.Errorf("restartAwaitingChanges: %s", ch)
		}
		// MEMORY shows what runs; the change waits in restartAwaitingChanges.
		if cells := tableCells(srv.MustKubectl("-n", "vms", "get", "vm", "-o", "wide"), "manual"); cells["NEED RESTART"] != "True" || cells["MEMORY"] != "256Mi" {
			t.Errorf("Need restart and Memory columns before the restart: %v", cells)
		}
		if r := d8(srv, srv.Kubeconfig, "v", "restart", "-n", "vms", "manual", "--force", "-w"); r.Err != nil {
			t.Fatalf("d8 v restart --force: %s", r)
		}
		if now := activePod(t, srv, "manual"); now == first {
			t.Errorf("restart kept launcher %s", now)
		}
		waitLong(t, srv, "False", "-n", "vms", "get", "vm", "manual", "-o", `jsonpath={.status.conditions[?(@.type=="AwaitingRestartToApplyConfiguration")].status}`)
		if cells := tableCells(srv.MustKubectl("-n", "vms", "get", "vm", "-o", "wide"), "manual"); cells["NEED RESTART"] != "False" || cells["MEMORY"] != "320Mi" {
			t.Errorf("Need restart and Memory columns after the restart: %v", cells)
		}
	})
}

// cloudUser is the seed's cloud-init user, for machines the tests log into.
const cloudUser = `#cloud-config
users:
- name: cloud
  passwd: $6$rounds=4096$vln/.aPHBOI7BMYR$bBMkqQvuGs5Gyd/1H5DP4m9HjQSy.kgrxpaGEHwkX7KEFV8BS.HZWPitAtZ2Vd8ZqIZRqmlykRCagTgPejt1i.
  lock_passwd: false
`

func tinyImage(t *testing.T, srv *harness.Server, url string) {
	t.Helper()
	srv.MustKubectlStdin(fmt.Sprintf("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: tiny, namespace: vms}\nspec:\n  storage: ContainerRegistry\n  dataSource: {type: HTTP, http: {url: %q}}\n", url), "apply", "-f", "-")
	waitLong(t, srv, "Ready", "-n", "vms", "get", "vi", "tiny", "-o", "jsonpath={.status.phase}")
}

// TestVMSplitControllers runs the controllers as `dvp controller`, a
// separate process that reaches the cluster only through kube-apiserver:
// the machine still starts and its console works.
func TestVMSplitControllers(t *testing.T) {
	img := guest.TinyBIOS(t)
	srv := harness.Start(t, harness.Options{Config: storageConfig, ExternalControllers: true})
	base := serveFiles(t, srv, filepath.Dir(img))
	srv.MustKubectl("create", "ns", "vms")
	tinyImage(t, srv, base+"/"+filepath.Base(img))
	srv.MustKubectlStdin(vmWithState("split", "AlwaysOn", inlineUserData(cloudUser)), "apply", "-f", "-")
	waitLong(t, srv, "Running", vmPhase("split")...)
	c := console(t, srv, srv.Kubeconfig, "-n", "vms", "split")
	login(t, c, "split")

	// One console at a time: a second client is told who holds it, and
	// --force takes it over (the first session ends, saying by whom, with
	// a non-zero exit).
	r := d8(srv, srv.Kubeconfig, "v", "console", "-n", "vms", "split", "--timeout", "5s")
	if r.Err == nil || !strings.Contains(r.Stdout+r.Stderr, "in use by") || !strings.Contains(r.Stdout+r.Stderr, "--force") {
		t.Errorf("a second console: %s", r)
	}
	c2 := console(t, srv, srv.Kubeconfig, "-n", "vms", "split", "--force")
	c2.Expect(t, "Successfully connected to split console", time.Minute)
	if err := c.wait(t, 30*time.Second); err == nil {
		t.Errorf("the first console exited 0 after a takeover\n%s", c.Tail(500))
	}
	c.Expect(t, "the console was taken over by ", 10*time.Second)
	if out, code := c2.Run(t, "id -un", time.Minute); code != 0 || !strings.Contains(out, "cloud") {
		t.Errorf("the taken-over session: %q (exit %d)", out, code)
	}
}

// TestVMSurvivesServerKill kills `dvp server` with -9 while a machine runs:
// QEMU runs on, the restarted platform adopts it, and no second copy of the
// machine ever starts.
func TestVMSurvivesServerKill(t *testing.T) {
	srv, url := vmPlatform(t, storageConfig)
	tinyImage(t, srv, url)
	srv.MustKubectlStdin(vmWithState("steady", "AlwaysOn", inlineUserData(cloudUser)), "apply", "-f", "-")
	waitLong(t, srv, "Running", vmPhase("steady")...)
	c := console(t, srv, srv.Kubeconfig, "-n", "vms", "steady")
	login(t, c, "steady")
	_ = c.Send("exit\n") // log out: the next session starts at the login prompt
	c.Expect(t, "steady login:", time.Minute)
	_ = c.Send("\x1d")
	_ = c.wait(t, 30*time.Second)
	pid := qemuPIDs(t, srv, "steady")
	pod := activePod(t, srv, "steady")
	if len(pid) != 1 {
		t.Fatalf("QEMU processes of the machine before the kill: %v", pid)
	}

	srv.Restart(true)
	waitLong(t, srv, "Running", vmPhase("steady")...)
	// Give the controllers time to act on whatever they found.
	time.Sleep(10 * time.Second)
	if now := qemuPIDs(t, srv, "steady"); len(now) != 1 || now[0] != pid[0] {
		t.Errorf("QEMU processes after the restart: %v, want the same single %v", now, pid)
	}
	if now := activePod(t, srv, "steady"); now != pod {
		t.Errorf("launcher pod after the restart: %q, want %q", now, pod)
	}
	pods := srv.MustKubectl("-n", "vms", "get", "pods", "-l", "vm.virtualization.deckhouse.io/name=steady", "-o", "name")
	if strings.Count(pods, "\n") != 1 {
		t.Errorf("launcher pods after the restart:\n%s", pods)
	}
	// The console still reaches the same guest session.
	c = console(t, srv, srv.Kubeconfig, "-n", "vms", "steady")
	login(t, c, "steady")
	_ = c.Send("\x1d")
	_ = c.wait(t, 30*time.Second)

	// A host reboot: the server and every pod process die. When the
	// server comes back, the run policy starts the machine again, once.
	srv.Kill()
	srv.KillPods()
	srv.Restart(true)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		now := activePod(t, srv, "steady")
		if now != "" && now != pod && srv.MustKubectl(vmPhase("steady")...) == "Running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the machine did not start again after the simulated reboot (pod %q)\n%s\n%s", now,
				srv.Kubectl("-n", "vms", "get", "vm,pods", "-o", "wide").Stdout,
				srv.Kubectl("-n", "vms", "get", "pods", "-o", "yaml").Stdout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(5 * time.Second)
	if now := qemuPIDs(t, srv, "steady"); len(now) != 1 {
		t.Errorf("QEMU processes after the simulated reboot: %v, want one", now)
	}
}

// qemuPIDs lists the QEMU processes of a machine in namespace vms run by
// this server (their working directory is under its data directory; other
// tests may run a machine of the same name).
func qemuPIDs(t *testing.T, srv *harness.Server, vm string) []string {
	t.Helper()
	out, _ := exec.Command("pgrep", "-f", "guest=vms_"+vm+",").Output()
	var pids []string
	for _, pid := range strings.Fields(string(out)) {
		if cwd, err := os.Readlink("/proc/" + pid + "/cwd"); err == nil && strings.HasPrefix(cwd, srv.DataDir+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestVMPlacement places a machine on one of two simulated nodes by
// nodeSelector and tolerations, provisions its node-local
// WaitForFirstConsumer disk on the node it lands on, and boots the EFI
// variant of the guest through OVMF.
func TestVMPlacement(t *testing.T) {
	efi := filepath.Base(guest.TinyEFI(t))
	srv, url := vmPlatform(t, `nodes:
  - name: node-a
    labels: {node-role.kubernetes.io/system: ""}
    taints: [{key: node-role.kubernetes.io/system, effect: NoSchedule}]
  - name: node-b
storageClasses:
  - {name: local-thin, volumeBindingMode: WaitForFirstConsumer, default: true, nodeLocal: true}
  - {name: linstor-thin-r2, volumeBindingMode: Immediate}
`)
	url = strings.TrimSuffix(url, filepath.Base(url)) + efi
	srv.MustKubectlStdin(fmt.Sprintf(`apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualImage
metadata: {name: tiny-efi, namespace: vms}
spec:
  storage: ContainerRegistry
  dataSource: {type: HTTP, http: {url: %q}}
---
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata: {name: placed-root, namespace: vms}
spec:
  persistentVolumeClaim: {storageClassName: local-thin}
  dataSource: {type: ObjectRef, objectRef: {kind: VirtualImage, name: tiny-efi}}
---
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata: {name: placed-data, namespace: vms}
spec:
  persistentVolumeClaim: {size: 64Mi}
---
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata: {name: placed, namespace: vms}
spec:
  virtualMachineClassName: generic
  bootloader: EFI
  cpu: {cores: 1, coreFraction: 20%%}
  memory: {size: 256Mi}
  nodeSelector: {node-role.kubernetes.io/system: ""}
  tolerations: [{key: node-role.kubernetes.io/system, operator: Exists, effect: NoSchedule}]
%s  blockDeviceRefs:
  - {kind: VirtualDisk, name: placed-root}
  - {kind: VirtualDisk, name: placed-data}
`, url, inlineUserData(cloudUser)), "apply", "-f", "-")
	waitLong(t, srv, "WaitForFirstConsumer", "-n", "vms", "get", "vd", "placed-data", "-o", "jsonpath={.status.phase}")
	// The image is written onto the node-local root disk only once a
	// placement pod with the machine's constraints bound it on node-a.
	waitLong(t, srv, "Running", vmPhase("placed")...)
	if node := srv.MustKubectl("-n", "vms", "get", "vm", "placed", "-o", "jsonpath={.status.nodeName}"); node != "node-a" {
		t.Errorf("machine placed on %q, want node-a (nodeSelector + toleration)", node)
	}
	for _, vd := range []string{"placed-root", "placed-data"} {
		waitLong(t, srv, "Ready", "-n", "vms", "get", "vd", vd, "-o", "jsonpath={.status.phase}")
		pvc := srv.MustKubectl("-n", "vms", "get", "vd", vd, "-o", "jsonpath={.status.target.persistentVolumeClaimName}")
		pv := srv.MustKubectl("-n", "vms", "get", "pvc", pvc, "-o", "jsonpath={.spec.volumeName}")
		if n := srv.MustKubectl("get", "pv", pv, "-o", "jsonpath={.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}"); n != "node-a" {
			t.Errorf("the WaitForFirstConsumer disk %s was provisioned on %q, want node-a", vd, n)
		}
	}
	if r := srv.Kubectl("-n", "vms", "get", "pod", "d8v-placement-placed"); r.Err == nil {
		t.Errorf("the placement pod is still there once the machine runs")
	}
	c := console(t, srv, srv.Kubeconfig, "-n", "vms", "placed")
	login(t, c, "placed")
	if out, code := c.Run(t, "ls /sys/firmware/efi >/dev/null && echo booted-by-efi", time.Minute); code != 0 || !strings.Contains(out, "booted-by-efi") {
		t.Errorf("EFI boot: %q (exit %d)", out, code)
	}
}
