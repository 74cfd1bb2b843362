package image

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// VolumeDiskFile is the file a Filesystem volume keeps its disk in: a qcow2,
// for a thin clone one whose backing file lies in the node's image cache.
const VolumeDiskFile = "disk.qcow2"

// VolumeSource is the volume of a VirtualDisk, read where it lies rather
// than streamed: a Block volume's device (or the file standing for one)
// holding raw data, or a Filesystem volume's qcow2.
type VolumeSource struct {
	// Path is the device or the qcow2 file. Symbolic links are resolved
	// before qemu-img opens it, so a backing file named by a relative path
	// is found next to the real file, not next to the link.
	Path string
	// Format is FormatRaw (Block) or FormatQCOW2 (Filesystem). It is
	// passed to qemu-img, never probed: the raw data is the guest's.
	Format string
}

// Limits of the conversion: it reads the whole disk, so it gets the time
// of a fill, and no more memory than qemu-img's buffers and caches need.
const (
	convertTimeout = 6 * time.Hour
	convertMemory  = 2 << 30
	convertCPU     = 6 * 3600
	// maxBackingChain bounds a Filesystem volume's chain: the disk, the
	// cached image and what a future snapshot scheme might stack.
	maxBackingChain = 8
)

// chainEntry is one image of `qemu-img info --backing-chain --output=json`.
type chainEntry struct {
	qemuInfo
	Filename      string `json:"filename"`
	BackingFormat string `json:"backing-filename-format"`
}

// ImportVolume stores the disk on a volume in DVCR as a qcow2: qemu-img
// converts it into scratchDir (flattening a backing chain, leaving zeroes
// out), the result is inspected like any import and pushed as the one file
// disk/disk.qcow2. The volume is only read. progress is told the bytes of
// the virtual disk converted so far, out of its virtual size.
func ImportVolume(ctx context.Context, src VolumeSource, dst Destination, scratchDir string, progress Progress) (Result, error) {
	ref, opts, err := dst.open(ctx)
	if err != nil {
		return Result{}, err
	}
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		return Result{}, fmt.Errorf("reading the volume: qemu-img is not installed")
	}
	path, err := filepath.EvalSymlinks(src.Path)
	if err != nil {
		return Result{}, fmt.Errorf("opening the volume: %w", err)
	}
	virtual, err := src.checkChain(ctx, qemuImg, path)
	if err != nil {
		return Result{}, err
	}

	out, err := os.CreateTemp(scratchDir, "disk-*.qcow2")
	if err != nil {
		return Result{}, fmt.Errorf("scratch space: %w", err)
	}
	_ = out.Close()
	defer os.Remove(out.Name())
	report := func(percent float64) {
		if progress != nil {
			progress(int64(percent/100*float64(virtual)), virtual)
		}
	}
	report(0)
	// -p prints the progress; the default -S 4k leaves zeroed clusters
	// unallocated, so an empty disk stores small.
	if err := runConvert(ctx, report, qemuImg, "convert", "-p", "-f", src.Format, "-O", FormatQCOW2, path, out.Name()); err != nil {
		return Result{}, fmt.Errorf("converting the volume: %w", err)
	}
	report(100)
	fi, err := os.Stat(out.Name())
	if err != nil {
		return Result{}, err
	}
	stored := fi.Size()
	got, err := inspect(ctx, out.Name(), FormatQCOW2, stored)
	if err != nil {
		return Result{}, err
	}
	if got != virtual {
		return Result{}, fmt.Errorf("%w: the converted disk has %d bytes, the volume %d", ErrCorrupt, got, virtual)
	}
	layer, err := newDiskLayer(out.Name(), VolumeDiskFile, stored)
	if err != nil {
		return Result{}, err
	}
	digest, err := pushDisk(ref, opts, layer, FormatQCOW2, stored, virtual)
	if err != nil {
		return Result{}, err
	}
	return Result{
		Format:        FormatQCOW2,
		StoredBytes:   stored,
		UnpackedBytes: virtual,
		Digest:        digest,
		SourceBytes:   virtual,
	}, nil
}

// checkChain reads the volume's backing chain and returns its virtual
// size. Every image in it must have a format qemu-img was told (a probed
// format would let data the guest wrote name host files), be qcow2 or raw,
// and keep its data in its own file.
func (s VolumeSource) checkChain(ctx context.Context, qemuImg, path string) (int64, error) {
	switch s.Format {
	case FormatRaw, FormatQCOW2:
	default:
		return 0, fmt.Errorf("%w: a volume holds raw or qcow2, not %q", ErrUnsupportedFormat, s.Format)
	}
	b, err := runLimited(ctx, infoTimeout, infoMemory, infoCPU, qemuImg, "info", "--backing-chain", "--output=json", "-f", s.Format, path)
	if err != nil {
		return 0, fmt.Errorf("%w: qemu-img cannot read the volume as %s: %w", ErrCorrupt, s.Format, err)
	}
	chain, err := parseChain(b)
	if err != nil {
		return 0, err
	}
	if err := validateChain(chain, s.Format); err != nil {
		return 0, err
	}
	return chain[0].VirtualSize, nil
}

