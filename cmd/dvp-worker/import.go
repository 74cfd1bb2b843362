package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/virtlab/dvp/internal/fsutil"
	"github.com/virtlab/dvp/internal/image"
)

// importConfig is `dvp-worker import`'s environment.
type importConfig struct {
	source    string // http | registry | dvcr | volume
	url       string // for volume: the device or the qcow2 file
	format    string // volume: raw (Block) or qcow2 (Filesystem)
	caFile    string
	checksums image.Checksums
	authFile  string
	insecure  bool // the source registry speaks plain HTTP
	dest      image.Destination
	scratch   string
	termLog   string
	// maxBytes bounds what the source sends and what it unpacks to
	// (IMPORTER_MAX_BYTES, from import.maxImageSize; 0: no bound).
	maxBytes int64
	// allowed are the exceptions to the address policy of http and
	// registry sources (IMPORTER_ALLOWED_ADDRESSES, from
	// import.allowedAddresses); nodeIP is the node address the platform
	// advertises (DVP_NODE_IP), refused like the host's own.
	allowed []image.AllowedAddress
	nodeIP  string
	root    string
	// dvcrCredentials is the node runtime's credentials file
	// (DVP_DVCR_CREDENTIALS), for a dvcr source.
	dvcrCredentials string
}

// reasonConfig marks a misconfigured importer pod, a platform bug rather
// than something the user's source did.
const reasonConfig = "InvalidConfig"

func importConfigFromEnv(getenv func(string) string) (importConfig, error) {
	root := getenv("DVP_ROOT")
	resolve := func(p string) string { return resolvePath(root, p) }
	c := importConfig{
		source:   getenv("IMPORTER_SOURCE"),
		url:      getenv("IMPORTER_URL"),
		caFile:   resolve(getenv("IMPORTER_CA_FILE")),
		authFile: resolve(getenv("IMPORTER_AUTH_FILE")),
		insecure: getenv("IMPORTER_INSECURE") == "true",
		scratch:  resolve(getenv("IMPORTER_SCRATCH")),
		termLog:  getenv("DVP_TERMINATION_LOG"),
		nodeIP:   getenv("DVP_NODE_IP"),
		root:     root,
	}
	if c.termLog == "" {
		c.termLog = filepath.Join(root, "/dev/termination-log")
	}
	switch c.source {
	case "http", "registry", "dvcr":
	case "volume":
		// The claim's volume mode says how the disk is kept.
		switch mode := getenv("IMPORTER_VOLUME_MODE"); mode {
		case "Block":
			c.format = image.FormatRaw
		case "Filesystem":
			c.format = image.FormatQCOW2
		default:
			return c, fmt.Errorf("IMPORTER_VOLUME_MODE=%q: want Block or Filesystem", mode)
		}
		c.url = resolve(c.url)
	default:
		return c, fmt.Errorf("IMPORTER_SOURCE=%q: want http, registry, dvcr or volume", c.source)
	}
	if c.url == "" {
		return c, errors.New("IMPORTER_URL is empty")
	}
	var err error
	if v := getenv("IMPORTER_MAX_BYTES"); v != "" {
		if c.maxBytes, err = strconv.ParseInt(v, 10, 64); err != nil || c.maxBytes < 0 {
			return c, fmt.Errorf("IMPORTER_MAX_BYTES=%q: want a number of bytes", v)
		}
	}
	if c.allowed, err = image.ParseAllowedAddresses(getenv("IMPORTER_ALLOWED_ADDRESSES")); err != nil {
		return c, fmt.Errorf("IMPORTER_ALLOWED_ADDRESSES: %w", err)
	}
	if c.checksums, err = image.ParseChecksums(getenv("IMPORTER_CHECKSUMS")); err != nil {
		return c, fmt.Errorf("IMPORTER_CHECKSUMS: %w", err)
	}
	if c.dest, err = image.ParseDestination(getenv("IMPORTER_DEST")); err != nil {
		return c, fmt.Errorf("IMPORTER_DEST: %w", err)
	}
	c.dest.Username = getenv("IMPORTER_DEST_USERNAME")
	c.dest.Password = getenv("IMPORTER_DEST_PASSWORD")
	if c.dest.Username == "" && getenv(image.DVCRCredentialsEnv) != "" {
		// The platform's importer: credentials from the node runtime,
		// bound to this pod.
		if c.dest.Username, c.dest.Password, err = image.DVCRCredentials(getenv, c.dest.String(), true); err != nil {
			return c, fmt.Errorf("IMPORTER_DEST: %w", err)
		}
	}
	c.dvcrCredentials = getenv(image.DVCRCredentialsEnv)
	c.dest.CAFile = resolve(getenv("IMPORTER_DEST_CA_FILE"))
	c.dest.Insecure = getenv("IMPORTER_DEST_INSECURE") == "true"
	return c, nil
}

