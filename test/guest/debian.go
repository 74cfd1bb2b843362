package guest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DebianImageName is the file name of the Debian test guest's disk inside
// the directory that hack/guest/build-debian.sh prints.
const DebianImageName = "debian-12.qcow2"

// debianBuildTools are what hack/guest/build-debian.sh runs on the host.
var debianBuildTools = []string{"debootstrap", "qemu-img", "sfdisk", "losetup", "mkfs.ext4", "extlinux", "blkid", "flock"}

// Debian returns the path of the Debian 12 test guest, a compressed qcow2
// disk with real cloud-init (NoCloud seed only), openssh-server and sudo
// that boots by BIOS with the console on ttyS0. The image is built by
// hack/guest/build-debian.sh into the guest cache (DVP_GUEST_CACHE, default
// /var/cache/dvp/guests) on first use, which takes several minutes and
// needs the Debian mirror; later calls reuse it.
//
// The image is shared: boot it through a copy-on-write overlay, never
// directly. Debian skips the test when not running as root or when a tool
// the build needs is missing.
func Debian(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("guest: building the Debian test guest needs root (debootstrap, loop devices, mounts)")
	}
	var missing []string
	for _, tool := range debianBuildTools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Skipf("guest: Debian test guest needs %s (run hack/install-deps.sh)", strings.Join(missing, ", "))
	}
	root, err := debianModuleRoot()
	if err != nil {
		t.Fatalf("guest: %v", err)
	}
	script := filepath.Join(root, "hack", "guest", "build-debian.sh")
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("guest: %v", err)
	}

	start := time.Now()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("guest: %s: %v\n%s", script, err, debianLastLines(stderr.String(), 40))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	image := filepath.Join(dir, DebianImageName)
	if _, err := os.Stat(image); err != nil {
		t.Fatalf("guest: build script printed %q but: %v", dir, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Logf("guest: built %s in %s", image, d.Round(time.Second))
	}
	return image
}

// debianModuleRoot walks up from the working directory to the directory
// holding go.mod.
func debianModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

func debianLastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
