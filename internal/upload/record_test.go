package upload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/internal/image"
)

// failingWriter refuses Secret updates that fail says to.
type failingWriter struct {
	client.Client
	fail func(data map[string][]byte) bool
}

func (w *failingWriter) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if s, ok := obj.(*corev1.Secret); ok && w.fail(s.Data) {
		return errors.New("etcdserver: request timed out")
	}
	return w.Client.Update(ctx, obj, opts...)
}

// An upload whose outcome cannot be stored must not be answered with 200:
// the image would wait for an upload the client believes done. The
// gateway answers 503, puts the upload back to Waiting when it can, and a
// retry with the same command succeeds.
func TestUploadNotRecordedIsNotDone(t *testing.T) {
	g, c, tok, _ := fixture(t)
	var failing atomic.Bool
	failing.Store(true)
	g.Writer = &failingWriter{Client: c, fail: func(data map[string][]byte) bool {
		return failing.Load() && string(data[KeyState]) == StateSucceeded
	}}
	w := put(g, tok, strings.NewReader("hello"))
	if w.Code < 500 || !strings.Contains(w.Body.String(), "could not be recorded") || !strings.Contains(w.Body.String(), "again") {
		t.Fatalf("upload with a failing record: %d %s", w.Code, w.Body)
	}
	if s := secretOf(t, c); State(s) != StateWaiting || !strings.Contains(string(s.Data[KeyInterrupted]), "could not be recorded") {
		t.Fatalf("secret after the failed record: %s %q", State(s), s.Data[KeyInterrupted])
	}
	failing.Store(false)
	if w := put(g, tok, strings.NewReader("hello")); w.Code != http.StatusOK {
		t.Fatalf("retry: %d %s", w.Code, w.Body)
	}
	if s := secretOf(t, c); State(s) != StateSucceeded {
		t.Fatalf("secret after the retry: %s", State(s))
	}
}

// When the API takes no write at all after the upload was claimed, the
// Secret stays Uploading; this gateway receives nothing for it, so a retry
// takes the upload over instead of getting 409 forever.
func TestUploadRetryAfterLostRecord(t *testing.T) {
	g, c, tok, _ := fixture(t)
	var failing atomic.Bool
	failing.Store(true)
	g.Writer = &failingWriter{Client: c, fail: func(data map[string][]byte) bool {
		return failing.Load() && string(data[KeyState]) != StateUploading
	}}
	if w := put(g, tok, strings.NewReader("hello")); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("upload with no record possible: %d %s", w.Code, w.Body)
	}
	if s := secretOf(t, c); State(s) != StateUploading {
		t.Fatalf("state %s, want the claim left over", State(s))
	}
	failing.Store(false)
	if w := put(g, tok, strings.NewReader("hello")); w.Code != http.StatusOK {
		t.Fatalf("retry: %d %s", w.Code, w.Body)
	}
	if s := secretOf(t, c); State(s) != StateSucceeded {
		t.Fatalf("secret after the retry: %s", State(s))
	}
}

// A failed upload whose failure cannot be recorded is not reported as
// final either.
func TestUploadFailureNotRecorded(t *testing.T) {
	g, c, tok, _ := fixture(t)
	g.Writer = &failingWriter{Client: c, fail: func(data map[string][]byte) bool { return string(data[KeyState]) == StateFailed }}
	g.Import = func(context.Context, image.Source, image.Checksums, image.Destination, image.Scratch, image.Progress) (image.Result, error) {
		return image.Result{}, fmt.Errorf("sha256: %w", image.ErrChecksum)
	}
	if w := put(g, tok, strings.NewReader("hello")); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if s := secretOf(t, c); State(s) != StateWaiting {
		t.Fatalf("state %s", State(s))
	}
}

// The gateway spools within its limits, and a too large upload is
// answered 413 and recorded with reason TooLarge.
func TestUploadTooLarge(t *testing.T) {
	g, c, tok, _ := fixture(t)
	g.MaxBytes = 1 << 20
	var got image.Scratch
	g.Import = func(_ context.Context, _ image.Source, _ image.Checksums, _ image.Destination, s image.Scratch, _ image.Progress) (image.Result, error) {
		got = s
		return image.Result{}, fmt.Errorf("%w: the source sent more than 1Mi", image.ErrTooLarge)
	}
	w := put(g, tok, strings.NewReader("hello"))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if got.MaxBytes != 1<<20 || !got.KeepFree || got.Dir != g.ScratchDir {
		t.Errorf("scratch %+v", got)
	}
	if s := secretOf(t, c); State(s) != StateFailed || string(s.Data[KeyReason]) != image.ReasonTooLarge {
		t.Fatalf("secret %s %s", State(s), s.Data[KeyReason])
	}
}
