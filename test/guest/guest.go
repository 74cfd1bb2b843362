package guest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/kdomanski/iso9660"
)

// The account the tests' seeds create: user cloud with password cloud.
// PasswordHash is the SHA-512 crypt of Password (with rounds=4096), the
// form cloud-config's passwd takes; the guest's busybox login accepts it.
const (
	User         = "cloud"
	Password     = "cloud"
	PasswordHash = "$6$rounds=4096$vln/.aPHBOI7BMYR$bBMkqQvuGs5Gyd/1H5DP4m9HjQSy.kgrxpaGEHwkX7KEFV8BS.HZWPitAtZ2Vd8ZqIZRqmlykRCagTgPejt1i."
)

// Image names inside the directory Tiny returns.
const (
	BIOSImage = "tiny-bios.img"
	EFIImage  = "tiny-efi.img"
)

// BootComplete starts the line the guest's init prints on the console once
// the seed is applied, just before the login prompt:
// "dvp-tiny: boot complete (instance-id ID)".
const BootComplete = "dvp-tiny: boot complete"

// Firmware for the UEFI image (Debian's ovmf package): the code is used
// read-only, the variable store must be a private writable copy.
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// Tools the build needs besides Go and apt.
var tinyBuildTools = []string{"dpkg-query", "dpkg-deb", "apt-cache", "apt-get", "depmod", "sfdisk",
	"mkfs.vfat", "mcopy", "mmd", "syslinux", "cpio", "gzip", "flock"}

var (
	tinyOnce sync.Once
	tinyDir  string
	tinyErr  error
	tinyLog  string
)

// Tiny returns the directory holding the tiny guest's images, building them
// first if the cache lacks them (once per test binary). It skips the test
// when not root or when QEMU or a build tool is missing, and fails it when
// the build fails.
func Tiny(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the tiny guest needs root (its build fetches a kernel package with apt, and tests boot it with QEMU)")
	}
	missing := []string{}
	for _, tool := range append([]string{"qemu-system-x86_64", "busybox"}, tinyBuildTools...) {
		if !tinyHaveTool(tool) {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Skipf("the tiny guest needs %s (run hack/install-deps.sh)", strings.Join(missing, ", "))
	}
	tinyOnce.Do(func() { tinyDir, tinyLog, tinyErr = buildTiny() })
	if tinyErr != nil {
		t.Fatalf("building the tiny guest: %v\n%s", tinyErr, tinyLog)
	}
	return tinyDir
}

// tinyHaveTool looks in PATH and in the sbin directories the build script
// adds to it.
func tinyHaveTool(name string) bool {
	if _, err := exec.LookPath(name); err == nil {
		return true
	}
	for _, dir := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && !st.IsDir() {
			return true
		}
	}
	return false
}

// TinyBIOS returns the path of the BIOS (SeaBIOS, MBR + syslinux) image.
func TinyBIOS(t testing.TB) string {
	t.Helper()
	return filepath.Join(Tiny(t), BIOSImage)
}

// TinyEFI returns the path of the UEFI (OVMF, GPT + ESP) image. It skips
// the test when the OVMF firmware is not installed.
func TinyEFI(t testing.TB) string {
	t.Helper()
	dir := Tiny(t)
	for _, f := range []string{OVMFCode, OVMFVars} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("the UEFI guest needs %s (package ovmf)", f)
		}
	}
	return filepath.Join(dir, EFIImage)
}

// buildTiny runs the build script and returns the directory it printed last.
func buildTiny() (dir, log string, err error) {
	script := filepath.Join(ModuleRoot(), "hack", "guest", "build-tiny.sh")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", stderr.String(), fmt.Errorf("%s: %w", script, err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir = strings.TrimSpace(lines[len(lines)-1])
	for _, img := range []string{BIOSImage, EFIImage} {
		if _, err := os.Stat(filepath.Join(dir, img)); err != nil {
			return "", stderr.String(), fmt.Errorf("%s printed %q, which lacks %s", script, dir, img)
		}
	}
	return dir, stderr.String(), nil
}

// ModuleRoot is the repository root (where go.mod is): found from this
// source file, or from the working directory up when built with -trimpath.
func ModuleRoot() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	}
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/virtlab/dvp\n")) {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// WriteSeedISO writes a NoCloud seed to path: an ISO 9660 image with volume
// id cidata holding user-data and meta-data (and network-config when not
// empty).
func WriteSeedISO(path, userData, metaData, networkConfig string) error {
	w, err := iso9660.NewWriter()
	if err != nil {
		return err
	}
	defer w.Cleanup()
	files := map[string]string{"user-data": userData, "meta-data": metaData}
	if networkConfig != "" {
		files["network-config"] = networkConfig
	}
	for name, content := range files {
		if err := w.AddFile(strings.NewReader(content), name); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := w.WriteTo(f, "cidata"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
