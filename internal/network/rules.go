package network

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// TableName names the Manager's nftables tables, one in the inet family
// (routed traffic: what reaches the host, forwarding, NAT) and one in the
// bridge family (what each tap may send). Nothing else touches them and
// the Manager touches nothing else.
const TableName = "dvp"

// Bridge-family priority of the filter hooks (nft's "filter" there).
const bridgeFilterPriority = -200

type table struct {
	family nftables.TableFamily
	name   string
	chains []*chain
}

type chain struct {
	name string
	// hook is set for base chains.
	hook     *nftables.ChainHook
	hookName string
	typ      nftables.ChainType
	priority int32
	rules    []rule
}

func (t *table) add(c *chain) *chain { t.chains = append(t.chains, c); return c }

// ruleOptions are the settings the ruleset depends on.
type ruleOptions struct {
	bridge string
	cidrs  []netip.Prefix
	nat    bool
}

// buildRules is the whole desired ruleset for the endpoints. It is rebuilt
// and replaced as a whole on every change, in one netlink batch, so the
// kernel never holds a half-made ruleset and nothing survives that the
// desired state does not say.
func buildRules(o ruleOptions, eps []Endpoint) []*table {
	eps = append([]Endpoint(nil), eps...)
	sort.Slice(eps, func(i, j int) bool { return eps[i].Tap < eps[j].Tap })
	br := o.bridge

	// Routed traffic from and to the guests. Base chains accept by
	// default and drop only traffic of the bridge: the host's other
	// traffic is not this table's business.
	inet := &table{family: nftables.TableFamilyINet, name: TableName}
	in := inet.add(&chain{name: "input", hook: nftables.ChainHookInput, hookName: "input", typ: nftables.ChainTypeFilter})
	// The host is not the guests' to reach: only DHCP, a ping of the
	// gateway and replies to what the host itself opened. Its apiserver,
	// webhooks, DVCR, upload gateway and node API listen on the node
	// address, which a guest reaches through the gateway: dropped here.
	in.rules = append(in.rules,
		mkrule(iifname(br), ctEstablishedRelated(), accept),
		mkrule(iifname(br), nfprotoIPv4(), ipDaddr(netip.AddrFrom4([4]byte{255, 255, 255, 255})), l4proto("udp", unix.IPPROTO_UDP), udpDport(67), accept))
	for _, p := range o.cidrs {
		in.rules = append(in.rules, mkrule(iifname(br), nfprotoIPv4(), ipDaddr(gateway(p)), l4proto("udp", unix.IPPROTO_UDP), udpDport(67), accept))
	}
	for _, p := range o.cidrs {
		in.rules = append(in.rules, mkrule(iifname(br), nfprotoIPv4(), ipDaddr(gateway(p)), l4proto("icmp", unix.IPPROTO_ICMP), icmpEchoRequest(), accept))
	}
	in.rules = append(in.rules, mkrule(iifname(br), drop))

	fwd := inet.add(&chain{name: "forward", hook: nftables.ChainHookForward, hookName: "forward", typ: nftables.ChainTypeFilter})
	// Guest to guest across CIDRs (and within one, when br_netfilter
	// passes bridged frames through this hook), then replies.
	fwd.rules = append(fwd.rules,
		mkrule(iifname(br), oifname(br), accept),
		mkrule(oifname(br), ctEstablishedRelated(), accept))
	if o.nat {
		for _, p := range o.cidrs {
			fwd.rules = append(fwd.rules, mkrule(iifname(br), nfprotoIPv4(), ipSaddrIn(p), accept))
		}
	}
	fwd.rules = append(fwd.rules, mkrule(iifname(br), drop), mkrule(oifname(br), drop))

	if o.nat {
		post := inet.add(&chain{name: "postrouting", hook: nftables.ChainHookPostrouting, hookName: "postrouting",
			typ: nftables.ChainTypeNAT, priority: int32(*nftables.ChainPriorityNATSource)})
		for _, p := range o.cidrs {
			post.rules = append(post.rules, mkrule(nfprotoIPv4(), ipSaddrIn(p), oifnameNot(br), masquerade))
		}
	}

	// What a tap may put on the bridge, checked as the frame enters the
	// bridge port: bridged (guest to guest) and local (guest to host)
	// frames alike, without br_netfilter.
	bridge := &table{family: nftables.TableFamilyBridge, name: TableName}
	pre := bridge.add(&chain{name: "prerouting", hook: nftables.ChainHookPrerouting, hookName: "prerouting",
		typ: nftables.ChainTypeFilter, priority: bridgeFilterPriority})
	var ports []*chain
	for _, e := range eps {
		name := "port-" + e.Tap
		pre.rules = append(pre.rules, mkrule(iifname(e.Tap), jump(name)))
		ports = append(ports, &chain{name: name, rules: []rule{
			mkrule(etherSaddrNot(e.MAC), drop),
			mkrule(etherType("ip", unix.ETH_P_IP), ipSaddr(e.IP), accept),
			// DHCP before the guest has its address.
			mkrule(etherType("ip", unix.ETH_P_IP), ipSaddr(netip.IPv4Unspecified()), ipDaddr(netip.AddrFrom4([4]byte{255, 255, 255, 255})),
				l4proto("udp", unix.IPPROTO_UDP), udpSport(68), udpDport(67), accept),
			mkrule(etherType("arp", unix.ETH_P_ARP), arpSender(e.MAC, e.IP), accept),
			// IPv6, VLAN tags, other addresses: not this guest's to send.
			mkrule(drop),
		}})
	}
	// A tap of ours that no endpoint names (being made, or left over)
	// sends nothing.
	pre.rules = append(pre.rules, mkrule(iifnamePrefix(TapPrefix), drop))
	bridge.chains = append(bridge.chains, ports...)
	return []*table{inet, bridge}
}

