package upload

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/internal/registry"
)

// ImportFunc is image.ImportWithin; tests replace it.
type ImportFunc func(ctx context.Context, src image.Source, sums image.Checksums, dst image.Destination, scratch image.Scratch, progress image.Progress) (image.Result, error)

// Gateway accepts uploads. Create it with New.
type Gateway struct {
	// Reader reads Secrets and images straight from the API (no cache), so
	// a token works as soon as its Secret exists.
	Reader client.Reader
	// Writer updates the upload Secrets.
	Writer client.Writer
	// DVCRAddress is host:port of DVCR, DVCRSecret signs its credentials,
	// CAFile verifies its certificate.
	DVCRAddress string
	DVCRSecret  []byte
	CAFile      string
	// ScratchDir holds an upload while it is inspected ("" is the system's).
	// Only the gateway uses it: whatever it holds when the gateway starts
	// was left by a gateway that died, and is removed.
	ScratchDir string
	// MaxBytes bounds an upload and what it unpacks to (0: no bound).
	MaxBytes int64
	Import   ImportFunc
	// IdleTimeout ends an upload whose client sent nothing for this long;
	// the upload counts as interrupted (zero: never).
	IdleTimeout time.Duration

	started time.Time
	mu      sync.Mutex
	active  map[types.UID]*transfer
}

type transfer struct {
	received, total atomic.Int64
	start           time.Time
	cancel          context.CancelFunc
	done            chan struct{}
	// deleted is set by Cancel (the image is going away), stopping when
	// the gateway shuts down.
	deleted, stopping atomic.Bool
}

// DefaultIdleTimeout is how long a client may send nothing before its
// upload counts as interrupted.
const DefaultIdleTimeout = 2 * time.Minute

// New returns a gateway that imports with image.Import.
func New(reader client.Reader, writer client.Writer, dvcrAddress string, dvcrSecret []byte, caFile, scratchDir string) *Gateway {
	return &Gateway{Reader: reader, Writer: writer, DVCRAddress: dvcrAddress, DVCRSecret: dvcrSecret, CAFile: caFile,
		ScratchDir: scratchDir, Import: image.ImportWithin, IdleTimeout: DefaultIdleTimeout, started: time.Now(), active: map[types.UID]*transfer{}}
}

// Started is when this gateway started: an upload recorded as started
// before it was cut off by a restart.
func (g *Gateway) Started() time.Time { return g.started }

// Active reports the upload of the image with uid in progress here:
// bytes received, total (-1 unknown) and time since it started.
func (g *Gateway) Active(uid types.UID) (received, total int64, elapsed time.Duration, ok bool) {
	g.mu.Lock()
	t := g.active[uid]
	g.mu.Unlock()
	if t == nil {
		return 0, 0, 0, false
	}
	return t.received.Load(), t.total.Load(), time.Since(t.start), true
}

// Cancel stops the upload of the image with uid, if any, and waits a while
// for it to end, so nothing is pushed after the image is gone.
func (g *Gateway) Cancel(uid types.UID) {
	g.mu.Lock()
	t := g.active[uid]
	g.mu.Unlock()
	if t == nil {
		return
	}
	t.deleted.Store(true)
	t.cancel()
	select {
	case <-t.done:
	case <-time.After(10 * time.Second):
	}
}

// Serve runs the gateway over TLS on addr until ctx is done.
func (g *Gateway) Serve(ctx context.Context, addr, certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("upload gateway certificate: %w", err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("upload gateway: %w", err)
	}
	// Holding the port, this is the platform's only gateway and no upload
	// runs yet: spool files there now are from one killed mid-upload.
	if g.ScratchDir != "" {
		removed, err := image.RemoveStale(g.ScratchDir, []string{"*"}, 0)
		if len(removed) > 0 {
			klog.FromContext(ctx).Info("Removed upload spool files left by an earlier run", "files", removed)
		}
		if err != nil {
			klog.FromContext(ctx).Error(err, "Removing upload spool files left by an earlier run")
		}
	}
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: 30 * time.Second,
		// Requests carry the gateway's context as a value: an upload runs
		// on past its client once all bytes are in, but not past shutdown.
		BaseContext: func(net.Listener) context.Context { return context.WithValue(ctx, serverContextKey{}, ctx) },
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	klog.FromContext(ctx).Info("Upload gateway serving", "address", addr)
	tl := tls.NewListener(l, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
	if err := srv.Serve(tl); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("upload gateway: %w", err)
	}
	return nil
}

// serverContextKey holds the context Serve runs under in a request's context.
type serverContextKey struct{}

// target is the image (or disk) an upload Secret belongs to.
type target struct {
	uid        types.UID
	kind, name string
	repository string
	checksums  string
}

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

// record writes the outcome into the Secret.
func (g *Gateway) record(sec *corev1.Secret, res image.Result, uerr error) error {
	return g.update(sec, func(data map[string][]byte) {
		if uerr != nil {
			data[KeyState] = []byte(StateFailed)
			data[KeyReason] = []byte(image.Reason(uerr))
			data[KeyError] = []byte(uerr.Error())
		} else {
			b, _ := json.Marshal(res)
			data[KeyState] = []byte(StateSucceeded)
			data[KeyResult] = b
		}
	})
}

