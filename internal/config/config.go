package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/virtlab/dvp/internal/image"
)

// Accel selects how guests are run.
type Accel string

const (
	AccelAuto Accel = "auto"
	AccelKVM  Accel = "kvm"
	AccelTCG  Accel = "tcg"
)

// Config is the settings file of `dvp server`. Field names are the YAML keys.
type Config struct {
	// NodeAddress is the IPv4 address the API server advertises and the platform's
	// own endpoints (webhooks, aggregated API) listen on. Empty means the host's
	// primary IPv4 address.
	NodeAddress string `json:"nodeAddress,omitempty"`
	// APIPort is the kube-apiserver secure port.
	APIPort int `json:"apiPort,omitempty"`
	// EtcdPort is the client port of the embedded etcd (loopback only); the peer
	// port is the next one.
	EtcdPort int `json:"etcdPort,omitempty"`
	// WebhookPort is where the admission webhooks are served on NodeAddress.
	WebhookPort int `json:"webhookPort,omitempty"`
	// DVCRPort is where the internal registry (DVCR) listens on NodeAddress.
	DVCRPort int `json:"dvcrPort,omitempty"`

	VirtualMachineCIDRs []string       `json:"virtualMachineCIDRs,omitempty"`
	StorageClasses      []StorageClass `json:"storageClasses,omitempty"`
	Nodes               []Node         `json:"nodes,omitempty"`
	Accel               Accel          `json:"accel,omitempty"`
	Upload              Upload         `json:"upload,omitempty"`
	Import              Import         `json:"import,omitempty"`
	Network             Network        `json:"network,omitempty"`
}

// Network holds settings of the VMs' network on each node: a bridge with
// the gateway (first usable address) of each of virtualMachineCIDRs, a tap
// per VM and a DHCP server (docs/design/networking.md).
type Network struct {
	// Bridge names the bridge (at most 15 characters). Default dvp-br0.
	Bridge string `json:"bridge,omitempty"`
	// NAT masquerades guest traffic leaving the node, so guests reach
	// what the host reaches. Default true; false keeps guests to each
	// other.
	NAT *bool `json:"nat,omitempty"`
	// DNS servers (IPv4) offered to guests over DHCP. Default: the
	// nameservers of the host's /etc/resolv.conf that are not loopback
	// (a guest cannot use the host's loopback resolver).
	DNS []string `json:"dns,omitempty"`
	// LeaseRetention is how long a released address stays reserved for the
	// namespace that held it (a Static VirtualMachineIPAddress there may
	// claim it again) before its lease is deleted. Default
	// DefaultLeaseRetention.
	LeaseRetention Duration `json:"leaseRetention,omitempty"`
}

// NATEnabled is NAT with its default.
func (n Network) NATEnabled() bool { return n.NAT == nil || *n.NAT }

// StorageClass is one class served by the local provisioner.
type StorageClass struct {
	Name              string `json:"name"`
	VolumeBindingMode string `json:"volumeBindingMode,omitempty"`
	Default           bool   `json:"default,omitempty"`
	// NodeLocal makes volumes of this class reachable only from the node they
	// were provisioned for; by default every simulated node reaches them.
	NodeLocal bool `json:"nodeLocal,omitempty"`
	// ThinClones (default true) makes a disk from an image a thin qcow2
	// clone of the node's cached copy of the image; false writes a full
	// raw copy onto a Block volume instead.
	ThinClones *bool `json:"thinClones,omitempty"`
}

// Node is one simulated node of the all-in-one mode.
type Node struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Taints []corev1.Taint    `json:"taints,omitempty"`
	CPU    string            `json:"cpu,omitempty"`
	Memory string            `json:"memory,omitempty"`
}

// Upload holds settings of the upload gateway.
type Upload struct {
	// WaitTimeout is how long a resource with an Upload data source waits for
	// the upload to start before it fails.
	WaitTimeout Duration `json:"waitTimeout,omitempty"`
}

