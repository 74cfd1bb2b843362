package upload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/internal/image"
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
