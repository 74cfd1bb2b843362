package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// diskLayer is the one layer of a DVCR image: an uncompressed tar of
// disk/ and disk/<name>, generated from the spooled file whenever it is
// read, so the disk is never held in memory. Uncompressed, its digest and
// diff ID are the same.
type diskLayer struct {
	file    string // the spooled disk
	name    string // base name under disk/
	size    int64  // of file
	digest  v1.Hash
	tarSize int64
}

var _ v1.Layer = (*diskLayer)(nil)

// tarDigester computes the digest of the layer a disk of a known size will
// become while the disk is being received, so the file need not be read
// again just to name the layer. The tar header carries the size, which is
// why this only works when the size is known up front.
type tarDigester struct {
	h   hash.Hash
	cw  *countingWriter
	tw  *tar.Writer
	err error
}

func newTarDigester(name string, size int64) *tarDigester {
	return newTarDigesterTo(name, size, nil)
}

// newTarDigesterTo also sends the layer's bytes to also (if not nil), which
// must not fail: see earlyPush.
func newTarDigesterTo(name string, size int64, also io.Writer) *tarDigester {
	d := &tarDigester{h: sha256.New()}
	var sink io.Writer = d.h
	if also != nil {
		sink = io.MultiWriter(d.h, also)
	}
	d.cw = &countingWriter{w: sink}
	d.tw = tar.NewWriter(d.cw)
	for _, hdr := range layerHeaders(name, size) {
		if err := d.tw.WriteHeader(hdr); err != nil {
			d.err = err
		}
	}
	return d
}

// Write feeds disk bytes; a stream longer than announced spoils the digest.
func (d *tarDigester) Write(p []byte) (int, error) {
	if d.err == nil {
		_, d.err = d.tw.Write(p)
	}
	return len(p), nil
}

// layerOrNil returns the finished layer, or nil when there is no digester
// or the stream did not match the announced size (the caller then digests
// the file in a second pass).
func (d *tarDigester) layerOrNil(file, name string, size int64) *diskLayer {
	if d == nil || d.err != nil || d.tw.Close() != nil {
		return nil
	}
	return &diskLayer{file: file, name: name, size: size, tarSize: d.cw.n,
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(d.h.Sum(nil))}}
}

// layerHeaders are the tar entries of a disk layer. They have fixed owners,
// modes and times: the same disk always gives the same layer digest, and
// the digester and writeTar produce the same bytes.
func layerHeaders(name string, size int64) []*tar.Header {
	epoch := time.Unix(0, 0)
	return []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "disk/", Mode: 0o755, ModTime: epoch},
		{Typeflag: tar.TypeReg, Name: "disk/" + name, Mode: 0o644, Size: size, ModTime: epoch},
	}
}

// newDiskLayer reads the file once to compute the layer digest.
func newDiskLayer(file, name string, size int64) (*diskLayer, error) {
	l := &diskLayer{file: file, name: name, size: size}
	h := sha256.New()
	n, err := l.writeTar(h)
	if err != nil {
		return nil, fmt.Errorf("building the layer: %w", err)
	}
	l.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	l.tarSize = n
	return l, nil
}

func (l *diskLayer) writeTar(w io.Writer) (int64, error) {
	f, err := os.Open(l.file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cw := &countingWriter{w: w}
	tw := tar.NewWriter(cw)
	for _, hdr := range layerHeaders(l.name, l.size) {
		if err := tw.WriteHeader(hdr); err != nil {
			return 0, err
		}
	}
	if _, err := io.CopyN(tw, f, l.size); err != nil {
		return 0, err
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

func (l *diskLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *diskLayer) DiffID() (v1.Hash, error) { return l.digest, nil }
func (l *diskLayer) Size() (int64, error)     { return l.tarSize, nil }
func (l *diskLayer) MediaType() (types.MediaType, error) {
	return types.OCIUncompressedLayer, nil
}
func (l *diskLayer) Compressed() (io.ReadCloser, error) { return l.Uncompressed() }

// Uncompressed streams the tar through a pipe; closing the reader early
// stops the writer.
func (l *diskLayer) Uncompressed() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		_, err := l.writeTar(pw)
		pw.CloseWithError(err)
	}()
	return pr, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
