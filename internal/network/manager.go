package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/nftables"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// DefaultBridge is the bridge's name when the settings name none.
const DefaultBridge = "dvp-br0"

// Options configure a Manager.
type Options struct {
	// Bridge is the name of the bridge (DefaultBridge when empty).
	Bridge string
	// CIDRs are the virtualMachineCIDRs; the bridge holds the gateway
	// (first usable address) of each.
	CIDRs []netip.Prefix
	// DNS servers offered to guests; none when empty.
	DNS []netip.Addr
	// NAT masquerades guest traffic leaving through anything but the
	// bridge; without it guests reach only each other and the gateway.
	NAT bool
	// TapUID and TapGID own the taps: the launcher (QEMU) running as them
	// opens its tap without CAP_NET_ADMIN.
	TapUID, TapGID uint32
	// Nodes are the node runtimes sharing this network namespace, each
	// syncing its own pods. A tap labelled with another node is left over
	// from a node no longer configured and goes at Start.
	Nodes []string
}

var ifnameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$`)

// Manager owns the bridge, the taps, the DHCP server and the nftables
// tables of one network namespace.
type Manager struct {
	o   Options
	ns  netns.NsHandle
	nl  *netlink.Handle
	nft *nftables.Conn

	mu     sync.Mutex
	eps    map[string]owned // by pod UID
	dhcp   *server4.Server
	leases atomic.Pointer[leases]
}

type owned struct {
	node string
	ep   Endpoint
}

// New makes a Manager for the network namespace of the calling thread;
// nothing changes on the host until Start.
func New(o Options) (*Manager, error) {
	if o.Bridge == "" {
		o.Bridge = DefaultBridge
	}
	if !ifnameRE.MatchString(o.Bridge) || strings.HasPrefix(o.Bridge, TapPrefix) {
		return nil, fmt.Errorf("bridge name %q: want up to 15 letters, digits, '.', '_' or '-', not beginning with %q", o.Bridge, TapPrefix)
	}
	if len(o.CIDRs) == 0 {
		return nil, errors.New("no virtualMachineCIDRs")
	}
	for _, p := range o.CIDRs {
		if !p.Addr().Is4() || p.Bits() > 30 {
			return nil, fmt.Errorf("CIDR %s: want IPv4 with at least 4 addresses", p)
		}
	}
	runtime.LockOSThread()
	ns, err := netns.Get()
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("opening the network namespace: %w", err)
	}
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netlink: %w", err)
	}
	nft, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		nl.Close()
		ns.Close()
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return &Manager{o: o, ns: ns, nl: nl, nft: nft, eps: map[string]owned{}}, nil
}

// Bridge is the bridge's name.
func (m *Manager) Bridge() string { return m.o.Bridge }

// Gateways are the bridge's addresses, one per CIDR.
func (m *Manager) Gateways() []netip.Addr {
	var out []netip.Addr
	for _, p := range m.o.CIDRs {
		out = append(out, gateway(p))
	}
	return out
}

// Start sets the namespace up: the bridge with its gateways, forwarding,
// the taps a previous run left (kept with what their labels say, so the
// guests behind them keep working before any Sync), the rules, and the
// DHCP server, which answers until ctx ends or Close.
func (m *Manager) Start(ctx context.Context) error {
	if err := checkOverlap(m.nl, m.o.Bridge, m.o.CIDRs); err != nil {
		return err
	}
	if _, err := m.ensureBridge(); err != nil {
		return err
	}
	if err := m.sysctls(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	taps, err := m.ourTaps()
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range taps {
		name := l.Attrs().Name
		node, e, ok := parseAlias(name, l.Attrs().Alias)
		if ok && slices.Contains(m.o.Nodes, node) {
			if e.validate(m.o.CIDRs) == nil {
				m.eps[e.PodUID] = owned{node, e}
			}
			continue // its node's Sync decides
		}
		errs = append(errs, m.deleteLink(name))
	}
	errs = append(errs, m.apply())
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var srv *server4.Server
	err = m.inNS(func() error {
		var err error
		srv, err = server4.NewServer(m.o.Bridge, &net.UDPAddr{IP: net.IPv4zero, Port: dhcpv4.ServerPort}, m.serveDHCP)
		return err
	})
	if err != nil {
		return fmt.Errorf("DHCP server on %s: %w", m.o.Bridge, err)
	}
	m.dhcp = srv
	go func() { _ = srv.Serve() }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return nil
}

// Close stops the DHCP server and releases the Manager's handles. The
// bridge, taps and rules stay: running guests keep their network.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dhcp != nil {
		_ = m.dhcp.Close()
		m.dhcp = nil
	}
	m.nl.Close()
	return m.ns.Close()
}

// apply publishes the current endpoints: DHCP answers and rules. Called
// with mu held.
func (m *Manager) apply() error {
	eps := make([]Endpoint, 0, len(m.eps))
	for _, o := range m.eps {
		eps = append(eps, o.ep)
	}
	l := newLeases(m.o.CIDRs, m.o.DNS, eps)
	m.leases.Store(&l)
	return applyRules(m.nft, buildRules(ruleOptions{bridge: m.o.Bridge, cidrs: m.o.CIDRs, nat: m.o.NAT}, eps))
}

// Add plugs one pod in: its tap, filtered to the endpoint's MAC and IP
// before it joins the bridge, and its DHCP answer. On failure nothing of
// it is left.
func (m *Manager) Add(ctx context.Context, node string, e Endpoint) error {
	if err := e.validate(m.o.CIDRs); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.add(node, e); err != nil {
		delete(m.eps, e.PodUID)
		return errors.Join(err, m.deleteLink(e.Tap), m.apply())
	}
	return nil
}

func (m *Manager) add(node string, e Endpoint) error {
	br, err := m.nl.LinkByName(m.o.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", m.o.Bridge, err)
	}
	for uid, o := range m.eps {
		if uid != e.PodUID && o.ep.IP == e.IP {
			return fmt.Errorf("address %s is already pod %s's on this node", e.IP, uid)
		}
	}
	l, err := m.ensureTap(node, e)
	if err != nil {
		return err
	}
	m.eps[e.PodUID] = owned{node, e}
	if err := m.apply(); err != nil {
		return err
	}
	return m.plug(l, br)
}

// Remove unplugs a pod: its tap goes (and with it any packet a guest might
// still send), then its rules and DHCP answer.
func (m *Manager) Remove(ctx context.Context, podUID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.deleteLink(TapName(podUID))
	if _, ok := m.eps[podUID]; !ok {
		return err
	}
	delete(m.eps, podUID)
	return errors.Join(err, m.apply())
}

// Sync makes the kernel match the pods of node: every desired endpoint
// has its tap (an existing one is kept, never recreated, so a running
// QEMU keeps it), taps labelled with node that no pod wants are deleted,
// and the rules and DHCP answers are rebuilt. Endpoints of other nodes
// are left alone. An endpoint that cannot be set up is reported and the
// others still are.
func (m *Manager) Sync(ctx context.Context, node string, desired []Endpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	br, err := m.nl.LinkByName(m.o.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", m.o.Bridge, err)
	}
	var errs []error
	want := map[string]bool{}
	for uid, o := range m.eps {
		if o.node == node {
			delete(m.eps, uid)
		}
	}
	var plugs []netlink.Link
	for _, e := range desired {
		if err := e.validate(m.o.CIDRs); err != nil {
			errs = append(errs, fmt.Errorf("pod %s: %w", e.PodUID, err))
			continue
		}
		l, err := m.ensureTap(node, e)
		if err != nil {
			errs = append(errs, fmt.Errorf("pod %s: %w", e.PodUID, err))
			continue
		}
		want[e.Tap] = true
		m.eps[e.PodUID] = owned{node, e}
		plugs = append(plugs, l)
	}
	taps, err := m.ourTaps()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, l := range taps {
		name := l.Attrs().Name
		owner, _, ok := parseAlias(name, l.Attrs().Alias)
		if !want[name] && (!ok || owner == node) {
			errs = append(errs, m.deleteLink(name))
		}
	}
	if err := m.apply(); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, l := range plugs {
		errs = append(errs, m.plug(l, br))
	}
	return errors.Join(errs...)
}
