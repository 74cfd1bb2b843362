package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrExhausted means every usable address of every range is leased.
var ErrExhausted = errors.New("no free address is left in virtualMachineCIDRs")

// Pool is the ordered list of ranges addresses come from.
type Pool struct {
	prefixes []netip.Prefix
}

// NewPool parses virtualMachineCIDRs. Only IPv4 ranges are accepted:
// lease names and the guests' DHCP are IPv4 only.
func NewPool(cidrs []string) (*Pool, error) {
	p := &Pool{}
	for _, s := range cidrs {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.66.10.0/24", s)
		}
		if !pfx.Addr().Is4() {
			return nil, fmt.Errorf("%q is not an IPv4 CIDR: only IPv4 addresses are handed out", s)
		}
		if pfx.Masked() != pfx {
			return nil, fmt.Errorf("%q has host bits set: did you mean %s?", s, pfx.Masked())
		}
		for _, q := range p.prefixes {
			if q.Overlaps(pfx) {
				return nil, fmt.Errorf("%s overlaps %s", pfx, q)
			}
		}
		p.prefixes = append(p.prefixes, pfx)
	}
	return p, nil
}

// Prefixes returns the ranges in order.
func (p *Pool) Prefixes() []netip.Prefix { return append([]netip.Prefix(nil), p.prefixes...) }

// String lists the ranges the way the settings spell them.
func (p *Pool) String() string {
	s := make([]string, len(p.prefixes))
	for i, q := range p.prefixes {
		s[i] = q.String()
	}
	return strings.Join(s, ", ")
}

// Gateway is the address the node's bridge holds in a range: the first
// usable one, so guests get the rest (10.66.10.0/24: gateway .1, first
// machine .2). Ranges too small to have a gateway (/31, /32) have none.
func Gateway(pfx netip.Prefix) (netip.Addr, bool) {
	if pfx.Bits() >= 31 {
		return netip.Addr{}, false
	}
	return pfx.Addr().Next(), true
}

// Prefix returns the range holding a, if any.
func (p *Pool) Prefix(a netip.Addr) (netip.Prefix, bool) {
	for _, q := range p.prefixes {
		if q.Contains(a) {
			return q, true
		}
	}
	return netip.Prefix{}, false
}

// Refusal says why an address cannot be handed out, or is "" when it can.
// The network and broadcast addresses of a range are never handed out
// (unless the range is a single address), nor its gateway.
func (p *Pool) Refusal(a netip.Addr) string {
	if !a.Is4() {
		return fmt.Sprintf("%s is not an IPv4 address", a)
	}
	pfx, ok := p.Prefix(a)
	if !ok {
		return fmt.Sprintf("the requested address %s is out of the valid range: use an address inside %s", a, p)
	}
	if pfx.Bits() == 32 {
		return ""
	}
	if a == pfx.Addr() || a == Broadcast(pfx) {
		return fmt.Sprintf("the requested address %s is out of the valid range: the first and last addresses of %s are not handed out", a, pfx)
	}
	if gw, ok := Gateway(pfx); ok && a == gw {
		return fmt.Sprintf("the requested address %s is out of the valid range: it is the gateway of %s, held by the node", a, pfx)
	}
	return ""
}

// FirstFree returns the first address, scanning the ranges in order, that
// may be handed out and is not in taken.
func (p *Pool) FirstFree(taken map[netip.Addr]bool) (netip.Addr, error) {
	for _, pfx := range p.prefixes {
		for a := pfx.Addr(); pfx.Contains(a); a = a.Next() {
			if !taken[a] && p.Refusal(a) == "" {
				return a, nil
			}
			if !a.Next().IsValid() {
				break
			}
		}
	}
	return netip.Addr{}, ErrExhausted
}

// Size is how many addresses the pool can hand out.
func (p *Pool) Size() int {
	n := 0
	for _, pfx := range p.prefixes {
		switch bits := pfx.Bits(); {
		case bits == 32:
			n++
		case bits == 31:
			// Both addresses are its first and last.
		default:
			n += 1<<(32-bits) - 3
		}
	}
	return n
}

// Broadcast is the last address of a range.
func Broadcast(pfx netip.Prefix) netip.Addr {
	b := pfx.Masked().Addr().As4()
	host := uint32(1)<<(32-pfx.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