// recordInterrupted puts the Secret back to Waiting, so the same token takes
// a new upload, and notes why and when: the wait for the upload starts over
// from then.
func (g *Gateway) recordInterrupted(sec *corev1.Secret, note string) error {
	return g.update(sec, func(data map[string][]byte) { MarkInterrupted(data, note, time.Now()) })
}

// update changes the Secret's data with change; it retries on conflicts
// and outlives the request.
func (g *Gateway) update(sec *corev1.Secret, change func(data map[string][]byte)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := client.ObjectKeyFromObject(sec)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &corev1.Secret{}
		if err := g.Reader.Get(ctx, key, cur); err != nil {
			return client.IgnoreNotFound(err)
		}
		if cur.Data == nil {
			cur.Data = map[string][]byte{}
		}
		change(cur.Data)
		return g.Writer.Update(ctx, cur)
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

// lookup finds the Secret of token and its image. It returns a nil Secret
// when the token names no live upload.
func (g *Gateway) lookup(ctx context.Context, token string) (*corev1.Secret, target, error) {
	list := &corev1.SecretList{}
	if err := g.Reader.List(ctx, list, client.MatchingLabels{LabelTokenHash: TokenHash(token), LabelComponent: Component}); err != nil {
		return nil, target{}, err
	}
	var matches []*corev1.Secret
	for i := range list.Items {
		s := &list.Items[i]
		if subtle.ConstantTimeCompare(s.Data[KeyToken], []byte(token)) == 1 && s.DeletionTimestamp == nil {
			matches = append(matches, s)
		}
	}
	if len(matches) != 1 {
		return nil, target{}, nil
	}
	sec := matches[0]
	tgt, ok, err := g.resolve(ctx, sec)
	if err != nil || !ok {
		return nil, target{}, err
	}
	return sec, tgt, nil
}

// resolve finds the image or disk that owns sec. The DVCR repository comes
// from the owner, never from the Secret, so a Secret a user forges in a
// namespace can only reach images and disks of that namespace.
func (g *Gateway) resolve(ctx context.Context, sec *corev1.Secret) (target, bool, error) {
	ref := metav1.GetControllerOf(sec)
	if ref == nil || !strings.HasPrefix(ref.APIVersion, v1alpha2.GroupName+"/") {
		return target{}, false, nil
	}
	var obj client.Object
	key := client.ObjectKey{Name: ref.Name}
	tgt := target{uid: ref.UID, kind: ref.Kind, name: ref.Name}
	switch ref.Kind {
	case "VirtualImage":
		if sec.Name != SecretName("vi", ref.Name) {
			return target{}, false, nil
		}
		key.Namespace, obj = sec.Namespace, &v1alpha2.VirtualImage{}
		tgt.repository = registry.VIRepository(sec.Namespace, ref.Name)
	case "ClusterVirtualImage":
		if sec.Namespace != platform.Namespace || sec.Name != SecretName("cvi", ref.Name) {
			return target{}, false, nil
		}
		obj = &v1alpha2.ClusterVirtualImage{}
		tgt.repository = registry.CVIRepository(ref.Name)
	case "VirtualDisk":
		// A disk's upload lands in its own staging repository; the disk
		// controller then writes it onto the disk's volume.
		if sec.Name != SecretName("vd", ref.Name) {
			return target{}, false, nil
		}
		key.Namespace, obj = sec.Namespace, &v1alpha2.VirtualDisk{}
		tgt.repository = registry.VDRepository(sec.Namespace, ref.Name)
	default:
		return target{}, false, nil
	}
	if err := g.Reader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return target{}, false, nil
		}
		return target{}, false, err
	}
	if obj.GetUID() != ref.UID || obj.GetDeletionTimestamp() != nil {
		return target{}, false, nil
	}
	return g.finish(obj, tgt)
}

func (g *Gateway) finish(obj client.Object, tgt target) (target, bool, error) {
	var up *v1alpha2.DataSourceUpload
	var typ v1alpha2.DataSourceType
	var phase string
	switch o := obj.(type) {
	case *v1alpha2.VirtualImage:
		typ, up, phase = o.Spec.DataSource.Type, o.Spec.DataSource.Upload, string(o.Status.Phase)
	case *v1alpha2.ClusterVirtualImage:
		typ, up, phase = o.Spec.DataSource.Type, o.Spec.DataSource.Upload, string(o.Status.Phase)
	case *v1alpha2.VirtualDisk:
		if ds := o.Spec.DataSource; ds != nil {
			typ, up = ds.Type, ds.Upload
		}
		phase = string(o.Status.Phase)
	}
	if typ != v1alpha2.DataSourceTypeUpload || phase == "Ready" || phase == "Failed" {
		return target{}, false, nil
	}
	if up != nil {
		tgt.checksums = up.Checksum.Pairs()
	}
	return tgt, true, nil
}
