package upload

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/internal/image"
)

// failingReader yields data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// waitState polls the upload Secret until its state is want.
func waitState(t *testing.T, c client.Client, want string) *corev1.Secret {
	t.Helper()
	var s *corev1.Secret
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s = secretOf(t, c); State(s) == want {
			return s
		}
	}
	t.Fatalf("upload state %q, want %q", State(s), want)
	return nil
}

// checkInterrupted asserts a Secret put back to Waiting after an upload that
// was cut off, with a note matching re.
func checkInterrupted(t *testing.T, s *corev1.Secret, re string) {
	t.Helper()
	if State(s) != StateWaiting {
		t.Errorf("state %q, want %q", State(s), StateWaiting)
	}
	if note := string(s.Data[KeyInterrupted]); !regexp.MustCompile(re).MatchString(note) {
		t.Errorf("interrupted note %q does not match %q", note, re)
	}
	at, err := time.Parse(time.RFC3339Nano, string(s.Data[KeyInterruptedAt]))
	if err != nil || time.Since(at) > time.Minute || time.Since(at) < 0 {
		t.Errorf("interruptedAt %q: %v", s.Data[KeyInterruptedAt], err)
	}
	if len(s.Data[KeyReason]) != 0 || len(s.Data[KeyError]) != 0 {
		t.Errorf("an interrupted upload recorded a failure: %q %q", s.Data[KeyReason], s.Data[KeyError])
	}
}

// A body that breaks off puts the upload back to Waiting with the byte
// count, and the same token takes the next upload.
func TestInterruptedBody(t *testing.T) {
	g, c, tok, vi := fixture(t)
	w := put(g, tok, &failingReader{data: []byte("12345"), err: io.ErrUnexpectedEOF})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "interrupted after 5 bytes") {
		t.Fatalf("interrupted upload answered %d %s", w.Code, w.Body)
	}
	checkInterrupted(t, secretOf(t, c), `^The upload was interrupted after 5 bytes \(the client closed the connection\)$`)
	if _, _, _, ok := g.Active(vi.UID); ok {
		t.Fatal("upload still active")
	}
	if w := put(g, tok, strings.NewReader("hello")); w.Code != http.StatusOK {
		t.Fatalf("upload after the interruption: %d %s", w.Code, w.Body)
	}
	if s := secretOf(t, c); State(s) != StateSucceeded {
		t.Fatalf("state after the second upload: %s", State(s))
	}
}

