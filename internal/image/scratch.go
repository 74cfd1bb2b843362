package image

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Scratch is where an import spools the disk, and how much it may write
// there. Whoever sends the image controls how many bytes arrive and how
// far they unpack (an xz stream of zeros grows a thousandfold), so the
// limits are checked while writing, not after.
type Scratch struct {
	// Dir holds the spool file ("" is the system's temporary directory).
	Dir string
	// MaxBytes bounds the bytes received from the source and the bytes of
	// the unpacked disk (0: no bound). A source that announces more is
	// refused before the transfer.
	MaxBytes int64
	// KeepFree stops the import before the file system holding Dir has
	// less than ReserveBytes of it free (the platform's etcd, DVCR and
	// volumes usually share it).
	KeepFree bool
}

// scratchSetting names the setting that sets MaxBytes, for messages.
const scratchSetting = "import.maxImageSize"

// Free space an import leaves on the scratch file system: a GiB, or a
// twentieth of a small file system.
const (
	reserveMax      = 1 << 30
	reserveFraction = 20
	// reserveCheckEvery is how many bytes are written between checks of
	// the free space (a statfs each).
	reserveCheckEvery = 64 << 20
)

// ReserveBytes is the free space an import leaves on a file system of
// total bytes.
func ReserveBytes(total int64) int64 { return min(reserveMax, total/reserveFraction) }

// tooLarge explains a refusal by MaxBytes; what says what was too large
// ("the source sent more than 64Mi").
func (s Scratch) tooLarge(what string) error {
	return fmt.Errorf("%w: %s; an image may have at most %s on this platform (setting %s; an admin can raise it)",
		ErrTooLarge, what, FormatBytes(s.MaxBytes), scratchSetting)
}

// checkAnnounced refuses a source that announces more than MaxBytes.
func (s Scratch) checkAnnounced(size int64) error {
	if s.MaxBytes > 0 && size > s.MaxBytes {
		return s.tooLarge("the source announces " + FormatBytes(size))
	}
	return nil
}

// limitedFile is the spool file: it refuses writes beyond MaxBytes and
// writes that would leave the file system too full.
type limitedFile struct {
	f         *os.File
	scratch   Scratch
	n         int64
	lastCheck int64
}

func (w *limitedFile) Write(p []byte) (int, error) {
	if max := w.scratch.MaxBytes; max > 0 && w.n+int64(len(p)) > max {
		return 0, w.scratch.tooLarge("the image unpacks to more than " + FormatBytes(max))
	}
	if w.scratch.KeepFree && (w.n == 0 || w.n-w.lastCheck >= reserveCheckEvery) {
		w.lastCheck = w.n
		if err := checkFree(filepath.Dir(w.f.Name()), int64(len(p))+reserveCheckEvery); err != nil {
			return 0, err
		}
	}
	n, err := w.f.Write(p)
	w.n += int64(n)
	return n, err
}

// checkFree fails when writing need more bytes into dir would leave its file
// system with less than its reserve.
func checkFree(dir string, need int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil // cannot tell; the write itself reports a full disk
	}
	bsize := int64(st.Bsize)
	free, total := int64(st.Bavail)*bsize, int64(st.Blocks)*bsize
	if reserve := ReserveBytes(total); free-need < reserve {
		return fmt.Errorf("%w: the platform's data file system has %s free and keeps %s free for itself: the image does not fit; free space or move the data directory",
			ErrNoSpace, FormatBytes(free), FormatBytes(reserve))
	}
	return nil
}

var _ io.Writer = (*limitedFile)(nil)

// limitedReader fails once more than MaxBytes were read through it.
type limitedReader struct {
	r       io.Reader
	n       int64
	scratch Scratch
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if over := l.n - l.scratch.MaxBytes; over > 0 {
		// Nothing beyond the limit is passed on, so an uncompressed
		// stream is stopped here, as sent too much, rather than by the
		// spool file as unpacked too far.
		l.n -= over
		return n - int(over), l.scratch.tooLarge("the source sent more than " + FormatBytes(l.scratch.MaxBytes))
	}
	return n, err
}

// FormatBytes writes n with a binary unit, as quantities are written in
// the settings (64Mi, 256Gi); exact multiples lose no digits.
func FormatBytes(n int64) string {
	units := []string{"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	f := float64(n)
	u := ""
	for _, next := range units {
		if f < 1024 {
			break
		}
		f /= 1024
		u = next
	}
	s := strconv.FormatFloat(f, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + u
}

// RemoveStale removes the entries of dir whose names match one of the
// patterns (filepath.Match) and in which nothing changed for idle: scratch
// directories and spool files that an import killed without a chance to
// clean up (kill -9, a crash of the machine) left behind. A directory
// counts as changed when it or any file in it was modified. It returns
// what it removed.
func RemoveStale(dir string, patterns []string, idle time.Duration) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	cutoff := time.Now().Add(-idle)
	var removed []string
	var errs []error
	for _, e := range entries {
		if !matchesAny(e.Name(), patterns) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if latestChange(p).After(cutoff) {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

func matchesAny(name string, patterns []string) bool {
	for _, pat := range patterns {
		if ok, _ := filepath.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// latestChange is the newest modification time of p and, for a directory,
// of anything under it.
func latestChange(p string) time.Time {
	var latest time.Time
	_ = filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.ModTime().After(latest) {
			latest = fi.ModTime()
		}
		return nil
	})
	return latest
}
