package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/reference"
)

// Where distribution's filesystem layout keeps repositories and blobs under
// the root directory.
const (
	repositoriesDir = "docker/registry/v2/repositories"
	blobsDir        = "docker/registry/v2/blobs"
)

// DeleteRepository removes every tag, manifest link, layer link and pending
// upload of repo, so that GarbageCollect frees the blobs only it used.
// Deleting a repository that does not exist succeeds. It runs alongside
// pushes but never during a collection, which would otherwise walk a
// directory being removed.
func (r *Registry) DeleteRepository(ctx context.Context, repo string) error {
	if _, err := reference.WithName(repo); err != nil {
		return fmt.Errorf("deleting repository %q: %w", repo, err)
	}
	if err := r.gate.rlock(ctx); err != nil {
		return fmt.Errorf("deleting repository %q: waiting for garbage collection: %w", repo, err)
	}
	defer r.gate.runlock()

	if err := storage.NewVacuum(r.logCtx(ctx), r.driver).RemoveRepository(repo); err != nil {
		return fmt.Errorf("deleting repository %q: %w", repo, err)
	}
	// Vacuum leaves the repository's own, now empty, directory. Remove it
	// only if empty: a nested repository keeps it. The parents stay, since
	// a push may be creating a sibling in them right now.
	err := os.Remove(filepath.Join(r.opts.RootDir, filepath.FromSlash(repositoriesDir), filepath.FromSlash(repo)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("deleting repository %q: %w", repo, err)
	}
	return nil
}

// GarbageCollect deletes every manifest no tag reaches and every blob no
// remaining manifest references (distribution's mark and sweep), and
// returns how many bytes the root directory shrank by.
//
// A collection must not run while a push is under way: the blobs a push has
// uploaded are referenced by nothing until its manifest is written, and the
// sweep would delete them. So it takes the exclusive side of a lock whose
// shared side every push holds, from its first write request until no
// request for that repository has arrived for a grace period (see
// pushTracker). Once a collection waits, new pushes wait for it to finish;
// pushes already under way finish first. Waiting honours ctx.
func (r *Registry) GarbageCollect(ctx context.Context) (freedBytes int64, err error) {
	if err := r.gate.lock(ctx); err != nil {
		return 0, fmt.Errorf("garbage collection: waiting for pushes to finish: %w", err)
	}
	defer r.gate.unlock()

	before, err := r.Size(ctx)
	if err != nil {
		return 0, fmt.Errorf("garbage collection: %w", err)
	}
	opts := storage.GCOpts{RemoveUntagged: true, Quiet: true}
	if err := storage.MarkAndSweep(r.logCtx(ctx), r.driver, r.ns, opts); err != nil {
		return 0, fmt.Errorf("garbage collection: %w", err)
	}
	after, err := r.Size(ctx)
	if err != nil {
		return 0, fmt.Errorf("garbage collection: %w", err)
	}
	return max(before-after, 0), nil
}

// Size returns the bytes allocated on disk under the root directory,
// directories included, as du counts them.
func (r *Registry) Size(ctx context.Context) (int64, error) {
	var total int64
	err := filepath.WalkDir(r.opts.RootDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512 // st_blocks is in 512-byte units whatever the block size
		} else {
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("measuring %s: %w", r.opts.RootDir, err)
	}
	return total, nil
}
