package network

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables/expr"
)

func render(tables []*table) string {
	var b strings.Builder
	for _, t := range tables {
		b.WriteString(t.String())
	}
	return b.String()
}

// TestRulesForEndpoints pins the whole ruleset for two guests on two
// CIDRs: what the host accepts from the bridge, forwarding and NAT, and
// what each tap may send.
func TestRulesForEndpoints(t *testing.T) {
	got := render(buildRules(ruleOptions{bridge: "dvp-br0", cidrs: testCIDRs, nat: true}, testEndpoints()))
	want := `table inet dvp
  chain input { type filter hook input priority 0; policy accept }
    iifname "dvp-br0" ct state established,related accept
    iifname "dvp-br0" meta nfproto ipv4 ip daddr 255.255.255.255 meta l4proto udp udp dport 67 accept
    iifname "dvp-br0" meta nfproto ipv4 ip daddr 10.66.10.1 meta l4proto udp udp dport 67 accept
    iifname "dvp-br0" meta nfproto ipv4 ip daddr 10.66.20.1 meta l4proto udp udp dport 67 accept
    iifname "dvp-br0" meta nfproto ipv4 ip daddr 10.66.10.1 meta l4proto icmp icmp type echo-request accept
    iifname "dvp-br0" meta nfproto ipv4 ip daddr 10.66.20.1 meta l4proto icmp icmp type echo-request accept
    iifname "dvp-br0" drop
  chain forward { type filter hook forward priority 0; policy accept }
    iifname "dvp-br0" oifname "dvp-br0" accept
    oifname "dvp-br0" ct state established,related accept
    iifname "dvp-br0" meta nfproto ipv4 ip saddr 10.66.10.0/24 accept
    iifname "dvp-br0" meta nfproto ipv4 ip saddr 10.66.20.0/28 accept
    iifname "dvp-br0" drop
    oifname "dvp-br0" drop
  chain postrouting { type nat hook postrouting priority 100; policy accept }
    meta nfproto ipv4 ip saddr 10.66.10.0/24 oifname != "dvp-br0" masquerade
    meta nfproto ipv4 ip saddr 10.66.20.0/28 oifname != "dvp-br0" masquerade
table bridge dvp
  chain prerouting { type filter hook prerouting priority -200; policy accept }
    iifname "dvpt0f1e2d3c4b" jump port-dvpt0f1e2d3c4b
    iifname "dvptaaaaaaaabb" jump port-dvptaaaaaaaabb
    iifname "dvpt*" drop
  chain port-dvpt0f1e2d3c4b
    ether saddr != 02:5a:00:00:00:0a drop
    ether type ip ip saddr 10.66.10.2 accept
    ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 meta l4proto udp udp sport 68 udp dport 67 accept
    ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether 02:5a:00:00:00:0a arp saddr ip 10.66.10.2 accept
    drop
  chain port-dvptaaaaaaaabb
    ether saddr != 02:5a:00:00:00:0b drop
    ether type ip ip saddr 10.66.20.5 accept
    ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 meta l4proto udp udp sport 68 udp dport 67 accept
    ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether 02:5a:00:00:00:0b arp saddr ip 10.66.20.5 accept
    drop
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ruleset (-want +got):\n%s", diff)
	}
}

func TestRulesWithoutNATOrEndpoints(t *testing.T) {
	got := render(buildRules(ruleOptions{bridge: "br-test", cidrs: testCIDRs[:1]}, nil))
	for _, absent := range []string{"masquerade", "postrouting", "ip saddr 10.66.10.0/24 accept", "jump"} {
		if strings.Contains(got, absent) {
			t.Errorf("ruleset without NAT or endpoints has %q:\n%s", absent, got)
		}
	}
	for _, present := range []string{
		`iifname "br-test" drop`,
		`oifname "br-test" drop`,
		`iifname "dvpt*" drop`,
		`iifname "br-test" meta nfproto ipv4 ip daddr 10.66.10.1 meta l4proto icmp icmp type echo-request accept`,
	} {
		if !strings.Contains(got, present) {
			t.Errorf("ruleset lacks %q:\n%s", present, got)
		}
	}
}

// TestRuleExpressions checks the encodings the kernel compares byte for
// byte: an exact interface name is padded to IFNAMSIZ, a wildcard is
// only its prefix, a CIDR is masked before it is compared.
func TestRuleExpressions(t *testing.T) {
	exact := iifname("dvp-br0").exprs[1].(*expr.Cmp)
	if len(exact.Data) != 16 || !bytes.HasPrefix(exact.Data, []byte("dvp-br0\x00")) {
		t.Errorf("exact name data %q", exact.Data)
	}
	if wild := iifnamePrefix("dvpt").exprs[1].(*expr.Cmp); string(wild.Data) != "dvpt" {
		t.Errorf("wildcard data %q", wild.Data)
	}
	in := ipSaddrIn(testCIDRs[1]).exprs
	mask := in[1].(*expr.Bitwise)
	if !bytes.Equal(mask.Mask, []byte{255, 255, 255, 240}) || !bytes.Equal(in[2].(*expr.Cmp).Data, []byte{10, 66, 20, 0}) {
		t.Errorf("CIDR match %+v %+v", mask, in[2])
	}
	if r := mkrule(iifname("x"), drop); len(r.exprs) != 3 || r.text != `iifname "x" drop` {
		t.Errorf("rule %q with %d expressions", r.text, len(r.exprs))
	}
}
