package image

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/ulikunitz/xz"
)

type spooled struct {
	file        string
	diskBytes   int64
	sourceBytes int64
	compression compression
	digester    *tarDigester // nil unless the layer digest was computed on the way
}

// spool hashes and decompresses the stream into a file in scratch.Dir,
// within scratch's limits, and verifies the checksums. On error the
// returned file, if named, is still to be removed.
func spool(ctx context.Context, rc io.Reader, size int64, sums Checksums, scratch Scratch, progress Progress, digest func(compression) *tarDigester) (spooled, error) {
	var sp spooled
	dir := scratch.Dir
	if err := scratch.checkAnnounced(size); err != nil {
		return sp, err
	}
	if scratch.MaxBytes > 0 {
		rc = &limitedReader{r: rc, scratch: scratch}
	}
	counter := &receiving{ctx: ctx, r: rc, total: size, progress: progress}
	ver := newVerifier(sums)
	br := bufio.NewReaderSize(io.TeeReader(counter, ver), 1<<20)
	head, err := br.Peek(xzPeekLen)
	if err != nil && err != io.EOF {
		return sp, unwrapSource(err)
	}
	if sp.compression, err = detectCompression(head); err != nil {
		return sp, err
	}
	var disk io.Reader = br
	switch sp.compression {
	case compressedGzip:
		gz, err := gzip.NewReader(br)
		if err != nil {
			return sp, corruptUnlessSource("gzip", err)
		}
		disk = &decompressing{r: gz, what: "gzip"}
	case compressedXZ:
		if err := checkXZ(head); err != nil {
			return sp, err
		}
		xr, err := xz.NewReader(br)
		if err != nil {
			return sp, corruptUnlessSource("xz", err)
		}
		disk = &decompressing{r: xr, what: "xz"}
	}

	f, err := os.CreateTemp(dir, "disk-*.img")
	if err != nil {
		return sp, fmt.Errorf("scratch space: %w", err)
	}
	sp.file = f.Name()
	out := &limitedFile{f: f, scratch: scratch}
	if digest != nil {
		sp.digester = digest(sp.compression)
	}
	buf := make([]byte, 1<<20)
	for {
		n, rerr := disk.Read(buf)
		if n > 0 {
			if sp.digester != nil {
				_, _ = sp.digester.Write(buf[:n])
			}
			if _, err := out.Write(buf[:n]); err != nil {
				_ = f.Close()
				return sp, spoolError(dir, err)
			}
			sp.diskBytes += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			_ = f.Close()
			return sp, unwrapSource(rerr)
		}
	}
	if err := f.Close(); err != nil {
		return sp, spoolError(dir, err)
	}
	// Whatever follows the compressed data still counts for the checksums.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return sp, unwrapSource(err)
	}
	sp.sourceBytes = counter.n
	counter.report(true)
	if size >= 0 && counter.n != size {
		return sp, fmt.Errorf("the source announced %d bytes and sent %d", size, counter.n)
	}
	if err := ver.verify(); err != nil {
		return sp, err
	}
	if sp.diskBytes == 0 {
		return sp, fmt.Errorf("%w: the image is empty", ErrCorrupt)
	}
	return sp, nil
}

// spoolError explains a failed write of the spool file.
func spoolError(dir string, err error) error {
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrNoSpace):
		return err
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: spooling the disk to %s: %w", ErrNoSpace, dir, err)
	}
	return fmt.Errorf("spooling the disk to %s: %w", dir, err)
}

// receiving counts the bytes received, reports progress and marks the
// source's errors so they are not mistaken for corrupt compression.
type receiving struct {
	ctx      context.Context
	r        io.Reader
	n, total int64
	progress Progress
	last     time.Time
}

func (r *receiving) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, &sourceError{err}
	}
	n, err := r.r.Read(p)
	r.n += int64(n)
	r.report(false)
	if err != nil && err != io.EOF {
		err = &sourceError{err}
	}
	return n, err
}

func (r *receiving) report(final bool) {
	if r.progress == nil {
		return
	}
	if now := time.Now(); final || now.Sub(r.last) >= progressInterval {
		r.last = now
		r.progress(r.n, r.total)
	}
}

type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

func unwrapSource(err error) error {
	var se *sourceError
	if errors.As(err, &se) {
		return se.err
	}
	return err
}

// corruptUnlessSource: a decompressor's own error means broken data; an
// error it passes on from the source does not.
func corruptUnlessSource(what string, err error) error {
	var se *sourceError
	if errors.As(err, &se) {
		return se.err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %s data: %w", ErrCorrupt, what, err)
}

type decompressing struct {
	r    io.Reader
	what string
}

func (d *decompressing) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		err = corruptUnlessSource(d.what, err)
	}
	return n, err
}