// resolvePath finds a file the container spec names under DVP_ROOT.
func resolvePath(root, p string) string { return fsutil.ResolveUnder(root, p) }

// importOutcome is the termination message on success: the Result plus
// how long it took.
type importOutcome struct {
	image.Result
	DurationSeconds float64 `json:"durationSeconds"`
	AverageSpeed    int64   `json:"averageSpeed"` // bytes per second received
}

type importFailure struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// runImport runs one import and reports it; it returns the exit code.
func runImport(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) int {
	start := time.Now()
	cfg, err := importConfigFromEnv(getenv)
	if err != nil {
		return fail(cfg.termLog, stderr, err, reasonConfig)
	}
	scratch := cfg.scratch
	if scratch == "" {
		// The platform gives its importers a scratch volume under the
		// data directory; run by hand, the spool goes to the container
		// root (also under the data directory) or the temporary one.
		if scratch, err = os.MkdirTemp(cfg.root, "dvp-import-"); err != nil {
			return fail(cfg.termLog, stderr, err, reasonConfig)
		}
		defer os.RemoveAll(scratch)
	} else if err := os.MkdirAll(scratch, 0o700); err != nil {
		return fail(cfg.termLog, stderr, fmt.Errorf("IMPORTER_SCRATCH: %w", err), reasonConfig)
	}

	p := &progressPrinter{w: stdout, total: -1, last: start}
	fmt.Fprintf(stderr, "import: %s %s -> %s\n", cfg.source, redact(cfg.url), cfg.dest)
	res, err := p.run(func() (image.Result, error) { return doImport(ctx, cfg, scratch, p.update) })
	if err != nil {
		return fail(cfg.termLog, stderr, err, image.Reason(err))
	}
	elapsed := time.Since(start)
	out := importOutcome{Result: res, DurationSeconds: elapsed.Seconds()}
	if s := elapsed.Seconds(); s > 0 {
		out.AverageSpeed = int64(float64(res.SourceBytes) / s)
	}
	b, _ := json.Marshal(out)
	if err := os.WriteFile(cfg.termLog, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintf(stderr, "import: writing the termination message: %v\n", err)
	}
	fmt.Fprintf(stderr, "import: done: %s\n", b)
	p.final(res.SourceBytes) // the controller reads the last log line
	return 0
}

