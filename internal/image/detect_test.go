package image

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// header builds a HeaderSize buffer with magic at off.
func header(parts ...any) []byte {
	h := make([]byte, HeaderSize)
	for i := 0; i+1 < len(parts); i += 2 {
		copy(h[parts[i].(int):], parts[i+1].(string))
	}
	return h
}

func qcow2Header(version uint32, backing uint64, incompat uint64) []byte {
	h := header(0, "QFI\xfb")
	binary.BigEndian.PutUint32(h[4:], version)
	binary.BigEndian.PutUint64(h[8:], backing)
	binary.BigEndian.PutUint64(h[72:], incompat)
	return h
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		name    string
		header  []byte
		want    string
		wantErr error
	}{
		{"empty", nil, FormatRaw, nil},
		{"zeros", make([]byte, HeaderSize), FormatRaw, nil},
		{"mbr", header(510, "\x55\xaa"), FormatRaw, nil},
		{"qcow2 v2", qcow2Header(2, 0, 0), FormatQCOW2, nil},
		{"qcow2 v3", qcow2Header(3, 0, 0), FormatQCOW2, nil},
		{"qcow2 dirty bit is fine", qcow2Header(3, 0, 1), FormatQCOW2, nil},
		{"qcow v1", qcow2Header(1, 0, 0), FormatQCOW2, ErrUnsupportedFormat},
		{"qcow2 bad version", qcow2Header(9, 0, 0), FormatQCOW2, ErrCorrupt},
		{"qcow2 backing file", qcow2Header(3, 0x200, 0), FormatQCOW2, ErrUnsupportedFormat},
		{"qcow2 data file", qcow2Header(3, 0, 4), FormatQCOW2, ErrUnsupportedFormat},
		{"qcow2 short", []byte("QFI\xfb\x00\x00"), FormatQCOW2, ErrCorrupt},
		{"vmdk sparse", header(0, "KDMV"), FormatVMDK, nil},
		{"vmdk descriptor", header(0, "# Disk DescriptorFile\nversion=1\n"), FormatVMDK, ErrUnsupportedFormat},
		{"vdi", header(0, "<<< Oracle VM VirtualBox Disk Image >>>\n", 0x40, "\x7f\x10\xda\xbe"), FormatVDI, nil},
		{"iso 0x8001", header(0x8000, "\x01CD001\x01"), FormatISO, nil},
		{"iso 0x8801", header(0x8801, "CD001"), FormatISO, nil},
		{"iso 0x9001", header(0x9001, "CD001"), FormatISO, nil},
		{"iso cut short", header(0x8001, "CD00")[:0x8005], FormatRaw, nil},
		{"vhdx", header(0, "vhdxfile"), "", ErrUnsupportedFormat},
		{"vhd", header(0, "conectix"), "", ErrUnsupportedFormat},
		{"luks", header(0, "LUKS\xba\xbe"), "", ErrUnsupportedFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DetectFormat(tt.header)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("DetectFormat = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestDetectCompression(t *testing.T) {
	tests := []struct {
		name    string
		head    string
		want    compression
		wantErr bool
	}{
		{"plain", "QFI\xfb", uncompressed, false},
		{"gzip", "\x1f\x8b\x08\x00", compressedGzip, false},
		{"xz", "\xfd7zXZ\x00\x00\x04", compressedXZ, false},
		{"zstd", "\x28\xb5\x2f\xfd\x00", 0, true},
		{"bzip2", "BZh91AY&SY", 0, true},
		{"BZh text is raw", "BZh9 hello", uncompressed, false},
		{"zip", "PK\x03\x04", 0, true},
		{"short", "\x1f", uncompressed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := detectCompression([]byte(tt.head))
			if got != tt.want || (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrUnsupportedFormat)) {
				t.Errorf("detectCompression = %v, %v; want %v, err %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// xzStream is an xz stream header followed by one block header with an
// LZMA2 filter of the given dictionary code.
func xzStream(dictCode byte) []byte {
	b := []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 4, 0, 0, 0, 0}
	// size (2+1)*4=12 bytes: size, flags (1 filter), filter id, props size, props, padding, crc32.
	return append(b, 2, 0x00, 0x21, 0x01, dictCode, 0, 0, 0, 0, 0, 0, 0)
}

func TestCheckXZ(t *testing.T) {
	if err := checkXZ(xzStream(22)); err != nil { // 8 MiB
		t.Errorf("8 MiB dictionary: %v", err)
	}
	if err := checkXZ(xzStream(40)); !errors.Is(err, ErrUnsupportedFormat) { // 4 GiB
		t.Errorf("4 GiB dictionary: %v, want ErrUnsupportedFormat", err)
	}
	if got := xzDictSize(22); got != 8<<20 {
		t.Errorf("xzDictSize(22) = %d", got)
	}
	if got := xzDictSize(23); got != 12<<20 {
		t.Errorf("xzDictSize(23) = %d", got)
	}
}

func TestParseChecksums(t *testing.T) {
	sha := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	md := "d41d8cd98f00b204e9800998ecf8427e"
	got, err := ParseChecksums(" sha256:" + sha + " , MD5:" + md)
	if err != nil || len(got) != 2 || got["sha256"] != sha || got["md5"] != md {
		t.Fatalf("ParseChecksums = %v, %v", got, err)
	}
	if got, err := ParseChecksums(""); err != nil || got != nil {
		t.Errorf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"sha256", "crc32:00000000", "sha256:abc", "md5:" + md + ",md5:" + md, "sha1:" + md} {
		if _, err := ParseChecksums(bad); err == nil {
			t.Errorf("ParseChecksums(%q) accepted", bad)
		}
	}
}

func TestDiskName(t *testing.T) {
	tests := []struct {
		hint string
		c    compression
		want string
	}{
		{"", uncompressed, "disk.img"},
		{"ubuntu-24.04.qcow2", uncompressed, "ubuntu-24.04.qcow2"},
		{"ubuntu.img.xz", compressedXZ, "ubuntu.img"},
		{"ubuntu.img.GZ", compressedGzip, "ubuntu.img"},
		{"ubuntu.img.gz", uncompressed, "ubuntu.img.gz"},
		{"../../etc/passwd", uncompressed, "passwd"},
		{`C:\images\win.iso`, uncompressed, "win.iso"},
		{"..", uncompressed, "disk.img"},
		{".hidden", uncompressed, "hidden"},
		{"my disk (1).vmdk", uncompressed, "my_disk__1_.vmdk"},
		{string(bytes.Repeat([]byte("a"), 300)) + ".qcow2", uncompressed, string(bytes.Repeat([]byte("a"), 94)) + ".qcow2"},
	}
	for _, tt := range tests {
		if got := diskName(tt.hint, tt.c); got != tt.want {
			t.Errorf("diskName(%q) = %q, want %q", tt.hint, got, tt.want)
		}
	}
}

func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		ErrNotFound:                    ReasonNotFound,
		ErrChecksum:                    ReasonChecksum,
		errors.New("connection reset"): ReasonNetwork,
		classifyHTTP(mustURL("http://nowhere.invalid/x"), &netDNSNotFound): ReasonDNS,
	} {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %s, want %s", err, got, want)
		}
	}
}

// FuzzDetectFormat feeds arbitrary headers to every sniffer that reads
// untrusted bytes before qemu-img does.
func FuzzDetectFormat(f *testing.F) {
	for _, seed := range [][]byte{
		nil,
		qcow2Header(3, 0, 0)[:128],
		qcow2Header(3, 0x100, 0)[:128],
		[]byte("KDMV\x01\x00\x00\x00"),
		[]byte("# Disk DescriptorFile\n"),
		header(0x40, "\x7f\x10\xda\xbe")[:0x200],
		header(0x8001, "CD001"),
		[]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"),
		xzStream(22),
		xzStream(40),
		[]byte("BZh91AY&SY"),
		[]byte("vhdxfile"),
	} {
		f.Add(seed)
	}
	allowed := map[string]bool{"": true, FormatQCOW2: true, FormatRaw: true, FormatVMDK: true, FormatVDI: true, FormatISO: true}
	f.Fuzz(func(t *testing.T, h []byte) {
		got, err := DetectFormat(h)
		if !allowed[got] {
			t.Fatalf("DetectFormat = %q", got)
		}
		if err == nil && got == "" {
			t.Fatal("no format and no error")
		}
		if err != nil && !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unclassified error %v", err)
		}
		if again, err2 := DetectFormat(h); again != got || (err2 == nil) != (err == nil) {
			t.Fatal("not deterministic")
		}
		if _, err := detectCompression(h); err != nil && !errors.Is(err, ErrUnsupportedFormat) {
			t.Fatalf("detectCompression: unclassified error %v", err)
		}
		if err := checkXZ(h); err != nil && !errors.Is(err, ErrUnsupportedFormat) {
			t.Fatalf("checkXZ: unclassified error %v", err)
		}
	})
}