// Import holds settings of image imports: importer pods (HTTP, registry
// sources) and uploads.
type Import struct {
	// MaxImageSize bounds what one import may bring onto the node: the
	// bytes a source sends and the bytes they unpack to (an xz stream of
	// zeros grows a thousandfold). An import beyond it fails with reason
	// TooLarge. Default DefaultMaxImageSize.
	MaxImageSize string `json:"maxImageSize,omitempty"`
	// AllowedAddresses are addresses HTTP and registry sources may reach
	// although they are loopback, link-local or the node's own (refused by
	// default: importers run in the host's network namespace). Each entry
	// is a CIDR (10.0.0.0/8), an address (127.0.0.1) or an address with a
	// port (127.0.0.1:8088), the narrowest that serves.
	AllowedAddresses []string `json:"allowedAddresses,omitempty"`
}

// MaxImageSizeBytes is MaxImageSize in bytes (0 if it does not parse,
// which Validate reports).
func (i Import) MaxImageSizeBytes() int64 {
	q, err := resource.ParseQuantity(i.MaxImageSize)
	if err != nil {
		return 0
	}
	return q.Value()
}

// Duration is a time.Duration written as "15m" in YAML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 15m or 90s", s)
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + d.Duration.String() + `"`), nil
}

// Defaults used when the file leaves a key out.
const (
	DefaultAPIPort     = 6443
	DefaultEtcdPort    = 2379
	DefaultWebhookPort = 9443
	DefaultDVCRPort    = 5443
	DefaultUploadWait  = 15 * time.Minute
	// DefaultLeaseRetention is upstream's retention of released leases.
	DefaultLeaseRetention = 10 * time.Minute
	// DefaultMaxImageSize is import.maxImageSize when unset: above any
	// cloud or installer image, small enough that one import cannot take
	// a large data disk.
	DefaultMaxImageSize = "256Gi"
	// DefaultBridge is network.bridge when unset.
	DefaultBridge = "dvp-br0"
)

// resolvConf is where the default network.dns comes from.
const resolvConf = "/etc/resolv.conf"

// Default returns the all-in-one defaults: one address range, one default
// local StorageClass, one node named after the host, automatic acceleration.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

// Load reads the file at path (empty path: defaults only), strictly.
func Load(path string) (*Config, error) {
	c := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		if err := yaml.UnmarshalStrict(b, c); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, cleanYAMLError(err))
		}
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", displayPath(path), err)
	}
	return c, nil
}

func displayPath(p string) string {
	if p == "" {
		return "(defaults)"
	}
	return p
}

// cleanYAMLError turns the decoder's wording for unknown fields into one that
// names the key the way the user wrote it.
func cleanYAMLError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error unmarshaling JSON: while decoding JSON: ")
	if i := strings.Index(msg, `unknown field "`); i >= 0 {
		rest := msg[i+len(`unknown field "`):]
		if j := strings.Index(rest, `"`); j >= 0 {
			return fmt.Errorf("unknown key %q", rest[:j])
		}
	}
	return errors.New(msg)
}

func (c *Config) applyDefaults() {
	if c.APIPort == 0 {
		c.APIPort = DefaultAPIPort
	}
	if c.EtcdPort == 0 {
		c.EtcdPort = DefaultEtcdPort
	}
	if c.WebhookPort == 0 {
		c.WebhookPort = DefaultWebhookPort
	}
	if c.DVCRPort == 0 {
		c.DVCRPort = DefaultDVCRPort
	}
	if c.VirtualMachineCIDRs == nil {
		c.VirtualMachineCIDRs = []string{"10.66.10.0/24"}
	}
	if c.StorageClasses == nil {
		c.StorageClasses = []StorageClass{{Name: "local-thin", VolumeBindingMode: "WaitForFirstConsumer", Default: true}}
	}
	for i := range c.StorageClasses {
		if c.StorageClasses[i].VolumeBindingMode == "" {
			c.StorageClasses[i].VolumeBindingMode = "WaitForFirstConsumer"
		}
	}
	if c.Nodes == nil {
		host, err := os.Hostname()
		if err != nil || validation.IsDNS1123Subdomain(strings.ToLower(host)) != nil {
			host = "node-1"
		}
		c.Nodes = []Node{{Name: strings.ToLower(host)}}
	}
	if c.Accel == "" {
		c.Accel = AccelAuto
	}
	if c.Upload.WaitTimeout.Duration == 0 {
		c.Upload.WaitTimeout.Duration = DefaultUploadWait
	}
	if c.Network.LeaseRetention.Duration == 0 {
		c.Network.LeaseRetention.Duration = DefaultLeaseRetention
	}
	if c.Import.MaxImageSize == "" {
		c.Import.MaxImageSize = DefaultMaxImageSize
	}
	if c.Network.Bridge == "" {
		c.Network.Bridge = DefaultBridge
	}
	if c.Network.DNS == nil {
		c.Network.DNS = hostNameservers(resolvConf)
	}
}

