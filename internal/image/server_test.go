package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/ulikunitz/xz"
)

// testRegistry is go-containerregistry's in-memory registry behind a TLS
// httptest server, optionally with basic auth, counting manifest writes.
type testRegistry struct {
	host   string
	caFile string
	user   string
	pass   string
	writes atomic.Int64
	// uploaded counts the bytes of blob upload bodies.
	uploaded atomic.Int64
	srv      *httptest.Server
}

func newTestRegistry(t *testing.T, user, pass string) *testRegistry {
	t.Helper()
	r := &testRegistry{user: user, pass: pass}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		// An image exists once its manifest is stored; blobs nothing
		// refers to (an upload that overlapped a download that then
		// failed) are garbage.
		if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") {
			r.writes.Add(1)
		}
		if strings.Contains(req.URL.Path, "/blobs/uploads/") && req.Body != nil {
			req.Body = &countingBody{ReadCloser: req.Body, n: &r.uploaded}
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "https://")
	r.caFile = filepath.Join(t.TempDir(), "registry-ca.pem")
	if err := os.WriteFile(r.caFile, certPEM(r.srv), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func certPEM(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func (r *testRegistry) dest(repo, tag string) Destination {
	return Destination{Repository: r.host + "/" + repo, Tag: tag, Username: r.user, Password: r.pass, CAFile: r.caFile}
}

// pulled is an image read back from the registry.
type pulled struct {
	config    *v1.ConfigFile
	manifest  *v1.Manifest
	files     map[string][]byte // regular files by path
	dirs      []string
	layerType string
}

func (r *testRegistry) pull(t *testing.T, d Destination) pulled {
	t.Helper()
	ref, err := d.reference()
	if err != nil {
		t.Fatal(err)
	}
	opts, err := d.remoteOptions(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, opts...)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	p := pulled{files: map[string][]byte{}}
	if p.config, err = img.ConfigFile(); err != nil {
		t.Fatal(err)
	}
	if p.manifest, err = img.Manifest(); err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	mt, _ := layers[0].MediaType()
	p.layerType = string(mt)
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			p.dirs = append(p.dirs, h.Name)
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			p.files[h.Name] = b
		}
	}
	return p
}

// fileServer serves files over TLS with Range support and records the
// requests it got.
type fileServer struct {
	mu     sync.Mutex
	files  map[string][]byte
	ranges []string
	count  int
	// dropOnce, when set, makes the first request for a file send half of
	// it and break the connection; ranges=false ignores Range headers.
	dropOnce bool
	noRanges bool
	dropped  map[string]bool
	srv      *httptest.Server
}

func newFileServer(t *testing.T, files map[string][]byte) *fileServer {
	fs := &fileServer{files: files, dropped: map[string]bool{}}
	fs.srv = httptest.NewUnstartedServer(http.HandlerFunc(fs.serve))
	fs.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes the tests make fail on purpose
	fs.srv.StartTLS()
	t.Cleanup(fs.srv.Close)
	return fs
}

func (fs *fileServer) serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	fs.mu.Lock()
	data, ok := fs.files[name]
	fs.count++
	if rg := r.Header.Get("Range"); rg != "" {
		fs.ranges = append(fs.ranges, rg)
	}
	drop := fs.dropOnce && !fs.dropped[name]
	fs.dropped[name] = true
	fs.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", `"v1"`)
	if drop || fs.noRanges {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		if drop {
			_, _ = w.Write(data[:len(data)/2])
			w.(http.Flusher).Flush()
			time.Sleep(10 * time.Millisecond)
			panic(http.ErrAbortHandler) // the client sees the connection break
		}
		_, _ = w.Write(data)
		return
	}
	http.ServeContent(w, r, name, time.Unix(0, 0), bytes.NewReader(data))
}

func (fs *fileServer) url(name string) string { return fs.srv.URL + "/" + name }

func (fs *fileServer) source(name string) *HTTPSource {
	return &HTTPSource{URL: fs.url(name), CABundle: certPEM(fs.srv), Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
}

// rawDisk is deterministic data that starts with an MBR-like sector and
// carries no format signature.
func rawDisk(size int) []byte {
	b := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < size/2; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < size; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	copy(b, make([]byte, 512))
	b[510], b[511] = 0x55, 0xaa
	return b
}

// isoImage is a minimal ISO 9660 image: a primary volume descriptor at
// sector 16 and a set terminator at 17.
func isoImage() []byte {
	b := make([]byte, 96<<10)
	copy(b[0x8000:], "\x01CD001\x01")
	copy(b[0x8028:], "DVP_TEST")
	copy(b[0x8800:], "\xffCD001\x01")
	copy(b[0xa000:], "hello from the iso")
	return b
}

func gzipBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xzBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func needQemuImg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed (apt-get install qemu-utils); skipping a test that needs it")
	}
}

// convert makes a disk of format from raw with qemu-img; resize, if not
// zero, grows its virtual size.
func convert(t *testing.T, raw []byte, format string, resize int64, opts ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.raw"), filepath.Join(dir, "out."+format)
	if err := os.WriteFile(in, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"convert", "-f", "raw", "-O", format}, opts...)
	if b, err := exec.Command("qemu-img", append(args, in, out)...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, b)
	}
	if resize > 0 {
		if b, err := exec.Command("qemu-img", "resize", "-f", format, out, strconv.FormatInt(resize, 10)).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img resize: %v\n%s", err, b)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
