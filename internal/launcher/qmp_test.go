package launcher

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
)

// fakeQMP is a QMP server in the test: it greets, requires
// qmp_capabilities first and answers commands through handle, which may
// also emit events.
type fakeQMP struct {
	t    *testing.T
	ln   net.Listener
	path string
	// release lets the reply to "slow" go.
	release chan struct{}
	handle  func(s *fakeSession, cmd string, args json.RawMessage) (any, *QMPError)
}

type fakeSession struct {
	mu   sync.Mutex
	conn net.Conn
}

func (s *fakeSession) send(v any) {
	b, _ := json.Marshal(v)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = s.conn.Write(append(b, '\r', '\n'))
}

func (s *fakeSession) event(name string, data any) {
	m := map[string]any{"event": name, "timestamp": map[string]int64{"seconds": 1700000000, "microseconds": 250000}}
	if data != nil {
		m["data"] = data
	}
	s.send(m)
}

func newFakeQMP(t *testing.T, handle func(s *fakeSession, cmd string, args json.RawMessage) (any, *QMPError)) *fakeQMP {
	path := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeQMP{t: t, ln: ln, path: path, handle: handle, release: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go f.serve()
	return f
}

func (f *fakeQMP) serve() {
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.session(conn)
	}
}

func (f *fakeQMP) session(conn net.Conn) {
	defer conn.Close()
	s := &fakeSession{conn: conn}
	s.send(map[string]any{"QMP": map[string]any{
		"version":      map[string]any{"qemu": map[string]int{"major": 7, "minor": 2, "micro": 22}, "package": "Debian 1:7.2+dfsg-7"},
		"capabilities": []string{"oob"},
	}})
	sc := bufio.NewScanner(conn)
	negotiated := false
	for sc.Scan() {
		var req struct {
			Execute   string          `json:"execute"`
			Arguments json.RawMessage `json:"arguments"`
			ID        json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			s.send(map[string]any{"error": QMPError{Class: "GenericError", Desc: "bad JSON"}})
			continue
		}
		reply := map[string]any{}
		if req.ID != nil {
			reply["id"] = req.ID
		}
		switch {
		case req.Execute == "qmp_capabilities":
			negotiated = true
			reply["return"] = map[string]any{}
		case !negotiated:
			reply["error"] = QMPError{Class: "CommandNotFound", Desc: "Expecting capabilities negotiation with 'qmp_capabilities'"}
		case req.Execute == "slow":
			// Answered later, after replies to commands sent after it:
			// the client must match replies by id.
			go func() {
				<-f.release
				reply["return"] = "slow done"
				s.send(reply)
			}()
			continue
		default:
			ret, qerr := f.handle(s, req.Execute, req.Arguments)
			if qerr != nil {
				reply["error"] = qerr
			} else {
				reply["return"] = ret
			}
		}
		s.send(reply)
		if req.Execute == "quit" {
			return
		}
	}
}

