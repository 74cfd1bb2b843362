package imagecache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/virtlab/dvp/internal/image"
)

// DirName is the cache's directory under the data directory.
const DirName = "image-cache"

const tmpPrefix = ".tmp-"

// Source is an image in DVCR and the credentials to read it.
type Source struct {
	// Ref should name the image by digest (repository@sha256:...), the one
	// its status recorded: a tag may have been moved since.
	Ref                string
	Username, Password string
	CABundle           []byte
	// Format is the format the image's status records (qcow2, raw, iso);
	// the cached file must be one, as qemu-img sees it. Empty: not checked
	// against the status, only against the image's label.
	Format string
}

// Entry is a cached image.
type Entry struct {
	// Name is the file name under the cache directory.
	Name string
	// Path is the absolute path of the file.
	Path string
	// Format is the QEMU driver that reads the file: qcow2 or raw.
	Format string
	// VirtualBytes is the size of the disk the image holds.
	VirtualBytes int64
}

// Cache is the image cache of one data directory. It is safe for
// concurrent use; concurrent Ensure calls for the same image share one fill.
type Cache struct {
	dir string

	mu      sync.Mutex
	flights map[string]*flight
	pins    map[string]int
	// verified holds the entries checked (verify) since the process
	// started; entries written by an older version are checked on first
	// use.
	verified map[string]bool

	// collectScanned, when set (tests), runs in Collect after the volumes
	// were scanned, with the lock held.
	collectScanned func()
}

type flight struct {
	done  chan struct{}
	entry Entry
	err   error
}

// New returns the cache under dataDir. Call Init before the first use.
func New(dataDir string) (*Cache, error) {
	if dataDir == "" {
		return nil, errors.New("image cache: data directory is not set")
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	return &Cache{dir: filepath.Join(abs, DirName), flights: map[string]*flight{}, pins: map[string]int{}, verified: map[string]bool{}}, nil
}

// Dir is the cache directory.
func (c *Cache) Dir() string { return c.dir }

// Init creates the cache directory and removes entries a crash left half
// written. It must run before any Ensure.
func (c *Cache) Init() error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("image cache: %w", err)
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("image cache: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.Remove(filepath.Join(c.dir, e.Name())); err != nil {
				return fmt.Errorf("image cache: removing unfinished entry: %w", err)
			}
		}
	}
	return nil
}

// driver is the QEMU driver for a stored image format. ISO images are raw
// data; other formats are not served from the cache (ok false).
func driver(format string) (string, bool) {
	switch format {
	case image.FormatQCOW2:
		return "qcow2", true
	case image.FormatRaw, image.FormatISO:
		return "raw", true
	}
	return "", false
}

// Supports reports whether images of format can back a thin clone.
func Supports(format string) bool {
	_, ok := driver(format)
	return ok
}

// entryName is the file name of an image with digest ("sha256:<hex>").
func entryName(digest, drv string) (string, error) {
	algo, hex, ok := strings.Cut(digest, ":")
	if !ok || algo != "sha256" || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", fmt.Errorf("image cache: unexpected layer digest %q", digest)
	}
	return hex + "." + drv, nil
}

// Ensure returns the cached copy of src, filling it from DVCR first if the
// cache does not hold it. The entry is pinned until unpin is called, so
// garbage collection cannot remove it while a clone is being made.
func (c *Cache) Ensure(ctx context.Context, src Source) (e Entry, unpin func(), err error) {
	rs := &image.RegistrySource{Ref: src.Ref, Username: src.Username, Password: src.Password, CABundle: src.CABundle}
	info, err := rs.Info(ctx)
	if err != nil {
		return Entry{}, nil, fmt.Errorf("reading image %s: %w", src.Ref, err)
	}
	if src.Format != "" && info.Format != src.Format {
		return Entry{}, nil, fmt.Errorf("%w: image %s is labelled %s in DVCR, its status says %s", ErrRefused, src.Ref, info.Format, src.Format)
	}
	drv, ok := driver(info.Format)
	if !ok {
		return Entry{}, nil, fmt.Errorf("image %s: %s images cannot back a thin clone", src.Ref, info.Format)
	}
	name, err := entryName(info.Digest, drv)
	if err != nil {
		return Entry{}, nil, err
	}
	unpin = c.pin(name)
	e, err = c.fill(ctx, rs, name, drv, info.VirtualBytes)
	if err != nil {
		unpin()
		return Entry{}, nil, err
	}
	return e, unpin, nil
}

func (c *Cache) pin(name string) func() {
	c.mu.Lock()
	c.pins[name]++
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			if c.pins[name]--; c.pins[name] <= 0 {
				delete(c.pins, name)
			}
			c.mu.Unlock()
		})
	}
}

