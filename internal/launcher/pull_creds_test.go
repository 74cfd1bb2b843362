package launcher

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/image/imagetest"
)

// TestRunPullsByDigestWithPodCredentials: the launcher authenticates with
// the credentials file the node runtime wrote (DVP_DVCR_CREDENTIALS), and a
// pull by digest gets the image as recorded even after the tag was moved.
func TestRunPullsByDigestWithPodCredentials(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed")
	}
	const user, pass = "pull@vi/ns/image@pod=uid-1", "secret-password"
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	reg := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="dvcr"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "https://")
	ref, err := name.ParseReference(host + "/vi/ns/image:uid")
	if err != nil {
		t.Fatal(err)
	}
	push := func(data []byte) v1.Hash {
		img := imagetest.DiskImage(t, "disk.img", data, "raw", int64(len(data)))
		if err := remote.Write(ref, img, remote.WithTransport(reg.Client().Transport), remote.WithAuth(&authn.Basic{Username: user, Password: pass})); err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	good := bytes.Repeat([]byte("recorded "), 10000)
	digest := push(good)
	push(bytes.Repeat([]byte("POISONED "), 10000)) // the tag moves

	root := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: reg.Certificate().Raw})
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(t.TempDir(), "dvcr-credentials.json")
	b, _ := json.Marshal(map[string]image.DVCRCredential{"pull:vi/ns/image": {Username: user, Password: pass}})
	if err := os.WriteFile(creds, b, 0o600); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(t.TempDir(), "run")
	cfg := Config{
		Namespace: "ns", Name: "pull", UID: testUID, Paravirtualization: true,
		CPU: CPU{Type: CPUModel, Model: "qemu64", Cores: 1}, MemoryMiB: 64, Accel: AccelTCG,
		Disks: []Disk{{Name: "image", Kind: "VirtualImage", CDROM: true,
			Pull: &Pull{Ref: host + "/vi/ns/image@" + digest.String(), CAFile: "/etc/ca.crt", Size: 1 << 20}}},
	}
	t.Setenv("DVP_FAKE_QEMU", "shutdown")
	out := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := Run(ctx, cfg, RunEnv{Root: root, RunDir: runDir, Stdout: out, Stderr: out, QEMU: os.Args[0], DVCRCredentials: creds})
	if o.Reason != ReasonGuestShutdown {
		t.Fatalf("outcome %q; log:\n%s", o, out.String())
	}
	got, err := os.ReadFile(filepath.Join(runDir, "pull-0.img"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(good)], good) {
		t.Errorf("pulled disk is not the image the digest names")
	}
}
