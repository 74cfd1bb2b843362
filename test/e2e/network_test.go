package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/virtlab/dvp/test/harness"
)

// TestVMNetwork boots two tiny guests on the node's VM network: each
// gets its leased address over DHCP (and sees the one its status shows), the
// host reaches both, they reach each other, and after a kill -9 of the
// server they keep their addresses and stay reachable.
func TestVMNetwork(t *testing.T) {
	srv, url := vmPlatform(t, storageConfig)
	if srv.NetNS == "" {
		t.Skip("needs root: the VM network is a bridge, taps and nftables in the server's network namespace")
	}
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("ping not found: install iputils-ping (make deps does)")
	}
	tinyImage(t, srv, url)
	ud := inlineUserData(netUser)
	srv.MustKubectlStdin(vmWithState("net-a", "AlwaysOn", ud)+"---\n"+vmWithState("net-b", "AlwaysOn", ud), "apply", "-f", "-")
	waitLong(t, srv, "Running", vmPhase("net-a")...)
	waitLong(t, srv, "Running", vmPhase("net-b")...)
	ipA := srv.MustKubectl("-n", "vms", "get", "vm", "net-a", "-o", "jsonpath={.status.ipAddress}")
	ipB := srv.MustKubectl("-n", "vms", "get", "vm", "net-b", "-o", "jsonpath={.status.ipAddress}")
	if ipA == "" || ipB == "" || ipA == ipB || !strings.HasPrefix(ipA, "10.66.10.") || !strings.HasPrefix(ipB, "10.66.10.") {
		t.Fatalf("addresses %q and %q: want two different ones in 10.66.10.0/24", ipA, ipB)
	}

	// The host reaches both once their guests have taken their address.
	for _, ip := range []string{ipA, ipB} {
		pingFromHost(t, srv, ip)
	}

	c := console(t, srv, srv.Kubeconfig, "-n", "vms", "net-a")
	c.Expect(t, "Successfully connected to net-a console", time.Minute)
	login(t, c, "net-a")
	if out, _ := c.Run(t, "ip -4 addr show eth0", time.Minute); !strings.Contains(out, "inet "+ipA+"/24") {
		t.Errorf("the guest's own address is not its status's %s:\n%s", ipA, out)
	}
	mac := srv.MustKubectl("-n", "vms", "get", "vm", "net-a", "-o", `jsonpath={.status.networks[?(@.type=="Main")].macAddress}`)
	if out, _ := c.Run(t, "cat /sys/class/net/eth0/address", time.Minute); mac == "" || !strings.Contains(out, mac) {
		t.Errorf("status.networks MAC %q is not the guest's:\n%s", mac, out)
	}
	if out, code := c.Run(t, "sudo ping -c 2 -W 5 "+ipB, time.Minute); code != 0 {
		t.Errorf("net-a cannot ping net-b (%s):\n%s", ipB, out)
	}
	// What a guest may not reach is tested by the quick start
	// (testGuestCannotReachHost); here, that the guest has a default
	// route through the gateway for what NAT lets out.
	if out, _ := c.Run(t, "ip route", time.Minute); !strings.Contains(out, "default via 10.66.10.1") {
		t.Errorf("no default route through the gateway:\n%s", out)
	}
	_ = c.Send("\x1d")
	_ = c.wait(t, 30*time.Second)

	// kill -9 of the server: the guests run on, and the restarted node
	// rebuilds DHCP and the rules around the same taps and addresses.
	srv.Restart(true)
	waitLong(t, srv, "Running", vmPhase("net-a")...)
	for vm, ip := range map[string]string{"net-a": ipA, "net-b": ipB} {
		if got := srv.MustKubectl("-n", "vms", "get", "vm", vm, "-o", "jsonpath={.status.ipAddress}"); got != ip {
			t.Errorf("%s changed address across the restart: %s -> %s", vm, ip, got)
		}
		pingFromHost(t, srv, ip)
	}
}

// netUser is the seed's user with a sudo rule (ping needs root in the tiny
// guest).
const netUser = `#cloud-config
users:
- name: cloud
  passwd: $6$rounds=4096$vln/.aPHBOI7BMYR$bBMkqQvuGs5Gyd/1H5DP4m9HjQSy.kgrxpaGEHwkX7KEFV8BS.HZWPitAtZ2Vd8ZqIZRqmlykRCagTgPejt1i.
  lock_passwd: false
  sudo: ALL=(ALL) NOPASSWD:ALL
`

// pingFromHost pings ip from the server's network namespace until it
// answers (the guest may still be booting); the limit only bounds a hang.
func pingFromHost(t *testing.T, srv *harness.Server, ip string) {
	t.Helper()
	var out []byte
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
		var err error
		out, err = srv.Command("ping", "-c", "1", "-W", "2", ip).CombinedOutput()
		if err == nil {
			return
		}
	}
	t.Fatalf("the host cannot ping %s:\n%s", ip, out)
}
