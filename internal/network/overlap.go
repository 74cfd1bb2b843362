package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// CheckOverlap refuses virtualMachineCIDRs that overlap an address or a
// route of the calling thread's network namespace, except the bridge's
// own: VM addresses there would shadow hosts the node must still reach,
// or the other way round.
func CheckOverlap(bridge string, cidrs []netip.Prefix) error {
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	return checkOverlap(h, bridge, cidrs)
}

func checkOverlap(h *netlink.Handle, bridge string, cidrs []netip.Prefix) error {
	links, err := retryDump(h.LinkList)
	if err != nil {
		return fmt.Errorf("listing links: %w", err)
	}
	names := map[int]string{}
	ours := -1
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
		if l.Attrs().Name == bridge {
			ours = l.Attrs().Index
		}
	}
	var errs []error
	seen := map[string]bool{}
	report := func(p netip.Prefix, what string) {
		for _, c := range cidrs {
			if !c.Overlaps(p) {
				continue
			}
			msg := fmt.Sprintf("virtualMachineCIDRs %s overlaps %s in this host's network namespace: choose a range the host does not use", c, what)
			if !seen[msg] {
				seen[msg] = true
				errs = append(errs, errors.New(msg))
			}
		}
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("listing addresses: %w", err)
	}
	for _, a := range addrs {
		if a.LinkIndex == ours {
			continue
		}
		if p, ok := prefixOf(a.IPNet); ok {
			report(p.Masked(), fmt.Sprintf("the address %s of %s", a.IPNet, names[a.LinkIndex]))
		}
	}
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return fmt.Errorf("listing routes: %w", err)
	}
	for _, r := range routes {
		p, ok := prefixOf(r.Dst)
		// A default route covers everything and shadows nothing; routes
		// of the host's own addresses were judged with the addresses.
		if !ok || p.Bits() == 0 || r.LinkIndex == ours && ours >= 0 || r.Type == unix.RTN_LOCAL || r.Type == unix.RTN_BROADCAST ||
			r.Protocol == netlink.RouteProtocol(unix.RTPROT_KERNEL) {
			continue
		}
		via := ""
		if dev := names[r.LinkIndex]; dev != "" {
			via = " dev " + dev
		}
		report(p, fmt.Sprintf("the route %s%s (table %d)", p, via, r.Table))
	}
	return errors.Join(errs...)
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil || n.IP.To4() == nil {
		return netip.Prefix{}, false
	}
	a, _ := netip.AddrFromSlice(n.IP.To4())
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones), true
}
