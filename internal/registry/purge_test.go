package registry

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPurgeUploads(t *testing.T) {
	root := t.TempDir()
	r := &Registry{opts: Options{RootDir: root}}
	uploads := filepath.Join(root, filepath.FromSlash(repositoriesDir), "vi/ns/img/_uploads")
	now := time.Now()
	mk := func(name string, started time.Time) string {
		dir := filepath.Join(uploads, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "data"), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if !started.IsZero() {
			if err := os.WriteFile(filepath.Join(dir, "startedat"), []byte(started.UTC().Format(time.RFC3339)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	old := mk("old", now.Add(-48*time.Hour))
	fresh := mk("fresh", now.Add(-time.Minute))
	unknown := mk("no-startedat", time.Time{}) // just made: its mtime is recent

	n, err := r.purgeUploads(context.Background(), now.Add(-maxUploadAge))
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("purged %d uploads, want 1", n)
	}
	for dir, want := range map[string]bool{old: false, fresh: true, unknown: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(dir), err == nil, want)
		}
	}
}
