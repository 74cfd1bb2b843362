package launcher

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/virtlab/dvp/internal/fsutil"
	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/imagecache"
)

// isBlockDevice says whether path (after symlinks) is a block device.
func isBlockDevice(fi os.FileInfo) bool {
	return fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0
}

var qcow2Magic = []byte{'Q', 'F', 'I', 0xfb}

// detectFormat reads the start of a disk: qcow2 by its magic, else raw.
func detectFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(f, head); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return FormatRaw, nil
		}
		return "", err
	}
	if bytes.Equal(head, qcow2Magic) {
		return FormatQcow2, nil
	}
	return FormatRaw, nil
}

// diskSize is the size of a file, or of a block device (its end).
func diskSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if fi.Mode().IsRegular() {
		return fi.Size(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Seek(0, io.SeekEnd)
}

// pull fetches an image from DVCR into target, a sparse raw file of
// p.Size bytes in the run directory.
func pull(ctx context.Context, root, scratch, credentials string, name string, p *Pull, target string, logf func(string, ...any)) error {
	if p.Ref == "" {
		return fmt.Errorf("disk %q: pull has no image reference", name)
	}
	if p.Size <= 0 {
		return fmt.Errorf("disk %q: pull size %d: must be positive", name, p.Size)
	}
	src := &image.RegistrySource{Ref: p.Ref}
	var err error
	if p.AuthFile != "" {
		b, err := os.ReadFile(fsutil.ResolveUnder(root, p.AuthFile))
		if err != nil {
			return fmt.Errorf("disk %q: registry credentials: %w", name, err)
		}
		src.DockerConfig = b
	} else if credentials != "" {
		getenv := func(string) string { return credentials }
		if src.Username, src.Password, err = image.DVCRCredentials(getenv, p.Ref, false); err != nil {
			return fmt.Errorf("disk %q: %w", name, err)
		}
	}
	if p.CAFile != "" {
		b, err := os.ReadFile(fsutil.ResolveUnder(root, p.CAFile))
		if err != nil {
			return fmt.Errorf("disk %q: registry CA: %w", name, err)
		}
		src.CABundle = b
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("disk %q: %w", name, err)
	}
	err = f.Truncate(p.Size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("disk %q: allocating %d bytes: %w", name, p.Size, err)
	}
	logf("pulling disk %s from %s", name, p.Ref)
	last := time.Now()
	progress := func(received, total int64) {
		if time.Since(last) < 10*time.Second {
			return
		}
		last = time.Now()
		if total > 0 {
			logf("pulling disk %s: %d of %d bytes", name, received, total)
		} else {
			logf("pulling disk %s: %d bytes", name, received)
		}
	}
	res, err := image.Fill(ctx, src, target, scratch, progress)
	if err != nil {
		return fmt.Errorf("disk %q: pulling %s: %w", name, p.Ref, err)
	}
	logf("pulled disk %s: %s image of %d bytes", name, res.Format, res.VirtualBytes)
	return nil
}

// watchedDisk is a writable VirtualDisk whose volume may be expanded while
// the machine runs; the launcher follows it so the guest sees the new size.
type watchedDisk struct {
	name string
	path string
	node string
	size int64
	// capacityDir, for a thin clone, is the volume directory whose
	// capacity file says how large the disk should be.
	capacityDir string
	// shrunk is set once a smaller size has been logged.
	shrunk bool
}

// watchDisk returns the watch of d, or nil for disks that never grow:
// images are read-only, and a qcow2 file's own size grows with its data,
// which says nothing of its virtual size.
func watchDisk(d *Disk, node string) (*watchedDisk, error) {
	if d.Kind != KindVirtualDisk || d.ReadOnly || d.CDROM {
		return nil, nil
	}
	switch d.Format {
	case FormatRaw:
		size, err := diskSize(d.Path)
		if err != nil {
			return nil, err
		}
		return &watchedDisk{name: d.Name, path: d.Path, node: node, size: size}, nil
	case FormatQcow2:
		// A thin clone: the resizer records the new size beside it.
		if filepath.Base(d.Path) != imagecache.OverlayName {
			return nil, nil
		}
		h, err := imagecache.ReadQcow2Header(d.Path)
		if err != nil {
			return nil, err
		}
		return &watchedDisk{name: d.Name, path: d.Path, node: node, size: h.VirtualBytes, capacityDir: filepath.Dir(d.Path)}, nil
	}
	return nil, nil
}

// wanted is the size the disk should have now; -1 when nothing says.
func (d *watchedDisk) wanted() (int64, error) {
	if d.capacityDir == "" {
		return diskSize(d.path)
	}
	n, ok, err := imagecache.ReadCapacity(d.capacityDir)
	if err != nil || !ok {
		return -1, err
	}
	return n, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// cacheEntryName is the file name of an image-cache entry:
// <sha256 hex of the layer>.<raw|qcow2> (internal/imagecache).
var cacheEntryName = regexp.MustCompile(`^[0-9a-f]{64}\.(raw|qcow2)$`)

// diskBacking reads the backing file a qcow2 disk names and accepts only
// what a thin clone has: an entry of the node's image cache, whose format
// its name says. ok is false for a disk with no backing file. QEMU is then
// given the chain explicitly (Host.Backing), never the name in the header.
func diskBacking(path string) (b Backing, ok bool, err error) {
	h, err := imagecache.ReadQcow2Header(path)
	if err != nil {
		return Backing{}, false, err
	}
	if h.Backing == "" {
		return Backing{}, false, nil
	}
	p := h.Backing
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(path), p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return Backing{}, false, fmt.Errorf("backing file %q: %w", h.Backing, err)
	}
	name := filepath.Base(real)
	m := cacheEntryName.FindStringSubmatch(name)
	if m == nil || filepath.Base(filepath.Dir(real)) != imagecache.DirName {
		return Backing{}, false, fmt.Errorf("backing file %q is not an image-cache entry: refused", h.Backing)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return Backing{}, false, fmt.Errorf("backing file %q: %w", h.Backing, err)
	}
	if !fi.Mode().IsRegular() {
		return Backing{}, false, fmt.Errorf("backing file %q is not a regular file: refused", h.Backing)
	}
	return Backing{Path: real, Format: m[1]}, true, nil
}
