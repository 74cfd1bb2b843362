package upload

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/platform"
)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b)*8 < 128 {
			t.Fatalf("token %q: %d bits, %v", tok, len(b)*8, err)
		}
		if got, ok := ParsePath(PathPrefix + tok); !ok || got != tok {
			t.Fatalf("ParsePath does not accept token %q", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q repeated", tok)
		}
		seen[tok] = true
	}
	// Every base64url symbol shows up: the bytes are not from a narrow source.
	all := strings.Join(func() []string {
		var s []string
		for k := range seen {
			s = append(s, k)
		}
		return s
	}(), "")
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		if !strings.ContainsRune(all, c) {
			t.Errorf("symbol %q never appears in 1000 tokens", c)
		}
	}
}

func TestTokenHash(t *testing.T) {
	h := TokenHash("abc")
	if len(h) != 63 || h != TokenHash("abc") || h == TokenHash("abd") || strings.Contains(h, "abc") {
		t.Fatalf("TokenHash = %q", h)
	}
}

func TestParsePath(t *testing.T) {
	for p, want := range map[string]bool{
		"/upload/dSJSQW0fSOerjH5ziJo4PEWbnZ4q6ffc": true,
		"/upload/":      false,
		"/upload/short": false,
		"/upload/dSJSQW0fSOerjH5ziJo4PEWbnZ4q6ffc/":  false,
		"/upload/../../etc/passwdxxxxxxxxx":          false,
		"/uploads/dSJSQW0fSOerjH5ziJo4PEWbnZ4q6ffc":  false,
		"/upload/dSJSQW0fSOerjH5z%20iJo4PEWbnZ4q6ff": false,
	} {
		if _, ok := ParsePath(p); ok != want {
			t.Errorf("ParsePath(%q) ok = %v, want %v", p, ok, want)
		}
	}
}

func FuzzUploadPath(f *testing.F) {
	for _, s := range []string{"/upload/dSJSQW0fSOerjH5ziJo4PEWbnZ4q6ffc", "/upload/", "/", "", "/upload//x", "/upload/\x00\xff", "/upload/" + strings.Repeat("a", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tok, ok := ParsePath(p)
		if !ok {
			if tok != "" {
				t.Fatalf("rejected path %q gave token %q", p, tok)
			}
			return
		}
		if PathPrefix+tok != p || len(tok) < 16 || len(tok) > 128 || strings.ContainsAny(tok, "/.%?#") {
			t.Fatalf("ParsePath(%q) = %q", p, tok)
		}
		if len(TokenHash(tok)) != 63 {
			t.Fatal("bad hash")
		}
	})
}

// fixture is a VirtualImage waiting for an upload, with its Secret.
func fixture(t *testing.T) (*Gateway, client.Client, string, *v1alpha2.VirtualImage) {
	t.Helper()
	vi := &v1alpha2.VirtualImage{
		ObjectMeta: metav1.ObjectMeta{Namespace: "vms", Name: "some-image", UID: "uid-1"},
		Spec: v1alpha2.VirtualImageSpec{Storage: v1alpha2.StorageContainerRegistry,
			DataSource: v1alpha2.VirtualImageDataSource{Type: v1alpha2.DataSourceTypeUpload}},
	}
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	sec := NewSecret("vms", SecretName("vi", vi.Name), tok)
	if err := controllerutil.SetControllerReference(vi, sec, platform.Scheme()); err != nil {
		t.Fatal(err)
	}
	// A Secret of another image must not answer the token.
	other := NewSecret("vms", "vi-upload-other", "someothertoken-0123456789")
	c := fake.NewClientBuilder().WithScheme(platform.Scheme()).WithObjects(vi, sec, other).Build()
	g := New(c, c, "dvcr.example:5443", []byte("0123456789abcdef0123456789abcdef"), "", t.TempDir())
	g.Import = func(ctx context.Context, src image.Source, sums image.Checksums, dst image.Destination, _ image.Scratch, progress image.Progress) (image.Result, error) {
		rc, size, _, err := src.Open(ctx)
		if err != nil {
			return image.Result{}, err
		}
		n, err := io.Copy(io.Discard, rc)
		if err != nil {
			return image.Result{}, err
		}
		progress(n, size)
		if dst.Repository != "dvcr.example:5443/vi/vms/some-image" || dst.Tag != "uid-1" || dst.Username == "" {
			return image.Result{}, fmt.Errorf("destination %+v", dst)
		}
		return image.Result{Format: "raw", StoredBytes: n, UnpackedBytes: n}, nil
	}
	return g, c, tok, vi
}

