package network

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

var (
	testCIDRs = []netip.Prefix{netip.MustParsePrefix("10.66.10.0/24"), netip.MustParsePrefix("10.66.20.0/28")}
	macA      = net.HardwareAddr{0x02, 0x5a, 0x00, 0x00, 0x00, 0x0a}
	macB      = net.HardwareAddr{0x02, 0x5a, 0x00, 0x00, 0x00, 0x0b}
)

func testEndpoints() []Endpoint {
	return []Endpoint{
		{PodUID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", Tap: TapName("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"), MAC: macA, IP: netip.MustParseAddr("10.66.10.2"), Hostname: "linux-vm"},
		{PodUID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", Tap: TapName("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"), MAC: macB, IP: netip.MustParseAddr("10.66.20.5")},
	}
}

func testLeases() leases {
	return newLeases(testCIDRs, []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("192.0.2.54")}, testEndpoints())
}

func discover(t *testing.T, mac net.HardwareAddr) *dhcpv4.DHCPv4 {
	t.Helper()
	d, err := dhcpv4.NewDiscovery(mac)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDHCPOfferAndAck(t *testing.T) {
	l := testLeases()
	offer := l.reply(discover(t, macA))
	if offer == nil {
		t.Fatal("no OFFER for a registered MAC")
	}
	check := func(m *dhcpv4.DHCPv4, want dhcpv4.MessageType) {
		t.Helper()
		if m.MessageType() != want {
			t.Errorf("message type %s, want %s", m.MessageType(), want)
		}
		if !m.YourIPAddr.Equal(net.ParseIP("10.66.10.2")) {
			t.Errorf("yiaddr %s, want 10.66.10.2", m.YourIPAddr)
		}
		if got := net.IP(m.SubnetMask()).String(); got != "255.255.255.0" {
			t.Errorf("subnet mask %s", got)
		}
		if r := m.Router(); len(r) != 1 || !r[0].Equal(net.ParseIP("10.66.10.1")) {
			t.Errorf("router %v, want the gateway 10.66.10.1", r)
		}
		if s := m.ServerIdentifier(); !s.Equal(net.ParseIP("10.66.10.1")) {
			t.Errorf("server identifier %s", s)
		}
		if d := m.DNS(); len(d) != 2 || !d[0].Equal(net.ParseIP("192.0.2.53")) || !d[1].Equal(net.ParseIP("192.0.2.54")) {
			t.Errorf("DNS %v", d)
		}
		if lt := m.IPAddressLeaseTime(0); lt != time.Duration(infiniteLease)*time.Second {
			t.Errorf("lease time %s, want infinite", lt)
		}
		if h := m.HostName(); h != "linux-vm" {
			t.Errorf("hostname %q", h)
		}
		if m.ClientHWAddr.String() != macA.String() || m.OpCode != dhcpv4.OpcodeBootReply {
			t.Errorf("reply to %s with op %s", m.ClientHWAddr, m.OpCode)
		}
	}
	check(offer, dhcpv4.MessageTypeOffer)

	req, err := dhcpv4.NewRequestFromOffer(offer)
	if err != nil {
		t.Fatal(err)
	}
	ack := l.reply(req)
	if ack == nil {
		t.Fatal("no ACK")
	}
	check(ack, dhcpv4.MessageTypeAck)
	if ack.TransactionID != req.TransactionID {
		t.Errorf("xid %s, want %s", ack.TransactionID, req.TransactionID)
	}

	// A renewal names no server and asks with ciaddr.
	renew, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(macA), dhcpv4.WithClientIP(net.ParseIP("10.66.10.2")))
	if r := l.reply(renew); r == nil || r.MessageType() != dhcpv4.MessageTypeAck {
		t.Errorf("renewal answered %v, want ACK", r)
	}
}

func TestDHCPSecondCIDRWithoutHostname(t *testing.T) {
	offer := testLeases().reply(discover(t, macB))
	if offer == nil {
		t.Fatal("no OFFER")
	}
	if !offer.YourIPAddr.Equal(net.ParseIP("10.66.20.5")) || net.IP(offer.SubnetMask()).String() != "255.255.255.240" {
		t.Errorf("offered %s/%s", offer.YourIPAddr, net.IP(offer.SubnetMask()))
	}
	if r := offer.Router(); len(r) != 1 || !r[0].Equal(net.ParseIP("10.66.20.1")) {
		t.Errorf("router %v, want 10.66.20.1", r)
	}
	if offer.Options.Has(dhcpv4.OptionHostName) {
		t.Errorf("hostname offered: %q", offer.HostName())
	}
}

func TestDHCPUnknownMACIgnored(t *testing.T) {
	l := testLeases()
	stranger := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	if r := l.reply(discover(t, stranger)); r != nil {
		t.Errorf("answered an unknown MAC: %s", r.Summary())
	}
	req, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(stranger),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.66.10.2"))))
	if r := l.reply(req); r != nil {
		t.Errorf("answered an unknown MAC's request: %s", r.Summary())
	}
}

func TestDHCPNakForAnotherAddress(t *testing.T) {
	l := testLeases()
	req, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(macA),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.66.10.77"))))
	r := l.reply(req)
	if r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("got %v, want NAK", r)
	}
	if !r.YourIPAddr.IsUnspecified() || r.Options.Has(dhcpv4.OptionRouter) || r.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
		t.Errorf("NAK carries a configuration: %s", r.Summary())
	}
	if !r.ServerIdentifier().Equal(net.ParseIP("10.66.10.1")) {
		t.Errorf("NAK server identifier %s", r.ServerIdentifier())
	}
}

func TestDHCPSilentCases(t *testing.T) {
	l := testLeases()
	otherServer, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(macA),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.66.10.2"))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.66.10.254"))))
	release, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease), dhcpv4.WithHwAddr(macA))
	reply, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer), dhcpv4.WithHwAddr(macA), dhcpv4.WithReply(discover(t, macA)))
	for name, m := range map[string]*dhcpv4.DHCPv4{"request for another server": otherServer, "release": release, "a server's reply": reply} {
		if r := l.reply(m); r != nil {
			t.Errorf("%s answered: %s", name, r.Summary())
		}
	}
}
