package imagecache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// OverlayName is the file a thin clone's volume holds.
const OverlayName = "disk.qcow2"

// CapacityName is the file beside the overlay that holds the size, in
// bytes, the volume was grown to. The launcher of a running machine follows
// it to grow the disk online (QMP block_resize): a qcow2 file's own size
// says nothing of its virtual size.
const CapacityName = "capacity"

// CreateOverlay makes dir/disk.qcow2, a qcow2 disk of size bytes backed by
// e through a path relative to dir. dir must be a sibling of the cache's
// parent layout (<dataDir>/volumes/<name>), as every volume is.
func CreateOverlay(ctx context.Context, dir string, e Entry, size int64) error {
	if size < e.VirtualBytes {
		return fmt.Errorf("a disk of %d bytes cannot hold an image of %d bytes", size, e.VirtualBytes)
	}
	rel, err := filepath.Rel(dir, e.Path)
	if err != nil {
		return fmt.Errorf("relative backing path: %w", err)
	}
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		return errors.New("qemu-img is not installed (package qemu-utils)")
	}
	out := filepath.Join(dir, OverlayName)
	// qemu-img resolves a relative backing name against the overlay's
	// directory, as QEMU will; opening it here proves the chain works.
	cmd := exec.CommandContext(ctx, qemuImg, "create", "-q", "-f", "qcow2", "-F", e.Format, "-b", rel, out, strconv.FormatInt(size, 10))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img create: %w: %s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Qcow2Header is what a qcow2 file's header says about its size and
// backing file.
type Qcow2Header struct {
	VirtualBytes int64
	Backing      string
}

// ReadQcow2Header reads the header of the qcow2 file at path.
func ReadQcow2Header(path string) (Qcow2Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return Qcow2Header{}, err
	}
	defer f.Close()
	return parseQcow2Header(f)
}

func parseQcow2Header(r io.ReaderAt) (Qcow2Header, error) {
	h := make([]byte, 32)
	if _, err := r.ReadAt(h, 0); err != nil {
		return Qcow2Header{}, fmt.Errorf("reading qcow2 header: %w", err)
	}
	if string(h[:4]) != "QFI\xfb" {
		return Qcow2Header{}, errors.New("not a qcow2 file")
	}
	var out Qcow2Header
	size := binary.BigEndian.Uint64(h[24:])
	if size > 1<<62 {
		return Qcow2Header{}, fmt.Errorf("qcow2 virtual size %d is out of range", size)
	}
	out.VirtualBytes = int64(size)
	off, n := binary.BigEndian.Uint64(h[8:]), binary.BigEndian.Uint32(h[16:])
	if off == 0 || n == 0 {
		return out, nil
	}
	// QEMU limits backing file names to 1023 bytes.
	if n > 1023 || off > 1<<20 {
		return Qcow2Header{}, fmt.Errorf("qcow2 backing file name at %d (%d bytes) is out of range", off, n)
	}
	name := make([]byte, n)
	if _, err := r.ReadAt(name, int64(off)); err != nil {
		return Qcow2Header{}, fmt.Errorf("reading qcow2 backing file name: %w", err)
	}
	out.Backing = string(name)
	return out, nil
}

// BackingReferences returns the cache entry names that overlays in the
// volumes under volumesDir use as backing files.
func BackingReferences(volumesDir string) (map[string]bool, error) {
	used := map[string]bool{}
	des, err := os.ReadDir(volumesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return used, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading volumes: %w", err)
	}
	for _, d := range des {
		if !d.IsDir() {
			continue
		}
		h, err := ReadQcow2Header(filepath.Join(volumesDir, d.Name(), OverlayName))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			// An unreadable overlay might name any entry: keep them all
			// rather than risk a disk's backing file.
			return nil, fmt.Errorf("volume %s: %w", d.Name(), err)
		}
		if h.Backing != "" && filepath.Base(filepath.Dir(h.Backing)) == DirName {
			used[filepath.Base(h.Backing)] = true
		}
	}
	return used, nil
}

// WriteCapacity records the size a volume holding an overlay grew to.
func WriteCapacity(dir string, size int64) error {
	tmp := filepath.Join(dir, "."+CapacityName+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(size, 10)+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, CapacityName))
}

// ReadCapacity reads the size WriteCapacity recorded; ok is false when none
// was.
func ReadCapacity(dir string) (size int64, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, CapacityName))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	n, err := strconv.ParseInt(string(trimSpace(b)), 10, 64)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("capacity file %q is not a size", b)
	}
	return n, true, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
