package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Abandoned uploads (an importer that crashed mid-push) hold their data in
// the repository's _uploads directory, which garbage collection does not
// touch. Distribution's own purger does this too, but logs to logrus's
// process-wide logger, so the registry disables it and runs this one.
const (
	// maxUploadAge is far beyond any real upload, even of a large disk.
	maxUploadAge = 24 * time.Hour
	// purgeInterval is how often abandoned uploads are looked for.
	purgeInterval = time.Hour
)

// runPurger purges abandoned uploads now and every purgeInterval until ctx
// is done.
func (r *Registry) runPurger(ctx context.Context) {
	log := r.opts.Logger.WithName("purge-uploads")
	t := time.NewTicker(purgeInterval)
	defer t.Stop()
	for {
		n, err := r.purgeUploads(ctx, time.Now().Add(-maxUploadAge))
		if err != nil && ctx.Err() == nil {
			log.Error(err, "Purging abandoned uploads")
		}
		if n > 0 {
			log.Info("Purged abandoned uploads", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// purgeUploads removes the uploads started before olderThan and returns how
// many it removed.
func (r *Registry) purgeUploads(ctx context.Context, olderThan time.Time) (int, error) {
	root := filepath.Join(r.opts.RootDir, filepath.FromSlash(repositoriesDir))
	var n int
	var errs []error
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.IsDir() || !strings.HasPrefix(d.Name(), "_") {
			return nil
		}
		if d.Name() != "_uploads" {
			return filepath.SkipDir // _manifests, _layers: nothing to purge
		}
		uploads, err := os.ReadDir(path)
		if err != nil {
			errs = append(errs, err)
			return filepath.SkipDir
		}
		for _, u := range uploads {
			dir := filepath.Join(path, u.Name())
			if !u.IsDir() || !uploadStartedBefore(dir, olderThan) {
				continue
			}
			if err := os.RemoveAll(dir); err != nil {
				errs = append(errs, err)
				continue
			}
			n++
		}
		return filepath.SkipDir
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("purging uploads: %w", err)
	}
	return n, nil
}

// uploadStartedBefore reads the upload's startedat file (RFC 3339, written
// by distribution when the upload began); without a readable one, the
// directory's modification time stands in.
func uploadStartedBefore(dir string, t time.Time) bool {
	if b, err := os.ReadFile(filepath.Join(dir, "startedat")); err == nil {
		if started, err := time.Parse(time.RFC3339, strings.TrimSpace(string(b))); err == nil {
			return started.Before(t)
		}
	}
	info, err := os.Stat(dir)
	return err == nil && info.ModTime().Before(t)
}
