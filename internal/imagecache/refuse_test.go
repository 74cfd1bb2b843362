package imagecache

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/virtlab/dvp/internal/image/imagetest"
)

// pushForged writes an image the way someone holding push credentials
// could, bypassing the importer's checks: disk/<file> holding b, labelled
// with format.
func (d *testDVCR) pushForged(t *testing.T, repo, tag, file string, b []byte, format string, virtual int64) Source {
	t.Helper()
	img := imagetest.DiskImage(t, file, b, format, virtual)
	ref, err := name.ParseReference(d.host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithTransport(d.srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	return Source{Ref: ref.String(), CABundle: d.ca}
}

// qcow2With makes a small qcow2 file with the extra qemu-img create options.
func qcow2With(t *testing.T, opts ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "x.qcow2")
	args := append([]string{"create", "-q", "-f", "qcow2"}, opts...)
	args = append(args, p, "1M")
	if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEnsureRefusesHostileImages: what DVCR hands the cache is checked with
// qemu-img before it is published; a chain out of the cache never is.
func TestEnsureRefusesHostileImages(t *testing.T) {
	needQemuImg(t)
	d := newTestDVCR(t)
	host := filepath.Join(t.TempDir(), "host-disk")
	if err := os.WriteFile(host, bytes.Repeat([]byte("HOST-SECRET "), 1<<16), 0o600); err != nil {
		t.Fatal(err)
	}
	dataFileDir := t.TempDir()
	plain := qcow2With(t)
	cases := []struct {
		name, format, want string
		b                  []byte
		statusFormat       string
	}{
		{name: "backing file", format: "qcow2", b: qcow2With(t, "-b", host, "-F", "raw"), want: "backing file"},
		{name: "data file", format: "qcow2", b: qcow2With(t, "-o", "data_file="+filepath.Join(dataFileDir, "data.raw")), want: "data file"},
		// A qcow2 labelled raw: QEMU would open it as raw, but a probe
		// says otherwise, and the status says raw.
		{name: "format mismatch", format: "raw", b: qcow2With(t, "-b", host, "-F", "raw"), want: "detects a qcow2 image"},
		{name: "label differs from the status", format: "qcow2", b: plain, statusFormat: "raw", want: "its status says raw"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := New(t.TempDir())
			if err := c.Init(); err != nil {
				t.Fatal(err)
			}
			src := d.pushForged(t, "vi/ns/img"+strconv.Itoa(i), "uid", "disk.img", tc.b, tc.format, 1<<20)
			src.Format = tc.statusFormat
			_, _, err := c.Ensure(testCtx(t), src)
			if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Ensure = %v, want a refusal mentioning %q", err, tc.want)
			}
			if names, _ := c.Entries(); len(names) != 0 {
				t.Errorf("refused image left entries %v", names)
			}
		})
	}
	// The same checks accept a plain qcow2 whose status agrees.
	c, _ := New(t.TempDir())
	if err := c.Init(); err != nil {
		t.Fatal(err)
	}
	src := d.pushForged(t, "vi/ns/plain", "uid", "disk.qcow2", plain, "qcow2", 1<<20)
	src.Format = "qcow2"
	if _, unpin, err := c.Ensure(testCtx(t), src); err != nil {
		t.Fatalf("plain qcow2: %v", err)
	} else {
		unpin()
	}
}

// TestCollectWhileCloning makes a clone happen exactly while a collection
// runs, after it scanned the volumes: the entry the new overlay uses must
// survive. Collect used to scan before taking the lock, and a clone that
// pinned, wrote its overlay and unpinned in between lost its backing file.
func TestCollectWhileCloning(t *testing.T) {
	needQemuImg(t)
	d := newTestDVCR(t)
	src := d.push(t, "vi/ns/a", "uid-a", rawDisk(1<<20), "a.img")
	data := t.TempDir()
	c, _ := New(data)
	if err := c.Init(); err != nil {
		t.Fatal(err)
	}
	volumes := filepath.Join(data, "volumes")
	if err := os.MkdirAll(volumes, 0o755); err != nil {
		t.Fatal(err)
	}
	// clone is what the provisioner does: pin, write the overlay in a
	// temporary directory, publish it, unpin.
	clone := func(i int) error {
		e, unpin, err := c.Ensure(testCtx(t), src)
		if err != nil {
			return err
		}
		defer unpin()
		tmp := filepath.Join(volumes, ".tmp-pv-"+strconv.Itoa(i))
		if err := os.Mkdir(tmp, 0o777); err != nil {
			return err
		}
		if err := CreateOverlay(testCtx(t), tmp, e, 2<<20); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(volumes, "pv-"+strconv.Itoa(i)))
	}
	if err := clone(0); err != nil { // fills the entry
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(volumes, "pv-0")); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		var wg sync.WaitGroup
		start, done := make(chan struct{}), make(chan struct{})
		var cloneErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			<-start
			cloneErr = clone(i)
		}()
		var once sync.Once
		c.collectScanned = func() {
			once.Do(func() {
				close(start)
				// Give the clone every chance to run now; with the fix it
				// cannot get its pin until Collect is done.
				select {
				case <-done:
				case <-time.After(200 * time.Millisecond):
				}
			})
		}
		if _, err := c.Collect(map[string]bool{}, volumes); err != nil {
			t.Fatal(err)
		}
		c.collectScanned = nil
		wg.Wait()
		if cloneErr != nil {
			t.Fatal(cloneErr)
		}
		h, err := ReadQcow2Header(filepath.Join(volumes, "pv-"+strconv.Itoa(i), OverlayName))
		if err != nil {
			t.Fatal(err)
		}
		backing := filepath.Join(volumes, "pv-"+strconv.Itoa(i), h.Backing)
		if _, err := os.Stat(backing); err != nil {
			t.Fatalf("round %d: the collection removed the backing file of a disk cloned while it ran: %v", i, err)
		}
		// Next round starts from no disk at all.
		if err := os.RemoveAll(filepath.Join(volumes, "pv-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
}
