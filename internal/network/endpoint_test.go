package network

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTapName(t *testing.T) {
	got := TapName("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0")
	if got != "dvpt0f1e2d3c4b" || len(got) > 15 {
		t.Errorf("TapName = %q", got)
	}
}

func TestAliasRoundTrip(t *testing.T) {
	for _, e := range testEndpoints() {
		a := alias("node-1", e)
		if len(a) > 255 {
			t.Errorf("alias longer than the kernel keeps: %q", a)
		}
		node, back, ok := parseAlias(e.Tap, a)
		if !ok || node != "node-1" {
			t.Fatalf("parseAlias(%q) = %q, %v", a, node, ok)
		}
		if diff := cmp.Diff(e, back, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	for _, bad := range []string{"", "some operator's note", "dvp node=n pod=p mac=zz ip=10.66.10.2", "dvp node=n pod=x mac=02:00:00:00:00:01 ip=10.66.10.2"} {
		if _, _, ok := parseAlias("dvpt0123456789", bad); ok {
			t.Errorf("parseAlias accepted %q", bad)
		}
	}
}

func TestEndpointValidate(t *testing.T) {
	good := testEndpoints()[0]
	if err := good.validate(testCIDRs); err != nil {
		t.Fatalf("valid endpoint refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Endpoint)
		want string
	}{
		{"outside the CIDRs", func(e *Endpoint) { e.IP = netip.MustParseAddr("10.99.0.2") }, "in none of virtualMachineCIDRs"},
		{"gateway", func(e *Endpoint) { e.IP = netip.MustParseAddr("10.66.10.1") }, "gateway"},
		{"broadcast", func(e *Endpoint) { e.IP = netip.MustParseAddr("10.66.20.15") }, "broadcast"},
		{"IPv6", func(e *Endpoint) { e.IP = netip.MustParseAddr("fd00::2") }, "not IPv4"},
		{"multicast MAC", func(e *Endpoint) { e.MAC = net.HardwareAddr{1, 0, 0x5e, 0, 0, 1} }, "unicast"},
		{"foreign tap", func(e *Endpoint) { e.Tap = "eth0" }, "tap \"eth0\""},
		{"hostname", func(e *Endpoint) { e.Hostname = "a b" }, "DNS label"},
	} {
		e := good
		tc.edit(&e)
		if err := e.validate(testCIDRs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

func TestGatewayAndBroadcast(t *testing.T) {
	p := netip.MustParsePrefix("10.66.10.77/24")
	if gateway(p).String() != "10.66.10.1" || broadcast(p).String() != "10.66.10.255" {
		t.Errorf("gateway %s broadcast %s", gateway(p), broadcast(p))
	}
}
