package image

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Formats stored in the source-image-format label.
const (
	FormatQCOW2 = "qcow2"
	FormatRaw   = "raw"
	FormatVMDK  = "vmdk"
	FormatVDI   = "vdi"
	FormatISO   = "iso"
)

// HeaderSize is how many leading bytes DetectFormat needs to see every
// signature it knows (the last ISO 9660 volume descriptor it looks at
// starts at 0x9001).
const HeaderSize = 0x9001 + 5

// DetectFormat names the disk format of an image from its first bytes
// (up to HeaderSize of them; fewer if the image is shorter). Anything it
// does not recognize is raw. A format qemu-img knows but the platform does
// not import, or a layout that would make qemu-img open other files (a
// qcow2 backing or data file, a VMDK descriptor), gives an
// ErrUnsupportedFormat.
func DetectFormat(h []byte) (string, error) {
	switch {
	case bytes.HasPrefix(h, []byte("QFI\xfb")):
		return FormatQCOW2, checkQCOW2(h)
	case bytes.HasPrefix(h, []byte("KDMV")):
		return FormatVMDK, nil
	case bytes.HasPrefix(h, []byte("# Disk DescriptorFile")):
		return FormatVMDK, fmt.Errorf("%w: a VMDK descriptor file names its data in other files; upload a monolithic (single-file) VMDK", ErrUnsupportedFormat)
	case at(h, 0x40, "\x7f\x10\xda\xbe"):
		return FormatVDI, nil
	case at(h, 0x8001, "CD001"), at(h, 0x8801, "CD001"), at(h, 0x9001, "CD001"):
		return FormatISO, nil
	}
	for _, o := range otherFormats {
		if at(h, o.offset, o.magic) {
			return "", fmt.Errorf("%w: %s images are not supported; convert to qcow2 or raw", ErrUnsupportedFormat, o.name)
		}
	}
	return FormatRaw, nil
}

// otherFormats are images qemu-img would read but the platform does not
// import. Storing them as raw would give a VM a disk of garbage.
var otherFormats = []struct {
	name   string
	offset int
	magic  string
}{
	{"VHDX", 0, "vhdxfile"},
	{"VHD (dynamic)", 0, "conectix"},
	{"QED", 0, "QED\x00"},
	{"LUKS", 0, "LUKS\xba\xbe"},
	{"Parallels", 0, "WithoutFreeSpace"},
	{"Parallels", 0, "WithouFreSpacExt"},
	{"VMware COWD", 0, "COWD"},
}

// checkQCOW2 refuses qcow2 images that reference other files: qemu-img and
// later the PVC importer would open a path chosen by whoever made the image.
func checkQCOW2(h []byte) error {
	if len(h) < 72 {
		return fmt.Errorf("%w: qcow2 header truncated at %d bytes", ErrCorrupt, len(h))
	}
	switch v := binary.BigEndian.Uint32(h[4:]); v {
	case 2, 3:
	case 1:
		return fmt.Errorf("%w: qcow version 1 images are not supported; convert to qcow2", ErrUnsupportedFormat)
	default:
		return fmt.Errorf("%w: unknown qcow2 version %d", ErrCorrupt, v)
	}
	if binary.BigEndian.Uint64(h[8:]) != 0 {
		return fmt.Errorf("%w: qcow2 image with a backing file; flatten it first (qemu-img convert -O qcow2)", ErrUnsupportedFormat)
	}
	// Version 3 has incompatible feature bits at 72; bit 2 is an external
	// data file.
	if binary.BigEndian.Uint32(h[4:]) == 3 && len(h) >= 80 && binary.BigEndian.Uint64(h[72:])&(1<<2) != 0 {
		return fmt.Errorf("%w: qcow2 image with an external data file", ErrUnsupportedFormat)
	}
	return nil
}

// at reports whether h holds magic at offset off.
func at(h []byte, off int, magic string) bool {
	return len(h) >= off+len(magic) && string(h[off:off+len(magic)]) == magic
}

// Compression of the stream as received.
type compression int

const (
	uncompressed compression = iota
	compressedGzip
	compressedXZ
)

// detectCompression sniffs the first bytes of the stream. gzip and xz are
// decompressed on the fly; other archive and compression formats are
// refused early, before the whole download, rather than stored as a raw
// disk nobody can boot.
func detectCompression(h []byte) (compression, error) {
	switch {
	case bytes.HasPrefix(h, []byte{0x1f, 0x8b}):
		return compressedGzip, nil
	case bytes.HasPrefix(h, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return compressedXZ, nil
	case bytes.HasPrefix(h, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return 0, fmt.Errorf("%w: zstd-compressed images are not supported; use gzip or xz", ErrUnsupportedFormat)
	case len(h) >= 10 && bytes.HasPrefix(h, []byte("BZh")) && h[3] >= '1' && h[3] <= '9' && string(h[4:10]) == "\x31\x41\x59\x26\x53\x59":
		return 0, fmt.Errorf("%w: bzip2-compressed images are not supported; use gzip or xz", ErrUnsupportedFormat)
	case bytes.HasPrefix(h, []byte("PK\x03\x04")):
		return 0, fmt.Errorf("%w: zip archives are not supported; use gzip or xz", ErrUnsupportedFormat)
	case bytes.HasPrefix(h, []byte("7z\xbc\xaf\x27\x1c")):
		return 0, fmt.Errorf("%w: 7z archives are not supported; use gzip or xz", ErrUnsupportedFormat)
	}
	return uncompressed, nil
}

// maxXZDict bounds the LZMA2 dictionary an xz stream may ask for: the
// decoder allocates it up front, so a crafted header could otherwise make
// the importer allocate 4 GiB. xz's largest preset uses 64 MiB.
const maxXZDict = 256 << 20

// xzPeekLen covers the xz stream header and the largest block header.
const xzPeekLen = 12 + 1024

// checkXZ reads the first block header of an xz stream and refuses a
// dictionary larger than maxXZDict. h starts at the stream header.
func checkXZ(h []byte) error {
	if len(h) < 13 {
		return nil // too short to hold a block; the decoder reports it
	}
	b := h[12:]
	if b[0] == 0 { // index indicator: a stream without blocks
		return nil
	}
	size := (int(b[0]) + 1) * 4
	if len(b) < size {
		return nil
	}
	flags := b[1]
	p := b[2:size]
	readVarint := func() (uint64, bool) {
		var v uint64
		for i := 0; i < 9 && i < len(p); i++ {
			v |= uint64(p[i]&0x7f) << (7 * i)
			if p[i]&0x80 == 0 {
				p = p[i+1:]
				return v, true
			}
		}
		return 0, false
	}
	for _, present := range []bool{flags&0x40 != 0, flags&0x80 != 0} {
		if present {
			if _, ok := readVarint(); !ok {
				return nil
			}
		}
	}
	for i := 0; i <= int(flags&3); i++ {
		id, ok1 := readVarint()
		n, ok2 := readVarint()
		if !ok1 || !ok2 || uint64(len(p)) < n {
			return nil
		}
		props := p[:n]
		p = p[n:]
		if id != 0x21 || len(props) != 1 {
			continue
		}
		if dict := xzDictSize(props[0]); dict > maxXZDict {
			return fmt.Errorf("%w: xz stream needs a %d MiB dictionary (at most %d MiB supported)", ErrUnsupportedFormat, dict>>20, maxXZDict>>20)
		}
	}
	return nil
}

// xzDictSize decodes the LZMA2 dictionary size property.
func xzDictSize(c byte) uint64 {
	if c >= 40 {
		return 1<<32 - 1
	}
	return uint64(2|c&1) << (c/2 + 11)
}
