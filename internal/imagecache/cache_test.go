package imagecache

import (
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/virtlab/dvp/internal/image"
)

// testDVCR is an in-memory registry over TLS holding images made by
// image.Import, labels included.
type testDVCR struct {
	srv  *httptest.Server
	host string
	ca   []byte
	gets sync.Map // path -> count of blob GETs
}

func newTestDVCR(t *testing.T) *testDVCR {
	t.Helper()
	d := &testDVCR{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	d.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			n, _ := d.gets.LoadOrStore("blobs", new(int))
			*n.(*int)++
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(d.srv.Close)
	d.host = strings.TrimPrefix(d.srv.URL, "https://")
	d.ca = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.srv.Certificate().Raw})
	return d
}

// push imports disk as repo:tag and returns the source to read it.
func (d *testDVCR) push(t *testing.T, repo, tag string, disk []byte, name string) Source {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, d.ca, 0o600); err != nil {
		t.Fatal(err)
	}
	dst := image.Destination{Repository: d.host + "/" + repo, Tag: tag, CAFile: ca}
	if _, err := image.Import(testCtx(t), &image.ReaderSource{R: bytes.NewReader(disk), Size: int64(len(disk)), Name: name}, nil, dst, t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	return Source{Ref: dst.String(), CABundle: d.ca}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func needQemuImg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not found: install qemu-utils")
	}
}

// rawDisk is a disk with data at both ends and a hole of zeros between.
func rawDisk(size int) []byte {
	b := make([]byte, size)
	for i := 0; i < 256<<10; i++ {
		b[i] = byte(i*7 + 1)
		b[size-1-i] = byte(i*3 + 1)
	}
	return b
}

