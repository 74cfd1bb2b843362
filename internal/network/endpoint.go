package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/virtlab/dvp/internal/ipam"
)

// TapPrefix begins the name of every tap a Manager makes. Links with it are
// the Manager's to delete: nothing else may be named so (the bridge
// setting is refused if it is).
const TapPrefix = "dvpt"

// Endpoint is one VM's place on the network: the tap of its launcher pod,
// the MAC the guest's NIC has and the address it leased.
type Endpoint struct {
	PodUID string
	// Tap is TapName(PodUID).
	Tap string
	MAC net.HardwareAddr
	IP  netip.Addr
	// Hostname, when set, is offered to the guest over DHCP (option 12).
	Hostname string
}

// TapName derives the tap's name from the pod UID: the prefix and ten hex
// digits of the UID fit the kernel's 15 characters, and 40 random bits do
// not collide among the pods of one node (Add refuses if they ever do).
func TapName(podUID string) string {
	hex := strings.ReplaceAll(strings.ToLower(podUID), "-", "")
	if len(hex) > 10 {
		hex = hex[:10]
	}
	return TapPrefix + hex
}

// gateway is the address the bridge holds in a CIDR (ipam decides it:
// the first usable one, never handed to a machine).
func gateway(p netip.Prefix) netip.Addr {
	gw, _ := ipam.Gateway(p.Masked())
	return gw
}

// broadcast is the last address of an IPv4 CIDR.
func broadcast(p netip.Prefix) netip.Addr { return ipam.Broadcast(p) }

// cidrOf is the configured CIDR holding ip.
func cidrOf(cidrs []netip.Prefix, ip netip.Addr) (netip.Prefix, bool) {
	for _, p := range cidrs {
		if p.Contains(ip) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// validate checks an endpoint against the configured CIDRs, so a bad
// annotation fails its pod instead of reaching the rules.
func (e Endpoint) validate(cidrs []netip.Prefix) error {
	if e.PodUID == "" {
		return errors.New("endpoint has no pod UID")
	}
	if e.Tap != TapName(e.PodUID) {
		return fmt.Errorf("tap %q: want %q for pod %s", e.Tap, TapName(e.PodUID), e.PodUID)
	}
	if len(e.MAC) != 6 || e.MAC[0]&1 != 0 {
		return fmt.Errorf("MAC %q is not a unicast Ethernet address", e.MAC)
	}
	if !e.IP.Is4() {
		return fmt.Errorf("address %s is not IPv4", e.IP)
	}
	p, ok := cidrOf(cidrs, e.IP)
	if !ok {
		return fmt.Errorf("address %s is in none of virtualMachineCIDRs %v", e.IP, cidrs)
	}
	if e.IP == p.Masked().Addr() || e.IP == gateway(p) || e.IP == broadcast(p) {
		return fmt.Errorf("address %s is the network, gateway or broadcast address of %s", e.IP, p)
	}
	if e.Hostname != "" && !isHostname(e.Hostname) {
		return fmt.Errorf("hostname %q is not a DNS label", e.Hostname)
	}
	return nil
}

func isHostname(s string) bool {
	if len(s) > 63 || s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// aliasPrefix marks the aliases a Manager writes on its taps.
const aliasPrefix = "dvp"

// alias is what a tap carries so a restarted Manager knows whose it is
// and what the guest behind it may send, before anyone tells it. The
// kernel keeps up to 255 bytes; node names are DNS subdomains, the rest
// is short.
func alias(node string, e Endpoint) string {
	s := fmt.Sprintf("%s node=%s pod=%s mac=%s ip=%s", aliasPrefix, node, e.PodUID, e.MAC, e.IP)
	if e.Hostname != "" {
		s += " host=" + e.Hostname
	}
	return s
}

// parseAlias reads an alias back; ok is false for anything else.
func parseAlias(tap, s string) (node string, e Endpoint, ok bool) {
	f := strings.Fields(s)
	if len(f) < 5 || f[0] != aliasPrefix {
		return "", Endpoint{}, false
	}
	kv := map[string]string{}
	for _, x := range f[1:] {
		k, v, found := strings.Cut(x, "=")
		if !found {
			return "", Endpoint{}, false
		}
		kv[k] = v
	}
	mac, err := net.ParseMAC(kv["mac"])
	if err != nil {
		return "", Endpoint{}, false
	}
	ip, err := netip.ParseAddr(kv["ip"])
	if err != nil || kv["node"] == "" || kv["pod"] == "" {
		return "", Endpoint{}, false
	}
	e = Endpoint{PodUID: kv["pod"], Tap: tap, MAC: mac, IP: ip, Hostname: kv["host"]}
	if e.Tap != TapName(e.PodUID) {
		return "", Endpoint{}, false
	}
	return kv["node"], e, true
}
