package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/go-logr/logr"
)

// MinSecretLen is the shortest accepted Options.Secret: as long as an
// HMAC-SHA256 password, so the key is never easier to guess than one.
const MinSecretLen = 32

// shutdownTimeout bounds how long Run waits for requests in flight once its
// context is done; an upload still running then is cut off, and its client
// retries once the registry is back.
const shutdownTimeout = 5 * time.Second

// Options configure a Registry.
type Options struct {
	RootDir           string // blobs and metadata on disk (e.g. <data-dir>/dvcr)
	Addr              string // listen address "ip:port"; port 0 picks one (see Registry.Addr)
	CertFile, KeyFile string // TLS serving certificate (the server's CA signs it; SAN = node IP)
	Secret            []byte // HMAC key for scoped credentials; the caller persists it (>= MinSecretLen bytes)

	// PodExists reports whether a pod with the UID exists now; credentials
	// made by PodCredentials work only while it does. Nil refuses them all.
	// It is called on every request made with such credentials, so it
	// should read a cache (an informer's indexer).
	PodExists func(uid string) bool

	// Logger receives distribution's own logs, all at V(2) and above (see
	// log.go). The zero value discards them.
	Logger logr.Logger
}

// Registry is DVCR: distribution's registry application on a filesystem
// root, behind scoped Basic authentication, plus the storage operations the
// platform needs (repository deletion, garbage collection).
type Registry struct {
	opts   Options
	logCtx func(context.Context) context.Context // routes distribution's logs

	app     *handlers.App
	handler http.Handler

	// driver and ns address the same files as app, for DeleteRepository
	// and GarbageCollect. The app keeps no cache of blob descriptors (no
	// storage "cache" setting), so what they delete is gone for it too.
	driver storagedriver.StorageDriver
	ns     distribution.Namespace

	gate   *gate
	pushes *pushTracker

	ready   chan struct{}
	addr    atomic.Value // string, set before ready is closed
	running atomic.Bool
}

// New checks o and builds a Registry; Run serves it.
func New(o Options) (*Registry, error) {
	if o.RootDir == "" {
		return nil, fmt.Errorf("%w: RootDir is empty", ErrInvalidOptions)
	}
	if o.Addr == "" {
		return nil, fmt.Errorf("%w: Addr is empty", ErrInvalidOptions)
	}
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, fmt.Errorf("%w: CertFile and KeyFile are required", ErrInvalidOptions)
	}
	if len(o.Secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: Secret has %d bytes, want at least %d", ErrInvalidOptions, len(o.Secret), MinSecretLen)
	}
	if err := registerOnce(); err != nil {
		return nil, fmt.Errorf("registering access controller: %w", err)
	}
	// These directories exist from the start: distribution's mark and
	// sweep fails on a registry nothing was ever pushed to.
	for _, d := range []string{repositoriesDir, blobsDir} {
		if err := os.MkdirAll(filepath.Join(o.RootDir, filepath.FromSlash(d)), 0o700); err != nil {
			return nil, fmt.Errorf("creating registry root: %w", err)
		}
	}

	entry := newLogrusEntry(o.Logger)
	r := &Registry{
		opts:   o,
		logCtx: func(ctx context.Context) context.Context { return withLogrus(ctx, entry) },
		gate:   newGate(),
		ready:  make(chan struct{}),
	}
	ac := &accessController{secret: o.Secret, podExists: o.PodExists}

	app, err := newApp(r.logCtx(context.Background()), r.config(ac))
	if err != nil {
		return nil, err
	}
	r.app = app

	r.driver = filesystem.New(filesystem.DriverParameters{RootDirectory: o.RootDir, MaxThreads: 100})
	r.ns, err = storage.NewRegistry(r.logCtx(context.Background()), r.driver, storage.EnableDelete)
	if err != nil {
		return nil, fmt.Errorf("creating storage namespace: %w", err)
	}

	router := v2.Router() // only to name routes; the app has its own
	r.pushes = &pushTracker{
		gate:     r.gate,
		grace:    defaultPushGrace,
		router:   router,
		sessions: map[string]*pushSession{},
		mayPush: func(req *http.Request, repo string) bool {
			user, pass, ok := req.BasicAuth()
			if !ok {
				return false
			}
			s, err := ac.verify(user, pass)
			return err == nil && s.allows(pushAccess(repo))
		},
	}
	r.handler = r.pushes.wrap(dropForeignMounts(ac, router, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.app.ServeHTTP(w, req.WithContext(r.logCtx(req.Context())))
	})))
	return r, nil
}

// config is distribution's configuration for this registry.
func (r *Registry) config(ac *accessController) *configuration.Configuration {
	c := &configuration.Configuration{Version: configuration.CurrentVersion}
	c.HTTP.Addr = r.opts.Addr
	// Signs upload-state tokens; derived so uploads survive a restart. It is
	// also the password of a username the controller never accepts.
	c.HTTP.Secret = password(r.opts.Secret, "dvcr http secret")
	c.HTTP.Headers = http.Header{"X-Content-Type-Options": {"nosniff"}}
	c.Log.AccessLog.Disabled = true
	c.Storage = configuration.Storage{
		"filesystem": {"rootdirectory": r.opts.RootDir},
		"delete":     {"enabled": true}, // manifest DELETE, for admin credentials
		"redirect":   {"disable": true},
		// runPurger replaces distribution's purger, which logs globally.
		"maintenance": {"uploadpurging": map[any]any{"enabled": false}},
	}
	c.Auth = configuration.Auth{accessControllerName: {controllerOption: ac}}
	return c
}

// newApp wraps handlers.NewApp, which reports bad configuration by panicking.
func newApp(ctx context.Context, c *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("creating registry application: %v", p)
		}
	}()
	return handlers.NewApp(ctx, c), nil
}

// pushAccess is the access a push to repo asks for.
func pushAccess(repo string) auth.Access {
	return auth.Access{Resource: auth.Resource{Type: "repository", Name: repo}, Action: "push"}
}

// Ready is closed once the registry listens; Addr is then valid.
func (r *Registry) Ready() <-chan struct{} { return r.ready }

// Addr is the address the registry listens on, with the port chosen when
// Options.Addr asked for port 0; "" before Ready.
func (r *Registry) Addr() string {
	a, _ := r.addr.Load().(string)
	return a
}

// Run serves HTTPS until ctx is done, then stops accepting, gives requests in
// flight a few seconds, and returns nil. It may be called once. The
// certificate is read once, here: a reissued one takes effect on restart.
func (r *Registry) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer func() {
		r.pushes.close()
		_ = r.app.Shutdown() // cancels the app's context; fails only for a pull-through cache
	}()

	cert, err := tls.LoadX509KeyPair(r.opts.CertFile, r.opts.KeyFile)
	if err != nil {
		return fmt.Errorf("loading serving certificate: %w", err)
	}
	if ctx.Err() != nil {
		return nil // stopped before it started
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", r.opts.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", r.opts.Addr, err)
	}
	srv := &http.Server{
		Handler:           r.handler,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          newStdLogger(r.opts.Logger),
	}
	r.addr.Store(ln.Addr().String())
	close(r.ready)

	pctx, stopPurger := context.WithCancel(ctx)
	purgerDone := make(chan struct{})
	go func() { defer close(purgerDone); r.runPurger(pctx) }()
	defer func() { stopPurger(); <-purgerDone }()

	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving registry: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // uploads still running: cut them off
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving registry: %w", err)
	}
	return nil
}
