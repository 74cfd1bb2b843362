package image

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

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
