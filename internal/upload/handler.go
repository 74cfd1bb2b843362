package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"

	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/registry"
)

// ServeHTTP takes one upload: the file PUT or POSTed to the URL of its
// token, claimed, imported into DVCR and its outcome recorded.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		fmt.Fprintln(w, "ok")
		return
	}
	token, ok := ParsePath(r.URL.Path)
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		w.Header().Set("Allow", "PUT, POST")
		http.Error(w, "upload the file with PUT or POST (curl -T FILE URL)", http.StatusMethodNotAllowed)
		return
	}
	ctx := r.Context()
	log := klog.FromContext(ctx).WithValues("component", "upload-gateway")
	sec, tgt, err := g.lookup(ctx, token)
	if err != nil {
		log.Error(err, "Looking up an upload token")
		http.Error(w, "cannot look up the upload now, retry later", http.StatusServiceUnavailable)
		return
	}
	if sec == nil {
		http.Error(w, "no upload is expected at this URL (unknown token, or the upload is already done or expired)", http.StatusNotFound)
		return
	}
	switch State(sec) {
	case StateWaiting:
	case StateUploading:
		// This is the platform's only gateway: an upload it is not
		// receiving is one whose outcome could not be recorded (the
		// client was told to retry) or that a restart cut off, and the
		// conditional update below settles a race with the controller.
		if _, _, _, ok := g.Active(tgt.uid); ok {
			http.Error(w, "an upload to this URL is already in progress", http.StatusConflict)
			return
		}
	default:
		http.Error(w, "no upload is expected at this URL (unknown token, or the upload is already done or expired)", http.StatusNotFound)
		return
	}

	// Claim the upload: in memory against a parallel request here, in the
	// API (an update conditional on the version read) against the
	// controller expiring it.
	//
	// The import does not end with the request: a client that goes away
	// after sending every byte still gets its image (one that goes away
	// before makes the body fail). It ends with Cancel and with the gateway.
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	t := &transfer{start: time.Now(), cancel: cancel, done: make(chan struct{})}
	if sctx, ok := ctx.Value(serverContextKey{}).(context.Context); ok {
		stop := context.AfterFunc(sctx, func() { t.stopping.Store(true); cancel() })
		defer stop()
	}
	t.total.Store(-1)
	if r.ContentLength > 0 {
		t.total.Store(r.ContentLength)
	}
	g.mu.Lock()
	if g.active[tgt.uid] != nil {
		g.mu.Unlock()
		http.Error(w, "an upload to this URL is already in progress", http.StatusConflict)
		return
	}
	g.active[tgt.uid] = t
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.active, tgt.uid)
		g.mu.Unlock()
		close(t.done)
	}()
	sec.Data[KeyState] = []byte(StateUploading)
	sec.Data[KeyStartedAt] = []byte(time.Now().UTC().Format(time.RFC3339Nano))
	if err := g.Writer.Update(ctx, sec); err != nil {
		if apierrors.IsConflict(err) {
			http.Error(w, "the upload changed state meanwhile (another upload started, or it expired); check the image status", http.StatusConflict)
			return
		}
		log.Error(err, "Claiming an upload")
		http.Error(w, "cannot start the upload now, retry later", http.StatusServiceUnavailable)
		return
	}
	log.Info("Upload started", "kind", tgt.kind, "namespace", sec.Namespace, "name", tgt.name, "bytes", r.ContentLength)

	b := &body{r: r.Body, rc: http.NewResponseController(w), idle: g.IdleTimeout}
	res, err := g.upload(uctx, b, r.ContentLength, t, tgt)
	if err != nil && t.deleted.Load() {
		http.Error(w, "the image was deleted during the upload", http.StatusGone)
		return
	}
	if err != nil && (b.err != nil || t.stopping.Load()) {
		// Nothing reached DVCR (the body is spooled before the push, and
		// a push cut short writes no manifest): the image waits for the
		// upload again, with the same token.
		why, code := "the client closed the connection", http.StatusBadRequest
		var ne net.Error
		switch {
		case t.stopping.Load():
			why, code = "the platform stopped", http.StatusServiceUnavailable
		case errors.As(b.err, &ne) && ne.Timeout():
			why, code = fmt.Sprintf("nothing was received for %s", g.IdleTimeout), http.StatusRequestTimeout
		}
		note := fmt.Sprintf("The upload was interrupted after %d bytes (%s)", b.n.Load(), why)
		log.Info("Upload interrupted", "namespace", sec.Namespace, "name", tgt.name, "bytes", b.n.Load(), "err", err.Error())
		if rerr := g.recordInterrupted(sec, note); rerr != nil {
			log.Error(rerr, "Recording an interrupted upload", "namespace", sec.Namespace, "name", sec.Name)
		}
		http.Error(w, note+": upload the whole file again with the same command.", code)
		return
	}
	if rerr := g.record(sec, res, err); rerr != nil {
		// Unless the outcome is stored the image would wait for an upload
		// forever: the client must not be told it is done. Put the
		// upload back to Waiting if the API takes that at least, and ask
		// for the file again.
		log.Error(rerr, "Recording an upload's outcome", "namespace", sec.Namespace, "name", sec.Name, "uploadErr", err)
		note := fmt.Sprintf("The upload of %d bytes was received but its outcome could not be recorded", b.n.Load())
		if ierr := g.recordInterrupted(sec, note); ierr != nil {
			log.Error(ierr, "Recording an interrupted upload", "namespace", sec.Namespace, "name", sec.Name)
		}
		http.Error(w, note+": upload the whole file again with the same command.", http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		reason := image.Reason(err)
		log.Info("Upload failed", "namespace", sec.Namespace, "name", tgt.name, "reason", reason, "err", err.Error())
		code := http.StatusInternalServerError
		switch reason {
		case image.ReasonChecksum, image.ReasonUnsupportedFormat, image.ReasonCorrupt:
			code = http.StatusBadRequest
		case image.ReasonRegistryAuth:
			code = http.StatusBadGateway
		case image.ReasonTooLarge:
			code = http.StatusRequestEntityTooLarge
		case image.ReasonNoSpace:
			code = http.StatusInsufficientStorage
		}
		http.Error(w, fmt.Sprintf("upload failed (%s): %v", reason, err), code)
		return
	}
	log.Info("Upload done", "namespace", sec.Namespace, "name", tgt.name, "format", res.Format, "unpackedBytes", res.UnpackedBytes)
	fmt.Fprintf(w, "Uploaded a %s image (%d bytes unpacked) into %s %s.\n", res.Format, res.UnpackedBytes, tgt.kind, tgt.name)
}

