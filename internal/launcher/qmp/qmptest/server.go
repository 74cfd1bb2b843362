package qmptest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/virtlab/dvp/internal/launcher/qmp"
)

// Server is a fake QEMU monitor on a unix socket. Like QEMU it serves one
// client at a time, greets it, refuses every command before
// qmp_capabilities and hangs up after quit.
type Server struct {
	path string
	ln   net.Listener
	wg   sync.WaitGroup

	mu       sync.Mutex
	version  qmp.Version
	status   string
	now      func() time.Time
	handlers map[string]Handler
	calls    []Call
	changed  chan struct{} // closed and replaced when a call is recorded
	session  *Session
	hungUp   chan struct{} // closed when the first client has left
	served   bool
	closed   bool
}

// Call is a command the server received.
type Call struct {
	Command string
	// Args are the arguments as sent; nil when there were none.
	Args json.RawMessage
	// ID is the command's id as sent; nil when there was none.
	ID json.RawMessage
	// Line is the whole line, without its line ending.
	Line string
}

// Handler answers a command: the return value (marshalled to JSON), or an
// error. A *qmp.Error is sent as it is, any other error as a GenericError.
// Events the handler sends through s go out before the reply; see
// Session.AfterReply and ErrNoReply for the other orders.
type Handler func(s *Session, c Call) (any, error)

// ErrNoReply, returned by a Handler, sends no reply now: the handler has
// arranged to send one later with Session.Reply (to answer after commands
// sent after it), or never.
var ErrNoReply = errors.New("qmptest: no reply now")

// Listen serves a fake monitor on the unix socket at path.
func Listen(path string) (*Server, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	s := &Server{
		path:     path,
		ln:       ln,
		version:  qmp.Version{Major: 7, Minor: 2, Micro: 22, Package: "qmptest"},
		status:   qmp.RunRunning,
		now:      time.Now,
		handlers: map[string]Handler{},
		changed:  make(chan struct{}),
		hungUp:   make(chan struct{}),
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// NewServer serves a fake monitor in a temporary directory of the test,
// closed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s, err := Listen(filepath.Join(t.TempDir(), "qmp.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops listening and hangs up on the client.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	sess := s.session
	s.mu.Unlock()
	err := s.ln.Close()
	if sess != nil {
		sess.Hangup()
	}
	s.wg.Wait()
	return err
}

// SetVersion sets the version in the greeting and query-version.
func (s *Server) SetVersion(v qmp.Version) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version = v
}

// SetStatus sets the run state query-status reports (default running);
// running is true for "running" only.
func (s *Server) SetStatus(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// SetClock sets where event timestamps come from (default time.Now).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Handle sets how cmd is answered. Without a handler, query-status and
// query-version answer from SetStatus and SetVersion, quit answers and
// hangs up, and anything else is a CommandNotFound error.
func (s *Server) Handle(cmd string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[cmd] = h
}

// Reply answers cmd with ret every time.
func (s *Server) Reply(cmd string, ret any) {
	s.Handle(cmd, func(*Session, Call) (any, error) { return ret, nil })
}

// Fail answers cmd with QEMU's error {"class", "desc"} every time.
func (s *Server) Fail(cmd, class, desc string) {
	s.Handle(cmd, func(*Session, Call) (any, error) { return nil, &qmp.Error{Class: class, Desc: desc} })
}

// Event sends an event to the connected client.
func (s *Server) Event(name string, data any) error {
	s.mu.Lock()
	sess := s.session
	s.mu.Unlock()
	if sess == nil {
		return errors.New("qmptest: no client connected")
	}
	sess.Event(name, data)
	return nil
}

// Calls are the commands received so far, in order, qmp_capabilities
// included.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// WaitCall waits for the first command named cmd (received before or
// after the call) and returns it.
func (s *Server) WaitCall(ctx context.Context, cmd string) (Call, error) {
	for {
		s.mu.Lock()
		for _, c := range s.calls {
			if c.Command == cmd {
				s.mu.Unlock()
				return c, nil
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Call{}, fmt.Errorf("waiting for %s: %w", cmd, ctx.Err())
		}
	}
}

// HungUp is closed once the first client has left (or was hung up on).
func (s *Server) HungUp() <-chan struct{} { return s.hungUp }

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		sess := &Session{srv: s, conn: conn}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.Close()
			return
		}
		s.session = sess
		s.mu.Unlock()
		// One client at a time, as QEMU: the next waits in the backlog.
		sess.serve()
		s.mu.Lock()
		s.session = nil
		first := !s.served
		s.served = true
		s.mu.Unlock()
		if first {
			close(s.hungUp)
		}
	}
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	close(s.changed)
	s.changed = make(chan struct{})
}

