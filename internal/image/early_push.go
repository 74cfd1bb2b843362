package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// earlyPush uploads a layer to the registry while it is being received, so
// the push overlaps the download instead of reading the spooled disk again
// afterwards. It uses the registry's streamed blob upload (POST, a chunked
// PATCH, then PUT with the digest once known). It is best effort: if the
// upload fails, writes are dropped and the normal push sends the layer;
// when it succeeds, the normal push finds the blob present and skips it.
// Nothing refers to the blob until the manifest is pushed, which happens
// only after the disk was inspected, so a rejected disk never becomes an
// image (the registry's garbage collection removes the orphan blob).
type earlyPush struct {
	pw     *io.PipeWriter
	digest chan v1.Hash
	done   chan error
	failed bool
}

// startEarlyPush begins the upload of a blob into dst's repository.
func startEarlyPush(ctx context.Context, dst Destination, ref name.Reference) (*earlyPush, error) {
	rt, auth, err := dst.transport(ref)
	if err != nil {
		return nil, err
	}
	repo := ref.Context()
	tr, err := transport.NewWithContext(ctx, repo.Registry, auth, rt, []string{repo.Scope(transport.PushScope)})
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", repo.RegistryStr(), err)
	}
	scheme := "https"
	if dst.Insecure {
		scheme = "http"
	}
	start := &url.URL{Scheme: scheme, Host: repo.RegistryStr(), Path: "/v2/" + repo.RepositoryStr() + "/blobs/uploads/"}
	pr, pw := io.Pipe()
	e := &earlyPush{pw: pw, digest: make(chan v1.Hash, 1), done: make(chan error, 1)}
	client := &http.Client{Transport: tr}
	go func() {
		err := e.upload(ctx, client, start, pr)
		// Unblock a writer still feeding a failed upload.
		pr.CloseWithError(errors.Join(err, io.ErrClosedPipe))
		e.done <- err
	}()
	return e, nil
}

func (e *earlyPush) upload(ctx context.Context, c *http.Client, start *url.URL, body io.Reader) error {
	loc, err := e.step(ctx, c, http.MethodPost, start, nil, http.StatusAccepted)
	if err != nil {
		return err
	}
	if loc, err = e.step(ctx, c, http.MethodPatch, loc, body, http.StatusAccepted); err != nil {
		return err
	}
	var d v1.Hash
	select {
	case d = <-e.digest:
	case <-ctx.Done():
		return ctx.Err()
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	_, err = e.step(ctx, c, http.MethodPut, loc, nil, http.StatusCreated)
	return err
}

// step sends one request of the upload and returns the next location.
func (e *earlyPush) step(ctx context.Context, c *http.Client, method string, u *url.URL, body io.Reader, want int) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %s", method, u.Path, resp.Status)
	}
	if method == http.MethodPut {
		return nil, nil
	}
	next, err := u.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, fmt.Errorf("%s %s: bad Location: %w", method, u.Path, err)
	}
	return next, nil
}

// Write feeds layer bytes. It never fails: a broken upload only means the
// normal push sends the layer later.
func (e *earlyPush) Write(p []byte) (int, error) {
	if !e.failed {
		if _, err := e.pw.Write(p); err != nil {
			e.failed = true
		}
	}
	return len(p), nil
}

// finish completes the upload as the blob d and reports whether the blob is
// in the registry now.
func (e *earlyPush) finish(d v1.Hash) bool {
	_ = e.pw.Close()
	e.digest <- d
	return <-e.done == nil && !e.failed
}

// abort gives up the upload; the registry forgets the session later.
func (e *earlyPush) abort() {
	e.pw.CloseWithError(errors.New("import abandoned"))
	e.digest <- v1.Hash{}
	<-e.done
}