func put(g *Gateway, token string, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPut, PathPrefix+token, body)
	w := httptest.NewRecorder()
	g.ServeHTTP(w, req)
	return w
}

func secretOf(t *testing.T, c client.Client) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "vms", Name: "vi-upload-some-image"}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLookupByTokenHash(t *testing.T) {
	g, _, tok, vi := fixture(t)
	sec, tgt, err := g.lookup(context.Background(), tok)
	if err != nil || sec == nil || sec.Name != "vi-upload-some-image" || tgt.uid != vi.UID || tgt.repository != "vi/vms/some-image" {
		t.Fatalf("lookup = %v %+v %v", sec, tgt, err)
	}
	if sec.Labels[LabelTokenHash] != TokenHash(tok) || strings.Contains(fmt.Sprint(sec.Labels), tok) {
		t.Fatalf("labels %v", sec.Labels)
	}
}

func TestUnknownToken(t *testing.T) {
	g, c, tok, _ := fixture(t)
	before := secretOf(t, c).ResourceVersion
	for _, bad := range []string{strings.Repeat("A", 43), tok[:len(tok)-1] + "x", "someothertoken-0123456789"} {
		if w := put(g, bad, strings.NewReader("data")); w.Code != http.StatusNotFound {
			t.Errorf("token %q: %d %s", bad, w.Code, w.Body)
		}
	}
	if w := put(g, "../../x", strings.NewReader("data")); w.Code != http.StatusNotFound {
		t.Errorf("bad path: %d", w.Code)
	}
	if s := secretOf(t, c); s.ResourceVersion != before || State(s) != StateWaiting {
		t.Fatalf("secret changed: %s", State(s))
	}
}

func TestUploadOnce(t *testing.T) {
	g, c, tok, _ := fixture(t)
	w := put(g, tok, strings.NewReader("hello"))
	if w.Code != http.StatusOK {
		t.Fatalf("upload: %d %s", w.Code, w.Body)
	}
	s := secretOf(t, c)
	if State(s) != StateSucceeded || !strings.Contains(string(s.Data[KeyResult]), `"format":"raw"`) {
		t.Fatalf("secret %s %s", State(s), s.Data[KeyResult])
	}
	if w := put(g, tok, strings.NewReader("again")); w.Code != http.StatusNotFound {
		t.Fatalf("second upload: %d %s", w.Code, w.Body)
	}
}

func TestConcurrentUpload(t *testing.T) {
	g, c, tok, vi := fixture(t)
	started, release := make(chan struct{}), make(chan struct{})
	inner := g.Import
	g.Import = func(ctx context.Context, src image.Source, sums image.Checksums, dst image.Destination, d image.Scratch, p image.Progress) (image.Result, error) {
		close(started)
		<-release
		return inner(ctx, src, sums, dst, d, p)
	}
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- put(g, tok, strings.NewReader("hello")) }()
	<-started
	if _, _, _, ok := g.Active(vi.UID); !ok {
		t.Fatal("upload not active")
	}
	if s := secretOf(t, c); State(s) != StateUploading {
		t.Fatalf("state %s", State(s))
	}
	if w := put(g, tok, strings.NewReader("other")); w.Code != http.StatusConflict {
		t.Fatalf("concurrent upload: %d %s", w.Code, w.Body)
	}
	close(release)
	if w := <-first; w.Code != http.StatusOK {
		t.Fatalf("first upload: %d %s", w.Code, w.Body)
	}
	if _, _, _, ok := g.Active(vi.UID); ok {
		t.Fatal("upload still active")
	}
}

func TestChecksumMismatch(t *testing.T) {
	g, c, tok, _ := fixture(t)
	g.Import = func(context.Context, image.Source, image.Checksums, image.Destination, image.Scratch, image.Progress) (image.Result, error) {
		return image.Result{}, fmt.Errorf("sha256: %w", image.ErrChecksum)
	}
	w := put(g, tok, strings.NewReader("hello"))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "checksum") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if s := secretOf(t, c); State(s) != StateFailed || string(s.Data[KeyReason]) != image.ReasonChecksum {
		t.Fatalf("secret %s %s", State(s), s.Data[KeyReason])
	}
}

