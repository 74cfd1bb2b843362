package e2e

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sys/unix"

	"github.com/virtlab/dvp/internal/registry"
	"github.com/virtlab/dvp/test/harness"
)

// dvcrClient talks to a server's DVCR from the test process: over TLS
// trusting the platform CA, through sockets made inside the server's network
// namespace when it has one.
type dvcrClient struct {
	addr   string // host:port DVCR serves on
	secret []byte // signs DVCR credentials (pki/dvcr.secret)
	tr     http.RoundTripper
}

var dvcrServingRE = regexp.MustCompile(`"DVCR serving" address="([^"]+)"`)

func newDVCRClient(t *testing.T, srv *harness.Server) *dvcrClient {
	t.Helper()
	log, err := os.ReadFile(srv.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	m := dvcrServingRE.FindSubmatch(log)
	if m == nil {
		t.Fatalf("no %q line in the server log", "DVCR serving")
	}
	secret, err := os.ReadFile(filepath.Join(srv.DataDir, "pki", "dvcr.secret"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(srv.DataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("pki/ca.crt holds no certificate")
	}
	tr := &http.Transport{
		DialContext:     netnsDialer(srv.NetNS),
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &dvcrClient{addr: string(m[1]), secret: secret, tr: tr}
}

// netnsDialer dials from a thread switched into the network namespace ns
// (the host's when ns is empty). A socket keeps the namespace it was made
// in, so the connection works from any goroutine afterwards.
func netnsDialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if ns == "" {
		return d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			orig, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			defer orig.Close()
			target, err := os.Open("/var/run/netns/" + ns)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			defer target.Close()
			if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, fmt.Errorf("setns: %w", err)}
				return
			}
			c, derr := d.DialContext(ctx, network, addr)
			if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
				// The thread stays locked in the wrong namespace and ends
				// with this goroutine.
				if c != nil {
					c.Close()
				}
				ch <- result{nil, fmt.Errorf("setns back: %w", err)}
				return
			}
			runtime.UnlockOSThread()
			ch <- result{c, derr}
		}()
		r := <-ch
		return r.c, r.err
	}
}

func (d *dvcrClient) ref(t *testing.T, repo, tag string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(d.addr + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// opts authenticates as user/pass; empty user is anonymous.
func (d *dvcrClient) opts(user, pass string) []remote.Option {
	var a authn.Authenticator = authn.Anonymous
	if user != "" {
		a = &authn.Basic{Username: user, Password: pass}
	}
	return []remote.Option{remote.WithTransport(d.tr), remote.WithAuth(a)}
}

// importerCredentials are what the controllers give an importer of repo:
// pull and push on that repository alone.
func (d *dvcrClient) importerCredentials(repo string) (string, string) {
	return registry.CredentialsUntil(d.secret, repo, true, time.Now().Add(24*time.Hour))
}

func (d *dvcrClient) admin() []remote.Option {
	return d.opts(registry.AdminCredentials(d.secret))
}

// diskFile reads the image's only layer and returns the path and SHA-256 of
// the one regular file under disk/, failing on anything else.
func diskFile(t *testing.T, img v1.Image) (path, sum string, size int64, layer v1.Hash) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("image has %d layers, want 1", len(layers))
	}
	if layer, err = layers[0].Digest(); err != nil {
		t.Fatal(err)
	}
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
			t.Fatalf("reading the layer: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		p := strings.TrimPrefix(h.Name, "./")
		if !strings.HasPrefix(p, "disk/") || strings.Count(p, "/") != 1 {
			t.Errorf("unexpected file %q in the layer", h.Name)
			continue
		}
		if path != "" {
			t.Fatalf("two disk files in the layer: %q and %q", path, p)
		}
		hash := sha256.New()
		n, err := io.Copy(hash, tr)
		if err != nil {
			t.Fatalf("reading %s from the layer: %v", p, err)
		}
		path, sum, size = p, hex.EncodeToString(hash.Sum(nil)), n
	}
	if path == "" {
		t.Fatal("no file under disk/ in the layer")
	}
	return path, sum, size, layer
}

func decodeB64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return string(b)
}