// handler is the Handler for cmd, the default one when none was set.
func (s *Server) handler(cmd string) Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.handlers[cmd]; ok {
		return h
	}
	switch cmd {
	case "query-status":
		return func(*Session, Call) (any, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			return map[string]any{"status": s.status, "running": s.status == qmp.RunRunning}, nil
		}
	case "query-version":
		return func(*Session, Call) (any, error) { return s.versionInfo(), nil }
	case "quit":
		return func(sess *Session, _ Call) (any, error) {
			sess.AfterReply(sess.Hangup)
			return map[string]any{}, nil
		}
	}
	return func(_ *Session, c Call) (any, error) {
		return nil, &qmp.Error{Class: qmp.ClassCommandNotFound, Desc: "The command " + c.Command + " has not been found"}
	}
}

// versionInfo is QEMU's VersionInfo; the caller holds mu.
func (s *Server) versionInfo() map[string]any {
	v := s.version
	return map[string]any{
		"qemu":    map[string]int{"major": v.Major, "minor": v.Minor, "micro": v.Micro},
		"package": v.Package,
	}
}

// Session is one client's connection.
type Session struct {
	srv  *Server
	conn net.Conn

	wmu   sync.Mutex
	after []func()
}

// Event sends an event now, timestamped by the server's clock.
func (s *Session) Event(name string, data any) {
	s.srv.mu.Lock()
	t := s.srv.now()
	s.srv.mu.Unlock()
	m := map[string]any{"event": name, "timestamp": map[string]int64{"seconds": t.Unix(), "microseconds": int64(t.Nanosecond() / 1000)}}
	if data != nil {
		m["data"] = data
	}
	s.send(m)
}

// Reply sends the reply to the command with id: ret, or err as in Handler.
func (s *Session) Reply(id json.RawMessage, ret any, err error) {
	m := map[string]any{}
	if id != nil {
		m["id"] = id
	}
	if err != nil {
		var qerr *qmp.Error
		if !errors.As(err, &qerr) {
			qerr = &qmp.Error{Class: qmp.ClassGenericError, Desc: err.Error()}
		}
		m["error"] = qerr
	} else {
		if ret == nil {
			ret = map[string]any{}
		}
		m["return"] = ret
	}
	s.send(m)
}

// AfterReply runs f once the reply to the command being handled was sent,
// before the next command is read: for events QEMU sends after it answers.
func (s *Session) AfterReply(f func()) { s.after = append(s.after, f) }

// Hangup closes the connection, as QEMU does when it exits.
func (s *Session) Hangup() { _ = s.conn.Close() }

// Send writes any JSON value as one line: for replies and events no
// helper makes.
func (s *Session) Send(v any) { s.send(v) }

func (s *Session) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("qmptest: %v", err))
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, _ = s.conn.Write(append(b, '\r', '\n'))
}

func (s *Session) serve() {
	defer s.conn.Close()
	s.srv.mu.Lock()
	greeting := map[string]any{"QMP": map[string]any{"version": s.srv.versionInfo(), "capabilities": []string{"oob"}}}
	s.srv.mu.Unlock()
	s.send(greeting)
	sc := bufio.NewScanner(s.conn)
	sc.Buffer(nil, 16<<20)
	negotiated := false
	for sc.Scan() {
		var req struct {
			Execute   string          `json:"execute"`
			Arguments json.RawMessage `json:"arguments"`
			ID        json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil || req.Execute == "" {
			s.Reply(nil, nil, &qmp.Error{Class: qmp.ClassGenericError, Desc: "JSON parse error, or no 'execute' member"})
			continue
		}
		c := Call{Command: req.Execute, Args: req.Arguments, ID: req.ID, Line: sc.Text()}
		s.srv.record(c)
		var ret any
		var err error
		switch {
		case c.Command == "qmp_capabilities":
			negotiated = true
		case !negotiated:
			err = &qmp.Error{Class: qmp.ClassCommandNotFound, Desc: "Expecting capabilities negotiation with 'qmp_capabilities'"}
		default:
			ret, err = s.srv.handler(c.Command)(s, c)
		}
		if !errors.Is(err, ErrNoReply) {
			s.Reply(c.ID, ret, err)
		}
		after := s.after
		s.after = nil
		for _, f := range after {
			f()
		}
	}
}