// A failure of the image itself is no interruption: it stays a failure.
func TestImportFailureIsNotInterruption(t *testing.T) {
	g, c, tok, _ := fixture(t)
	g.Import = func(ctx context.Context, src image.Source, _ image.Checksums, _ image.Destination, _ image.Scratch, _ image.Progress) (image.Result, error) {
		rc, _, _, _ := src.Open(ctx)
		_, _ = io.Copy(io.Discard, rc)
		return image.Result{}, image.ErrCorrupt
	}
	if w := put(g, tok, strings.NewReader("garbage")); w.Code != http.StatusBadRequest {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if s := secretOf(t, c); State(s) != StateFailed || len(s.Data[KeyInterrupted]) != 0 {
		t.Fatalf("state %s, interrupted %q", State(s), s.Data[KeyInterrupted])
	}
}

// Over a real connection: the client dies in the middle of the body.
func TestClientDisconnects(t *testing.T) {
	g, c, tok, _ := fixture(t)
	srv := httptest.NewServer(g)
	defer srv.Close()

	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPut, srv.URL+PathPrefix+tok, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 10 << 20
	done := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if _, err := pw.Write(make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, StateUploading)
	// The transport closes the connection when the body fails.
	pw.CloseWithError(errors.New("curl was killed"))
	<-done
	checkInterrupted(t, waitState(t, c, StateWaiting), `^The upload was interrupted after \d+ bytes \(the client closed the connection\)$`)

	// The same URL works again.
	resp, err := srv.Client().Do(mustRequest(t, srv.URL+PathPrefix+tok, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload after the interruption: %s", resp.Status)
	}
}

// A client that stops sending is cut off after IdleTimeout.
func TestClientStalls(t *testing.T) {
	g, c, tok, _ := fixture(t)
	g.IdleTimeout = 300 * time.Millisecond
	srv := httptest.NewServer(g)
	defer srv.Close()

	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequest(http.MethodPut, srv.URL+PathPrefix+tok, pr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if resp, err := srv.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := pw.Write([]byte("some bytes, then nothing")); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, StateUploading)
	checkInterrupted(t, waitState(t, c, StateWaiting), `^The upload was interrupted after \d+ bytes \(nothing was received for 300ms\)$`)
}

// A client that leaves once every byte is in still gets its image: the
// import does not depend on the connection any more.
func TestClientLeavesAfterLastByte(t *testing.T) {
	g, c, tok, _ := fixture(t)
	received, release := make(chan struct{}), make(chan struct{})
	inner := g.Import
	g.Import = func(ctx context.Context, src image.Source, sums image.Checksums, dst image.Destination, d image.Scratch, p image.Progress) (image.Result, error) {
		rc, _, _, err := src.Open(ctx)
		if err != nil {
			return image.Result{}, err
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			return image.Result{}, err
		}
		close(received)
		<-release
		if ctx.Err() != nil {
			return image.Result{}, ctx.Err()
		}
		return inner(ctx, &image.ReaderSource{R: strings.NewReader(string(b))}, sums, dst, d, p)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req := mustRequest(t, srv.URL+PathPrefix+tok, "hello").WithContext(ctx)
	done := make(chan struct{})
	go func() {
		if resp, err := srv.Client().Do(req); err == nil {
			resp.Body.Close()
		}
		close(done)
	}()
	<-received
	cancel() // the client goes away
	<-done
	time.Sleep(100 * time.Millisecond) // let the server notice the closed connection
	close(release)
	waitState(t, c, StateSucceeded)
}

// The gateway stopping in the middle of an upload is an interruption too.
func TestGatewayStops(t *testing.T) {
	g, c, tok, _ := fixture(t)
	g.Import = func(ctx context.Context, _ image.Source, _ image.Checksums, _ image.Destination, _ image.Scratch, _ image.Progress) (image.Result, error) {
		<-ctx.Done()
		return image.Result{}, ctx.Err()
	}
	sctx, stop := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodPut, PathPrefix+tok, strings.NewReader("x"))
	req = req.WithContext(context.WithValue(req.Context(), serverContextKey{}, sctx))
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		w := httptest.NewRecorder()
		g.ServeHTTP(w, req)
		done <- w
	}()
	waitState(t, c, StateUploading)
	stop()
	if w := <-done; w.Code != http.StatusServiceUnavailable {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	checkInterrupted(t, secretOf(t, c), `^The upload was interrupted after 0 bytes \(the platform stopped\)$`)
}

func TestWaitingSince(t *testing.T) {
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	later := created.Add(7 * time.Minute)
	for _, tc := range []struct {
		name string
		data map[string][]byte
		want time.Time
	}{
		{"fresh", map[string][]byte{}, created},
		{"interrupted", map[string][]byte{KeyInterruptedAt: []byte(later.Format(time.RFC3339Nano))}, later},
		{"garbage", map[string][]byte{KeyInterruptedAt: []byte("yesterday")}, created},
		{"before creation", map[string][]byte{KeyInterruptedAt: []byte(created.Add(-time.Hour).Format(time.RFC3339Nano))}, created},
	} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}, Data: tc.data}
		if got := WaitingSince(s); !got.Equal(tc.want) {
			t.Errorf("%s: WaitingSince = %v, want %v", tc.name, got, tc.want)
		}
	}
	data := map[string][]byte{KeyState: []byte(StateUploading)}
	MarkInterrupted(data, "cut", later)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}, Data: data}
	if State(s) != StateWaiting || string(data[KeyInterrupted]) != "cut" || !WaitingSince(s).Equal(later) {
		t.Errorf("after MarkInterrupted: %v", data)
	}
}

func mustRequest(t *testing.T, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}
