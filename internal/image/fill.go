package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// FillResult describes a disk written onto a volume.
type FillResult struct {
	Format       string `json:"format"`
	VirtualBytes int64  `json:"virtualBytes"`
}

// Limits of the conversion: it reads and writes the whole disk, so it gets
// more time than inspection, but no more memory than it needs.
const (
	fillTimeout = 6 * time.Hour
	fillMemory  = 2 << 30
	fillCPU     = 6 * 3600
)

// Fill writes the disk that src streams onto target (a block device, or a
// file of the volume's size) as raw data, the way a virtual machine reads
// its disk. It refuses a disk larger than the target. The stream is spooled
// to scratchDir first: qemu-img needs random access to qcow2 and vmdk.
func Fill(ctx context.Context, src Source, target, scratchDir string, progress Progress) (FillResult, error) {
	rc, size, _, err := src.Open(ctx)
	if err != nil {
		return FillResult{}, err
	}
	sp, err := spool(ctx, rc, size, nil, Scratch{Dir: scratchDir}, progress, nil)
	_ = rc.Close()
	if sp.file != "" {
		defer os.Remove(sp.file)
	}
	if err != nil {
		return FillResult{}, err
	}
	format, virtual, err := identify(ctx, sp.file, sp.diskBytes)
	if err != nil {
		return FillResult{}, err
	}
	capacity, err := targetSize(target)
	if err != nil {
		return FillResult{}, err
	}
	if virtual > capacity {
		return FillResult{}, fmt.Errorf("%w: the image needs %d bytes and the disk has %d: make the disk at least as large as the image", ErrTooSmall, virtual, capacity)
	}
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		return FillResult{}, fmt.Errorf("writing the disk: qemu-img is not installed")
	}
	driver := format
	if format == FormatISO {
		driver = FormatRaw
	}
	// -n: the target exists (the volume); -S 0 would write zeros, the
	// default keeps holes so a thin volume stays thin.
	if _, err := runLimited(ctx, fillTimeout, fillMemory, fillCPU, qemuImg, "convert", "-n", "-f", driver, "-O", "raw", sp.file, target); err != nil {
		return FillResult{}, fmt.Errorf("writing the disk: %w", err)
	}
	return FillResult{Format: format, VirtualBytes: virtual}, nil
}

// targetSize is the size of a block device or file.
func targetSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("opening the disk volume: %w", err)
	}
	defer f.Close()
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("sizing the disk volume: %w", err)
	}
	return n, nil
}
