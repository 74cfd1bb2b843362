package ipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func addrs(ss ...string) map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, s := range ss {
		m[netip.MustParseAddr(s)] = true
	}
	return m
}

func TestFirstFree(t *testing.T) {
	cases := []struct {
		name  string
		cidrs []string
		taken map[netip.Addr]bool
		want  string
		err   error
	}{
		{"first machine after the gateway", []string{"10.66.10.0/24"}, nil, "10.66.10.2", nil},
		{"skips taken", []string{"10.66.10.0/24"}, addrs("10.66.10.2", "10.66.10.3"), "10.66.10.4", nil},
		{"fills a hole", []string{"10.66.10.0/24"}, addrs("10.66.10.2", "10.66.10.4"), "10.66.10.3", nil},
		{"never the broadcast: wraps to the next range", []string{"10.66.10.0/30", "10.66.20.0/24"}, addrs("10.66.10.2"), "10.66.20.2", nil},
		{"second range in settings order", []string{"10.66.20.0/24", "10.66.10.0/24"}, nil, "10.66.20.2", nil},
		{"single address range", []string{"10.66.30.7/32"}, nil, "10.66.30.7", nil},
		{"/31 gives nothing", []string{"10.66.30.0/31"}, nil, "", ErrExhausted},
		{"exhausted", []string{"10.66.10.0/30"}, addrs("10.66.10.2"), "", ErrExhausted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewPool(c.cidrs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.FirstFree(c.taken)
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if c.want != "" && got != netip.MustParseAddr(c.want) {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestFirstFreeHandsOutTheWholePool(t *testing.T) {
	p, _ := NewPool([]string{"10.66.10.0/28", "10.66.11.0/29"})
	taken := map[netip.Addr]bool{}
	for {
		a, err := p.FirstFree(taken)
		if errors.Is(err, ErrExhausted) {
			break
		}
		if p.Refusal(a) != "" || taken[a] {
			t.Fatalf("handed out %s twice or a refused address", a)
		}
		taken[a] = true
	}
	if len(taken) != p.Size() || p.Size() != 13+5 {
		t.Fatalf("handed out %d addresses, pool size %d", len(taken), p.Size())
	}
}

func TestRefusal(t *testing.T) {
	p, _ := NewPool([]string{"10.66.10.0/24", "192.168.5.9/32"})
	cases := []struct{ addr, want string }{
		{"10.66.10.20", ""},
		{"10.66.10.254", ""},
		{"192.168.5.9", ""},
		{"10.66.10.0", "first and last addresses of 10.66.10.0/24"},
		{"10.66.10.255", "first and last addresses"},
		{"10.66.10.1", "gateway of 10.66.10.0/24"},
		{"10.66.11.5", "the requested address 10.66.11.5 is out of the valid range: use an address inside 10.66.10.0/24, 192.168.5.9/32"},
		{"fd00::1", "not an IPv4 address"},
	}
	for _, c := range cases {
		got := p.Refusal(netip.MustParseAddr(c.addr))
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("Refusal(%s) = %q, want %q", c.addr, got, c.want)
		}
	}
}

func TestNewPoolRefuses(t *testing.T) {
	for _, c := range []struct {
		cidrs []string
		want  string
	}{
		{[]string{"garbage"}, "not a CIDR"},
		{[]string{"fd00::/64"}, "not an IPv4 CIDR"},
		{[]string{"10.66.10.5/24"}, "did you mean 10.66.10.0/24"},
		{[]string{"10.66.0.0/16", "10.66.10.0/24"}, "overlaps"},
	} {
		if _, err := NewPool(c.cidrs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewPool(%v) = %v, want %q", c.cidrs, err, c.want)
		}
	}
}

func TestLeaseNames(t *testing.T) {
	a := netip.MustParseAddr("10.66.10.14")
	if got := LeaseName(a); got != "ip-10-66-10-14" {
		t.Fatalf("LeaseName = %q", got)
	}
	if LeaseName(netip.MustParseAddr("fd00::1")) != "" {
		t.Fatal("IPv6 got a lease name")
	}
	for name, ok := range map[string]bool{
		"ip-10-66-10-14": true, "ip-10-66-10": false, "ip-10.66.10.14": false, "x-10-66-10-14": false,
		"ip-010-66-10-14": false, "ip-10-66-10-256": false, "ip-": false,
	} {
		got, valid := AddrFromLeaseName(name)
		if valid != ok || (ok && got != a) {
			t.Errorf("AddrFromLeaseName(%q) = %v, %v", name, got, valid)
		}
	}
}

func FuzzAddrFromLeaseName(f *testing.F) {
	f.Add("ip-10-66-10-14")
	f.Fuzz(func(t *testing.T, name string) {
		if a, ok := AddrFromLeaseName(name); ok && LeaseName(a) != name {
			t.Fatalf("%q -> %s -> %q", name, a, LeaseName(a))
		}
	})
}
