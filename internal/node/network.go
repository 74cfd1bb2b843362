package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"

	"github.com/virtlab/dvp/internal/config"
	"github.com/virtlab/dvp/internal/launcher"
	"github.com/virtlab/dvp/internal/network"
)

// vmNameLabel carries the VM's name on its launcher pod (the VM
// controller's LabelName); the guest is offered it as its hostname.
const vmNameLabel = "vm.virtualization.deckhouse.io/name"

// errPodNetwork marks a pod whose network could not be set up: it fails
// with the reason, as kubelet fails a pod its CNI plugin refused.
var errPodNetwork = errors.New("setting up the pod's network")

// StartNetwork sets up the VMs' network of this host's network namespace,
// shared by every node runtime in it (they share the host). The CIDRs must
// not overlap the host's own networks, whoever runs the server. Without
// root there is no bridge to make: it says so once and returns nil, and
// pods keep QEMU's user-mode networking. The DHCP server stops with ctx;
// the bridge, taps and rules stay for the guests that outlive the server.
func StartNetwork(ctx context.Context, cfg *config.Config, log klog.Logger) (*network.Manager, error) {
	var cidrs []netip.Prefix
	for _, s := range cfg.VirtualMachineCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("virtualMachineCIDRs: %w", err)
		}
		cidrs = append(cidrs, p.Masked())
	}
	if err := network.CheckOverlap(cfg.Network.Bridge, cidrs); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		log.Info("Not running as root: virtual machines keep QEMU user-mode networking (no bridge, taps or DHCP)")
		return nil, nil
	}
	var dns []netip.Addr
	for _, s := range cfg.Network.DNS {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("network.dns: %w", err)
		}
		dns = append(dns, a)
	}
	var nodes []string
	for _, n := range cfg.Nodes {
		nodes = append(nodes, n.Name)
	}
	m, err := network.New(network.Options{
		Bridge: cfg.Network.Bridge, CIDRs: cidrs, DNS: dns, NAT: cfg.Network.NATEnabled(),
		// Launchers run as the node runtime does.
		TapUID: uint32(os.Geteuid()), TapGID: uint32(os.Getegid()),
		Nodes: nodes,
	})
	if err != nil {
		return nil, fmt.Errorf("VM network: %w", err)
	}
	if err := m.Start(ctx); err != nil {
		_ = m.Close()
		return nil, fmt.Errorf("VM network: %w", err)
	}
	log.Info("VM network ready", "bridge", m.Bridge(), "gateways", m.Gateways(), "nat", cfg.Network.NATEnabled(), "dns", cfg.Network.DNS)
	return m, nil
}

// podEndpoint is the network a pod asks for with the launcher's
// annotations; ok is false for a pod that asks for none.
func podEndpoint(pod *corev1.Pod) (e network.Endpoint, ok bool, err error) {
	ipText, ok := pod.Annotations[launcher.IPAddressAnnotation]
	if !ok {
		return network.Endpoint{}, false, nil
	}
	ip, err := netip.ParseAddr(ipText)
	if err != nil || !ip.Is4() {
		return network.Endpoint{}, true, fmt.Errorf("annotation %s: %q is not an IPv4 address", launcher.IPAddressAnnotation, ipText)
	}
	macText := pod.Annotations[launcher.MACAddressAnnotation]
	mac, err := net.ParseMAC(macText)
	if err != nil {
		return network.Endpoint{}, true, fmt.Errorf("annotation %s: %q is not a MAC address", launcher.MACAddressAnnotation, macText)
	}
	uid := string(pod.UID)
	return network.Endpoint{PodUID: uid, Tap: network.TapName(uid), MAC: mac, IP: ip, Hostname: hostname(pod.Labels[vmNameLabel])}, true, nil
}

// hostname is a VM name as a host name: its first label, since a VM name
// may have dots.
func hostname(vm string) string {
	first, _, _ := strings.Cut(vm, ".")
	if len(validation.IsDNS1123Label(first)) > 0 {
		return ""
	}
	return first
}

// podNet is what the pod's containers are told about its network.
type podNet struct {
	// tap is the pod's tap, for launcher.TapEnv.
	tap string
	// userMode: the pod asked for an address, but this node has no VM
	// network (not root); its launcher keeps user-mode networking.
	userMode bool
}

// setupNetwork plugs the pod into the node's VM network when it asks for
// it. A failure is errPodNetwork.
func (p *Provider) setupNetwork(ctx context.Context, pod *corev1.Pod) (podNet, error) {
	e, ok, err := podEndpoint(pod)
	if !ok {
		return podNet{}, nil
	}
	if err != nil {
		return podNet{}, fmt.Errorf("%w: %w", errPodNetwork, err)
	}
	if p.net == nil {
		return podNet{userMode: true}, nil
	}
	if err := p.net.Add(ctx, p.nodeName, e); err != nil {
		return podNet{}, fmt.Errorf("%w: %w", errPodNetwork, err)
	}
	return podNet{tap: e.Tap}, nil
}

// teardownNetwork unplugs a pod; its tap goes with it.
func (p *Provider) teardownNetwork(pod *corev1.Pod) {
	if p.net == nil {
		return
	}
	if _, ok := pod.Annotations[launcher.IPAddressAnnotation]; !ok {
		return
	}
	if err := p.net.Remove(context.Background(), string(pod.UID)); err != nil {
		p.log.Error(err, "Removing the pod's network", "pod", klog.KObj(pod))
	}
}

// env adds the pod's network to a container's environment.
func (n podNet) env(env []string) ([]string, error) {
	if n.tap != "" {
		return append(env, launcher.TapEnv+"="+n.tap), nil
	}
	if !n.userMode {
		return env, nil
	}
	for i, kv := range env {
		raw, ok := strings.CutPrefix(kv, launcher.ConfigEnv+"=")
		if !ok {
			continue
		}
		patched, err := userModeConfig(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errPodNetwork, launcher.ConfigEnv, err)
		}
		env[i] = launcher.ConfigEnv + "=" + patched
	}
	return env, nil
}

// userModeConfig turns a launcher configuration's tap NIC into a
// user-mode one, keeping its MAC and every other field as it is.
func userModeConfig(raw string) (string, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return "", err
	}
	var nic map[string]any
	if n, ok := cfg["network"]; !ok || json.Unmarshal(n, &nic) != nil || nic["mode"] != launcher.NetworkTap {
		return raw, nil
	}
	nic["mode"] = launcher.NetworkUser
	delete(nic, "tap")
	b, err := json.Marshal(nic)
	if err != nil {
		return "", err
	}
	cfg["network"] = b
	out, err := json.Marshal(cfg)
	return string(out), err
}

// networkEndpoints are the endpoints of the pods this node adopted, for
// the network's Sync at start.
func (p *Provider) networkEndpoints() []network.Endpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []network.Endpoint
	for _, e := range p.pods {
		if e.deleted || e.final != nil || e.failure != "" {
			continue
		}
		if ep, ok, err := podEndpoint(e.pod); ok && err == nil {
			out = append(out, ep)
		}
	}
	return out
}
