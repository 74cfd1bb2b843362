package image

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/ulikunitz/xz"
)

// Config labels of a DVCR image, as upstream writes them.
const (
	LabelSize        = "source-image-size"
	LabelVirtualSize = "source-image-virtual-size"
	LabelFormat      = "source-image-format"
)

// Result describes an imported image.
type Result struct {
	Format        string `json:"format"`        // qcow2, raw, vmdk, vdi, iso
	CDROM         bool   `json:"cdrom"`         // Format == iso
	StoredBytes   int64  `json:"storedBytes"`   // size of disk/<file> in the image
	UnpackedBytes int64  `json:"unpackedBytes"` // virtual size; for raw and iso the byte count
	Digest        string `json:"digest"`        // of the manifest pushed
	SourceBytes   int64  `json:"sourceBytes"`   // bytes received from the source
}

// Progress is told how many bytes were received of total (-1 when
// unknown). Import calls it at most about twice a second, and once at the
// end of the transfer.
type Progress func(received, total int64)

const progressInterval = 500 * time.Millisecond

// Import copies the image src yields into dst; see the package comment for
// the steps. scratchDir holds the decompressed disk until it is pushed
// ("" is the system's temporary directory); progress may be nil. It sets no
// limits: ImportWithin is for data from outside the platform.
func Import(ctx context.Context, src Source, sums Checksums, dst Destination, scratchDir string, progress Progress) (Result, error) {
	return ImportWithin(ctx, src, sums, dst, Scratch{Dir: scratchDir}, progress)
}

// ImportWithin is Import with the disk spooled within the limits of scratch:
// an import that would exceed them stops with ErrTooLarge or ErrNoSpace and
// removes what it spooled.
func ImportWithin(ctx context.Context, src Source, sums Checksums, dst Destination, scratch Scratch, progress Progress) (Result, error) {
	if err := sums.validate(); err != nil {
		return Result{}, err
	}
	// Catch a bad destination before the download.
	ref, opts, err := dst.open(ctx)
	if err != nil {
		return Result{}, err
	}

	rc, size, hint, err := src.Open(ctx)
	if err != nil {
		return Result{}, err
	}
	var early *earlyPush
	sp, err := spool(ctx, rc, size, sums, scratch, progress, func(c compression) *tarDigester {
		// Uncompressed data of an announced size: the layer is known
		// byte for byte on the way in, so its digest is computed and
		// the layer pushed while the data arrives, saving two full
		// reads of the spooled file.
		if c != uncompressed || size < 0 {
			return nil
		}
		if e, err := startEarlyPush(ctx, dst, ref); err == nil {
			early = e
			return newTarDigesterTo(diskName(hint, c), size, e)
		}
		return newTarDigester(diskName(hint, c), size)
	})
	_ = rc.Close()
	if sp.file != "" {
		defer os.Remove(sp.file)
	}
	if err != nil {
		if early != nil {
			early.abort()
		}
		return Result{}, err
	}

	name := diskName(hint, sp.compression)
	layer := sp.digester.layerOrNil(sp.file, name, sp.diskBytes)
	var earlyDone chan bool
	if early != nil {
		if layer != nil {
			// The upload completes while the disk is inspected.
			earlyDone = make(chan bool, 1)
			go func() { earlyDone <- early.finish(layer.digest) }()
		} else {
			early.abort()
		}
	}
	format, virtual, err := identify(ctx, sp.file, sp.diskBytes)
	if earlyDone != nil {
		<-earlyDone
	}
	if err == nil {
		err = checkISOName(name, format)
	}
	if err != nil {
		return Result{}, err
	}
	if layer == nil {
		if layer, err = newDiskLayer(sp.file, name, sp.diskBytes); err != nil {
			return Result{}, err
		}
	}
	digest, err := pushDisk(ref, opts, layer, format, sp.diskBytes, virtual)
	if err != nil {
		return Result{}, err
	}
	return Result{
		Format:        format,
		CDROM:         format == FormatISO,
		StoredBytes:   sp.diskBytes,
		UnpackedBytes: virtual,
		Digest:        digest,
		SourceBytes:   sp.sourceBytes,
	}, nil
}

// open resolves the destination and checks that the registry takes these
// credentials, before any data is read.
func (d Destination) open(ctx context.Context) (name.Reference, []remote.Option, error) {
	ref, err := d.reference()
	if err != nil {
		return nil, nil, err
	}
	opts, err := d.remoteOptions(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	if err := preflight(ref, opts); err != nil {
		return nil, nil, err
	}
	return ref, opts, nil
}

// preflight asks the registry for the tag before the download, so wrong
// credentials or an unknown host fail in a second rather than after
// gigabytes. Other errors are left for the push to report.
func preflight(ref name.Reference, opts []remote.Option) error {
	_, err := remote.Head(ref, opts...)
	if err == nil {
		return nil
	}
	if err := classifyRegistry(err); errors.Is(err, ErrRegistryAuth) || errors.Is(err, ErrDNS) {
		return fmt.Errorf("registry %s: %w", ref.Context().RegistryStr(), err)
	}
	return nil
}

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

// identify detects the format of the spooled disk and reads its virtual
// size.
func identify(ctx context.Context, file string, size int64) (string, int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", 0, err
	}
	head := make([]byte, HeaderSize)
	n, err := io.ReadFull(f, head)
	_ = f.Close()
	if err != nil && err != io.ErrUnexpectedEOF {
		return "", 0, err
	}
	format, err := DetectFormat(head[:n])
	if err != nil {
		return "", 0, err
	}
	virtual, err := inspect(ctx, file, format, size)
	if err != nil {
		return "", 0, err
	}
	if virtual < SectorSize {
		return "", 0, fmt.Errorf("%w: the image is %d bytes, less than one %d-byte sector: this is not a disk image (an error page or a text file?)", ErrCorrupt, virtual, SectorSize)
	}
	return format, virtual, nil
}

