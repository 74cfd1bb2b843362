package registry

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"
)

// gate is a readers-writer lock whose waits honour a context: writes to the
// storage (pushes, DeleteRepository) share it, garbage collection holds it
// alone. It prefers the writer: once a collection waits, new readers wait
// too, so a steady stream of pushes cannot starve it.
type gate struct {
	mu      sync.Mutex
	readers int
	writer  bool          // a collection holds the gate or waits for it
	changed chan struct{} // closed and replaced on every release
}

func newGate() *gate {
	return &gate{changed: make(chan struct{})}
}

// broadcast wakes every waiter; g.mu must be held.
func (g *gate) broadcast() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// rlock takes the shared side, waiting while a collection runs or waits.
func (g *gate) rlock(ctx context.Context) error {
	g.mu.Lock()
	for g.writer {
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
		g.mu.Lock()
	}
	g.readers++
	g.mu.Unlock()
	return nil
}

func (g *gate) runlock() {
	g.mu.Lock()
	g.readers--
	g.broadcast()
	g.mu.Unlock()
}

// lock takes the exclusive side: it first bars new readers, then waits for
// the current ones to leave. On a cancelled ctx it lets readers in again.
func (g *gate) lock(ctx context.Context) error {
	g.mu.Lock()
	for g.writer { // another collection; wait for it to finish
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
		g.mu.Lock()
	}
	g.writer = true
	for g.readers > 0 {
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			g.mu.Lock()
			g.writer = false
			g.broadcast()
			g.mu.Unlock()
			return ctx.Err()
		case <-ch:
		}
		g.mu.Lock()
	}
	g.mu.Unlock()
	return nil
}

func (g *gate) unlock() {
	g.mu.Lock()
	g.writer = false
	g.broadcast()
	g.mu.Unlock()
}

// defaultPushGrace is how long a repository stays locked against garbage
// collection after its last request. A push is many requests (blob uploads,
// then the manifest); between them the new blobs are referenced by nothing,
// and a collection in that gap would delete them. Clients issue the next
// request within milliseconds, so the grace only delays a collection.
const defaultPushGrace = 10 * time.Second

// pushTracker holds the gate's shared side for every repository being pushed
// to: from its first authorized write request until no request for it has
// been in flight for the grace period.
type pushTracker struct {
	gate  *gate
	grace time.Duration
	// mayPush reports whether the request carries credentials that may push
	// to repo, so unauthenticated writes cannot hold off collections.
	mayPush func(r *http.Request, repo string) bool
	router  *mux.Router // distribution's routes, to find the repository name

	mu       sync.Mutex
	sessions map[string]*pushSession
}

type pushSession struct {
	inflight int
	gen      uint64 // invalidates idle timers armed before the latest request
	timer    *time.Timer
}

// isWrite reports whether a request may write to the storage.
func isWrite(method string) bool {
	switch method {
	case http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// wrap returns next behind the tracker.
func (t *pushTracker) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo := t.repository(r)
		if repo == "" {
			next.ServeHTTP(w, r)
			return
		}
		ok, err := t.begin(r, repo)
		if err != nil {
			// The client went away while a collection ran.
			http.Error(w, "registry busy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if ok {
			defer t.end(repo)
		}
		next.ServeHTTP(w, r)
	})
}

// repository is the repository a request addresses, or "".
func (t *pushTracker) repository(r *http.Request) string {
	var m mux.RouteMatch
	if !t.router.Match(r, &m) {
		return ""
	}
	return m.Vars["name"]
}

// begin counts a request against repo's session. A write that may push
// opens the session, taking the gate (and so waiting for a running
// collection); any other request only extends a session already open.
// It reports whether end must be called.
func (t *pushTracker) begin(r *http.Request, repo string) (bool, error) {
	t.mu.Lock()
	if s := t.sessions[repo]; s != nil {
		t.activate(s)
		t.mu.Unlock()
		return true, nil
	}
	t.mu.Unlock()
	if !isWrite(r.Method) || !t.mayPush(r, repo) {
		return false, nil
	}
	if err := t.gate.rlock(r.Context()); err != nil {
		return false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.sessions[repo]; s != nil {
		// Another request opened it while this one waited.
		t.gate.runlock()
		t.activate(s)
		return true, nil
	}
	s := &pushSession{}
	t.sessions[repo] = s
	t.activate(s)
	return true, nil
}

// activate counts one more request in flight; t.mu must be held.
func (t *pushTracker) activate(s *pushSession) {
	s.inflight++
	s.gen++
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

// end counts a request finished and arms the idle timer of its session.
func (t *pushTracker) end(repo string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sessions[repo]
	s.inflight--
	if s.inflight > 0 {
		return
	}
	gen := s.gen
	s.timer = time.AfterFunc(t.grace, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.sessions[repo] != s || s.gen != gen || s.inflight > 0 {
			return // a later request renewed the session
		}
		delete(t.sessions, repo)
		t.gate.runlock()
	})
}

// close ends every idle session at once, so a stopped registry does not
// hold the gate for the grace period.
func (t *pushTracker) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for repo, s := range t.sessions {
		if s.inflight > 0 {
			continue // its end arms a timer that releases it
		}
		if s.timer != nil {
			s.timer.Stop()
		}
		delete(t.sessions, repo)
		t.gate.runlock()
	}
}