func doImport(ctx context.Context, cfg importConfig, scratch string, progress image.Progress) (image.Result, error) {
	var ca []byte
	if cfg.caFile != "" {
		b, err := os.ReadFile(cfg.caFile)
		if err != nil {
			return image.Result{}, fmt.Errorf("IMPORTER_CA_FILE: %w", err)
		}
		ca = b
	}
	var auth []byte
	if cfg.authFile != "" {
		b, err := os.ReadFile(cfg.authFile)
		if err != nil {
			return image.Result{}, fmt.Errorf("IMPORTER_AUTH_FILE: %w", err)
		}
		auth = b
	}
	var src image.Source
	switch cfg.source {
	case "http", "registry":
		// The importer runs in the host's network namespace: the user's
		// URL must not reach the host's own services.
		policy, err := image.HostAddressPolicy(cfg.allowed, cfg.nodeIP)
		if err != nil {
			return image.Result{}, err
		}
		if cfg.source == "http" {
			src = &image.HTTPSource{URL: cfg.url, CABundle: ca, Policy: policy}
		} else {
			src = &image.RegistrySource{Ref: cfg.url, DockerConfig: auth, CABundle: ca, Insecure: cfg.insecure, Policy: policy}
		}
	case "dvcr":
		from, err := image.ParseDestination(cfg.url)
		if err != nil {
			return image.Result{}, fmt.Errorf("IMPORTER_URL: %w", err)
		}
		from.CAFile, from.Insecure = cfg.caFile, cfg.insecure
		if len(auth) == 0 && cfg.dvcrCredentials != "" {
			getenv := func(string) string { return cfg.dvcrCredentials }
			if from.Username, from.Password, err = image.DVCRCredentials(getenv, cfg.url, false); err != nil {
				return image.Result{}, fmt.Errorf("IMPORTER_URL: %w", err)
			}
		} else if len(auth) > 0 {
			host, _, _ := strings.Cut(from.Repository, "/")
			if from.Username, from.Password, err = image.DockerConfigCredentials(auth, host); err != nil {
				return image.Result{}, fmt.Errorf("IMPORTER_AUTH_FILE: %w", err)
			}
		}
		return image.CopyImage(ctx, from, cfg.dest)
	case "volume":
		return image.ImportVolume(ctx, image.VolumeSource{Path: cfg.url, Format: cfg.format}, cfg.dest, scratch, progress)
	}
	return image.ImportWithin(ctx, src, cfg.checksums, cfg.dest, image.Scratch{Dir: scratch, MaxBytes: cfg.maxBytes, KeepFree: true}, progress)
}

// fail writes the failure termination message and returns exit code 1.
func fail(termLog string, stderr io.Writer, err error, reason string) int {
	msg := err.Error()
	if len(msg) > 3000 { // the termination message is cut at 4 KiB
		msg = msg[:3000] + "..."
	}
	b, _ := json.Marshal(importFailure{Error: msg, Reason: reason})
	if termLog != "" {
		if werr := os.WriteFile(termLog, append(b, '\n'), 0o644); werr != nil {
			fmt.Fprintf(stderr, "import: writing the termination message: %v\n", werr)
		}
	}
	fmt.Fprintf(stderr, "import failed (%s): %s\n", reason, msg)
	return 1
}

// progressPrinter prints "progress <percent|-> <received> <total|-> <bytes/s>"
// about every second while the import runs.
type progressPrinter struct {
	w io.Writer

	mu       sync.Mutex
	received int64
	total    int64
	last     time.Time // of the previous line
	lastRecv int64
}

func (p *progressPrinter) update(received, total int64) {
	p.mu.Lock()
	p.received, p.total = received, total
	p.mu.Unlock()
}

func (p *progressPrinter) run(f func() (image.Result, error)) (image.Result, error) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				p.print(now)
			}
		}
	}()
	res, err := f()
	close(done)
	wg.Wait()
	return res, err
}

func (p *progressPrinter) print(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var speed int64
	if d := now.Sub(p.last).Seconds(); d > 0 {
		speed = int64(float64(p.received-p.lastRecv) / d)
	}
	p.last, p.lastRecv = now, p.received
	percent, total := "-", "-"
	if p.total > 0 {
		percent = strconv.FormatFloat(min(100, float64(p.received)*100/float64(p.total)), 'f', 1, 64)
		total = strconv.FormatInt(p.total, 10)
	}
	fmt.Fprintf(p.w, "progress %s %d %s %d\n", percent, p.received, total, max(speed, 0))
}

// final prints the closing line: everything received.
func (p *progressPrinter) final(received int64) {
	p.mu.Lock()
	p.received = received
	if p.total <= 0 {
		p.total = received
	}
	p.mu.Unlock()
	p.print(time.Now())
}

// redact hides credentials and query parameters (pre-signed URLs carry
// their signature there) of a URL for the log.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return s
	}
	if u.RawQuery != "" {
		u.RawQuery = "..."
	}
	return u.Redacted()
}
