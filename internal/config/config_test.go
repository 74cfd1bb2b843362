package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, content string) (*Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

func TestDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.APIPort != 6443 || c.Accel != AccelAuto || c.Upload.WaitTimeout.Duration != 15*time.Minute {
		t.Errorf("unexpected defaults: %+v", c)
	}
	if len(c.VirtualMachineCIDRs) != 1 || c.VirtualMachineCIDRs[0] != "10.66.10.0/24" {
		t.Errorf("CIDRs = %v", c.VirtualMachineCIDRs)
	}
	if len(c.StorageClasses) != 1 || !c.StorageClasses[0].Default || c.StorageClasses[0].VolumeBindingMode != "WaitForFirstConsumer" {
		t.Errorf("storage classes = %+v", c.StorageClasses)
	}
	if len(c.Nodes) != 1 || c.Nodes[0].Name == "" {
		t.Errorf("nodes = %+v", c.Nodes)
	}
}

func TestIssueExample(t *testing.T) {
	c, err := load(t, `
virtualMachineCIDRs: ["10.66.10.0/24"]
storageClasses:
  - {name: local-thin, volumeBindingMode: WaitForFirstConsumer, default: true}
  - {name: linstor-thin-r2, volumeBindingMode: Immediate, nodeLocal: true}
nodes:
  - {name: node-1, labels: {node-role.kubernetes.io/system: ""}, taints: [{key: dedicated, value: vm, effect: NoSchedule}]}
  - {name: node-2}
accel: tcg
upload: {waitTimeout: 30s}
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Accel != AccelTCG || c.Upload.WaitTimeout.Duration != 30*time.Second || len(c.Nodes) != 2 || !c.StorageClasses[1].NodeLocal {
		t.Errorf("parsed %+v", c)
	}
	if c.Nodes[0].Taints[0].Effect != "NoSchedule" {
		t.Errorf("taint = %+v", c.Nodes[0].Taints[0])
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{"virtualMachineCIDR: []", `unknown key "virtualMachineCIDR"`},
		{"nodes: [{name: a, label: {}}]", `unknown key "label"`},
		{"virtualMachineCIDRs: []", "virtualMachineCIDRs: at least one CIDR is required"},
		{"virtualMachineCIDRs: [10.0.0.0/31]", "is too small"},
		{"virtualMachineCIDRs: [fd00::/64]", "is not an IPv4 CIDR"},
		{"apiPort: 70000", "apiPort: 70000 is not a TCP port"},
		{"storageClasses: [{name: Bad_Name}]", "storageClasses[0].name"},
		{"storageClasses: [{name: a}, {name: a}]", `storageClasses[1].name: "a" is listed twice`},
		{"nodes: []", "nodes: at least one node is required"},
		{"nodes: [{name: a}, {name: a}]", `nodes[1].name: "a" is listed twice`},
		{"nodes: [{name: a, labels: {'bad key!': x}}]", "nodes[0].labels"},
		{"nodes: [{name: a, taints: [{key: k, effect: Never}]}]", "nodes[0].taints[0].effect"},
		{"accel: hvf", `accel: "hvf" is not one of auto, kvm, tcg`},
		{"nodeAddress: ::1", "nodeAddress"},
		{"upload: {waitTimeout: 1y}", "is not a duration"},
		{"dvcrPort: 9443", "dvcrPort: port 9443 is already taken by webhookPort"},
		{"webhookPort: 2380", "port 2380 is already taken by etcdPort+1"},
	} {
		_, err := load(t, tc.content)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.content, err, tc.want)
		}
	}
}

func TestImportSettings(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Import.MaxImageSizeBytes(); got != 256<<30 {
		t.Errorf("default maxImageSize = %d", got)
	}
	c, err = load(t, "import: {maxImageSize: 64Mi, allowedAddresses: [\"127.0.0.1:8088\", 10.0.0.0/8, \"::1\"]}\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Import.MaxImageSizeBytes() != 64<<20 || len(c.Import.AllowedAddresses) != 3 {
		t.Errorf("parsed %+v", c.Import)
	}
	for content, want := range map[string]string{
		"import: {maxImageSize: 10Ki}\n":                   "import.maxImageSize: 10Ki is too small",
		"import: {allowedAddresses: [\"localhost:80\"]}\n": "import.allowedAddresses[0]",
		"import: {maxImageSize: lots}\n":                   "lots",
	} {
		if _, err := load(t, content); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", content, err, want)
		}
	}
}

func TestNetworkSettings(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Network.Bridge != "dvp-br0" || !c.Network.NATEnabled() || c.Network.DNS == nil {
		t.Errorf("defaults %+v", c.Network)
	}
	c, err = load(t, "network: {bridge: vmbr1, nat: false, dns: [192.0.2.53]}\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Network.Bridge != "vmbr1" || c.Network.NATEnabled() || len(c.Network.DNS) != 1 {
		t.Errorf("parsed %+v", c.Network)
	}
	if c, err = load(t, "network: {dns: []}\n"); err != nil || len(c.Network.DNS) != 0 {
		t.Errorf("an empty dns list is no DNS, not the default: %v %v", c.Network.DNS, err)
	}
	for content, want := range map[string]string{
		"network: {bridge: a-bridge-name-too-long}\n": `network.bridge: "a-bridge-name-too-long" is not an interface name`,
		"network: {bridge: \"br 0\"}\n":               "network.bridge",
		"network: {bridge: dvpt0}\n":                  "begins with dvpt",
		"network: {dns: [dns.example]}\n":             `network.dns[0]: "dns.example" is not an IPv4 address`,
		"network: {dns: [192.0.2.1, 127.0.0.53]}\n":   "network.dns[1]: 127.0.0.53 is a loopback address",
		"network: {nat: maybe}\n":                     "nat",
	} {
		if _, err := load(t, content); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", content, err, want)
		}
	}
}

func TestHostNameservers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(p, []byte("# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch example\nnameserver 2001:db8::1\nnameserver 198.51.100.7 # second\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := hostNameservers(p)
	if len(got) != 2 || got[0] != "192.0.2.1" || got[1] != "198.51.100.7" {
		t.Errorf("hostNameservers = %v", got)
	}
	if got := hostNameservers(filepath.Join(t.TempDir(), "missing")); got == nil || len(got) != 0 {
		t.Errorf("missing file: %v", got)
	}
}
