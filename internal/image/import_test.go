package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
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

func TestImportHTTPErrors(t *testing.T) {
	fs := newFileServer(t, map[string][]byte{"disk.img": rawDisk(mib)})
	reg := newTestRegistry(t, "", "")

	_, err := Import(importCtx(t), fs.source("missing.img"), nil, reg.dest("vi/ns/x", "1"), t.TempDir(), nil)
	mustErr(t, err, ErrNotFound)
	if Reason(err) != ReasonNotFound || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}

	// Without the CA bundle the certificate is unknown: permanent, so it
	// fails at once instead of after the retries.
	src := fs.source("disk.img")
	src.CABundle = nil
	src.Backoff = time.Hour
	start := time.Now()
	if _, err := Import(importCtx(t), src, nil, reg.dest("vi/ns/x", "1"), t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown CA: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("an unknown CA was retried (%v)", d)
	}
	if reg.writes.Load() != 0 {
		t.Errorf("registry writes after failed downloads")
	}
}

func TestImportResumes(t *testing.T) {
	raw := rawDisk(3 * mib)
	for _, tt := range []struct {
		name     string
		noRanges bool
	}{{"range", false}, {"restart without range support", true}} {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFileServer(t, map[string][]byte{"disk.img": raw})
			fs.dropOnce, fs.noRanges = true, tt.noRanges
			reg := newTestRegistry(t, "", "")
			dst := reg.dest("vi/ns/resume", "1")
			sha := sha256.Sum256(raw)
			res, err := Import(importCtx(t), fs.source("disk.img"), Checksums{"sha256": hex.EncodeToString(sha[:])}, dst, t.TempDir(), nil)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if res.SourceBytes != int64(len(raw)) {
				t.Errorf("SourceBytes %d, want %d", res.SourceBytes, len(raw))
			}
			checkPushed(t, reg, dst, res, "disk.img", raw)
			fs.mu.Lock()
			defer fs.mu.Unlock()
			if fs.count != 2 || len(fs.ranges) != 1 || !strings.HasPrefix(fs.ranges[0], "bytes=") || fs.ranges[0] == "bytes=0-" {
				t.Errorf("%d requests with ranges %q, want 2 and one Range from the byte reached", fs.count, fs.ranges)
			}
		})
	}
}

func TestHTTPSourceStall(t *testing.T) {
	raw := rawDisk(mib)
	var first = make(chan struct{})
	var once bool
	srv := newFileServer(t, nil)
	srv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !once {
			once = true
			w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
			w.Header().Set("Accept-Ranges", "bytes")
			_, _ = w.Write(raw[:1000])
			w.(http.Flusher).Flush()
			close(first)
			<-r.Context().Done() // hang until the client gives up
			return
		}
		http.ServeContent(w, r, "disk.img", time.Unix(0, 0), bytes.NewReader(raw))
	})
	src := srv.source("disk.img")
	src.StallTimeout = 200 * time.Millisecond
	rc, size, name, err := src.Open(importCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, raw) || size != int64(len(raw)) || name != "disk.img" {
		t.Fatalf("read %d bytes, err %v, size %d, name %q", len(got), err, size, name)
	}
	<-first
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

func TestImportRegistryAuth(t *testing.T) {
	raw := rawDisk(mib)
	fs := newFileServer(t, map[string][]byte{"disk.img": raw})
	reg := newTestRegistry(t, "importer", "s3cret")

	dst := reg.dest("vi/ns/auth", "1")
	res, err := Import(importCtx(t), fs.source("disk.img"), nil, dst, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("with the right password: %v", err)
	}
	checkPushed(t, reg, dst, res, "disk.img", raw)

	bad := dst
	bad.Password = "wrong"
	before := fs.count
	_, err = Import(importCtx(t), fs.source("disk.img"), nil, bad, t.TempDir(), nil)
	mustErr(t, err, ErrRegistryAuth)
	if Reason(err) != ReasonRegistryAuth {
		t.Errorf("Reason %s", Reason(err))
	}
	if fs.count != before {
		t.Errorf("downloaded although the registry refuses the credentials")
	}
}