// statusCode is the HTTP status of a registry error (0 if none).
func statusCode(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

// TestDVCR pulls imported images out of DVCR with an importer's credentials
// and compares the disk with the source byte for byte, then checks what those
// credentials and no credentials at all may not do.
func TestDVCR(t *testing.T) {
	dir, sums := imageFixtures(t)
	srv := harness.Start(t, harness.Options{})
	base := serveFiles(t, srv, dir)
	srv.MustKubectl("create", "ns", "vms")
	images := map[string]string{"raw-img": "disk.img", "qcow2-img": "disk.qcow2"}
	for vi, file := range images {
		srv.MustKubectlStdin(fmt.Sprintf("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: %s, namespace: vms}\nspec:\n  storage: ContainerRegistry\n  dataSource:\n    type: HTTP\n    http: {url: %q}\n", vi, base+"/"+file), "apply", "-f", "-")
	}
	for vi := range images {
		waitFor(t, srv, "Ready", "-n", "vms", "get", "vi", vi, "-o", "jsonpath={.status.phase}")
	}
	d := newDVCRClient(t, srv)
	t.Logf("DVCR at %s", d.addr)

	layers := map[string]v1.Hash{}
	for vi, file := range images {
		t.Run("Pull/"+vi, func(t *testing.T) {
			uid := srv.MustKubectl("-n", "vms", "get", "vi", vi, "-o", "jsonpath={.metadata.uid}")
			repo := registry.VIRepository("vms", vi)
			user, pass := d.importerCredentials(repo)
			// The importer got exactly these credentials, if its Secret is
			// still there to show them.
			if r := srv.Kubectl("-n", "vms", "get", "secret", "-l", "app.kubernetes.io/component=importer", "-o",
				fmt.Sprintf(`jsonpath={.items[?(@.metadata.name=="vi-importer-%s-dvcr")].data.username}`, vi)); r.Err == nil && r.Stdout != "" {
				// The same scope; the expiry differs by when it was made.
				if got := decodeB64(t, r.Stdout); !strings.HasPrefix(got, "push@"+repo+"@") {
					t.Errorf("importer Secret username %q, want push@%s@<expiry>", got, repo)
				}
			}
			img, err := remote.Image(d.ref(t, repo, uid), d.opts(user, pass)...)
			if err != nil {
				t.Fatalf("pulling %s:%s with the importer's credentials: %v", repo, uid, err)
			}
			path, sum, size, layer := diskFile(t, img)
			layers[vi] = layer
			src, err := os.Stat(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s:%s holds %s, %d bytes, sha256 %s", repo, uid, path, size, sum)
			if size != src.Size() || sum != sums[file] {
				t.Errorf("%s in DVCR: %d bytes, sha256 %s; source %s: %d bytes, sha256 %s", path, size, sum, file, src.Size(), sums[file])
			}
			if stored := srv.MustKubectl("-n", "vms", "get", "vi", vi, "-o", "jsonpath={.status.size.storedBytes}"); stored != fmt.Sprint(size) {
				t.Errorf("status.size.storedBytes %s, the layer holds %d bytes", stored, size)
			}
		})
	}

	t.Run("ScopedCredentials", func(t *testing.T) {
		repo := registry.VIRepository("vms", "raw-img")
		user, pass := d.importerCredentials(repo)
		img, err := random.Image(1024, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range []string{registry.VIRepository("vms", "other"), registry.VIRepository("other-ns", "raw-img"), registry.VIRepository("vms", "qcow2-img"), registry.CVIRepository("raw-img")} {
			err := remote.Write(d.ref(t, other, "x"), img, d.opts(user, pass)...)
			if err == nil {
				t.Errorf("%s pushed into %s", user, other)
			} else if c := statusCode(err); c != http.StatusUnauthorized && c != http.StatusForbidden {
				t.Errorf("push into %s with %s's credentials: %v (status %d), want 401 or 403", other, repo, err, c)
			}
			if _, err := remote.Head(d.ref(t, other, "x"), d.admin()...); statusCode(err) != http.StatusNotFound {
				t.Errorf("after the refused push, %s:x: %v, want 404", other, err)
			}
		}
		// They cannot read another image either.
		if _, err := remote.Head(d.ref(t, registry.VIRepository("vms", "qcow2-img"), "latest"), d.opts(user, pass)...); statusCode(err) != http.StatusUnauthorized {
			t.Errorf("reading another repository with %s's credentials: %v, want 401", repo, err)
		}
		// Pull credentials of the repository itself cannot push.
		pu, pp := registry.Credentials(d.secret, repo, false)
		if err := remote.Write(d.ref(t, repo, "pushed-by-puller"), img, d.opts(pu, pp)...); statusCode(err) != http.StatusUnauthorized {
			t.Errorf("push with pull credentials: %v, want 401", err)
		}
		// A wrong password is refused.
		if _, err := remote.Head(d.ref(t, repo, "x"), d.opts(user, strings.Repeat("0", len(pass)))...); statusCode(err) != http.StatusUnauthorized {
			t.Errorf("wrong password: %v, want 401", err)
		}
	})

	t.Run("AnonymousPush", func(t *testing.T) {
		img, err := random.Image(1024, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, repo := range []string{registry.VIRepository("vms", "raw-img"), registry.VIRepository("vms", "anonymous")} {
			err := remote.Write(d.ref(t, repo, "anon"), img, d.opts("", "")...)
			if c := statusCode(err); c != http.StatusUnauthorized {
				t.Errorf("anonymous push into %s: %v (status %d), want 401", repo, err, c)
			}
			if _, err := remote.Head(d.ref(t, repo, "anon"), d.admin()...); statusCode(err) != http.StatusNotFound {
				t.Errorf("after the refused anonymous push, %s:anon: %v, want 404", repo, err)
			}
		}
		if _, err := remote.Head(d.ref(t, registry.VIRepository("vms", "raw-img"), "latest"), d.opts("", "")...); statusCode(err) != http.StatusUnauthorized {
			t.Errorf("anonymous read: %v, want 401", err)
		}
	})

	t.Run("DeleteFreesBlobs", func(t *testing.T) {
		layer, ok := layers["raw-img"]
		if !ok {
			t.Skip("the pull of raw-img failed")
		}
		blob := filepath.Join(srv.DataDir, "dvcr", "docker", "registry", "v2", "blobs", layer.Algorithm, layer.Hex[:2], layer.Hex, "data")
		if _, err := os.Stat(blob); err != nil {
			t.Fatalf("the layer's blob is not where distribution keeps it: %v", err)
		}
		uid := srv.MustKubectl("-n", "vms", "get", "vi", "raw-img", "-o", "jsonpath={.metadata.uid}")
		srv.MustKubectl("-n", "vms", "delete", "vi", "raw-img")
		waitBlobGone(t, blob)
		if _, err := remote.Head(d.ref(t, registry.VIRepository("vms", "raw-img"), uid), d.admin()...); statusCode(err) != http.StatusNotFound {
			t.Errorf("the deleted image's manifest: %v, want 404", err)
		}
		// The other image is untouched.
		uid = srv.MustKubectl("-n", "vms", "get", "vi", "qcow2-img", "-o", "jsonpath={.metadata.uid}")
		img, err := remote.Image(d.ref(t, registry.VIRepository("vms", "qcow2-img"), uid), d.admin()...)
		if err != nil {
			t.Fatal(err)
		}
		if _, sum, _, _ := diskFile(t, img); sum != sums["disk.qcow2"] {
			t.Errorf("qcow2-img changed after another image was deleted: sha256 %s", sum)
		}
	})
}

// TestDVCRSplitMode deletes an image while the controllers run in their own
// process (`dvp controller`), which cannot reach the registry: the server
// still deletes the image's repository and frees its blobs.
func TestDVCRSplitMode(t *testing.T) {
	dir, sums := imageFixtures(t)
	srv := harness.Start(t, harness.Options{ExternalControllers: true})
	base := serveFiles(t, srv, dir)
	srv.MustKubectl("create", "ns", "vms")
	srv.MustKubectlStdin(fmt.Sprintf("apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: raw-img, namespace: vms}\nspec:\n  storage: ContainerRegistry\n  dataSource:\n    type: HTTP\n    http: {url: %q}\n", base+"/disk.img"), "apply", "-f", "-")
	waitFor(t, srv, "Ready", "-n", "vms", "get", "vi", "raw-img", "-o", "jsonpath={.status.phase}")
	d := newDVCRClient(t, srv)
	uid := srv.MustKubectl("-n", "vms", "get", "vi", "raw-img", "-o", "jsonpath={.metadata.uid}")
	repo := registry.VIRepository("vms", "raw-img")
	img, err := remote.Image(d.ref(t, repo, uid), d.opts(d.importerCredentials(repo))...)
	if err != nil {
		t.Fatalf("pulling %s:%s: %v", repo, uid, err)
	}
	_, sum, _, layer := diskFile(t, img)
	if sum != sums["disk.img"] {
		t.Errorf("DVCR holds sha256 %s, the source %s", sum, sums["disk.img"])
	}
	blob := filepath.Join(srv.DataDir, "dvcr", "docker", "registry", "v2", "blobs", layer.Algorithm, layer.Hex[:2], layer.Hex, "data")
	if _, err := os.Stat(blob); err != nil {
		t.Fatalf("the layer's blob is not where distribution keeps it: %v", err)
	}
	srv.MustKubectl("-n", "vms", "delete", "vi", "raw-img")
	waitBlobGone(t, blob)
	if _, err := remote.Head(d.ref(t, repo, uid), d.admin()...); statusCode(err) != http.StatusNotFound {
		t.Errorf("the deleted image's manifest: %v, want 404", err)
	}
}

// waitBlobGone waits until DVCR's garbage collection removed the blob file.
func waitBlobGone(t *testing.T, blob string) {
	t.Helper()
	for i := 0; ; i++ {
		_, err := os.Stat(blob)
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if i == 600 {
			t.Fatalf("the layer blob of the deleted image is still in DVCR: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
