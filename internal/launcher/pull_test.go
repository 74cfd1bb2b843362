package launcher

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestRunPullsImages: a disk with Pull is fetched from the registry into
// the run directory, as raw, before QEMU starts.
func TestRunPullsImages(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed")
	}
	reg := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "https://")

	data := bytes.Repeat([]byte("pulled disk "), 50000) // 600000 bytes
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "disk/", Typeflag: tar.TypeDir, Mode: 0o755})
	_ = tw.WriteHeader(&tar.Header{Name: "disk/disk.img", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
	_, _ = tw.Write(data)
	_ = tw.Close()
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/vi/ns/image:uid")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithTransport(reg.Client().Transport)); err != nil {
		t.Fatal(err)
	}

	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/dvcr"), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: reg.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(root, "etc/dvcr/ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}

	run := func(size int64) (Outcome, string, string) {
		runDir := filepath.Join(t.TempDir(), "run")
		cfg := Config{
			Namespace: "ns", Name: "pull", UID: testUID, Paravirtualization: true,
			CPU: CPU{Type: CPUModel, Model: "qemu64", Cores: 1}, MemoryMiB: 64, Accel: AccelTCG,
			Disks: []Disk{{Name: "image", Kind: "VirtualImage", CDROM: true, Pull: &Pull{Ref: ref.String(), CAFile: "/etc/dvcr/ca.crt", Size: size}}},
		}
		t.Setenv("DVP_FAKE_QEMU", "shutdown")
		out := &syncBuffer{}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		o := Run(ctx, cfg, RunEnv{Root: root, RunDir: runDir, Stdout: out, Stderr: out, QEMU: os.Args[0]})
		return o, runDir, out.String()
	}

	o, runDir, log := run(1 << 20)
	if o.Reason != ReasonGuestShutdown {
		t.Fatalf("outcome %q; log:\n%s", o, log)
	}
	got, err := os.ReadFile(filepath.Join(runDir, "pull-0.img"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1<<20 || !bytes.Equal(got[:len(data)], data) {
		t.Errorf("pulled disk: %d bytes, content matches: %v", len(got), bytes.Equal(got[:min(len(got), len(data))], data))
	}
	if !strings.Contains(log, "pulled disk image") {
		t.Errorf("pull not logged:\n%s", log)
	}

	// A pull size smaller than the image fails before QEMU starts.
	o, _, log = run(4096)
	if o.Reason != ReasonFailed || !strings.Contains(o.Message, "disk \"image\"") {
		t.Errorf("too small: outcome %q; log:\n%s", o, log)
	}
}
