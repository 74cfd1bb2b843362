package ipam

import (
	"net/netip"
	"strings"
)

// leasePrefix starts every lease name; the rest is the address with dashes.
const leasePrefix = "ip-"

// LeaseName is the name of the cluster-scoped lease that locks address a:
// "ip-10-66-10-2". It is "" for anything but IPv4, as upstream.
func LeaseName(a netip.Addr) string {
	if !a.Is4() {
		return ""
	}
	return leasePrefix + strings.ReplaceAll(a.String(), ".", "-")
}

// AddrFromLeaseName is the inverse of LeaseName; ok is false for names that
// are not lease names.
func AddrFromLeaseName(name string) (netip.Addr, bool) {
	rest, found := strings.CutPrefix(name, leasePrefix)
	if !found || strings.Contains(rest, ".") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(strings.ReplaceAll(rest, "-", "."))
	if err != nil || !a.Is4() || LeaseName(a) != name {
		return netip.Addr{}, false
	}
	return a, true
}

// LeaseNameFor is LeaseName of an address written as text, or "" when the
// text is not an IPv4 address.
func LeaseNameFor(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return ""
	}
	return LeaseName(a)
}