func TestCancel(t *testing.T) {
	g, _, tok, vi := fixture(t)
	g.Import = func(ctx context.Context, _ image.Source, _ image.Checksums, _ image.Destination, _ image.Scratch, _ image.Progress) (image.Result, error) {
		<-ctx.Done()
		return image.Result{}, ctx.Err()
	}
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- put(g, tok, strings.NewReader("x")) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, _, _, ok := g.Active(vi.UID); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("upload never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.Cancel(vi.UID)
	if w := <-done; w.Code != http.StatusGone {
		t.Fatalf("cancelled upload: %d %s", w.Code, w.Body)
	}
}

// A VirtualDisk's upload goes to the disk's staging repository, tagged with
// its UID; a Secret named for another disk, or a disk that no longer waits,
// does not answer.
func TestDiskUpload(t *testing.T) {
	vd := &v1alpha2.VirtualDisk{
		ObjectMeta: metav1.ObjectMeta{Namespace: "vms", Name: "root", UID: "vd-uid"},
		Spec: v1alpha2.VirtualDiskSpec{DataSource: &v1alpha2.VirtualDiskDataSource{Type: v1alpha2.DataSourceTypeUpload,
			Upload: &v1alpha2.DataSourceUpload{Checksum: &v1alpha2.Checksum{SHA256: strings.Repeat("a", 64)}}}},
		Status: v1alpha2.VirtualDiskStatus{Phase: v1alpha2.VirtualDiskPhaseWaitForUserUpload},
	}
	owned := func(name, token string) *corev1.Secret {
		s := NewSecret("vms", name, token)
		if err := controllerutil.SetControllerReference(vd, s, platform.Scheme()); err != nil {
			t.Fatal(err)
		}
		return s
	}
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	misnamed := "misnamedtoken-0123456789abcdef"
	c := fake.NewClientBuilder().WithScheme(platform.Scheme()).
		WithObjects(vd, owned(SecretName("vd", "root"), tok), owned(SecretName("vi", "root"), misnamed)).Build()
	g := New(c, c, "dvcr.example:5443", []byte("0123456789abcdef0123456789abcdef"), "", t.TempDir())
	var got image.Destination
	var sums image.Checksums
	g.Import = func(ctx context.Context, src image.Source, s image.Checksums, dst image.Destination, _ image.Scratch, _ image.Progress) (image.Result, error) {
		got, sums = dst, s
		rc, _, _, err := src.Open(ctx)
		if err != nil {
			return image.Result{}, err
		}
		n, _ := io.Copy(io.Discard, rc)
		return image.Result{Format: "raw", StoredBytes: n, UnpackedBytes: n}, nil
	}
	if w := put(g, misnamed, strings.NewReader("x")); w.Code != http.StatusNotFound {
		t.Errorf("Secret named for an image but owned by a disk: %d %s", w.Code, w.Body)
	}
	if w := put(g, tok, strings.NewReader("hello")); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "VirtualDisk root") {
		t.Fatalf("disk upload: %d %s", w.Code, w.Body)
	}
	if got.Repository != "dvcr.example:5443/vd/vms/root" || got.Tag != "vd-uid" || got.Username != "push@vd/vms/root" {
		t.Errorf("destination %+v", got)
	}
	if len(sums) == 0 {
		t.Error("the disk's checksum was not passed on")
	}
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "vms", Name: "vd-upload-root"}, s); err != nil || State(s) != StateSucceeded {
		t.Fatalf("secret %v %v", State(s), err)
	}

	// A Failed disk takes no upload, even with a fresh token.
	tok2, _ := NewToken()
	vd2 := vd.DeepCopy()
	vd2.ResourceVersion, vd2.Name, vd2.UID, vd2.Status.Phase = "", "failed", "uid-2", v1alpha2.VirtualDiskPhaseFailed
	vd = vd2
	if err := c.Create(context.Background(), vd2); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), owned(SecretName("vd", "failed"), tok2)); err != nil {
		t.Fatal(err)
	}
	if w := put(g, tok2, strings.NewReader("x")); w.Code != http.StatusNotFound {
		t.Errorf("upload to a Failed disk: %d %s", w.Code, w.Body)
	}
}
