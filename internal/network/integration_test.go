package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// The root test plays a node and a guest in two fresh network namespaces
// (never the machine's own): the node's namespace gets the Manager, a
// second address standing for the node address and a TCP listener; the
// guest's namespace gets the far end of a veth whose near end, named like
// a tap, is the pod's port on the bridge (a tap has no carrier until QEMU
// opens it, a veth does).

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces, bridges and nftables")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip)")
	}
}

func ipcmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newNS(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "dvpnet-" + hex.EncodeToString(b)
	ipcmd(t, "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
	ipcmd(t, "-n", name, "link", "set", "lo", "up")
	return name
}

// within runs f on a thread of its own inside the named namespace; the
// thread is never unlocked, so it dies with its goroutine.
func within(t *testing.T, name string, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := netns.GetFromName(name)
		if err == nil {
			defer ns.Close()
			err = netns.Set(ns)
		}
		if err != nil {
			errc <- fmt.Errorf("entering %s: %w", name, err)
			return
		}
		errc <- f()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// ping sends up to tries ICMP echo requests from one of the guest's
// addresses and reports whether an answer came.
func ping(from, to string, tries int) error {
	c, err := icmp.ListenPacket("ip4:icmp", from)
	if err != nil {
		return err
	}
	defer c.Close()
	id := os.Getpid() & 0xffff
	for seq := 1; seq <= tries; seq++ {
		b, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("dvp")}}).Marshal(nil)
		if _, err := c.WriteTo(b, &net.IPAddr{IP: net.ParseIP(to)}); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 1500)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if e, ok := m.Body.(*icmp.Echo); err == nil && m.Type == ipv4.ICMPTypeEchoReply && ok && e.ID == id {
				return nil
			}
		}
	}
	return fmt.Errorf("no echo reply from %s to %s", to, from)
}

func dial(from, to string) error {
	d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", to)
	if err == nil {
		c.Close()
	}
	return err
}

func TestManagerInNamespace(t *testing.T) {
	needRoot(t)
	node, guest := newNS(t), newNS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	uid := "5e1f0c4a-9b2d-4e6f-8a1b-3c5d7e9f1a2b"
	ep := Endpoint{PodUID: uid, Tap: TapName(uid), MAC: macA, IP: netip.MustParseAddr("10.66.10.2"), Hostname: "vm-a"}
	other := "7a7a7a7a-0000-4000-8000-000000000001"
	ep2 := Endpoint{PodUID: other, Tap: TapName(other), MAC: macB, IP: netip.MustParseAddr("10.66.10.3")}
	opts := Options{CIDRs: []netip.Prefix{netip.MustParsePrefix("10.66.10.0/24")}, DNS: []netip.Addr{netip.MustParseAddr("192.0.2.53")},
		NAT: true, TapUID: 4242, TapGID: 4243, Nodes: []string{"node-a"}}

	// The node address, on an interface of its own, and a listener on
	// every address, as the apiserver and DVCR would have.
	ipcmd(t, "-n", node, "link", "add", "uplink", "type", "veth", "peer", "name", "uplinkp")
	ipcmd(t, "-n", node, "addr", "add", "10.77.0.2/24", "dev", "uplink")
	ipcmd(t, "-n", node, "link", "set", "uplink", "up")
	ipcmd(t, "-n", node, "link", "set", "uplinkp", "up")
	// Left by an earlier run, labelled by nobody: the next Start removes it.
	ipcmd(t, "-n", node, "tuntap", "add", "dvptdeadbeef00", "mode", "tap")

	var m *Manager
	var ln net.Listener
	within(t, node, func() (err error) {
		if m, err = New(opts); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp4", "0.0.0.0:0"); err != nil {
			return err
		}
		return m.Start(ctx)
	})
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	// The guest's NIC, its peer named like the pod's tap, made
	// after Start, which removes unlabelled links named so.
	ipcmd(t, "-n", node, "link", "add", ep.Tap, "type", "veth", "peer", "name", "eth0", "netns", guest)
	ipcmd(t, "-n", guest, "link", "set", "eth0", "address", macA.String())
	ipcmd(t, "-n", guest, "link", "set", "eth0", "up")
	if err := m.Add(ctx, "node-a", ep); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := m.Add(ctx, "node-a", ep2); err != nil {
		t.Fatalf("Add of a real tap: %v", err)
	}
	if out := ipcmd(t, "-n", node, "-d", "link", "show", ep2.Tap); !strings.Contains(out, "master "+DefaultBridge) ||
		!strings.Contains(out, "user 4242") || !strings.Contains(out, "persist on") {
		t.Errorf("tap %s is not a persistent tap of uid 4242 on the bridge:\n%s", ep2.Tap, out)
	}
	if out, _ := exec.Command("ip", "-n", node, "link", "show", "dvptdeadbeef00").CombinedOutput(); !strings.Contains(string(out), "does not exist") {
		t.Errorf("an unlabelled tap survived Start:\n%s", out)
	}
	if out, _ := exec.Command("ip", "netns", "exec", node, "cat", "/proc/sys/net/ipv4/ip_forward").CombinedOutput(); strings.TrimSpace(string(out)) != "1" {
		t.Errorf("ip_forward = %q", out)
	}

	checkDHCP(t, guest, ep)
	ipcmd(t, "-n", guest, "addr", "add", "10.66.10.2/24", "dev", "eth0")
	ipcmd(t, "-n", guest, "route", "add", "default", "via", "10.66.10.1")
	checkFiltering(t, node, guest, port)

	// A crash: the Manager is gone, the kernel keeps everything. A new one
	// starts from the taps' labels, then the node's Sync wants only ep.
	before := ipcmd(t, "-n", node, "-o", "link", "show", ep.Tap)
	_ = m.Close()
	within(t, node, func() (err error) {
		if m, err = New(opts); err != nil {
			return err
		}
		return m.Start(ctx)
	})
	defer m.Close()
	checkDHCP(t, guest, ep) // answered from the labels, before any Sync
	if err := m.Sync(ctx, "node-a", []Endpoint{ep}); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if after := ipcmd(t, "-n", node, "-o", "link", "show", ep.Tap); strings.Fields(after)[0] != strings.Fields(before)[0] {
		t.Errorf("the pod's tap was recreated: before %q, after %q", before, after)
	}
	if out, _ := exec.Command("ip", "-n", node, "link", "show", ep2.Tap).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
		t.Errorf("the tap no pod wants survived Sync:\n%s", out)
	}
	checkDHCP(t, guest, ep)
	checkFiltering(t, node, guest, port)

	if err := m.Remove(ctx, uid); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if out, _ := exec.Command("ip", "-n", node, "link", "show", ep.Tap).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
		t.Errorf("Remove left the tap:\n%s", out)
	}
}