func TestRegistrySource(t *testing.T) {
	needQemuImg(t)
	qcow2 := convert(t, rawDisk(mib), "qcow2", 4*mib)
	reg := newTestRegistry(t, "puller", "pw")

	// A container disk as KubeVirt builds them, gzip-compressed, with an
	// unrelated layer on top.
	disk := tarLayer(t, map[string][]byte{"disk/": nil, "disk/fedora.qcow2": qcow2})
	other := tarLayer(t, map[string][]byte{"etc/": nil, "etc/motd": []byte("hello")})
	img, err := mutate.AppendLayers(empty.Image, disk, other)
	if err != nil {
		t.Fatal(err)
	}
	src := reg.dest("containerdisks/fedora", "41")
	ref, _ := src.reference()
	opts, err := src.remoteOptions(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatal(err)
	}
	dockerConfig, _ := json.Marshal(map[string]any{"auths": map[string]any{reg.host: map[string]string{"username": "puller", "password": "pw"}}})
	ca, _ := os.ReadFile(reg.caFile)

	dst := reg.dest("vi/ns/fedora", "uid")
	res, err := Import(importCtx(t), &RegistrySource{Ref: src.String(), DockerConfig: dockerConfig, CABundle: ca}, nil, dst, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if res.Format != FormatQCOW2 || res.UnpackedBytes != 4*mib || res.SourceBytes != int64(len(qcow2)) {
		t.Errorf("Result %+v", res)
	}
	checkPushed(t, reg, dst, res, "fedora.qcow2", qcow2)

	// Without credentials the source registry refuses.
	_, err = Import(importCtx(t), &RegistrySource{Ref: src.String(), CABundle: ca}, nil, dst, t.TempDir(), nil)
	mustErr(t, err, ErrRegistryAuth)

	// An image without disk/ is not a disk image.
	plain := reg.dest("containerdisks/plain", "1")
	pimg, _ := mutate.AppendLayers(empty.Image, other)
	pref, _ := plain.reference()
	if err := remote.Write(pref, pimg, opts...); err != nil {
		t.Fatal(err)
	}
	_, err = Import(importCtx(t), &RegistrySource{Ref: plain.String(), Username: "puller", Password: "pw", CABundle: ca}, nil, dst, t.TempDir(), nil)
	mustErr(t, err, ErrUnsupportedFormat)

	_, err = Import(importCtx(t), &RegistrySource{Ref: reg.host + "/containerdisks/none:1", Username: "puller", Password: "pw", CABundle: ca}, nil, dst, t.TempDir(), nil)
	mustErr(t, err, ErrNotFound)
}

func tarLayer(t *testing.T, files map[string][]byte) v1Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range sortedKeys(files) {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestCopyImage(t *testing.T) {
	raw := rawDisk(mib)
	fs := newFileServer(t, map[string][]byte{"disk.img": raw})
	reg := newTestRegistry(t, "u", "p")
	src := reg.dest("vi/ns/source", "a")
	want, err := Import(importCtx(t), fs.source("disk.img"), nil, src, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fs.srv.Close() // the copy must not need the origin

	other := newTestRegistry(t, "", "")
	for _, dst := range []Destination{reg.dest("cvi/copy", "b"), other.dest("vd/ns/copy", "c")} {
		got, err := CopyImage(importCtx(t), src, dst)
		if err != nil {
			t.Fatalf("CopyImage to %s: %v", dst, err)
		}
		if got.Format != want.Format || got.StoredBytes != want.StoredBytes || got.UnpackedBytes != want.UnpackedBytes || got.Digest != want.Digest || got.SourceBytes <= want.StoredBytes {
			t.Errorf("CopyImage = %+v, want like %+v", got, want)
		}
		target := reg
		if dst.Repository != reg.dest("cvi/copy", "b").Repository {
			target = other
		}
		checkPushed(t, target, dst, got, "disk.img", raw)
	}

	// By digest, too.
	bydigest := src
	bydigest.Tag = want.Digest
	if _, err := CopyImage(importCtx(t), bydigest, reg.dest("cvi/copy2", "d")); err != nil {
		t.Errorf("CopyImage by digest: %v", err)
	}
	missing := src
	missing.Tag = "nope"
	_, err = CopyImage(importCtx(t), missing, reg.dest("cvi/copy3", "e"))
	mustErr(t, err, ErrNotFound)
}

func TestParseDestination(t *testing.T) {
	d, err := ParseDestination("10.0.0.5:5000/vi/ns/name:3f0e-uid")
	if err != nil || d.Repository != "10.0.0.5:5000/vi/ns/name" || d.Tag != "3f0e-uid" || d.String() != "10.0.0.5:5000/vi/ns/name:3f0e-uid" {
		t.Errorf("ParseDestination = %+v, %v", d, err)
	}
	for _, bad := range []string{"", "vi/ns/name:tag", "dvcr.example/vi/ns/name", "dvcr.example/UPPER:x"} {
		if _, err := ParseDestination(bad); err == nil {
			t.Errorf("ParseDestination(%q) accepted", bad)
		}
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

// TestTarDigesterMatchesLayer checks that the digest computed while
// receiving equals the one a second pass over the file gives, and that a
// stream of another size than announced falls back to the second pass.
func TestTarDigesterMatchesLayer(t *testing.T) {
	file := filepath.Join(t.TempDir(), "disk.img")
	data := bytes.Repeat([]byte("0123456789abcdef"), 70000) // not a multiple of the tar block
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := newDiskLayer(file, "disk.img", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	d := newTarDigester("disk.img", int64(len(data)))
	for off := 0; off < len(data); off += 4096 {
		_, _ = d.Write(data[off:min(off+4096, len(data))])
	}
	got := d.layerOrNil(file, "disk.img", int64(len(data)))
	if got == nil || got.digest != want.digest || got.tarSize != want.tarSize {
		t.Fatalf("on-the-way layer %+v, second-pass layer %+v", got, want)
	}
	short := newTarDigester("disk.img", int64(len(data))+1)
	_, _ = short.Write(data)
	if short.layerOrNil(file, "disk.img", int64(len(data))) != nil {
		t.Fatal("a stream shorter than announced produced a layer")
	}
	long := newTarDigester("disk.img", int64(len(data))-1)
	_, _ = long.Write(data)
	if long.layerOrNil(file, "disk.img", int64(len(data))) != nil {
		t.Fatal("a stream longer than announced produced a layer")
	}
	if (*tarDigester)(nil).layerOrNil(file, "disk.img", 1) != nil {
		t.Fatal("nil digester produced a layer")
	}
}

// TestImportPushesWhileDownloading checks that a disk of a known size is
// uploaded while it arrives, once, and not sent again by the push.
func TestImportPushesWhileDownloading(t *testing.T) {
	raw := rawDisk(4 * mib)
	reg := newTestRegistry(t, "u", "p")
	dst := reg.dest("vi/ns/early", "1")
	// The source holds back its last MiB until the registry has most of
	// the disk: only an upload overlapping the download gets there.
	src := &holdBack{data: raw, hold: mib, until: func() bool { return reg.uploaded.Load() >= int64(len(raw)-2*mib) }}
	res, err := Import(importCtx(t), &ReaderSource{R: src, Size: int64(len(raw)), Name: "disk.img"}, nil, dst, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkPushed(t, reg, dst, res, "disk.img", raw)
	if !src.overlapped {
		t.Errorf("the registry had not received the disk when the download was about to end: the push did not overlap it")
	}
	// The layer is the disk plus a few tar headers; the config blob is
	// small. Twice the disk would mean it went up twice.
	if n := reg.uploaded.Load(); n < int64(len(raw)) || n > int64(len(raw))+64<<10 {
		t.Errorf("uploaded %d bytes for a %d-byte disk", n, len(raw))
	}
}

type holdBack struct {
	data       []byte
	off        int
	hold       int
	until      func() bool
	overlapped bool
}

func (h *holdBack) Read(p []byte) (int, error) {
	if h.off >= len(h.data) {
		return 0, io.EOF
	}
	if h.off == len(h.data)-h.hold {
		for i := 0; i < 200 && !h.overlapped; i++ {
			h.overlapped = h.until()
			time.Sleep(50 * time.Millisecond)
		}
	}
	end := min(len(h.data), h.off+len(p))
	if h.off < len(h.data)-h.hold {
		end = min(end, len(h.data)-h.hold)
	}
	n := copy(p, h.data[h.off:end])
	h.off += n
	return n, nil
}
