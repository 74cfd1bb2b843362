package launcher

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiskBacking: only an image-cache entry may back a disk; a qcow2
// naming any other file (a host device, a file elsewhere) is refused.
func TestDiskBacking(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not found")
	}
	data := t.TempDir()
	cache := filepath.Join(data, "image-cache")
	vol := filepath.Join(data, "volumes", "pv-1")
	for _, d := range []string{cache, vol} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	entry := filepath.Join(cache, strings.Repeat("c", 64)+".raw")
	if err := os.WriteFile(entry, make([]byte, 1<<20), 0o444); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(data, "host-file")
	if err := os.WriteFile(other, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	overlay := func(backing string) string {
		p := filepath.Join(vol, "disk.qcow2")
		os.Remove(p)
		args := []string{"create", "-q", "-f", "qcow2"}
		if backing != "" {
			args = append(args, "-u", "-b", backing, "-F", "raw")
		}
		if out, err := exec.Command("qemu-img", append(args, p, "2M")...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v\n%s", err, out)
		}
		return p
	}
	b, ok, err := diskBacking(overlay("../../image-cache/" + filepath.Base(entry)))
	if err != nil || !ok || b != (Backing{Path: entry, Format: FormatRaw}) {
		t.Errorf("cache entry: %+v %v %v", b, ok, err)
	}
	if _, ok, err := diskBacking(overlay("")); ok || err != nil {
		t.Errorf("no backing: ok=%v err=%v", ok, err)
	}
	for _, bad := range []string{other, "/dev/null", "../../image-cache/../host-file"} {
		if _, _, err := diskBacking(overlay(bad)); err == nil {
			t.Errorf("backing %q accepted", bad)
		}
	}
	// A symlink in the cache directory pointing elsewhere is resolved first.
	link := filepath.Join(cache, strings.Repeat("d", 64)+".raw")
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := diskBacking(overlay(link)); err == nil {
		t.Error("a cache name linking to a host file was accepted")
	}
}