func (g *Gateway) upload(ctx context.Context, body io.Reader, size int64, t *transfer, tgt target) (image.Result, error) {
	sums, err := image.ParseChecksums(tgt.checksums)
	if err != nil {
		return image.Result{}, fmt.Errorf("%w: spec.dataSource.upload.checksum: %v", image.ErrChecksum, err)
	}
	user, pass := registry.Credentials(g.DVCRSecret, tgt.repository, true)
	dst := image.Destination{Repository: g.DVCRAddress + "/" + tgt.repository, Tag: string(tgt.uid), Username: user, Password: pass, CAFile: g.CAFile}
	src := &image.ReaderSource{R: body, Size: size}
	scratch := image.Scratch{Dir: g.ScratchDir, MaxBytes: g.MaxBytes, KeepFree: true}
	return g.Import(ctx, src, sums, dst, scratch, func(received, total int64) {
		t.received.Store(received)
		if total > 0 {
			t.total.Store(total)
		}
	})
}

// body is an upload's request body: it counts the bytes read, keeps the
// first error reading them (the client went away or stalled) and pushes
// the read deadline on while data flows.
type body struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
	n    atomic.Int64
	err  error
	// deadline is the read deadline last set; it is moved on only once a
	// quarter of the idle time has passed, not on every read.
	deadline time.Time
}

func (b *body) Read(p []byte) (int, error) {
	if b.idle > 0 && b.rc != nil && time.Until(b.deadline) < b.idle*3/4 {
		b.deadline = time.Now().Add(b.idle)
		_ = b.rc.SetReadDeadline(b.deadline) // unsupported by a test recorder
	}
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	switch {
	case err == io.EOF:
		if b.idle > 0 && b.rc != nil {
			// The import may take minutes after the last byte; the
			// connection must not time out meanwhile.
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	case err != nil && b.err == nil:
		b.err = err
	}
	return n, err
}
