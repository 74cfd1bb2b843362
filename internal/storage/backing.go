package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Modes of what lies under <dataDir>/volumes.
const (
	volumesDirMode = 0o755
	// A Filesystem volume is writable by every uid: nothing here applies a
	// pod's fsGroup, so, as with local-path-provisioner, a workload under any
	// user must be able to write its volume.
	filesystemDirMode = 0o777
	blockFileMode     = 0o660
)

// volumeStore creates, grows and removes the backing of volumes in one
// directory. Each creation builds the volume under a temporary name and
// renames it into place, so a crash never leaves a half-made volume under a
// name that a PersistentVolume could point at.
type volumeStore struct {
	dir string // absolute
}

func newVolumeStore(dataDir string) (volumeStore, error) {
	if dataDir == "" {
		return volumeStore{}, errors.New("data directory is not set")
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return volumeStore{}, fmt.Errorf("resolving data directory: %w", err)
	}
	return volumeStore{dir: filepath.Join(abs, volumesDirName)}, nil
}

// init creates the volumes directory and clears what a crash left under
// construction. It must only run while no creation is in flight.
func (s volumeStore) init() error {
	if err := os.MkdirAll(s.dir, volumesDirMode); err != nil {
		return fmt.Errorf("creating volumes directory: %w", err)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("reading volumes directory: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
				return fmt.Errorf("removing unfinished volume: %w", err)
			}
		}
	}
	return nil
}

// path is where the volume named name lives.
func (s volumeStore) path(name string, block bool) string {
	if block {
		return filepath.Join(s.dir, name+blockSuffix)
	}
	return filepath.Join(s.dir, name)
}

// checkName refuses names that could escape the volumes directory. PV names
// are DNS subdomains, which already rules out "/" and "..".
func checkName(name string) error {
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return fmt.Errorf("volume name %q: %s", name, strings.Join(msgs, "; "))
	}
	return nil
}

// createDirectory makes the Filesystem volume name and returns its path. A
// volume that already exists is returned as it is: the provisioning library
// calls again when storing the PersistentVolume failed after a success here.
func (s volumeStore) createDirectory(name string) (string, error) {
	return s.createDirectoryWith(name, nil)
}

// createDirectoryWith is createDirectory with populate run on the directory
// before it is published, so a volume is never seen half-filled.
func (s volumeStore) createDirectoryWith(name string, populate func(dir string) error) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	final := s.path(name, false)
	switch fi, err := os.Lstat(final); {
	case err == nil && fi.IsDir():
		return final, nil
	case err == nil:
		return "", fmt.Errorf("%s exists and is not a directory", final)
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("checking volume: %w", err)
	}
	if err := os.MkdirAll(s.dir, volumesDirMode); err != nil {
		return "", fmt.Errorf("creating volumes directory: %w", err)
	}
	tmp := filepath.Join(s.dir, tmpPrefix+name)
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("clearing unfinished volume: %w", err)
	}
	if err := os.Mkdir(tmp, filesystemDirMode); err != nil {
		return "", fmt.Errorf("creating volume directory: %w", err)
	}
	// Mkdir's mode is filtered by the umask; the volume must be writable by all.
	if err := os.Chmod(tmp, filesystemDirMode); err != nil {
		return "", fmt.Errorf("setting volume directory mode: %w", err)
	}
	if populate != nil {
		if err := populate(tmp); err != nil {
			_ = os.RemoveAll(tmp)
			return "", err
		}
	}
	if err := s.commit(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	return final, nil
}

// createBlock makes the Block volume name, a sparse file of size bytes, and
// returns its path. An existing file is reused and grown to size if smaller.
func (s volumeStore) createBlock(name string, size int64) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	final := s.path(name, true)
	switch fi, err := os.Lstat(final); {
	case err == nil && fi.Mode().IsRegular():
		if err := growFile(final, size); err != nil {
			return "", err
		}
		return final, nil
	case err == nil:
		return "", fmt.Errorf("%s exists and is not a regular file", final)
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("checking volume: %w", err)
	}
	if err := os.MkdirAll(s.dir, volumesDirMode); err != nil {
		return "", fmt.Errorf("creating volumes directory: %w", err)
	}
	tmp := filepath.Join(s.dir, tmpPrefix+name+blockSuffix)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("clearing unfinished volume: %w", err)
	}
	if err := writeSparse(tmp, size); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	if err := s.commit(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return final, nil
}

func writeSparse(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, blockFileMode)
	if err != nil {
		return fmt.Errorf("creating volume file: %w", err)
	}
	// Truncate extends with a hole: no blocks are allocated until written.
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("sizing volume file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing volume file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing volume file: %w", err)
	}
	return nil
}

// commit renames a finished volume into place and makes the rename durable,
// so a volume handed out survives a power loss.
func (s volumeStore) commit(tmp, final string) error {
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("publishing volume: %w", err)
	}
	return syncDir(s.dir)
}

// growFile extends the file at path to size bytes. It never shrinks a file
// and never writes data: the new range is a hole that reads as zeros.
func growFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("opening volume file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("checking volume file: %w", err)
	}
	if fi.Size() >= size {
		return nil
	}
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("growing volume file to %d bytes: %w", size, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing volume file: %w", err)
	}
	return nil
}

// remove deletes the volume name in either mode, and any unfinished copy of
// it. A volume that is already gone is not an error: deletion is retried.
func (s volumeStore) remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	for _, p := range []string{
		s.path(name, false),
		s.path(name, true),
		filepath.Join(s.dir, tmpPrefix+name),
		filepath.Join(s.dir, tmpPrefix+name+blockSuffix),
	} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("removing volume: %w", err)
		}
	}
	if err := syncDir(s.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening volumes directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing volumes directory: %w", err)
	}
	return nil
}
