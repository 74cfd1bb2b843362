package image

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

const mib = 1 << 20

func importCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// checkPushed pulls dst and compares it with what Import reported and the
// disk bytes expected under disk/name.
func checkPushed(t *testing.T, reg *testRegistry, dst Destination, res Result, name string, disk []byte) {
	t.Helper()
	p := reg.pull(t, dst)
	if got := p.files["disk/"+name]; !bytes.Equal(got, disk) {
		t.Errorf("disk/%s: %d bytes, want the %d bytes of the source (files: %v)", name, len(got), len(disk), keys(p.files))
	}
	if len(p.files) != 1 || len(p.dirs) != 1 || p.dirs[0] != "disk/" {
		t.Errorf("layer holds %v and dirs %v, want disk/ and disk/%s", keys(p.files), p.dirs, name)
	}
	if p.layerType != string(types.OCIUncompressedLayer) {
		t.Errorf("layer media type %s", p.layerType)
	}
	if p.manifest.MediaType != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s", p.manifest.MediaType)
	}
	c := p.config
	if c.OS != "linux" || c.Architecture != "amd64" {
		t.Errorf("platform %s/%s", c.OS, c.Architecture)
	}
	want := map[string]string{
		LabelSize:        strconv.Itoa(len(disk)),
		LabelVirtualSize: strconv.FormatInt(res.UnpackedBytes, 10),
		LabelFormat:      res.Format,
	}
	for k, v := range want {
		if c.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Config.Labels[k], v)
		}
	}
	if res.StoredBytes != int64(len(disk)) {
		t.Errorf("StoredBytes %d, want %d", res.StoredBytes, len(disk))
	}
	if !strings.HasPrefix(res.Digest, "sha256:") {
		t.Errorf("Digest %q", res.Digest)
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestImportFormats(t *testing.T) {
	needQemuImg(t)
	raw := rawDisk(2 * mib)
	qcow2 := convert(t, raw, "qcow2", 8*mib)
	vmdk := convert(t, raw, "vmdk", 0)
	streamVMDK := convert(t, raw, "vmdk", 0, "-o", "subformat=streamOptimized")
	vdi := convert(t, raw, "vdi", 0)
	iso := isoImage()
	files := map[string][]byte{
		"disk.qcow2":        qcow2,
		"disk.qcow2.gz":     gzipBytes(t, qcow2),
		"ubuntu.img.xz":     xzBytes(t, raw),
		"plain.img":         raw,
		"disk.vmdk":         vmdk,
		"stream.vmdk":       streamVMDK,
		"disk.vdi":          vdi,
		"install.iso":       iso,
		"install.iso.gz":    gzipBytes(t, iso),
		"garbage.bin":       []byte(strings.Repeat("not an image at all\n", 1000)),
		"download?id=1":     raw,
		"disk.qcow2.xz":     xzBytes(t, qcow2),
		"noextension-vdi":   vdi,
		"nested/dir/x.vmdk": vmdk,
	}
	fs := newFileServer(t, files)
	reg := newTestRegistry(t, "", "")
	tests := []struct {
		file     string
		format   string
		cdrom    bool
		virtual  int64
		stored   string // name under disk/
		disk     []byte
		received int
	}{
		{"disk.qcow2", FormatQCOW2, false, 8 * mib, "disk.qcow2", qcow2, len(qcow2)},
		{"disk.qcow2.gz", FormatQCOW2, false, 8 * mib, "disk.qcow2", qcow2, len(files["disk.qcow2.gz"])},
		{"disk.qcow2.xz", FormatQCOW2, false, 8 * mib, "disk.qcow2", qcow2, len(files["disk.qcow2.xz"])},
		{"ubuntu.img.xz", FormatRaw, false, 2 * mib, "ubuntu.img", raw, len(files["ubuntu.img.xz"])},
		{"plain.img", FormatRaw, false, 2 * mib, "plain.img", raw, len(raw)},
		{"disk.vmdk", FormatVMDK, false, 2 * mib, "disk.vmdk", vmdk, len(vmdk)},
		{"stream.vmdk", FormatVMDK, false, 2 * mib, "stream.vmdk", streamVMDK, len(streamVMDK)},
		{"disk.vdi", FormatVDI, false, 2 * mib, "disk.vdi", vdi, len(vdi)},
		{"noextension-vdi", FormatVDI, false, 2 * mib, "noextension-vdi", vdi, len(vdi)},
		{"install.iso", FormatISO, true, int64(len(iso)), "install.iso", iso, len(iso)},
		{"install.iso.gz", FormatISO, true, int64(len(iso)), "install.iso", iso, len(files["install.iso.gz"])},
		{"garbage.bin", FormatRaw, false, int64(len(files["garbage.bin"])), "garbage.bin", files["garbage.bin"], len(files["garbage.bin"])},
		{"nested/dir/x.vmdk", FormatVMDK, false, 2 * mib, "x.vmdk", vmdk, len(vmdk)},
	}
	for i, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			dst := reg.dest("vi/ns/img-"+strconv.Itoa(i), "uid-"+strconv.Itoa(i))
			var calls, last, lastTotal int64
			scratch := t.TempDir()
			res, err := Import(importCtx(t), fs.source(tt.file), nil, dst, scratch, func(r, total int64) {
				calls++
				last, lastTotal = r, total
			})
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if res.Format != tt.format || res.CDROM != tt.cdrom || res.UnpackedBytes != tt.virtual || res.SourceBytes != int64(tt.received) {
				t.Errorf("Result %+v, want format %s cdrom %v virtual %d received %d", res, tt.format, tt.cdrom, tt.virtual, tt.received)
			}
			if calls == 0 || last != int64(tt.received) || lastTotal != int64(tt.received) {
				t.Errorf("progress: %d calls, last (%d, %d), want (%d, %d)", calls, last, lastTotal, tt.received, tt.received)
			}
			checkPushed(t, reg, dst, res, tt.stored, tt.disk)
			if left, _ := os.ReadDir(scratch); len(left) != 0 {
				t.Errorf("spool file left behind: %v", left)
			}
		})
	}
}