// fill makes sure the entry name exists, sharing a fill in progress.
func (c *Cache) fill(ctx context.Context, rs *image.RegistrySource, name, drv string, virtual int64) (Entry, error) {
	e := Entry{Name: name, Path: filepath.Join(c.dir, name), Format: drv, VirtualBytes: virtual}
	c.mu.Lock()
	if _, err := os.Stat(e.Path); err == nil {
		done := c.verified[name]
		c.mu.Unlock()
		if !done {
			// Written by an older version, which did not check.
			if err := verify(ctx, e.Path, drv); err != nil {
				return Entry{}, fmt.Errorf("%w: cached copy of %s: %w", ErrRefused, rs.Ref, err)
			}
			c.mu.Lock()
			c.verified[name] = true
			c.mu.Unlock()
		}
		return e, nil
	}
	f, running := c.flights[name]
	if !running {
		f = &flight{done: make(chan struct{})}
		c.flights[name] = f
		go func() {
			// Detached from the first caller: a waiter that gives up
			// must not abort the fill the others wait for.
			f.entry, f.err = e, c.write(context.WithoutCancel(ctx), rs, e)
			c.mu.Lock()
			if f.err == nil {
				c.verified[name] = true
			}
			delete(c.flights, name)
			c.mu.Unlock()
			close(f.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.entry, f.err
	case <-ctx.Done():
		return Entry{}, ctx.Err()
	}
}

// write streams the disk out of DVCR into a new entry, sparsely, and
// publishes it with a rename once it is complete and synced.
func (c *Cache) write(ctx context.Context, rs *image.RegistrySource, e Entry) error {
	rc, size, _, err := rs.Open(ctx)
	if err != nil {
		return fmt.Errorf("reading image %s: %w", rs.Ref, err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(c.dir, tmpPrefix+e.Name+"-*")
	if err != nil {
		return fmt.Errorf("image cache: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	n, err := copySparse(f, rc)
	if err == nil && n != size {
		err = fmt.Errorf("image %s: got %d bytes of %d", rs.Ref, n, size)
	}
	if err == nil {
		err = f.Truncate(n)
	}
	if err == nil {
		err = f.Chmod(0o444)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("image cache: writing %s: %w", e.Name, err)
	}
	// The bytes come from DVCR, which anyone holding push credentials for
	// the repository could have written: never publish a file that would
	// make QEMU open another one.
	if err := verify(ctx, tmp, e.Format); err != nil {
		return fmt.Errorf("%w: image %s: %w", ErrRefused, rs.Ref, err)
	}
	if err := os.Rename(tmp, e.Path); err != nil {
		return fmt.Errorf("image cache: %w", err)
	}
	return syncDir(c.dir)
}

// ErrRefused: the image's bytes are not a plain disk of its format. The
// thin clone fails with this message.
var ErrRefused = errors.New("image cache: refusing the image")

// verify checks what qemu-img makes of file: the format it detects must be
// drv (the driver the entry will be opened with), and the image must name
// no backing file and no external data file. QEMU is always given the
// format and `backing: null` for a cache entry, but a file that would be
// read differently when probed is refused anyway.
func verify(ctx context.Context, file, drv string) error {
	info, err := image.Probe(ctx, file)
	if err != nil {
		return err
	}
	switch {
	case info.Format != drv:
		return fmt.Errorf("qemu-img detects a %s image, the image is %s", info.Format, drv)
	case info.BackingFile != "":
		return fmt.Errorf("the %s image names a backing file (%q)", info.Format, info.BackingFile)
	case info.DataFile != "":
		return fmt.Errorf("the %s image names an external data file (%q)", info.Format, info.DataFile)
	}
	return nil
}

// copySparse copies r to f, seeking over blocks of zeros so the file keeps
// the holes a raw image has. The caller truncates f to the length returned.
func copySparse(f *os.File, r io.Reader) (int64, error) {
	const block = 64 << 10
	buf := make([]byte, 1<<20)
	zero := make([]byte, block)
	var n int64
	for {
		m, err := io.ReadFull(r, buf)
		for off := 0; off < m; off += block {
			chunk := buf[off:min(off+block, m)]
			if bytes.Equal(chunk, zero[:len(chunk)]) {
				if _, err := f.Seek(int64(len(chunk)), io.SeekCurrent); err != nil {
					return n, err
				}
			} else if _, err := f.Write(chunk); err != nil {
				return n, err
			}
			n += int64(len(chunk))
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return n, nil
		case err != nil:
			return n, err
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Entries lists the cache's complete entries by name.
func (c *Cache) Entries() ([]string, error) {
	des, err := os.ReadDir(c.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	var out []string
	for _, d := range des {
		if !strings.HasPrefix(d.Name(), tmpPrefix) && d.Type().IsRegular() {
			out = append(out, d.Name())
		}
	}
	return out, nil
}

// Collect removes every entry that is not in keep, not pinned, not being
// filled and not the backing file of an overlay under volumesDir. It returns
// the names it removed.
//
// The volumes are scanned with the lock held, and a clone holds its pin
// (taken under the same lock) until its overlay is in place, so the two
// exclude each other: a clone pinned before the scan is skipped by its pin,
// one finished before it is seen in the scan, and one starting after waits
// and finds the entry gone, so it fills it again.
func (c *Cache) Collect(keep map[string]bool, volumesDir string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	used, err := BackingReferences(volumesDir)
	if err != nil {
		return nil, err
	}
	if c.collectScanned != nil {
		c.collectScanned()
	}
	names, err := c.Entries()
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, n := range names {
		if keep[n] || used[n] || c.pins[n] > 0 || c.flights[n] != nil {
			continue
		}
		if err := os.Remove(filepath.Join(c.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("image cache: %w", err)
		}
		delete(c.verified, n)
		removed = append(removed, n)
	}
	return removed, nil
}

// NameOf returns the entry name an image with digest and format has, and
// whether such images are cached at all.
func NameOf(digest, format string) (string, bool) {
	drv, ok := driver(format)
	if !ok {
		return "", false
	}
	n, err := entryName(digest, drv)
	return n, err == nil
}