// checkDHCP leases an address from the guest's side with the real client.
func checkDHCP(t *testing.T, guest string, ep Endpoint) {
	t.Helper()
	within(t, guest, func() error {
		c, err := nclient4.New("eth0", nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(5))
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		l, err := c.Request(ctx)
		if err != nil {
			return fmt.Errorf("DHCP from the guest: %w", err)
		}
		ack := l.ACK
		var errs []error
		if !ack.YourIPAddr.Equal(stdIP(ep.IP)) {
			errs = append(errs, fmt.Errorf("leased %s, want %s", ack.YourIPAddr, ep.IP))
		}
		if r := ack.Router(); len(r) != 1 || !r[0].Equal(net.ParseIP("10.66.10.1")) {
			errs = append(errs, fmt.Errorf("router %v", r))
		}
		if d := ack.DNS(); len(d) != 1 || !d[0].Equal(net.ParseIP("192.0.2.53")) {
			errs = append(errs, fmt.Errorf("DNS %v", d))
		}
		if ack.HostName() != ep.Hostname {
			errs = append(errs, fmt.Errorf("hostname %q", ack.HostName()))
		}
		return errors.Join(errs...)
	})
}

// checkFiltering proves the anti-spoofing and host protection rules with
// traffic: the guest pings the gateway from its own address and MAC only,
// and reaches no TCP port of the host, through the gateway or the node
// address, while the same port answers inside the node.
func checkFiltering(t *testing.T, node, guest string, port int) {
	t.Helper()
	within(t, guest, func() error {
		if err := ping("10.66.10.2", "10.66.10.1", 3); err != nil {
			return fmt.Errorf("from its own address: %w", err)
		}
		return nil
	})
	ipcmd(t, "-n", guest, "addr", "add", "10.66.10.99/32", "dev", "eth0")
	within(t, guest, func() error {
		if ping("10.66.10.99", "10.66.10.1", 1) == nil {
			return errors.New("a ping from a spoofed address was answered")
		}
		for _, target := range []string{fmt.Sprintf("10.66.10.1:%d", port), fmt.Sprintf("10.77.0.2:%d", port)} {
			if dial("10.66.10.2", target) == nil {
				return fmt.Errorf("the guest reached the host's %s", target)
			}
		}
		return nil
	})
	ipcmd(t, "-n", guest, "addr", "del", "10.66.10.99/32", "dev", "eth0")
	ipcmd(t, "-n", guest, "link", "set", "eth0", "address", "02:5a:00:00:00:ee")
	within(t, guest, func() error {
		if ping("10.66.10.2", "10.66.10.1", 1) == nil {
			return errors.New("a ping from a spoofed MAC was answered")
		}
		return nil
	})
	ipcmd(t, "-n", guest, "link", "set", "eth0", "address", macA.String())
	within(t, node, func() error {
		if err := dial("10.66.10.1", fmt.Sprintf("10.66.10.1:%d", port)); err != nil {
			return fmt.Errorf("the listener does not answer inside the node, so the refusals prove nothing: %w", err)
		}
		return nil
	})
}

func TestOverlapInNamespace(t *testing.T) {
	needRoot(t)
	ns := newNS(t)
	ipcmd(t, "-n", ns, "link", "add", "uplink", "type", "veth", "peer", "name", "uplinkp")
	ipcmd(t, "-n", ns, "addr", "add", "10.66.0.9/16", "dev", "uplink")
	ipcmd(t, "-n", ns, "link", "set", "uplink", "up")
	ipcmd(t, "-n", ns, "route", "add", "172.20.0.0/16", "dev", "uplink")
	check := func(cidr string) (err error) {
		within(t, ns, func() error {
			err = CheckOverlap(DefaultBridge, []netip.Prefix{netip.MustParsePrefix(cidr)})
			return nil
		})
		return err
	}
	if err := check("10.66.10.0/24"); err == nil || !strings.Contains(err.Error(), "virtualMachineCIDRs 10.66.10.0/24 overlaps the address 10.66.0.9/16 of uplink") {
		t.Errorf("address overlap: %v", err)
	}
	if err := check("172.20.5.0/24"); err == nil || !strings.Contains(err.Error(), "virtualMachineCIDRs 172.20.5.0/24 overlaps the route 172.20.0.0/16 dev uplink") {
		t.Errorf("route overlap: %v", err)
	}
	if err := check("10.99.0.0/24"); err != nil {
		t.Errorf("no overlap refused: %v", err)
	}
}