// parseChain accepts qemu-img's list, or the single object that older
// versions print for an image without a backing file.
func parseChain(b []byte) ([]chainEntry, error) {
	var chain []chainEntry
	if err := json.Unmarshal(b, &chain); err != nil {
		var one chainEntry
		if err2 := json.Unmarshal(b, &one); err2 != nil {
			return nil, fmt.Errorf("qemu-img info: %w", err)
		}
		chain = []chainEntry{one}
	}
	return chain, nil
}

func validateChain(chain []chainEntry, format string) error {
	switch {
	case len(chain) == 0:
		return fmt.Errorf("qemu-img info: no image")
	case len(chain) > maxBackingChain:
		return fmt.Errorf("%w: a backing chain of %d images (at most %d)", ErrUnsupportedFormat, len(chain), maxBackingChain)
	case chain[0].Format != format:
		return fmt.Errorf("%w: the volume reads as %s, want %s", ErrCorrupt, chain[0].Format, format)
	case chain[0].VirtualSize <= 0:
		return fmt.Errorf("%w: qemu-img reports a virtual size of %d", ErrCorrupt, chain[0].VirtualSize)
	}
	for i, e := range chain {
		if e.Format != FormatRaw && e.Format != FormatQCOW2 {
			return fmt.Errorf("%w: %s in the backing chain is %s", ErrUnsupportedFormat, e.Filename, e.Format)
		}
		if e.FormatSpecific.Data.DataFile != "" || len(e.FormatSpecific.Data.Extents) > 0 {
			return fmt.Errorf("%w: %s keeps its data in another file", ErrUnsupportedFormat, e.Filename)
		}
		last := i == len(chain)-1
		switch {
		case e.BackingFilename == "" && !last:
			return fmt.Errorf("qemu-img info: %s has no backing file but the chain goes on", e.Filename)
		case e.BackingFilename != "" && last:
			return fmt.Errorf("%w: the backing file %q of %s cannot be opened", ErrCorrupt, e.BackingFilename, e.Filename)
		case e.BackingFilename != "" && e.BackingFormat == "":
			return fmt.Errorf("%w: %s names its backing file %q without its format", ErrUnsupportedFormat, e.Filename, e.BackingFilename)
		case e.BackingFilename != "" && e.BackingFormat != chain[i+1].Format:
			return fmt.Errorf("%w: %s says its backing file is %s, it reads as %s", ErrCorrupt, e.Filename, e.BackingFormat, chain[i+1].Format)
		}
	}
	return nil
}

// runConvert runs qemu-img convert -p under the conversion limits and
// passes each progress percentage it prints to report.
func runConvert(ctx context.Context, report func(percent float64), args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, convertTimeout)
	defer cancel()
	argv := limitedArgv(convertMemory, convertCPU, args)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 64 << 10}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	readProgress(stdout, report)
	err = cmd.Wait()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%s %s: no answer within %v", args[0], args[1], convertTimeout)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 500 {
			msg = msg[:500] + "..."
		}
		return fmt.Errorf("%w: %s", err, msg)
	}
	return nil
}

// readProgress parses qemu-img's "    (45.00/100%)\r" until EOF.
func readProgress(r io.Reader, report func(percent float64)) {
	sc := bufio.NewScanner(r)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		s := strings.TrimSpace(sc.Text())
		s, ok := strings.CutPrefix(s, "(")
		if !ok {
			continue
		}
		if p, _, ok := strings.Cut(s, "/"); ok {
			if f, err := strconv.ParseFloat(p, 64); err == nil && f >= 0 && f <= 100 {
				report(f)
			}
		}
	}
	_, _ = io.Copy(io.Discard, r) // a line too long for the scanner
}

// limitedArgv wraps args in prlimit, else the shell's ulimit, as
// runLimited does.
func limitedArgv(memory, cpuSeconds int64, args []string) []string {
	if prlimit, err := exec.LookPath("prlimit"); err == nil {
		return append([]string{prlimit, "--as=" + strconv.FormatInt(memory, 10), "--cpu=" + strconv.FormatInt(cpuSeconds, 10), "--"}, args...)
	}
	script := fmt.Sprintf(`ulimit -v %d && ulimit -t %d && exec "$@"`, memory>>10, cpuSeconds)
	return append([]string{"/bin/sh", "-c", script, "sh"}, args...)
}
