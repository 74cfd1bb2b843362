package image

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// HTTPSource downloads an image over HTTP(S). Transient failures (resets,
// timeouts, stalls, 5xx, 429) are retried with exponential backoff; a
// broken transfer resumes with a Range request from the byte already
// received when the server supports ranges, and otherwise starts over and
// skips what was already delivered, so readers see one uninterrupted
// stream.
type HTTPSource struct {
	URL string
	// CABundle is PEM certificates to trust besides the system roots.
	CABundle []byte

	// Retries is how many consecutive failed attempts are tolerated
	// (default 6). Any progress resets the count.
	Retries int
	// Backoff is the first wait between attempts (default 1s); it doubles
	// up to MaxBackoff (default 30s).
	Backoff, MaxBackoff time.Duration
	// StallTimeout aborts and retries an attempt that received nothing
	// for this long (default 1m).
	StallTimeout time.Duration
	// Transport replaces the default transport (tests).
	Transport http.RoundTripper
	// Policy, if set, vets every address the default transport dials,
	// redirects included.
	Policy *AddressPolicy
}

func (s *HTTPSource) retries() int { return or(s.Retries, 6) }
func (s *HTTPSource) stall() time.Duration {
	return or(s.StallTimeout, time.Minute)
}

func (s *HTTPSource) backoff(failures int) time.Duration {
	d, maxD := or(s.Backoff, time.Second), or(s.MaxBackoff, 30*time.Second)
	for i := 1; i < failures && d < maxD; i++ {
		d *= 2
	}
	return min(d, maxD)
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Open sends the first request and returns once the response headers are
// in, so a missing file or an unknown host fails here.
func (s *HTTPSource) Open(ctx context.Context) (io.ReadCloser, int64, string, error) {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, 0, "", fmt.Errorf("%w: %q is not an http or https URL", ErrNotFound, s.URL)
	}
	rt := s.Transport
	if rt == nil {
		tr, err := newTransport(s.CABundle)
		if err != nil {
			return nil, 0, "", fmt.Errorf("source CA bundle: %w", err)
		}
		// The checksums cover the bytes as served: never let the client
		// undo a Content-Encoding on its own.
		tr.DisableCompression = true
		if s.Policy != nil {
			tr.DialContext = s.Policy.DialContext
		}
		rt = tr
	}
	b := &httpBody{ctx: ctx, src: s, url: u, client: &http.Client{Transport: rt}, total: -1}
	if err := b.connect(); err != nil {
		return nil, 0, "", err
	}
	return b, b.total, b.name, nil
}

// httpBody is the resuming stream. It is used by one goroutine; the stall
// timer only cancels the current attempt.
type httpBody struct {
	ctx    context.Context
	src    *HTTPSource
	url    *url.URL
	client *http.Client

	// From the first response.
	total     int64
	name      string
	validator string // strong ETag or Last-Modified, for If-Range

	offset   int64 // bytes delivered to the reader
	eof      bool
	failures int // consecutive failed attempts
	body     io.ReadCloser
	cancel   context.CancelFunc
	timer    *time.Timer
	stalled  *atomic.Bool // of the current attempt
}

