package registry

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDeleteRepositoryAndGarbageCollect(t *testing.T) {
	tr := startRegistry(t, func(r *Registry) { r.pushes.grace = 50 * time.Millisecond })
	ctx := context.Background()
	size := func() int64 {
		t.Helper()
		n, err := tr.Size(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	empty := size()

	repo, kept := VIRepository("ns1", "img"), VDRepository("ns1", "disk")
	if err := tr.push(kept, "uid2", randomImage(t, 4096, 1), tr.creds(kept, true), nil); err != nil {
		t.Fatalf("push: %v", err)
	}
	base := size()
	if err := tr.push(repo, "uid1", randomImage(t, 1<<20, 3), tr.creds(repo, true), nil); err != nil {
		t.Fatalf("push: %v", err)
	}
	full := size()
	if full-base < 3<<20 {
		t.Fatalf("size grew by %d bytes after pushing 3 MiB", full-base)
	}

	// A collection with nothing deleted keeps what is tagged.
	if _, err := tr.GarbageCollect(ctx); err != nil {
		t.Fatalf("GarbageCollect: %v", err)
	}
	if _, err := tr.pull(repo, "uid1"); err != nil {
		t.Fatalf("pull after a collection: %v", err)
	}

	if err := tr.DeleteRepository(ctx, repo); err != nil {
		t.Fatalf("DeleteRepository: %v", err)
	}
	if err := tr.DeleteRepository(ctx, repo); err != nil {
		t.Errorf("DeleteRepository again: %v", err)
	}
	if err := tr.DeleteRepository(ctx, VIRepository("ns1", "never-pushed")); err != nil {
		t.Errorf("DeleteRepository of a missing repository: %v", err)
	}
	if err := tr.DeleteRepository(ctx, "Not/A Name"); err == nil {
		t.Errorf("DeleteRepository of an invalid name succeeded")
	}
	if _, err := tr.pull(repo, "uid1"); err == nil {
		t.Errorf("pull of a deleted repository succeeded")
	}

	freed, err := tr.GarbageCollect(ctx)
	if err != nil {
		t.Fatalf("GarbageCollect: %v", err)
	}
	after := size()
	t.Logf("size: empty %d, with the kept image %d, full %d, after collection %d, freed %d", empty, base, full, after, freed)
	if freed < 3<<20 {
		t.Errorf("GarbageCollect freed %d bytes, want at least 3 MiB", freed)
	}
	// What may stay of the deleted image: the directories its blobs were
	// spread over (distribution keeps the two-hex-digit fan-out) and the
	// directories of its repository's parents.
	if slack := int64(64 << 10); after > base+slack {
		t.Errorf("size after collection %d, want at most %d (before the push %d + %d)", after, base+slack, base, slack)
	}

	if _, err := tr.pull(repo, "uid1"); err == nil {
		t.Errorf("pull of a deleted repository succeeded after the collection")
	}
	if _, err := tr.pull(kept, "uid2"); err != nil {
		t.Errorf("pull of the other repository after the collection: %v", err)
	}
}

// gapTransport calls hook once, just before the first manifest PUT: the
// moment a push has uploaded all its blobs and nothing references them yet.
type gapTransport struct {
	base http.RoundTripper
	once sync.Once
	hook func()
}

func (g *gapTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") {
		g.once.Do(g.hook)
	}
	return g.base.RoundTrip(req)
}

// TestGarbageCollectWaitsForPush starts a collection while a push is between
// its blobs and its manifest: the collection must wait for the push.
func TestGarbageCollectWaitsForPush(t *testing.T) {
	tr := startRegistry(t, func(r *Registry) { r.pushes.grace = 500 * time.Millisecond })
	ctx := context.Background()
	repo := VIRepository("ns1", "img")
	img := randomImage(t, 256<<10, 3)

	gcDone := make(chan error, 1)
	var ranDuringPush bool
	gap := &gapTransport{base: tr.tr, hook: func() {
		go func() {
			_, err := tr.GarbageCollect(ctx)
			gcDone <- err
		}()
		select {
		case err := <-gcDone:
			ranDuringPush = true
			gcDone <- err
		case <-time.After(300 * time.Millisecond):
		}
	}}
	if err := tr.push(repo, "uid1", img, tr.creds(repo, true), gap); err != nil {
		t.Fatalf("push: %v", err)
	}
	if ranDuringPush {
		t.Errorf("garbage collection finished between the blobs and the manifest of a push")
	}
	select {
	case err := <-gcDone:
		if err != nil {
			t.Fatalf("GarbageCollect: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("GarbageCollect still waiting 30s after the push finished")
	}
	got, err := tr.pull(repo, "uid1")
	if err != nil {
		t.Fatalf("pull after the collection: %v", err)
	}
	if want := digest(t, img); got != want {
		t.Errorf("pulled %s, pushed %s", got, want)
	}
}

// TestGapWithoutGraceLosesBlobs is the control for the test above: without
// the grace period a collection fits between a push's blobs and its
// manifest, and deletes the blobs, which is what the grace prevents.
func TestGapWithoutGraceLosesBlobs(t *testing.T) {
	tr := startRegistry(t, func(r *Registry) { r.pushes.grace = 0 })
	repo := VIRepository("ns1", "img")
	gap := &gapTransport{base: tr.tr, hook: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := tr.GarbageCollect(ctx); err != nil {
			t.Errorf("GarbageCollect: %v", err)
		}
	}}
	if err := tr.push(repo, "uid1", randomImage(t, 1024, 1), tr.creds(repo, true), gap); err == nil {
		t.Errorf("push succeeded though its blobs were collected before its manifest")
	}
}

// TestPushWaitsForGarbageCollect holds the collection side of the lock and
// checks that a push waits for it and then completes.
func TestPushWaitsForGarbageCollect(t *testing.T) {
	tr := startRegistry(t, nil)
	repo := VIRepository("ns1", "img")
	img := randomImage(t, 4096, 2)

	if err := tr.gate.lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	pushed := make(chan error, 1)
	go func() { pushed <- tr.push(repo, "uid1", img, tr.creds(repo, true), nil) }()
	select {
	case err := <-pushed:
		tr.gate.unlock()
		t.Fatalf("push finished (%v) while a collection held the lock", err)
	case <-time.After(300 * time.Millisecond):
	}
	tr.gate.unlock()
	if err := <-pushed; err != nil {
		t.Fatalf("push: %v", err)
	}
	if _, err := tr.pull(repo, "uid1"); err != nil {
		t.Fatalf("pull: %v", err)
	}
}

// TestConcurrentPushesAndCollections pushes several images while collections
// run back to back; every image must come back whole.
func TestConcurrentPushesAndCollections(t *testing.T) {
	tr := startRegistry(t, func(r *Registry) { r.pushes.grace = 200 * time.Millisecond })
	ctx := context.Background()

	stop := make(chan struct{})
	gcErr := make(chan error, 1)
	go func() {
		defer close(gcErr)
		for i := 0; i < 200; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := tr.GarbageCollect(ctx); err != nil {
				gcErr <- err
				return
			}
		}
	}()

	const n = 4
	type result struct {
		repo string
		want string
		err  error
	}
	results := make(chan result, n)
	for i := range n {
		repo := VIRepository("ns1", fmt.Sprintf("img%d", i))
		img := randomImage(t, 128<<10, 2)
		want := digest(t, img).String()
		go func() {
			results <- result{repo: repo, want: want, err: tr.push(repo, "uid", img, tr.creds(repo, true), nil)}
		}()
	}
	var pushed []result
	for range n {
		r := <-results
		if r.err != nil {
			t.Errorf("push %s: %v", r.repo, r.err)
		}
		pushed = append(pushed, r)
	}
	close(stop)
	if err := <-gcErr; err != nil {
		t.Fatalf("GarbageCollect: %v", err)
	}
	if _, err := tr.GarbageCollect(ctx); err != nil {
		t.Fatalf("GarbageCollect: %v", err)
	}
	for _, r := range pushed {
		got, err := tr.pull(r.repo, "uid")
		if err != nil {
			t.Errorf("pull %s: %v", r.repo, err)
			continue
		}
		if got.String() != r.want {
			t.Errorf("pull %s: digest %s, pushed %s", r.repo, got, r.want)
		}
	}
}

func TestGarbageCollectHonoursContext(t *testing.T) {
	tr := startRegistry(t, nil)
	if err := tr.gate.rlock(context.Background()); err != nil { // a push in progress
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := tr.GarbageCollect(ctx); err == nil {
		t.Errorf("GarbageCollect succeeded while a push held the lock")
	}
	// The abandoned collection must not keep pushes out.
	if err := tr.gate.rlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr.gate.runlock()
	tr.gate.runlock()
	if _, err := tr.GarbageCollect(context.Background()); err != nil {
		t.Errorf("GarbageCollect: %v", err)
	}
}