// String prints the ruleset roughly as `nft list ruleset` would.
func (t *table) String() string {
	var b strings.Builder
	fam := map[nftables.TableFamily]string{nftables.TableFamilyINet: "inet", nftables.TableFamilyBridge: "bridge"}[t.family]
	fmt.Fprintf(&b, "table %s %s\n", fam, t.name)
	for _, c := range t.chains {
		if c.hook != nil {
			fmt.Fprintf(&b, "  chain %s { type %s hook %s priority %d; policy accept }\n", c.name, c.typ, c.hookName, c.priority)
		} else {
			fmt.Fprintf(&b, "  chain %s\n", c.name)
		}
		for _, r := range c.rules {
			fmt.Fprintf(&b, "    %s\n", r.text)
		}
	}
	return b.String()
}

// applyRules replaces the Manager's tables with these in one transaction:
// each is added (so deleting it cannot fail), deleted and made anew.
func applyRules(c *nftables.Conn, tables []*table) error {
	for _, t := range tables {
		nt := &nftables.Table{Family: t.family, Name: t.name}
		c.AddTable(nt)
		c.DelTable(nt)
	}
	for _, t := range tables {
		nt := c.AddTable(&nftables.Table{Family: t.family, Name: t.name})
		made := map[string]*nftables.Chain{}
		// Every chain exists before a rule jumps to it.
		for _, ch := range t.chains {
			nc := &nftables.Chain{Name: ch.name, Table: nt}
			if ch.hook != nil {
				accept := nftables.ChainPolicyAccept
				prio := nftables.ChainPriority(ch.priority)
				nc.Hooknum, nc.Priority, nc.Type, nc.Policy = ch.hook, &prio, ch.typ, &accept
			}
			made[ch.name] = c.AddChain(nc)
		}
		for _, ch := range t.chains {
			for _, r := range ch.rules {
				c.AddRule(&nftables.Rule{Table: nt, Chain: made[ch.name], Exprs: r.exprs})
			}
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("replacing nftables tables %s: %w", TableName, err)
	}
	return nil
}
