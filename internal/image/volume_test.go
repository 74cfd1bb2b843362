package image

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readBack converts a pushed qcow2 to raw bytes.
func readBack(t *testing.T, qcow2 []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.qcow2"), filepath.Join(dir, "out.raw")
	if err := os.WriteFile(in, qcow2, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("qemu-img", "convert", "-f", "qcow2", "-O", "raw", in, out).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func qemuImg(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("qemu-img", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %v: %v\n%s", args, err, b)
	}
}

// volumeLayout builds what a node holds for a thin clone: data/volumes/pv/
// with disk.qcow2 backed by ../../image-cache/<digest>.<format>, and a
// container root whose /data is a symbolic link to the volume, as the node
// runtime makes it. It returns the path the worker sees.
func volumeLayout(t *testing.T, base []byte, baseFormat string, virtual int64, guestWrite int) (path string, want []byte) {
	t.Helper()
	data := t.TempDir()
	vol := filepath.Join(data, "volumes", "pv-1")
	cache := filepath.Join(data, "image-cache")
	for _, d := range []string{vol, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	raw := filepath.Join(t.TempDir(), "base.raw")
	if err := os.WriteFile(raw, base, 0o600); err != nil {
		t.Fatal(err)
	}
	cached := filepath.Join(cache, "sha256-abc."+baseFormat)
	qemuImg(t, "convert", "-f", "raw", "-O", baseFormat, raw, cached)
	disk := filepath.Join(vol, VolumeDiskFile)
	cmd := exec.Command("qemu-img", "create", "-f", "qcow2", "-b", "../../image-cache/sha256-abc."+baseFormat, "-F", baseFormat, VolumeDiskFile, itoa(virtual))
	cmd.Dir = vol
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, b)
	}
	want = make([]byte, virtual)
	copy(want, base)
	if guestWrite > 0 {
		// The guest wrote over the start of the disk: the overlay holds it.
		if b, err := exec.Command("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 "+itoa(int64(guestWrite)), disk).CombinedOutput(); err != nil {
			t.Skipf("qemu-io is not usable: %v\n%s", err, b)
		}
		for i := range guestWrite {
			want[i] = 0x5a
		}
	}
	root := t.TempDir()
	if err := os.Symlink(vol, filepath.Join(root, "data")); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "data", VolumeDiskFile), want
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestImportVolume(t *testing.T) {
	needQemuImg(t)
	reg := newTestRegistry(t, "", "")
	raw := rawDisk(3 * mib)

	blockDir := t.TempDir()
	block := filepath.Join(blockDir, "pv-1.img")
	if err := os.WriteFile(block, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	blockLink := filepath.Join(t.TempDir(), "disk-source")
	if err := os.Symlink(block, blockLink); err != nil {
		t.Fatal(err)
	}
	thinRaw, wantThinRaw := volumeLayout(t, raw, FormatRaw, 8*mib, 0)
	thinQcow2, wantThinQcow2 := volumeLayout(t, raw, FormatQCOW2, 8*mib, 64<<10)

	tests := []struct {
		name string
		src  VolumeSource
		want []byte
	}{
		{"block", VolumeSource{Path: blockLink, Format: FormatRaw}, raw},
		{"thin clone of a raw image", VolumeSource{Path: thinRaw, Format: FormatQCOW2}, wantThinRaw},
		{"thin clone of a qcow2 image, written to", VolumeSource{Path: thinQcow2, Format: FormatQCOW2}, wantThinQcow2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := reg.dest("vi/ns/from-disk", "uid-"+itoa(int64(i)))
			scratch := t.TempDir()
			var last, lastTotal int64
			res, err := ImportVolume(importCtx(t), tt.src, dst, scratch, func(r, total int64) { last, lastTotal = r, total })
			if err != nil {
				t.Fatalf("ImportVolume: %v", err)
			}
			if res.Format != FormatQCOW2 || res.CDROM || res.UnpackedBytes != int64(len(tt.want)) {
				t.Errorf("Result %+v, want qcow2 of %d bytes", res, len(tt.want))
			}
			if last != lastTotal || lastTotal != int64(len(tt.want)) {
				t.Errorf("last progress (%d, %d), want the whole disk %d", last, lastTotal, len(tt.want))
			}
			p := reg.pull(t, dst)
			stored := p.files["disk/"+VolumeDiskFile]
			checkPushed(t, reg, dst, res, VolumeDiskFile, stored)
			if !bytes.Equal(readBack(t, stored), tt.want) {
				t.Error("the stored disk differs from the volume")
			}
			if bytes.Contains(stored, []byte("image-cache")) {
				t.Error("the stored qcow2 still names a backing file")
			}
			if int64(len(stored)) >= res.UnpackedBytes {
				t.Errorf("stored %d bytes of a %d byte disk that is mostly zeroes: not compact", len(stored), res.UnpackedBytes)
			}
			if left, _ := os.ReadDir(scratch); len(left) != 0 {
				t.Errorf("scratch file left behind: %v", left)
			}
		})
	}

	t.Run("the volume is not changed", func(t *testing.T) {
		b, err := os.ReadFile(block)
		if err != nil || !bytes.Equal(b, raw) {
			t.Errorf("block volume changed: %v", err)
		}
	})
	t.Run("missing backing file", func(t *testing.T) {
		path, _ := volumeLayout(t, raw, FormatRaw, 4*mib, 0)
		real, _ := filepath.EvalSymlinks(path)
		if err := os.RemoveAll(filepath.Join(filepath.Dir(real), "..", "..", "image-cache")); err != nil {
			t.Fatal(err)
		}
		_, err := ImportVolume(importCtx(t), VolumeSource{Path: path, Format: FormatQCOW2}, reg.dest("vi/ns/broken", "u"), t.TempDir(), nil)
		mustErr(t, err, ErrCorrupt)
	})
	t.Run("raw data is never probed", func(t *testing.T) {
		// A guest that writes a qcow2 header naming a host file onto its
		// Block volume gets its bytes stored as they are.
		evil := filepath.Join(t.TempDir(), "pv-2.img")
		secret := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secret, bytes.Repeat([]byte("secret"), 1000), 0o600); err != nil {
			t.Fatal(err)
		}
		qemuImg(t, "create", "-f", "qcow2", "-b", secret, "-F", "raw", evil, itoa(mib))
		if err := os.Truncate(evil, mib); err != nil { // a volume is whole KiB
			t.Fatal(err)
		}
		want, err := os.ReadFile(evil)
		if err != nil {
			t.Fatal(err)
		}
		dst := reg.dest("vi/ns/evil", "u")
		res, err := ImportVolume(importCtx(t), VolumeSource{Path: evil, Format: FormatRaw}, dst, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		got := readBack(t, reg.pull(t, dst).files["disk/"+VolumeDiskFile])
		if res.UnpackedBytes != int64(len(want)) || !bytes.Equal(got, want) {
			t.Error("raw volume data was interpreted")
		}
	})
}

func TestValidateChain(t *testing.T) {
	entry := func(file, format, backing, backingFormat string) chainEntry {
		e := chainEntry{Filename: file, BackingFormat: backingFormat}
		e.Format, e.BackingFilename, e.VirtualSize = format, backing, mib
		return e
	}
	withDataFile := entry("disk.qcow2", "qcow2", "", "")
	withDataFile.FormatSpecific.Data.DataFile = "/etc/shadow"
	long := make([]chainEntry, maxBackingChain+1)
	for i := range long {
		long[i] = entry("x", "qcow2", "y", "qcow2")
	}
	long[len(long)-1].BackingFilename = ""
	tests := []struct {
		name   string
		chain  []chainEntry
		format string
		err    error
	}{
		{"raw", []chainEntry{entry("dev", "raw", "", "")}, "raw", nil},
		{"thin clone", []chainEntry{entry("disk.qcow2", "qcow2", "../c.raw", "raw"), entry("../c.raw", "raw", "", "")}, "qcow2", nil},
		{"backing format probed", []chainEntry{entry("disk.qcow2", "qcow2", "../c.raw", ""), entry("../c.raw", "raw", "", "")}, "qcow2", ErrUnsupportedFormat},
		{"backing format differs", []chainEntry{entry("disk.qcow2", "qcow2", "../c", "raw"), entry("../c", "qcow2", "", "")}, "qcow2", ErrCorrupt},
		{"vmdk in the chain", []chainEntry{entry("disk.qcow2", "qcow2", "x.vmdk", "vmdk"), entry("x.vmdk", "vmdk", "", "")}, "qcow2", ErrUnsupportedFormat},
		{"data file", []chainEntry{withDataFile}, "qcow2", ErrUnsupportedFormat},
		{"too long", long, "qcow2", ErrUnsupportedFormat},
		{"format differs", []chainEntry{entry("dev", "qcow2", "", "")}, "raw", ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateChain(tt.chain, tt.format)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("validateChain: %v", err)
				}
				return
			}
			mustErr(t, err, tt.err)
		})
	}
}

func TestReadProgress(t *testing.T) {
	var got []float64
	readProgress(strings.NewReader("    (0.00/100%)\r    (33.50/100%)\r    (100.00/100%)\r\nnoise\n"), func(p float64) { got = append(got, p) })
	want := []float64{0, 33.5, 100}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
