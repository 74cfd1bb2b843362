package network

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// A part is one match or verdict of a rule: its kernel expressions and the
// way nft(8) would print it, so tests and error messages read like the
// ruleset an operator sees with `nft list ruleset`.
type part struct {
	text  string
	exprs []expr.Any
}

// rule joins parts into one rule.
type rule struct {
	text  string
	exprs []expr.Any
}

func mkrule(parts ...part) rule {
	var r rule
	var texts []string
	for _, p := range parts {
		texts = append(texts, p.text)
		r.exprs = append(r.exprs, p.exprs...)
	}
	r.text = strings.Join(texts, " ")
	return r
}

// reg is the register every match loads into and compares: matches run
// one after the other, so one is enough.
const reg = 1

func compare(op expr.CmpOp, data []byte) *expr.Cmp {
	return &expr.Cmp{Op: op, Register: reg, Data: data}
}

// ifname pads an interface name as the kernel stores it (IFNAMSIZ), so
// the comparison is exact.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func ifMatch(key expr.MetaKey, word, name string, op expr.CmpOp) part {
	sym := ""
	if op == expr.CmpOpNeq {
		sym = "!= "
	}
	return part{fmt.Sprintf("%s %s%q", word, sym, name), []expr.Any{&expr.Meta{Key: key, Register: reg}, compare(op, ifname(name))}}
}

func iifname(name string) part { return ifMatch(expr.MetaKeyIIFNAME, "iifname", name, expr.CmpOpEq) }
func oifname(name string) part { return ifMatch(expr.MetaKeyOIFNAME, "oifname", name, expr.CmpOpEq) }
func oifnameNot(name string) part {
	return ifMatch(expr.MetaKeyOIFNAME, "oifname", name, expr.CmpOpNeq)
}

// iifnamePrefix compares only the prefix's bytes, which is how nft
// matches "dvpt*".
func iifnamePrefix(prefix string) part {
	return part{fmt.Sprintf("iifname %q", prefix+"*"), []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg}, compare(expr.CmpOpEq, []byte(prefix))}}
}

func nfprotoIPv4() part {
	return part{"meta nfproto ipv4", []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg}, compare(expr.CmpOpEq, []byte{unix.NFPROTO_IPV4})}}
}

func l4proto(name string, proto byte) part {
	return part{"meta l4proto " + name, []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}, compare(expr.CmpOpEq, []byte{proto})}}
}

func payload(base expr.PayloadBase, offset, n uint32) *expr.Payload {
	return &expr.Payload{DestRegister: reg, Base: base, Offset: offset, Len: n}
}

// Ethernet header fields (bridge family).
func etherSaddrNot(mac net.HardwareAddr) part {
	return part{"ether saddr != " + mac.String(), []expr.Any{payload(expr.PayloadBaseLLHeader, 6, 6), compare(expr.CmpOpNeq, mac)}}
}

func etherType(name string, t uint16) part {
	return part{"ether type " + name, []expr.Any{payload(expr.PayloadBaseLLHeader, 12, 2), compare(expr.CmpOpEq, binaryutil.BigEndian.PutUint16(t))}}
}

// IPv4 header fields: the caller matches the protocol first (ether type
// ip, meta nfproto ipv4), or the offsets would read another header.
func ipAddr(word string, offset uint32, a netip.Addr) part {
	b := a.As4()
	return part{fmt.Sprintf("ip %s %s", word, a), []expr.Any{payload(expr.PayloadBaseNetworkHeader, offset, 4), compare(expr.CmpOpEq, b[:])}}
}

func ipSaddr(a netip.Addr) part { return ipAddr("saddr", 12, a) }
func ipDaddr(a netip.Addr) part { return ipAddr("daddr", 16, a) }

func ipSaddrIn(p netip.Prefix) part {
	p = p.Masked()
	mask := net.CIDRMask(p.Bits(), 32)
	network := p.Addr().As4()
	return part{"ip saddr " + p.String(), []expr.Any{
		payload(expr.PayloadBaseNetworkHeader, 12, 4),
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		compare(expr.CmpOpEq, network[:]),
	}}
}

func port(word string, offset uint32, p uint16) part {
	return part{fmt.Sprintf("udp %s %d", word, p), []expr.Any{payload(expr.PayloadBaseTransportHeader, offset, 2), compare(expr.CmpOpEq, binaryutil.BigEndian.PutUint16(p))}}
}

func udpSport(p uint16) part { return port("sport", 0, p) }
func udpDport(p uint16) part { return port("dport", 2, p) }

func icmpEchoRequest() part {
	return part{"icmp type echo-request", []expr.Any{payload(expr.PayloadBaseTransportHeader, 0, 1), compare(expr.CmpOpEq, []byte{8})}}
}

// arpSender matches an Ethernet/IPv4 ARP packet whose sender hardware
// and protocol addresses are mac and ip (RFC 826 layout: htype, ptype,
// hlen, plen, op, sha at 8, spa at 14).
func arpSender(mac net.HardwareAddr, ip netip.Addr) part {
	a := ip.As4()
	return part{fmt.Sprintf("arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether %s arp saddr ip %s", mac, ip), []expr.Any{
		payload(expr.PayloadBaseNetworkHeader, 0, 2), compare(expr.CmpOpEq, []byte{0, 1}),
		payload(expr.PayloadBaseNetworkHeader, 2, 2), compare(expr.CmpOpEq, []byte{0x08, 0x00}),
		payload(expr.PayloadBaseNetworkHeader, 4, 2), compare(expr.CmpOpEq, []byte{6, 4}),
		payload(expr.PayloadBaseNetworkHeader, 8, 6), compare(expr.CmpOpEq, mac),
		payload(expr.PayloadBaseNetworkHeader, 14, 4), compare(expr.CmpOpEq, a[:]),
	}}
}

func ctEstablishedRelated() part {
	return part{"ct state established,related", []expr.Any{
		&expr.Ct{Register: reg, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
		compare(expr.CmpOpNeq, make([]byte, 4)),
	}}
}

var (
	accept     = part{"accept", []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}}
	drop       = part{"drop", []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}}
	masquerade = part{"masquerade", []expr.Any{&expr.Masq{}}}
)

func jump(chain string) part {
	return part{"jump " + chain, []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}}
}
