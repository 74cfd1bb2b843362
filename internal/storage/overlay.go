package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/virtlab/dvp/internal/imagecache"
)

// growOverlay grows the thin-clone disk in the volume directory dir, if it
// holds one, to size bytes. The size is recorded first (the capacity file):
// a machine running on the disk holds its lock, so qemu-img cannot resize
// it, and the machine's launcher grows it online from that record instead
// (QMP block_resize); a machine started later finds the record too.
func growOverlay(ctx context.Context, dir string, size int64) error {
	disk := filepath.Join(dir, imagecache.OverlayName)
	h, err := imagecache.ReadQcow2Header(disk)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := imagecache.WriteCapacity(dir, size); err != nil {
		return fmt.Errorf("recording the new size: %w", err)
	}
	if h.VirtualBytes >= size {
		return nil
	}
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		return errors.New("qemu-img is not installed (package qemu-utils)")
	}
	out, err := exec.CommandContext(ctx, qemuImg, "resize", "-q", "-f", "qcow2", disk, strconv.FormatInt(size, 10)).CombinedOutput()
	if err != nil && strings.Contains(string(out), "lock") {
		// In use by a running machine: its launcher grows it.
		return nil
	}
	if err != nil {
		return fmt.Errorf("qemu-img resize: %w: %s", err, out)
	}
	return nil
}
