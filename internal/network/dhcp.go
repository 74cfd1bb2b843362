package network

import (
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// infiniteLease is the lease time offered (RFC 2131 "infinite"). An
// address belongs to its VM for the life of the launcher pod, and the
// guest must keep it while the platform is down (its VMs keep running
// then): a finite lease would expire during a long outage and cut the
// guest off although nothing changed.
const infiniteLease = 0xffffffff

// lease is what one MAC is told.
type lease struct {
	ip       netip.Addr
	cidr     netip.Prefix
	dns      []netip.Addr
	hostname string
}

// leases are the answers by MAC (net.HardwareAddr.String()).
type leases map[string]lease

func newLeases(cidrs []netip.Prefix, dns []netip.Addr, eps []Endpoint) leases {
	l := leases{}
	for _, e := range eps {
		p, ok := cidrOf(cidrs, e.IP)
		if !ok {
			continue // validate refuses these; never offer what the rules do not allow
		}
		l[e.MAC.String()] = lease{ip: e.IP, cidr: p, dns: dns, hostname: e.Hostname}
	}
	return l
}

func stdIP(a netip.Addr) net.IP { b := a.As4(); return net.IP(b[:]) }

// reply is the server's answer to req, nil when it stays silent: a MAC it
// does not know (another server's client, or a guest whose pod is gone),
// a message it does not answer (RELEASE, DECLINE, INFORM), or a REQUEST
// that chose another server. DISCOVER gets an OFFER of the MAC's address,
// REQUEST an ACK when it asks for that address and a NAK when it asks
// for any other, so a guest holding a stale address lets it go.
func (l leases) reply(req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		return nil
	}
	le, ok := l[req.ClientHWAddr.String()]
	if !ok {
		return nil
	}
	server := gateway(le.cidr)
	var mods []dhcpv4.Modifier
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		mods = append(mods, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer))
	case dhcpv4.MessageTypeRequest:
		if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(stdIP(server)) {
			return nil
		}
		asked := req.RequestedIPAddress()
		if asked == nil || asked.IsUnspecified() {
			asked = req.ClientIPAddr // renewing or rebinding
		}
		if !asked.Equal(stdIP(le.ip)) {
			nak, err := dhcpv4.NewReplyFromRequest(req,
				dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(stdIP(server))))
			if err != nil {
				return nil
			}
			return nak
		}
		mods = append(mods, dhcpv4.WithMessageType(dhcpv4.MessageTypeAck))
	default:
		return nil
	}
	mask := net.CIDRMask(le.cidr.Bits(), 32)
	mods = append(mods,
		dhcpv4.WithYourIP(stdIP(le.ip)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(stdIP(server))),
		dhcpv4.WithNetmask(mask),
		dhcpv4.WithRouter(stdIP(server)),
		dhcpv4.WithLeaseTime(infiniteLease),
	)
	if len(le.dns) > 0 {
		var dns []net.IP
		for _, a := range le.dns {
			dns = append(dns, stdIP(a))
		}
		mods = append(mods, dhcpv4.WithDNS(dns...))
	}
	if le.hostname != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(le.hostname)))
	}
	resp, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return nil
	}
	return resp
}

// serveDHCP answers one request on the bridge's socket. peer is where the
// request came from, the broadcast address for a client without one yet.
func (m *Manager) serveDHCP(conn net.PacketConn, peer net.Addr, req *dhcpv4.DHCPv4) {
	l := m.leases.Load()
	if l == nil {
		return
	}
	resp := l.reply(req)
	if resp == nil {
		return
	}
	// A NAK goes to everyone (RFC 2131 4.3.2): the client's address is
	// the one being refused.
	if resp.MessageType() == dhcpv4.MessageTypeNak {
		peer = &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	}
	// Nobody to tell about a lost reply: the client asks again.
	_, _ = conn.WriteTo(resp.ToBytes(), peer)
}
