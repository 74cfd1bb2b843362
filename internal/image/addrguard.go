package image

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// AddressPolicy decides which addresses an image source may connect to.
// Importers run on the host, in its network namespace: without a policy a
// URL could name the node's etcd, its kubelet API or a cloud's metadata
// service and have the importer fetch from it. The policy is checked in the
// dialer's Control hook, on the address actually dialed after DNS
// resolution, so neither a redirect nor a name that resolves differently
// the second time gets past it.
//
// Refused, unless Allowed covers them: loopback, link-local (which holds
// the metadata services at 169.254.169.254), unspecified ("this network",
// 0.0.0.0/8, which Linux connects to the local host), multicast and
// broadcast addresses, and the node's own addresses (Local).
type AddressPolicy struct {
	// Local are the node's own addresses.
	Local []netip.Addr
	// Allowed are exceptions an admin made for a local mirror.
	Allowed []AllowedAddress
}

// AllowedAddress is an exception to the policy: a range, or one address
// and port.
type AllowedAddress struct {
	Prefix netip.Prefix
	Port   uint16 // 0: any port
}

func (a AllowedAddress) covers(ap netip.AddrPort) bool {
	return a.Prefix.Contains(ap.Addr()) && (a.Port == 0 || a.Port == ap.Port())
}

func (a AllowedAddress) String() string {
	if a.Port != 0 {
		return netip.AddrPortFrom(a.Prefix.Addr(), a.Port).String()
	}
	return a.Prefix.String()
}

// ParseAllowedAddress reads one exception: a CIDR (10.1.0.0/16), an address
// (127.0.0.1, ::1) or an address with a port (127.0.0.1:8088, [::1]:8088).
func ParseAllowedAddress(s string) (AllowedAddress, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return AllowedAddress{Prefix: p.Masked()}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return AllowedAddress{Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Port() != 0 {
		a := ap.Addr().Unmap()
		return AllowedAddress{Prefix: netip.PrefixFrom(a, a.BitLen()), Port: ap.Port()}, nil
	}
	return AllowedAddress{}, fmt.Errorf("%q is not a CIDR (10.0.0.0/8), an address (127.0.0.1) or an address with a port (127.0.0.1:8088)", s)
}

// ParseAllowedAddresses reads a comma-separated list of exceptions.
func ParseAllowedAddresses(list string) ([]AllowedAddress, error) {
	var out []AllowedAddress
	for _, s := range strings.Split(list, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		a, err := ParseAllowedAddress(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// HostAddressPolicy is the policy for an importer on this host: its local
// addresses are every address of its network interfaces, plus extra ones
// (the node address the platform advertises).
func HostAddressPolicy(allowed []AllowedAddress, extra ...string) (*AddressPolicy, error) {
	p := &AddressPolicy{Allowed: allowed}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing the host's addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				p.Local = append(p.Local, ip.Unmap())
			}
		}
	}
	for _, s := range extra {
		if ip, err := netip.ParseAddr(s); err == nil {
			p.Local = append(p.Local, ip.Unmap())
		}
	}
	return p, nil
}

// ForbiddenAddressError is a refused connection. It matches
// ErrForbiddenAddress.
type ForbiddenAddressError struct {
	Addr netip.AddrPort
	Kind string // "loopback", "link-local", ...: what the address is
}

func (e *ForbiddenAddressError) Error() string {
	return fmt.Sprintf("refusing to fetch from %s: %s addresses are not allowed for image sources; an admin can allow this address in the settings (import.allowedAddresses)", e.Addr, e.Kind)
}

func (e *ForbiddenAddressError) Is(target error) bool { return target == ErrForbiddenAddress }

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	broadcast   = netip.MustParseAddr("255.255.255.255")
)

// Check refuses an address the policy does not let image sources reach.
func (p *AddressPolicy) Check(ap netip.AddrPort) error {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	for _, a := range p.Allowed {
		if a.covers(ap) {
			return nil
		}
	}
	ip := ap.Addr()
	kind := ""
	switch {
	case ip.IsLoopback():
		kind = "loopback"
	case ip.IsUnspecified(), ip.Is4() && thisNetwork.Contains(ip):
		kind = "unspecified"
	case ip.IsLinkLocalUnicast():
		kind = "link-local"
	case ip.IsMulticast(), ip == broadcast:
		kind = "multicast and broadcast"
	default:
		for _, l := range p.Local {
			if l == ip {
				kind = "the node's own"
				break
			}
		}
	}
	if kind != "" {
		return &ForbiddenAddressError{Addr: ap, Kind: kind}
	}
	return nil
}

// Control is a net.Dialer Control hook: it sees each address after
// resolution, right before the connection is made.
func (p *AddressPolicy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Not an IP socket address: nothing an image source uses.
		return fmt.Errorf("%w: cannot check the address %q", ErrForbiddenAddress, address)
	}
	return p.Check(ap)
}

// DialContext dials like http.DefaultTransport's dialer, through the policy.
func (p *AddressPolicy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: p.Control}
	return d.DialContext(ctx, network, addr)
}

// forbiddenAddress finds a refusal by the policy in err.
func forbiddenAddress(err error) (*ForbiddenAddressError, bool) {
	var fe *ForbiddenAddressError
	ok := errors.As(err, &fe)
	return fe, ok
}