func TestImportChecksums(t *testing.T) {
	raw := rawDisk(mib)
	gz := gzipBytes(t, raw)
	fs := newFileServer(t, map[string][]byte{"disk.img.gz": gz})
	reg := newTestRegistry(t, "", "")
	sha := sha256.Sum256(gz)
	md := md5.Sum(gz)
	good := Checksums{"sha256": hex.EncodeToString(sha[:]), "md5": hex.EncodeToString(md[:])}

	t.Run("match over the compressed bytes", func(t *testing.T) {
		dst := reg.dest("vi/ns/good", "1")
		res, err := Import(importCtx(t), fs.source("disk.img.gz"), good, dst, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		checkPushed(t, reg, dst, res, "disk.img", raw)
	})
	t.Run("mismatch pushes nothing", func(t *testing.T) {
		before := reg.writes.Load()
		bad := Checksums{"sha256": strings.Repeat("0", 64), "md5": good["md5"]}
		scratch := t.TempDir()
		_, err := Import(importCtx(t), fs.source("disk.img.gz"), bad, reg.dest("vi/ns/bad", "1"), scratch, nil)
		mustErr(t, err, ErrChecksum)
		if Reason(err) != ReasonChecksum || !strings.Contains(err.Error(), "expected "+bad["sha256"]) || !strings.Contains(err.Error(), "got "+good["sha256"]) {
			t.Errorf("message %q should name expected and got", err)
		}
		if strings.Contains(err.Error(), "md5") {
			t.Errorf("md5 matched but is reported: %v", err)
		}
		if n := reg.writes.Load() - before; n != 0 {
			t.Errorf("%d writes to the registry after a checksum mismatch", n)
		}
		if left, _ := os.ReadDir(scratch); len(left) != 0 {
			t.Errorf("scratch dir not cleaned: %v", left)
		}
	})
}

func TestImportCorrupt(t *testing.T) {
	needQemuImg(t)
	raw := rawDisk(2 * mib)
	qcow2 := convert(t, raw, "qcow2", 0)
	vdi := convert(t, raw, "vdi", 0)
	vmdk := convert(t, raw, "vmdk", 0)
	gz := gzipBytes(t, raw)
	fs := newFileServer(t, map[string][]byte{
		"truncated.qcow2": qcow2[:len(qcow2)/2],
		"header.qcow2":    qcow2[:512],
		"truncated.vdi":   vdi[:len(vdi)/2],
		"truncated.vmdk":  vmdk[:len(vmdk)/2],
		"truncated.gz":    gz[:len(gz)/2],
		"empty.img":       {},
	})
	reg := newTestRegistry(t, "", "")
	for _, name := range []string{"truncated.qcow2", "header.qcow2", "truncated.vdi", "truncated.vmdk", "truncated.gz", "empty.img"} {
		t.Run(name, func(t *testing.T) {
			_, err := Import(importCtx(t), fs.source(name), nil, reg.dest("vi/ns/corrupt", "1"), t.TempDir(), nil)
			mustErr(t, err, ErrCorrupt)
			if Reason(err) != ReasonCorrupt {
				t.Errorf("Reason %s", Reason(err))
			}
		})
	}
	if reg.writes.Load() != 0 {
		t.Errorf("corrupt images were pushed")
	}
}

// TestImportNotADisk: a source smaller than one sector (a 33-byte text
// file, compressed or not), or named .iso with no ISO 9660 signature, is
// refused with a message saying so, not stored as a raw disk.
func TestImportNotADisk(t *testing.T) {
	needQemuImg(t)
	text := []byte("this is not a disk image at all!\n") // 33 bytes
	iso := make([]byte, 0x9000)
	copy(iso[0x8001:], "CD001")
	page := []byte(strings.Repeat("<html><body>Not Found</body></html>\n", 100))
	fs := newFileServer(t, map[string][]byte{
		"notes.img":       text,
		"notes.img.gz":    gzipBytes(t, text),
		"sector.img":      rawDisk(SectorSize),
		"page.iso":        page,
		"real.iso":        iso,
		"qcow2-named.iso": convert(t, rawDisk(mib), "qcow2", 0),
	})
	reg := newTestRegistry(t, "", "")
	for _, tc := range []struct {
		name, want, format string
	}{
		{name: "notes.img", want: "the image is 33 bytes, less than one 512-byte sector"},
		{name: "notes.img.gz", want: "the image is 33 bytes, less than one 512-byte sector"},
		{name: "page.iso", want: `page.iso is named as an ISO image but is not one (no ISO 9660 signature "CD001" at offset 0x8001)`},
		{name: "sector.img", format: FormatRaw},
		{name: "real.iso", format: FormatISO},
		{name: "qcow2-named.iso", format: FormatQCOW2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Import(importCtx(t), fs.source(tc.name), nil, reg.dest("vi/ns/not-a-disk", "1"), t.TempDir(), nil)
			if tc.want == "" {
				if err != nil || res.Format != tc.format {
					t.Fatalf("format %q, error %v; want %s", res.Format, err, tc.format)
				}
				return
			}
			mustErr(t, err, ErrCorrupt)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

func TestImportUnsupported(t *testing.T) {
	needQemuImg(t)
	raw := rawDisk(mib)
	dir := t.TempDir()
	base := dir + "/base.qcow2"
	if err := os.WriteFile(base, convert(t, raw, "qcow2", 0), 0o600); err != nil {
		t.Fatal(err)
	}
	overlay := dir + "/overlay.qcow2"
	if b, err := execOut("qemu-img", "create", "-f", "qcow2", "-F", "qcow2", "-b", base, overlay); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	ov, err := os.ReadFile(overlay)
	if err != nil {
		t.Fatal(err)
	}
	fs := newFileServer(t, map[string][]byte{
		"overlay.qcow2": ov,
		"disk.vhdx":     convert(t, raw, "vhdx", 0),
		"disk.vmdk":     []byte("# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT \"/etc/passwd\" 0\n"),
		"disk.zst":      append([]byte{0x28, 0xb5, 0x2f, 0xfd}, raw[:1000]...),
	})
	reg := newTestRegistry(t, "", "")
	for _, name := range []string{"overlay.qcow2", "disk.vhdx", "disk.vmdk", "disk.zst"} {
		t.Run(name, func(t *testing.T) {
			_, err := Import(importCtx(t), fs.source(name), nil, reg.dest("vi/ns/unsupported", "1"), t.TempDir(), nil)
			mustErr(t, err, ErrUnsupportedFormat)
		})
	}
}

func TestReaderSource(t *testing.T) {
	raw := rawDisk(mib)
	reg := newTestRegistry(t, "", "")
	dst := reg.dest("vi/ns/upload", "1")
	res, err := Import(importCtx(t), &ReaderSource{R: bytes.NewReader(raw), Size: int64(len(raw)), Name: "upload.img"}, nil, dst, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkPushed(t, reg, dst, res, "upload.img", raw)

	// A short upload is an error, not a smaller disk.
	_, err = Import(importCtx(t), &ReaderSource{R: bytes.NewReader(raw[:1000]), Size: int64(len(raw))}, nil, dst, t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "announced") {
		t.Errorf("short upload: %v", err)
	}
}
