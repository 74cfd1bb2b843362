package network

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNS runs f on a thread of its own switched into the Manager's network
// namespace, for what netlink handles cannot aim at a namespace: opening
// /dev/net/tun, the DHCP socket, /proc/sys/net. The thread is never
// unlocked, so it dies with the goroutine and the switch cannot leak into
// other goroutines.
func (m *Manager) inNS(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(m.ns); err != nil {
			errc <- fmt.Errorf("entering the network namespace: %w", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// retryDump repeats a netlink dump the kernel interrupted (the link or
// address table changed meanwhile), which is only a reason to ask again.
func retryDump[T any](f func() ([]T, error)) ([]T, error) {
	for i := 0; ; i++ {
		v, err := f()
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < 5 {
			continue
		}
		return v, err
	}
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// bridgeMAC is fixed for a bridge name. A bridge without an address of its
// own takes the lowest of its ports', so plugging or removing a tap would
// change the gateway's MAC under every guest's ARP cache.
func bridgeMAC(name string) net.HardwareAddr {
	h := sha256.Sum256([]byte("dvp bridge " + name))
	return net.HardwareAddr{0x02, h[0], h[1], h[2], h[3], h[4]}
}

// ensureBridge makes the bridge (or adopts it), gives it exactly the
// gateway address of each CIDR and brings it up.
func (m *Manager) ensureBridge() (netlink.Link, error) {
	name := m.o.Bridge
	br, err := m.nl.LinkByName(name)
	if isNotFound(err) {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.HardwareAddr = name, bridgeMAC(name)
		if err := m.nl.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return nil, fmt.Errorf("creating bridge %s: %w", name, err)
		}
		br, err = m.nl.LinkByName(name)
	}
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", name, err)
	}
	if br.Type() != "bridge" {
		return nil, fmt.Errorf("network.bridge %s exists and is a %s, not a bridge", name, br.Type())
	}
	want := map[string]netip.Prefix{}
	for _, p := range m.o.CIDRs {
		gw := netip.PrefixFrom(gateway(p), p.Bits())
		want[gw.String()] = gw
	}
	have, err := retryDump(func() ([]netlink.Addr, error) { return m.nl.AddrList(br, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("addresses of bridge %s: %w", name, err)
	}
	for _, a := range have {
		ones, _ := a.Mask.Size()
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		k := netip.PrefixFrom(ip, ones).String()
		if _, ok := want[k]; ok {
			delete(want, k)
			continue
		}
		// The gateway of a CIDR no longer configured.
		if err := m.nl.AddrDel(br, &a); err != nil {
			return nil, fmt.Errorf("removing %s from bridge %s: %w", k, name, err)
		}
	}
	for k, gw := range want {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: stdIP(gw.Addr()), Mask: net.CIDRMask(gw.Bits(), 32)}}
		if err := m.nl.AddrAdd(br, a); err != nil {
			return nil, fmt.Errorf("adding %s to bridge %s: %w", k, name, err)
		}
	}
	if err := m.nl.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("bringing bridge %s up: %w", name, err)
	}
	return br, nil
}

// sysctls turns on IPv4 forwarding (guests reach beyond the host through
// it) and turns IPv6 off on the bridge: guests are given no IPv6, and a
// link-local address on the bridge would be one more way to the host.
func (m *Manager) sysctls() error {
	return m.inNS(func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			return fmt.Errorf("enabling IPv4 forwarding: %w", err)
		}
		p := filepath.Join("/proc/sys/net/ipv6/conf", m.o.Bridge, "disable_ipv6")
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("disabling IPv6 on %s: %w", m.o.Bridge, err)
		}
		return nil
	})
}

// ourTaps lists the links named with TapPrefix.
func (m *Manager) ourTaps() ([]netlink.Link, error) {
	all, err := retryDump(m.nl.LinkList)
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	var out []netlink.Link
	for _, l := range all {
		if strings.HasPrefix(l.Attrs().Name, TapPrefix) {
			out = append(out, l)
		}
	}
	return out, nil
}

// ensureTap makes the endpoint's tap if it is missing, persistent and
// owned by the launcher's user, and labels it. An existing link of that
// name is kept as it is (a running QEMU holds it): only its label is
// refreshed, unless it is another pod's.
func (m *Manager) ensureTap(node string, e Endpoint) (netlink.Link, error) {
	l, err := m.nl.LinkByName(e.Tap)
	if isNotFound(err) {
		err = m.inNS(func() error {
			attrs := netlink.NewLinkAttrs()
			attrs.Name = e.Tap
			return m.nl.LinkAdd(&netlink.Tuntap{LinkAttrs: attrs, Mode: netlink.TUNTAP_MODE_TAP,
				Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_ONE_QUEUE, Owner: m.o.TapUID, Group: m.o.TapGID})
		})
		if err != nil {
			return nil, fmt.Errorf("creating tap %s: %w", e.Tap, err)
		}
		l, err = m.nl.LinkByName(e.Tap)
	}
	if err != nil {
		return nil, fmt.Errorf("tap %s: %w", e.Tap, err)
	}
	if other, oe, ok := parseAlias(e.Tap, l.Attrs().Alias); ok && oe.PodUID != e.PodUID {
		return nil, fmt.Errorf("tap %s belongs to pod %s of node %s, not to pod %s", e.Tap, oe.PodUID, other, e.PodUID)
	}
	if a := alias(node, e); l.Attrs().Alias != a {
		if err := m.nl.LinkSetAlias(l, a); err != nil {
			return nil, fmt.Errorf("labelling tap %s: %w", e.Tap, err)
		}
	}
	return l, nil
}

// plug attaches a tap to the bridge and brings it up; both are no-ops
// when already so.
func (m *Manager) plug(l netlink.Link, br netlink.Link) error {
	if l.Attrs().MasterIndex != br.Attrs().Index {
		if err := m.nl.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("attaching %s to %s: %w", l.Attrs().Name, br.Attrs().Name, err)
		}
	}
	if err := m.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("bringing %s up: %w", l.Attrs().Name, err)
	}
	return nil
}

func (m *Manager) deleteLink(name string) error {
	l, err := m.nl.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err == nil {
		err = m.nl.LinkDel(l)
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting %s: %w", name, err)
	}
	return nil
}
