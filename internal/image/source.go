package image

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"time"
)

// Source yields the bytes of an image.
type Source interface {
	// Open starts the transfer. size is the number of bytes the stream
	// will yield, or -1 when unknown; name is a file name hint ("" when
	// there is none).
	Open(ctx context.Context) (rc io.ReadCloser, size int64, name string, err error)
}

var (
	_ Source = (*HTTPSource)(nil)
	_ Source = (*RegistrySource)(nil)
	_ Source = (*ReaderSource)(nil)
)

// ReaderSource is a stream already open in the process, such as the body of
// an upload. It can be opened once.
type ReaderSource struct {
	R    io.Reader
	Size int64  // bytes R yields; 0 or -1 when unknown
	Name string // file name hint
}

// Open returns R; closing it closes R when R is an io.Closer.
func (s *ReaderSource) Open(ctx context.Context) (io.ReadCloser, int64, string, error) {
	if s.R == nil {
		return nil, 0, "", errors.New("reader source: no reader")
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, "", err
	}
	size := s.Size
	if size <= 0 {
		size = -1
	}
	if rc, ok := s.R.(io.ReadCloser); ok {
		return rc, size, s.Name, nil
	}
	return io.NopCloser(s.R), size, s.Name, nil
}

// tlsConfig trusts the system roots plus the PEM certificates in caPEM.
func tlsConfig(caPEM []byte) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) == 0 {
		return cfg, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("CA bundle holds no PEM certificate")
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// newTransport is http.DefaultTransport's settings with our TLS roots.
func newTransport(caPEM []byte) (*http.Transport, error) {
	cfg, err := tlsConfig(caPEM)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	tr.ResponseHeaderTimeout = time.Minute
	return tr, nil
}
