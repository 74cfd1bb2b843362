package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Limits for qemu-img on an untrusted file: address space, CPU seconds and
// wall time. qemu-img info needs tens of MiB; check needs a refcount table
// proportional to the image.
const (
	infoMemory   = 1 << 30
	infoCPU      = 30
	infoTimeout  = 2 * time.Minute
	checkMemory  = 2 << 30
	checkCPU     = 300
	checkTimeout = 10 * time.Minute
)

// qemuInfo is the part of `qemu-img info --output=json` we read.
type qemuInfo struct {
	VirtualSize     int64  `json:"virtual-size"`
	Format          string `json:"format"`
	BackingFilename string `json:"backing-filename"`
	FormatSpecific  struct {
		Type string `json:"type"`
		Data struct {
			DataFile string `json:"data-file"`
			Extents  []struct {
				Filename string `json:"filename"`
			} `json:"extents"`
		} `json:"data"`
	} `json:"format-specific"`
}

// inspect confirms that file is a readable image of format and returns
// its virtual size. For raw and iso the virtual size is the byte count;
// without qemu-img on the machine only those can be imported.
func inspect(ctx context.Context, file, format string, size int64) (int64, error) {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		if format == FormatRaw || format == FormatISO {
			return size, nil
		}
		return 0, fmt.Errorf("inspecting the %s image: qemu-img is not installed", format)
	}
	driver := format
	if format == FormatISO {
		driver = FormatRaw
	}
	out, err := runLimited(ctx, infoTimeout, infoMemory, infoCPU, qemuImg, "info", "--output=json", "-f", driver, file)
	if err != nil {
		return 0, fmt.Errorf("%w: qemu-img cannot read it as %s: %w", ErrCorrupt, format, err)
	}
	var info qemuInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return 0, fmt.Errorf("qemu-img info: %w", err)
	}
	switch {
	case info.BackingFilename != "":
		return 0, fmt.Errorf("%w: %s image with a backing file %q", ErrUnsupportedFormat, format, info.BackingFilename)
	case info.FormatSpecific.Data.DataFile != "":
		return 0, fmt.Errorf("%w: %s image with an external data file", ErrUnsupportedFormat, format)
	case info.VirtualSize <= 0:
		return 0, fmt.Errorf("%w: qemu-img reports a virtual size of %d", ErrCorrupt, info.VirtualSize)
	}
	for _, e := range info.FormatSpecific.Data.Extents {
		if e.Filename != file {
			return 0, fmt.Errorf("%w: %s image with an extent in another file", ErrUnsupportedFormat, format)
		}
	}
	if format == FormatRaw || format == FormatISO {
		return size, nil // qemu-img rounds up to a sector
	}
	if format == FormatVDI {
		if err := checkVDISize(file, size); err != nil {
			return 0, err
		}
	}
	// info reads only the header: a truncated image passes it. check
	// walks the metadata and finds references past the end of the file.
	if _, err := runLimited(ctx, checkTimeout, checkMemory, checkCPU, qemuImg, "check", "--output=json", "-f", driver, file); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && (exit.ExitCode() == 3 || exit.ExitCode() == 63) {
			// 3: leaked clusters only, harmless; 63: no check for this format.
			return info.VirtualSize, nil
		}
		return 0, fmt.Errorf("%w: qemu-img check: %w", ErrCorrupt, err)
	}
	return info.VirtualSize, nil
}

// checkVDISize catches a truncated VDI, which qemu-img check accepts
// (missing blocks read as zeros): the header says how many blocks follow
// the data offset.
func checkVDISize(file string, size int64) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	h := make([]byte, 0x188)
	if _, err := io.ReadFull(f, h); err != nil {
		return fmt.Errorf("%w: VDI header truncated", ErrCorrupt)
	}
	le := binary.LittleEndian
	dataOff := int64(le.Uint32(h[0x158:]))
	blockSize := int64(le.Uint32(h[0x178:])) + int64(le.Uint32(h[0x17c:]))
	allocated := int64(le.Uint32(h[0x184:]))
	if want := dataOff + allocated*blockSize; want > size {
		return fmt.Errorf("%w: VDI truncated: %d bytes, its header needs %d", ErrCorrupt, size, want)
	}
	return nil
}

// runLimited runs a command under an address-space and CPU limit (prlimit
// from util-linux, else the shell's ulimit) and a timeout, and returns its
// stdout. The error carries the end of stderr.
func runLimited(ctx context.Context, timeout time.Duration, memory, cpuSeconds int64, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var argv []string
	if prlimit, err := exec.LookPath("prlimit"); err == nil {
		argv = append([]string{prlimit, "--as=" + strconv.FormatInt(memory, 10), "--cpu=" + strconv.FormatInt(cpuSeconds, 10), "--"}, args...)
	} else {
		script := fmt.Sprintf(`ulimit -v %d && ulimit -t %d && exec "$@"`, memory>>10, cpuSeconds)
		argv = append([]string{"/bin/sh", "-c", script, "sh"}, args...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &limitedBuffer{buf: &stdout, max: 1 << 20}
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 64 << 10}
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("%s %s: no answer within %v", args[0], args[1], timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 500 {
			msg = msg[:500] + "..."
		}
		return nil, fmt.Errorf("%w: %s", err, msg)
	}
	return stdout.Bytes(), nil
}

// limitedBuffer keeps the first max bytes and drops the rest, so a chatty
// child cannot grow our memory.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// ProbedImage is what `qemu-img info` says about a file whose format it was
// left to detect.
type ProbedImage struct {
	Format      string // qemu's driver name: raw, qcow2, ...
	BackingFile string // "" when none
	DataFile    string // qcow2 external data file, "" when none
	VirtualSize int64
}

// Probe runs `qemu-img info --output=json` on file under the same limits as
// an import, letting qemu-img detect the format: what QEMU itself would
// make of the bytes. It never opens a backing or data file.
func Probe(ctx context.Context, file string) (ProbedImage, error) {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		return ProbedImage{}, errors.New("qemu-img is not installed (package qemu-utils)")
	}
	out, err := runLimited(ctx, infoTimeout, infoMemory, infoCPU, qemuImg, "info", "--output=json", file)
	if err != nil {
		return ProbedImage{}, fmt.Errorf("%w: qemu-img info: %w", ErrCorrupt, err)
	}
	var info qemuInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return ProbedImage{}, fmt.Errorf("qemu-img info: %w", err)
	}
	return ProbedImage{Format: info.Format, BackingFile: info.BackingFilename,
		DataFile: info.FormatSpecific.Data.DataFile, VirtualSize: info.VirtualSize}, nil
}