func TestEnsureFillsOnceAndIsSparse(t *testing.T) {
	d := newTestDVCR(t)
	disk := rawDisk(8 << 20)
	src := d.push(t, "vi/ns/a", "uid-a", disk, "a.img")
	data := t.TempDir()
	c, err := New(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Init(); err != nil {
		t.Fatal(err)
	}
	// Concurrent callers share one fill.
	var wg sync.WaitGroup
	entries := make([]Entry, 4)
	for i := range entries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, unpin, err := c.Ensure(testCtx(t), src)
			if err != nil {
				t.Error(err)
				return
			}
			unpin()
			entries[i] = e
		}()
	}
	wg.Wait()
	e := entries[0]
	for _, o := range entries[1:] {
		if o != e {
			t.Errorf("entries differ: %+v vs %+v", o, e)
		}
	}
	if e.Format != "raw" || e.VirtualBytes != int64(len(disk)) || filepath.Dir(e.Path) != filepath.Join(data, DirName) {
		t.Errorf("entry %+v", e)
	}
	got, err := os.ReadFile(e.Path)
	if err != nil || !bytes.Equal(got, disk) {
		t.Fatalf("cached bytes differ (%d bytes, %v)", len(got), err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(e.Path, &st); err != nil {
		t.Fatal(err)
	}
	if used := st.Blocks * 512; used >= int64(len(disk))/2 {
		t.Errorf("cached raw image uses %d bytes on disk for %d bytes of data: holes were written", used, 512<<10)
	}
	n, _ := d.gets.Load("blobs")
	blobs := *n.(*int)
	// A second image with the same content (a copy in DVCR) is the same
	// entry and is not downloaded again.
	src2 := d.push(t, "cvi/copy", "uid-b", disk, "a.img")
	e2, unpin, err := c.Ensure(testCtx(t), src2)
	if err != nil {
		t.Fatal(err)
	}
	unpin()
	if e2 != e {
		t.Errorf("same content, other entry: %+v vs %+v", e2, e)
	}
	n, _ = d.gets.Load("blobs")
	if got := *n.(*int); got > blobs+1 { // the config blob only
		t.Errorf("second Ensure fetched %d blobs", got-blobs)
	}
}

func TestOverlayAndCollect(t *testing.T) {
	needQemuImg(t)
	d := newTestDVCR(t)
	disk := rawDisk(4 << 20)
	src := d.push(t, "vi/ns/a", "uid-a", disk, "a.img")
	other := d.push(t, "vi/ns/b", "uid-b", rawDisk(2 << 20)[:1<<20], "b.img")
	data := t.TempDir()
	c, _ := New(data)
	if err := c.Init(); err != nil {
		t.Fatal(err)
	}
	e, unpin, err := c.Ensure(testCtx(t), src)
	if err != nil {
		t.Fatal(err)
	}
	eo, unpinOther, err := c.Ensure(testCtx(t), other)
	if err != nil {
		t.Fatal(err)
	}
	volumes := filepath.Join(data, "volumes")
	vol := filepath.Join(volumes, "pv-1")
	if err := os.MkdirAll(vol, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := CreateOverlay(testCtx(t), vol, e, 1<<20); err == nil {
		t.Error("an overlay smaller than its image was made")
	}
	if err := CreateOverlay(testCtx(t), vol, e, 64<<20); err != nil {
		t.Fatal(err)
	}
	h, err := ReadQcow2Header(filepath.Join(vol, OverlayName))
	if err != nil || h.VirtualBytes != 64<<20 || h.Backing != "../../"+DirName+"/"+e.Name {
		t.Fatalf("overlay header %+v, %v", h, err)
	}
	// The clone reads as the image followed by zeros.
	out := filepath.Join(t.TempDir(), "flat.raw")
	if b, err := exec.Command("qemu-img", "convert", "-O", "raw", filepath.Join(vol, OverlayName), out).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, b)
	}
	flat, _ := os.ReadFile(out)
	if len(flat) != 64<<20 || !bytes.Equal(flat[:len(disk)], disk) || !bytes.Equal(flat[len(disk):], make([]byte, len(flat)-len(disk))) {
		t.Errorf("clone does not read as the image (%d bytes)", len(flat))
	}

	// Pinned entries survive; unpinned, unreferenced, unwanted ones go.
	removed, err := c.Collect(nil, volumes)
	if err != nil || len(removed) != 0 {
		t.Errorf("Collect while pinned removed %v, %v", removed, err)
	}
	unpin()
	unpinOther()
	removed, err = c.Collect(map[string]bool{}, volumes)
	if err != nil || len(removed) != 1 || removed[0] != eo.Name {
		t.Errorf("Collect removed %v, %v; want only %s (the overlay needs %s)", removed, err, eo.Name, e.Name)
	}
	if _, err := os.Stat(e.Path); err != nil {
		t.Errorf("the backing file of a disk went: %v", err)
	}
	// With the disk gone, its image goes too.
	if err := os.RemoveAll(vol); err != nil {
		t.Fatal(err)
	}
	if removed, err = c.Collect(map[string]bool{}, volumes); err != nil || len(removed) != 1 {
		t.Errorf("Collect after the disk went removed %v, %v", removed, err)
	}
}

func TestInitRemovesUnfinished(t *testing.T) {
	data := t.TempDir()
	c, _ := New(data)
	if err := os.MkdirAll(c.Dir(), 0o755); err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(c.Dir(), tmpPrefix+"abc.raw-1")
	if err := os.WriteFile(half, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Init(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(half); !os.IsNotExist(err) {
		t.Errorf("unfinished entry survived Init: %v", err)
	}
}

func TestCapacityFile(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := ReadCapacity(dir); ok || err != nil {
		t.Errorf("no file: ok=%v err=%v", ok, err)
	}
	if err := WriteCapacity(dir, 11<<30); err != nil {
		t.Fatal(err)
	}
	if n, ok, err := ReadCapacity(dir); !ok || err != nil || n != 11<<30 {
		t.Errorf("ReadCapacity = %d, %v, %v", n, ok, err)
	}
}

func FuzzQcow2Header(f *testing.F) {
	h := make([]byte, 128)
	copy(h, "QFI\xfb\x00\x00\x00\x03")
	h[15], h[19] = 72, 10
	copy(h[72:], "../../x.raw")
	f.Add(h)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseQcow2Header(bytes.NewReader(b))
	})
}