func (b *httpBody) Read(p []byte) (int, error) {
	for {
		if b.eof {
			return 0, io.EOF
		}
		if b.body == nil {
			if err := b.connect(); err != nil {
				return 0, err
			}
		}
		n, err := b.body.Read(p)
		b.offset += int64(n)
		if n > 0 {
			b.failures = 0
		}
		if err == nil {
			return n, nil
		}
		if err == io.EOF && (b.total < 0 || b.offset >= b.total) {
			b.closeAttempt()
			b.eof = true
			return n, io.EOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		err = b.attemptError(err)
		b.closeAttempt()
		if !transient(err) {
			return n, err
		}
		b.failures++
		if b.failures > b.src.retries() {
			return n, fmt.Errorf("downloading %s: giving up after %d attempts at byte %d: %w", b.url.Redacted(), b.failures, b.offset, err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (b *httpBody) Close() error {
	b.closeAttempt()
	return nil
}

func (b *httpBody) closeAttempt() {
	if b.body != nil {
		_ = b.body.Close()
		b.body = nil
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	if b.cancel != nil {
		b.cancel()
	}
}

// attemptError explains an error of the current attempt: the parent
// context's error wins, and a stall says so.
func (b *httpBody) attemptError(err error) error {
	if ctxErr := b.ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if b.stalled != nil && b.stalled.Load() {
		return &stallError{after: b.src.stall()}
	}
	return err
}

type stallError struct{ after time.Duration }

func (e *stallError) Error() string { return fmt.Sprintf("no data for %v", e.after) }

// connect makes attempts until one yields a body positioned at b.offset,
// sleeping with backoff between failures.
func (b *httpBody) connect() error {
	for {
		if b.failures > 0 {
			t := time.NewTimer(b.src.backoff(b.failures))
			select {
			case <-b.ctx.Done():
				t.Stop()
				return b.ctx.Err()
			case <-t.C:
			}
		}
		err := b.attempt()
		if err == nil {
			return nil
		}
		if !transient(err) {
			return err
		}
		b.failures++
		if b.failures > b.src.retries() {
			return fmt.Errorf("downloading %s: giving up after %d attempts: %w", b.url.Redacted(), b.failures, err)
		}
	}
}

func (b *httpBody) attempt() error {
	ctx, cancel := context.WithCancel(b.ctx)
	stalled := new(atomic.Bool)
	b.stalled, b.cancel = stalled, cancel
	b.timer = time.AfterFunc(b.src.stall(), func() { stalled.Store(true); cancel() })
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url.String(), nil)
	if err != nil {
		b.closeAttempt()
		return err
	}
	resuming := b.offset > 0
	if resuming {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", b.offset))
		if b.validator != "" {
			req.Header.Set("If-Range", b.validator)
		}
	}
	resp, err := b.client.Do(req)
	if err != nil {
		err = b.attemptError(err)
		b.closeAttempt()
		return classifyHTTP(b.url, err)
	}
	b.body = &activity{r: resp.Body, timer: b.timer, stall: b.src.stall()}
	if err := b.accept(resp, resuming); err != nil {
		b.closeAttempt()
		return err
	}
	return nil
}

// accept checks a response and positions its body at b.offset.
func (b *httpBody) accept(resp *http.Response, resuming bool) error {
	u := b.url.Redacted()
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound || code == http.StatusGone:
		return fmt.Errorf("%w: GET %s: %s", ErrNotFound, u, resp.Status)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%w: GET %s: %s: the server refuses access to the file", ErrNotFound, u, resp.Status)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return &statusError{url: u, status: resp.Status}
	case code == http.StatusPartialContent && resuming:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != b.offset || (b.total >= 0 && total >= 0 && total != b.total) {
			return fmt.Errorf("GET %s: asked for bytes from %d, got range %q", u, b.offset, resp.Header.Get("Content-Range"))
		}
		return nil
	case code != http.StatusOK:
		return fmt.Errorf("GET %s: unexpected %s", u, resp.Status)
	}
	if !resuming {
		b.total = resp.ContentLength
		b.validator = validator(resp.Header)
		b.name = fileName(resp)
		return nil
	}
	// The server ignored the Range (or the file changed, answering If-Range
	// with the whole file): start over and skip what was delivered.
	if b.total >= 0 && resp.ContentLength >= 0 && resp.ContentLength != b.total {
		return fmt.Errorf("GET %s: the file changed during the download (%d bytes, was %d)", u, resp.ContentLength, b.total)
	}
	if v := validator(resp.Header); b.validator != "" && v != "" && v != b.validator {
		return fmt.Errorf("GET %s: the file changed during the download (validator %s, was %s)", u, v, b.validator)
	}
	if _, err := io.CopyN(io.Discard, b.body, b.offset); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return b.attemptError(err)
	}
	return nil
}

// activity restarts the stall timer whenever data arrives.
type activity struct {
	r     io.ReadCloser
	timer *time.Timer
	stall time.Duration
}

func (a *activity) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.timer.Reset(a.stall)
	}
	return n, err
}

func (a *activity) Close() error { return a.r.Close() }

type statusError struct{ url, status string }

func (e *statusError) Error() string { return fmt.Sprintf("GET %s: %s", e.url, e.status) }

// transient reports whether another attempt may succeed.
func transient(err error) bool {
	var (
		dnsErr    *net.DNSError
		status    *statusError
		stall     *stallError
		netErr    net.Error
		opErr     *net.OpError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		certErr   x509.CertificateInvalidError
		verifyErr *tls.CertificateVerificationError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return false // the caller's (a stall is a stallError)
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrDNS), errors.Is(err, ErrForbiddenAddress):
		return false
	case errors.As(err, &dnsErr):
		return !dnsErr.IsNotFound
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &certErr), errors.As(err, &verifyErr):
		return false
	case errors.As(err, &status), errors.As(err, &stall), errors.As(err, &netErr), errors.As(err, &opErr):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	}
	// Protocol errors from a broken connection are plain errors; retrying a
	// bounded number of times is cheap.
	var urlErr *url.Error
	return errors.As(err, &urlErr) || strings.Contains(err.Error(), "connection reset")
}

// classifyHTTP wraps a request error in the sentinel it stands for.
func classifyHTTP(u *url.URL, err error) error {
	if fe, ok := forbiddenAddress(err); ok {
		return fe // says all; the URL around it only repeats the address
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return fmt.Errorf("%w: %s: no such host %q", ErrDNS, u.Redacted(), u.Hostname())
	}
	return err
}

func validator(h http.Header) string {
	if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		return et
	}
	return h.Get("Last-Modified")
}

// parseContentRange reads "bytes START-END/TOTAL" (TOTAL may be "*").
func parseContentRange(s string) (start, total int64, ok bool) {
	s, ok = strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, tot, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, false
	}
	first, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, total, true
}

// fileName is Content-Disposition's filename, else the last segment of the
// URL's path after redirects.
func fileName(resp *http.Response) string {
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		return params["filename"]
	}
	u := resp.Request.URL
	if base := path.Base(u.Path); base != "/" && base != "." {
		return base
	}
	return ""
}
