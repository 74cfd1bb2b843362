package launcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetectAccel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kvm     bool // /dev/kvm exists and opens read-write
		modules []string
		want    string
		why     string
	}{
		{"intel", true, []string{"kvm", "kvm_intel"}, AccelKVM, "kvm_intel"},
		{"amd", true, []string{"kvm", "kvm_amd"}, AccelKVM, "kvm_amd"},
		{"pvm", true, []string{"kvm", "kvm_pvm"}, AccelTCG, "PVM nested hypervisor (kvm_pvm)"},
		{"pvm beside intel", true, []string{"kvm", "kvm_intel", "kvm_pvm"}, AccelTCG, "kvm_pvm"},
		{"no hardware module", true, []string{"kvm"}, AccelTCG, "neither kvm_intel nor kvm_amd"},
		{"no /dev/kvm", false, []string{"kvm", "kvm_intel"}, AccelTCG, "/dev/kvm is not usable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, m := range tc.modules {
				if err := os.MkdirAll(filepath.Join(root, "sys/module", m), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if tc.kvm {
				if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
					t.Fatal(err)
				}
				// A regular file stands in for the device node: what
				// matters is that it opens read-write.
				if err := os.WriteFile(filepath.Join(root, "dev/kvm"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			accel, why := detectAccel(root)
			if accel != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("got %s (%s), want %s (…%s…)", accel, why, tc.want, tc.why)
			}
			if accel == AccelTCG && !strings.Contains(why, "using software emulation (TCG)") {
				t.Errorf("reason %q does not say TCG is used", why)
			}
		})
	}
}

func TestChooseAccel(t *testing.T) {
	if a, _, err := ChooseAccel(AccelKVM); err != nil || a != AccelKVM {
		t.Errorf("kvm: %s %v", a, err)
	}
	if a, _, err := ChooseAccel(AccelTCG); err != nil || a != AccelTCG {
		t.Errorf("tcg: %s %v", a, err)
	}
	if a, why, err := ChooseAccel(""); err != nil || (a != AccelKVM && a != AccelTCG) || why == "" {
		t.Errorf("auto: %s %q %v", a, why, err)
	}
	if _, _, err := ChooseAccel("xen"); err == nil {
		t.Error("xen accepted")
	}
}
