package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtlab/dvp/test/harness"
)

// TestStartupErrors checks that bad settings stop `dvp server` before it
// starts anything, with a message that names the key.
func TestStartupErrors(t *testing.T) {
	dvp := filepath.Join(harness.BinDir(t), "dvp")
	for _, tc := range []struct {
		name, config, want string
	}{
		{"unknown key", "virtualMachineCIDR: [10.66.10.0/24]\n", `unknown key "virtualMachineCIDR"`},
		{"bad CIDR", "virtualMachineCIDRs: [10.66.10.0/33]\n", `virtualMachineCIDRs[0]: "10.66.10.0/33" is not an IPv4 CIDR`},
		{"overlapping CIDRs", "virtualMachineCIDRs: [10.66.0.0/16, 10.66.10.0/24]\n", "overlaps virtualMachineCIDRs[0]"},
		{"bad accel", "accel: fast\n", `accel: "fast" is not one of auto, kvm, tcg`},
		{"bad binding mode", "storageClasses: [{name: a, volumeBindingMode: Later}]\n", `storageClasses[0].volumeBindingMode: "Later" is not one of Immediate, WaitForFirstConsumer`},
		{"two default classes", "storageClasses: [{name: a, default: true}, {name: b, default: true}]\n", "2 classes are marked default"},
		{"bad taint effect", "nodes: [{name: n1, taints: [{key: a, effect: Sometimes}]}]\n", `nodes[0].taints[0].effect: "Sometimes"`},
		{"bad node address", "nodeAddress: 10.0.0\n", `nodeAddress: "10.0.0" is not an IPv4 address`},
		{"bad duration", "upload: {waitTimeout: soon}\n", `"soon" is not a duration`},
		{"not YAML", "virtualMachineCIDRs: [\n", "config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(dvp, "server", "--data-dir", filepath.Join(dir, "data"), "--config", cfg).CombinedOutput()
			if err == nil {
				t.Fatalf("dvp server accepted:\n%s", tc.config)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output does not contain %q:\n%s", tc.want, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "data", "etcd")); err == nil {
				t.Errorf("etcd data was created despite the bad config")
			}
		})
	}
}

// TestStartupNeedsAnAddress runs the server in a namespace with nothing but
// loopback: it must refuse to start and say how to fix it.
func TestStartupNeedsAnAddress(t *testing.T) {
	dvp := filepath.Join(harness.BinDir(t), "dvp")
	ns := harness.NewNetNS(t)
	out, err := exec.Command("ip", "netns", "exec", ns, dvp, "server", "--data-dir", t.TempDir()).CombinedOutput()
	if err == nil {
		t.Fatal("dvp server started without any address")
	}
	if !strings.Contains(string(out), "set nodeAddress in the config (or --node-address)") {
		t.Errorf("unhelpful error:\n%s", out)
	}
	out, err = exec.Command("ip", "netns", "exec", ns, dvp, "server", "--data-dir", t.TempDir(), "--node-address", "10.99.0.1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "nodeAddress 10.99.0.1 is not assigned to any interface") {
		t.Errorf("foreign node address: err=%v\n%s", err, out)
	}
}
