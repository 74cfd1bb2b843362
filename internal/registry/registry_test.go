package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// testRegistry is a Registry serving on a random loopback port with a
// self-signed certificate, and what a client needs to reach it.
type testRegistry struct {
	*Registry
	secret []byte
	addr   string
	tr     *http.Transport // trusts the registry's certificate
}

// startRegistry starts a registry; setup, if given, runs before Run.
func startRegistry(t *testing.T, setup func(*Registry)) *testRegistry {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{
		RootDir:  filepath.Join(dir, "dvcr"),
		Addr:     "127.0.0.1:0",
		CertFile: certFile,
		KeyFile:  keyFile,
		Secret:   secret,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if setup != nil {
		setup(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-r.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("registry not ready after 10s")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &testRegistry{Registry: r, secret: secret, addr: r.Addr(), tr: tr}
}

// selfSignedCert writes a certificate for 127.0.0.1 that is its own CA.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dvcr test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// ref is repo:tag on the test registry.
func (tr *testRegistry) ref(repo, tag string) (name.Tag, error) {
	return name.NewTag(tr.addr + "/" + repo + ":" + tag)
}

// opts are client options with the given credentials (nil: anonymous).
func (tr *testRegistry) opts(a authn.Authenticator, rt http.RoundTripper) []remote.Option {
	if a == nil {
		a = authn.Anonymous
	}
	if rt == nil {
		rt = tr.tr
	}
	return []remote.Option{remote.WithAuth(a), remote.WithTransport(rt)}
}

// creds are Credentials as a client authenticator.
func (tr *testRegistry) creds(repo string, push bool) authn.Authenticator {
	user, pass := Credentials(tr.secret, repo, push)
	return &authn.Basic{Username: user, Password: pass}
}

func randomImage(t *testing.T, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// push writes img with credentials a (nil: anonymous) through rt (nil: the
// plain transport). It is safe to call from any goroutine.
func (tr *testRegistry) push(repo, tag string, img v1.Image, a authn.Authenticator, rt http.RoundTripper) error {
	ref, err := tr.ref(repo, tag)
	if err != nil {
		return err
	}
	return remote.Write(ref, img, tr.opts(a, rt)...)
}

// get reads the manifest of repo:tag with credentials a.
func (tr *testRegistry) get(repo, tag string, a authn.Authenticator) error {
	ref, err := tr.ref(repo, tag)
	if err != nil {
		return err
	}
	_, err = remote.Image(ref, tr.opts(a, nil)...)
	return err
}

// pull reads repo:tag with pull credentials and checks every blob.
func (tr *testRegistry) pull(repo, tag string) (v1.Hash, error) {
	ref, err := tr.ref(repo, tag)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := remote.Image(ref, tr.opts(tr.creds(repo, false), nil)...)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := validate.Image(img); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

// wantRefused fails unless err is the registry refusing credentials.
func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	var terr *transport.Error
	switch {
	case err == nil:
		t.Errorf("%s: succeeded, want 401/403", what)
	case !errors.As(err, &terr):
		t.Errorf("%s: %v, want a registry error 401/403", what, err)
	case terr.StatusCode != http.StatusUnauthorized && terr.StatusCode != http.StatusForbidden:
		t.Errorf("%s: status %d (%v), want 401/403", what, terr.StatusCode, err)
	}
}

func TestPushPull(t *testing.T) {
	tr := startRegistry(t, nil)
	repo := VIRepository("ns1", "img")
	img := randomImage(t, 1024, 2)

	if err := tr.push(repo, "uid1", img, tr.creds(repo, true), nil); err != nil {
		t.Fatalf("push with push credentials: %v", err)
	}
	got, err := tr.pull(repo, "uid1")
	if err != nil {
		t.Fatalf("pull with pull credentials: %v", err)
	}
	if want := digest(t, img); got != want {
		t.Errorf("pulled digest %s, pushed %s", got, want)
	}
}

func TestPushToLongestRepositoryName(t *testing.T) {
	tr := startRegistry(t, nil)
	repo := CVIRepository(strings.Repeat("a", 253))
	if len(repo) != maxRepositoryLen {
		t.Fatalf("len(repo) = %d, want %d", len(repo), maxRepositoryLen)
	}
	img := randomImage(t, 256, 1)
	if err := tr.push(repo, "v1", img, tr.creds(repo, true), nil); err != nil {
		t.Fatalf("push: %v", err)
	}
	if _, err := tr.pull(repo, "v1"); err != nil {
		t.Fatalf("pull: %v", err)
	}
}

func TestScopedCredentials(t *testing.T) {
	tr := startRegistry(t, nil)
	repo, other := VIRepository("ns1", "img"), VIRepository("ns1", "other")
	img := randomImage(t, 512, 1)

	wantRefused(t, "push to another repository with push credentials",
		tr.push(other, "uid1", img, tr.creds(repo, true), nil))
	wantRefused(t, "push with pull credentials",
		tr.push(repo, "uid1", img, tr.creds(repo, false), nil))

	// Refusals left nothing behind that pull credentials could read.
	if err := tr.push(repo, "uid1", img, tr.creds(repo, true), nil); err != nil {
		t.Fatalf("push: %v", err)
	}
	wantRefused(t, "pull with another repository's pull credentials", tr.get(repo, "uid1", tr.creds(other, false)))
}

func TestAnonymousRefused(t *testing.T) {
	tr := startRegistry(t, nil)
	repo := VIRepository("ns1", "img")
	img := randomImage(t, 512, 1)

	wantRefused(t, "anonymous push", tr.push(repo, "uid1", img, nil, nil))
	if err := tr.push(repo, "uid1", img, tr.creds(repo, true), nil); err != nil {
		t.Fatalf("push: %v", err)
	}
	wantRefused(t, "anonymous pull", tr.get(repo, "uid1", nil))
}

func TestWrongPasswordRefused(t *testing.T) {
	tr := startRegistry(t, nil)
	repo := VIRepository("ns1", "img")
	img := randomImage(t, 512, 1)
	user, pass := Credentials(tr.secret, repo, true)
	forged := []authn.Authenticator{
		&authn.Basic{Username: user, Password: strings.Repeat("0", len(pass))},
		&authn.Basic{Username: user, Password: pass[:len(pass)-1]},
		&authn.Basic{Username: user, Password: ""},
		// A valid password for another name.
		&authn.Basic{Username: "push@" + VIRepository("ns1", "other"), Password: pass},
		&authn.Basic{Username: "admin", Password: pass},
	}
	otherSecret := append([]byte{}, tr.secret...)
	otherSecret[0] ^= 1
	u, p := Credentials(otherSecret, repo, true)
	forged = append(forged, &authn.Basic{Username: u, Password: p})

	for i, a := range forged {
		wantRefused(t, fmt.Sprintf("push with forged credentials #%d", i), tr.push(repo, "uid1", img, a, nil))
	}
}

// TestPing checks the raw protocol a client sees first.
func TestPing(t *testing.T) {
	tr := startRegistry(t, nil)
	client := &http.Client{Transport: tr.tr}
	get := func(path, user, pass string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "https://"+tr.addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	resp := get("/v2/", "", "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous ping: status %d, want 401", resp.StatusCode)
	}
	if got, want := resp.Header.Get("WWW-Authenticate"), `Basic realm="dvcr"`; got != want {
		t.Errorf("anonymous ping: WWW-Authenticate %q, want %q", got, want)
	}

	user, pass := Credentials(tr.secret, VIRepository("ns1", "img"), false)
	if resp := get("/v2/", user, pass); resp.StatusCode != http.StatusOK {
		t.Errorf("ping with pull credentials: status %d, want 200", resp.StatusCode)
	}
	if resp := get("/v2/_catalog", user, pass); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("catalog with pull credentials: status %d, want 401", resp.StatusCode)
	}
	user, pass = AdminCredentials(tr.secret)
	if resp := get("/v2/_catalog", user, pass); resp.StatusCode != http.StatusOK {
		t.Errorf("catalog with admin credentials: status %d, want 200", resp.StatusCode)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	good := Options{RootDir: t.TempDir(), Addr: "127.0.0.1:0", CertFile: "c", KeyFile: "k", Secret: make([]byte, 32)}
	for name, mutate := range map[string]func(*Options){
		"no root":      func(o *Options) { o.RootDir = "" },
		"no addr":      func(o *Options) { o.Addr = "" },
		"no cert":      func(o *Options) { o.CertFile = "" },
		"short secret": func(o *Options) { o.Secret = make([]byte, 31) },
	} {
		o := good
		mutate(&o)
		if _, err := New(o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: New = %v, want ErrInvalidOptions", name, err)
		}
	}
	if _, err := New(good); err != nil {
		t.Errorf("good options: %v", err)
	}
}

// TestCopyBetweenRepositories copies an image from one repository to
// another the way a controller would, each side with its own scoped
// credentials: the client's cross-repository mount must become a plain
// upload, not a refusal.
func TestCopyBetweenRepositories(t *testing.T) {
	tr := startRegistry(t, nil)
	src, dst := VIRepository("ns1", "img"), VDRepository("ns1", "disk")
	img := randomImage(t, 2048, 2)
	if err := tr.push(src, "uid1", img, tr.creds(src, true), nil); err != nil {
		t.Fatalf("push: %v", err)
	}

	// Raw protocol: a mount from a repository the credentials cannot read.
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "https://"+tr.addr+"/v2/"+dst+"/blobs/uploads/?mount="+d.String()+"&from="+src, nil)
	if err != nil {
		t.Fatal(err)
	}
	user, pass := Credentials(tr.secret, dst, true)
	req.SetBasicAuth(user, pass)
	resp, err := (&http.Client{Transport: tr.tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("mount from an unreadable repository: status %d, want 202 (a plain upload)", resp.StatusCode)
	}

	// Through a client, reading with the source's and writing with the
	// destination's credentials.
	ref, err := tr.ref(src, "uid1")
	if err != nil {
		t.Fatal(err)
	}
	remoteImg, err := remote.Image(ref, tr.opts(tr.creds(src, false), nil)...)
	if err != nil {
		t.Fatalf("reading source: %v", err)
	}
	if err := tr.push(dst, "uid2", remoteImg, tr.creds(dst, true), nil); err != nil {
		t.Fatalf("copy: %v", err)
	}
	got, err := tr.pull(dst, "uid2")
	if err != nil {
		t.Fatalf("pull copy: %v", err)
	}
	if want := digest(t, img); got != want {
		t.Errorf("copy has digest %s, want %s", got, want)
	}
}