// SectorSize is the smallest disk there is: an image smaller than one
// sector is no disk a machine could read.
const SectorSize = 512

// checkISOName refuses a source named like an ISO image (x.iso) whose
// content is no image at all: without the ISO 9660 signature it would be
// stored as a raw disk, and most likely it is an error page or a
// truncated download. A recognised format under an .iso name is taken
// as what it is.
func checkISOName(name, format string) error {
	if format != FormatRaw || !strings.HasSuffix(strings.ToLower(name), ".iso") {
		return nil
	}
	return fmt.Errorf("%w: %s is named as an ISO image but is not one (no ISO 9660 signature \"CD001\" at offset 0x8001); check the URL or the file", ErrCorrupt, name)
}

// pushDisk stores the image of one disk layer as ref and returns the
// manifest digest.
func pushDisk(ref name.Reference, opts []remote.Option, layer v1.Layer, format string, size, virtual int64) (string, error) {
	img, err := buildImage(layer, format, size, virtual)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, classifyRegistry(err))
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	return digest.String(), nil
}

func buildImage(layer v1.Layer, format string, size, virtual int64) (v1.Image, error) {
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, MediaType: types.OCIUncompressedLayer})
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Labels = map[string]string{
		LabelSize:        strconv.FormatInt(size, 10),
		LabelVirtualSize: strconv.FormatInt(virtual, 10),
		LabelFormat:      format,
	}
	return mutate.ConfigFile(img, cf)
}

// CopyImage copies an image DVCR already holds to another repository
// without downloading it again (the registry mounts the blobs when the
// credentials allow it, else they are streamed through). The Result comes
// from the image's config labels; SourceBytes is the size of its layers.
func CopyImage(ctx context.Context, from, to Destination) (Result, error) {
	fromRef, err := from.reference()
	if err != nil {
		return Result{}, err
	}
	toRef, err := to.reference()
	if err != nil {
		return Result{}, err
	}
	fromOpts, err := from.remoteOptions(ctx, fromRef)
	if err != nil {
		return Result{}, err
	}
	toOpts, err := to.remoteOptions(ctx, toRef)
	if err != nil {
		return Result{}, err
	}
	img, err := remote.Image(fromRef, fromOpts...)
	if err != nil {
		return Result{}, fmt.Errorf("reading %s: %w", fromRef, classifyRegistry(err))
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Result{}, fmt.Errorf("reading %s: %w", fromRef, classifyRegistry(err))
	}
	res, err := resultFromLabels(cf.Config.Labels)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", fromRef, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return Result{}, fmt.Errorf("reading %s: %w", fromRef, classifyRegistry(err))
	}
	for _, l := range m.Layers {
		res.SourceBytes += l.Size
	}
	if err := remote.Write(toRef, img, toOpts...); err != nil {
		return Result{}, fmt.Errorf("pushing %s: %w", toRef, classifyRegistry(err))
	}
	digest, err := img.Digest()
	if err != nil {
		return Result{}, err
	}
	res.Digest = digest.String()
	return res, nil
}

func resultFromLabels(labels map[string]string) (Result, error) {
	format := labels[LabelFormat]
	if format == "" {
		return Result{}, fmt.Errorf("%w: not a disk image (no %s label)", ErrUnsupportedFormat, LabelFormat)
	}
	size, err1 := strconv.ParseInt(labels[LabelSize], 10, 64)
	virtual, err2 := strconv.ParseInt(labels[LabelVirtualSize], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Result{}, fmt.Errorf("%w: size labels: %w", ErrCorrupt, err)
	}
	return Result{Format: format, CDROM: format == FormatISO, StoredBytes: size, UnpackedBytes: virtual}, nil
}

// diskName is the file name under disk/: the source's name without the
// compression suffix, restricted to a safe alphabet and length.
func diskName(hint string, c compression) string {
	if i := strings.LastIndexAny(hint, `/\`); i >= 0 {
		hint = hint[i+1:]
	}
	lower := strings.ToLower(hint)
	for _, suffix := range map[compression][]string{compressedGzip: {".gz", ".gzip"}, compressedXZ: {".xz"}}[c] {
		if strings.HasSuffix(lower, suffix) {
			hint = hint[:len(hint)-len(suffix)]
			break
		}
	}
	name := []byte(hint)
	for i, ch := range name {
		ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '-' || ch == '_'
		if !ok {
			name[i] = '_'
		}
	}
	s := strings.TrimLeft(string(name), ".-")
	const maxLen = 100
	if len(s) > maxLen {
		ext := path.Ext(s)
		if len(ext) > 16 {
			ext = ""
		}
		s = s[:maxLen-len(ext)] + ext
	}
	if s == "" {
		return "disk.img"
	}
	return s
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
