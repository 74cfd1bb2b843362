// Package fsutil holds small file-system helpers shared by the platform and
// the lean per-pod binary; it imports nothing but the standard library.
package fsutil

import (
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces path with data in one rename, after an fsync, so
// a crash leaves either the old file or the new one, never a torn one. The
// directory is synced after the rename too: until then the rename itself
// may be lost to a power failure, leaving the old file after the caller
// went on as if the new one were stored.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the entries of dir (files created, renamed or removed in
// it) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ResolveUnder finds a file a container spec names, for processes that run
// with a root of symlinks at the paths a container would see (DVP_ROOT): an
// absolute path is looked up under root first, a relative one is relative
// to root.
func ResolveUnder(root, p string) string {
	if p == "" || root == "" {
		return p
	}
	if !filepath.IsAbs(p) {
		return filepath.Join(root, p)
	}
	if under := filepath.Join(root, p); exists(under) {
		return under
	}
	return p
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