func TestQMPClient(t *testing.T) {
	f := newFakeQMP(t, func(s *fakeSession, cmd string, args json.RawMessage) (any, *QMPError) {
		switch cmd {
		case "query-status":
			return map[string]any{"status": "running", "running": true}, nil
		case "block_resize":
			var a struct {
				Node string `json:"node-name"`
				Size int64  `json:"size"`
			}
			_ = json.Unmarshal(args, &a)
			if a.Node != "disk0" {
				return nil, &QMPError{Class: "GenericError", Desc: "Cannot find device='' nor node-name='" + a.Node + "'"}
			}
			return map[string]any{}, nil
		case "system_powerdown":
			s.event("POWERDOWN", nil)
			s.event("SHUTDOWN", map[string]any{"guest": true, "reason": "guest-shutdown"})
			return map[string]any{}, nil
		case "quit":
			return map[string]any{}, nil
		}
		return nil, &QMPError{Class: "CommandNotFound", Desc: "The command " + cmd + " has not been found"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := DialQMP(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if v := q.Version(); v.String() != "7.2.22" || v.Package != "Debian 1:7.2+dfsg-7" {
		t.Errorf("version %+v", v)
	}

	raw, err := q.Execute(ctx, "query-status", nil)
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Status string }
	if err := json.Unmarshal(raw, &st); err != nil || st.Status != "running" {
		t.Errorf("query-status = %s", raw)
	}

	_, err = q.Execute(ctx, "block_resize", map[string]any{"node-name": "nope", "size": 1 << 20})
	var qerr *QMPError
	if !errors.As(err, &qerr) || qerr.Class != "GenericError" {
		t.Errorf("block_resize on a missing node: %v", err)
	}
	if _, err := q.Execute(ctx, "block_resize", map[string]any{"node-name": "disk0", "size": 1 << 20}); err != nil {
		t.Error(err)
	}

	// Replies are matched by id: a fast command is not stuck behind a
	// slow one.
	slow := make(chan error, 1)
	go func() {
		raw, err := q.Execute(ctx, "slow", nil)
		if err == nil && string(raw) != `"slow done"` {
			err = fmt.Errorf("slow returned %s", raw)
		}
		slow <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := q.Execute(ctx, "query-status", nil); err != nil {
		t.Fatal(err)
	}
	close(f.release)
	if err := <-slow; err != nil {
		t.Error(err)
	}

	// A cancelled context abandons the wait, not the connection.
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if _, err := q.Execute(short, "query-status", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Execute: %v", err)
	}

	if _, err := q.Execute(ctx, "system_powerdown", nil); err != nil {
		t.Fatal(err)
	}
	var got []Event
	for len(got) < 2 {
		select {
		case ev := <-q.Events():
			got = append(got, ev)
		case <-ctx.Done():
			t.Fatal("events did not arrive")
		}
	}
	if got[0].Name != "POWERDOWN" || got[1].Name != "SHUTDOWN" {
		t.Errorf("events %v", got)
	}
	var sd struct {
		Guest  bool
		Reason string
	}
	if err := json.Unmarshal(got[1].Data, &sd); err != nil || !sd.Guest || sd.Reason != "guest-shutdown" {
		t.Errorf("SHUTDOWN data %s", got[1].Data)
	}
	if want := time.Unix(1700000000, 250000000); !got[1].Timestamp.Equal(want) {
		t.Errorf("timestamp %v, want %v", got[1].Timestamp, want)
	}
	if got[0].Data != nil {
		t.Errorf("POWERDOWN data %s, want none", got[0].Data)
	}

	// quit: the server hangs up; events end and commands fail.
	if _, err := q.Execute(ctx, "quit", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-q.Events():
		if ok {
			t.Error("an event after quit")
		}
	case <-ctx.Done():
		t.Fatal("Events not closed after the server hung up")
	}
	if _, err := q.Execute(ctx, "query-status", nil); !errors.Is(err, ErrQMPClosed) {
		t.Errorf("Execute after hang-up: %v", err)
	}
}

// Events queue without bound: a reader that does not drain them does not
// block command replies.
func TestQMPEventsDoNotBlockReplies(t *testing.T) {
	f := newFakeQMP(t, func(s *fakeSession, cmd string, args json.RawMessage) (any, *QMPError) {
		for i := 0; i < 500; i++ {
			s.event("RTC_CHANGE", map[string]int{"offset": i})
		}
		return map[string]any{}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := DialQMP(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for i := 0; i < 3; i++ {
		if _, err := q.Execute(ctx, "noisy", nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 1500; i++ {
		ev := <-q.Events()
		var d struct{ Offset int }
		_ = json.Unmarshal(ev.Data, &d)
		if d.Offset != i%500 {
			t.Fatalf("event %d has offset %d: out of order", i, d.Offset)
		}
	}
}

func TestQMPHandshakeRejectsNonQMP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-qmp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = c.Write([]byte(`{"hello": "world"}` + "\n"))
			time.Sleep(100 * time.Millisecond)
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := DialQMP(ctx, path); err == nil {
		t.Error("DialQMP accepted a server without a QMP greeting")
	}
}