// hostNameservers are the IPv4 nameservers of a resolv.conf that a guest
// can use: not loopback (systemd-resolved's 127.0.0.53 and the like).
func hostNameservers(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{}
	}
	out := []string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if ip := net.ParseIP(f[1]); ip != nil && ip.To4() != nil && !ip.IsLoopback() && !ip.IsUnspecified() {
			out = append(out, ip.To4().String())
		}
	}
	return out
}

// bridgeNameRE is what a Linux interface name may safely be.
var bridgeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$`)

// Validate checks every key and names the first bad one.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if c.NodeAddress != "" {
		ip := net.ParseIP(c.NodeAddress)
		if ip == nil || ip.To4() == nil {
			add("nodeAddress", "%q is not an IPv4 address", c.NodeAddress)
		}
	}
	for key, p := range map[string]int{"apiPort": c.APIPort, "etcdPort": c.EtcdPort, "webhookPort": c.WebhookPort, "dvcrPort": c.DVCRPort} {
		if p < 1 || p > 65535 {
			add(key, "%d is not a TCP port (1-65535)", p)
		}
	}
	if c.EtcdPort == 65535 {
		add("etcdPort", "the peer port etcdPort+1 must also be a valid port")
	}
	if c.DVCRPort == 65535 {
		add("dvcrPort", "the upload gateway listens on dvcrPort+1, which must also be a valid port")
	}
	// Every listener needs a port of its own; the second port of etcd (peer)
	// and of DVCR (the upload gateway) count too.
	used := map[int]string{}
	for _, p := range []struct {
		key  string
		port int
	}{{"apiPort", c.APIPort}, {"etcdPort", c.EtcdPort}, {"etcdPort+1", c.EtcdPort + 1}, {"webhookPort", c.WebhookPort},
		{"dvcrPort", c.DVCRPort}, {"dvcrPort+1 (upload gateway)", c.DVCRPort + 1}} {
		if other, ok := used[p.port]; ok {
			add(p.key, "port %d is already taken by %s", p.port, other)
		}
		used[p.port] = p.key
	}
	if len(c.VirtualMachineCIDRs) == 0 {
		add("virtualMachineCIDRs", "at least one CIDR is required, for example 10.66.10.0/24")
	}
	var nets []*net.IPNet
	for i, s := range c.VirtualMachineCIDRs {
		key := fmt.Sprintf("virtualMachineCIDRs[%d]", i)
		_, n, err := net.ParseCIDR(s)
		if err != nil || n.IP.To4() == nil {
			add(key, "%q is not an IPv4 CIDR such as 10.66.10.0/24", s)
			continue
		}
		if ones, _ := n.Mask.Size(); ones > 30 {
			add(key, "%q is too small: a range needs at least 4 addresses (/30 or larger)", s)
		}
		for j, o := range nets {
			if o.Contains(n.IP) || n.Contains(o.IP) {
				add(key, "%q overlaps virtualMachineCIDRs[%d] %q", s, j, o.String())
			}
		}
		nets = append(nets, n)
	}
	seenSC := map[string]bool{}
	defaults := 0
	for i, sc := range c.StorageClasses {
		key := fmt.Sprintf("storageClasses[%d]", i)
		if msgs := validation.IsDNS1123Subdomain(sc.Name); len(msgs) > 0 {
			add(key+".name", "%q is not a valid StorageClass name: %s", sc.Name, strings.Join(msgs, "; "))
		}
		if seenSC[sc.Name] {
			add(key+".name", "%q is listed twice", sc.Name)
		}
		seenSC[sc.Name] = true
		switch sc.VolumeBindingMode {
		case "Immediate", "WaitForFirstConsumer":
		default:
			add(key+".volumeBindingMode", "%q is not one of Immediate, WaitForFirstConsumer", sc.VolumeBindingMode)
		}
		if sc.Default {
			defaults++
		}
	}
	if defaults > 1 {
		add("storageClasses", "%d classes are marked default: mark at most one", defaults)
	}
	if len(c.Nodes) == 0 {
		add("nodes", "at least one node is required")
	}
	seenNode := map[string]bool{}
	for i, n := range c.Nodes {
		key := fmt.Sprintf("nodes[%d]", i)
		if msgs := validation.IsDNS1123Subdomain(n.Name); len(msgs) > 0 {
			add(key+".name", "%q is not a valid node name: %s", n.Name, strings.Join(msgs, "; "))
		}
		if seenNode[n.Name] {
			add(key+".name", "%q is listed twice", n.Name)
		}
		seenNode[n.Name] = true
		for k, v := range n.Labels {
			if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
				add(key+".labels", "key %q: %s", k, strings.Join(msgs, "; "))
			}
			if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
				add(key+".labels", "value %q of %q: %s", v, k, strings.Join(msgs, "; "))
			}
		}
		for j, t := range n.Taints {
			tk := fmt.Sprintf("%s.taints[%d]", key, j)
			if msgs := validation.IsQualifiedName(t.Key); len(msgs) > 0 {
				add(tk+".key", "%q: %s", t.Key, strings.Join(msgs, "; "))
			}
			switch t.Effect {
			case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
			default:
				add(tk+".effect", "%q is not one of NoSchedule, PreferNoSchedule, NoExecute", t.Effect)
			}
		}
	}
	switch c.Accel {
	case AccelAuto, AccelKVM, AccelTCG:
	default:
		add("accel", "%q is not one of auto, kvm, tcg", c.Accel)
	}
	if c.Upload.WaitTimeout.Duration < 0 {
		add("upload.waitTimeout", "must be positive")
	}
	if c.Network.LeaseRetention.Duration < 0 {
		add("network.leaseRetention", "must be positive")
	}
	if q, err := resource.ParseQuantity(c.Import.MaxImageSize); err != nil {
		add("import.maxImageSize", "%q is not a size such as 64Gi", c.Import.MaxImageSize)
	} else if q.Value() < 1<<20 {
		add("import.maxImageSize", "%s is too small: at least 1Mi", c.Import.MaxImageSize)
	}
	if !bridgeNameRE.MatchString(c.Network.Bridge) {
		add("network.bridge", "%q is not an interface name: 1 to 15 letters, digits, '.', '_' or '-'", c.Network.Bridge)
	} else if strings.HasPrefix(c.Network.Bridge, "dvpt") {
		add("network.bridge", "%q begins with dvpt, the prefix of the VMs' taps", c.Network.Bridge)
	}
	for i, d := range c.Network.DNS {
		ip := net.ParseIP(d)
		switch {
		case ip == nil || ip.To4() == nil:
			add(fmt.Sprintf("network.dns[%d]", i), "%q is not an IPv4 address", d)
		case ip.IsLoopback() || ip.IsUnspecified():
			add(fmt.Sprintf("network.dns[%d]", i), "%s is a loopback address, which guests cannot reach: give the host's upstream resolver", d)
		}
	}
	for i, a := range c.Import.AllowedAddresses {
		if _, err := image.ParseAllowedAddress(a); err != nil {
			add(fmt.Sprintf("import.allowedAddresses[%d]", i), "%v", err)
		}
	}
	return errors.Join(errs...)
}
