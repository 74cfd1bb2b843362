package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"
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
