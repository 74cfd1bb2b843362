package qmp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtlab/dvp/internal/launcher/qmp"
	"github.com/virtlab/dvp/internal/launcher/qmp/qmptest"
)

func TestHandshake(t *testing.T) {
	srv := qmptest.NewServer(t)
	srv.SetVersion(qmp.Version{Major: 7, Minor: 2, Micro: 22, Package: "Debian 1:7.2+dfsg-7"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := qmp.Dial(ctx, srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v := c.Version(); v.String() != "7.2.22" || v.Package != "Debian 1:7.2+dfsg-7" {
		t.Errorf("version %+v", v)
	}
	if calls := srv.Calls(); len(calls) != 1 || calls[0].Command != "qmp_capabilities" || calls[0].Args != nil {
		t.Errorf("handshake sent %+v", calls)
	}
}

// rawServer accepts one connection and writes lines to it: the first at
// once, each other after a line from the client.
func rawServer(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raw.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for i, l := range lines {
			if i > 0 {
				if _, err := r.ReadBytes('\n'); err != nil {
					return
				}
			}
			_, _ = c.Write([]byte(l + "\n"))
		}
		time.Sleep(2 * time.Second)
	}()
	return path
}

func TestHandshakeFailures(t *testing.T) {
	t.Run("not QMP", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := qmp.Dial(ctx, rawServer(t, `{"hello": "world"}`)); err == nil || !strings.Contains(err.Error(), "not a QMP server") {
			t.Errorf("Dial: %v", err)
		}
	})
	t.Run("no greeting", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := qmp.Dial(ctx, rawServer(t)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dial: %v", err)
		}
	})
	t.Run("cancelled while waiting for the greeting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		if _, err := qmp.Dial(ctx, rawServer(t)); !errors.Is(err, context.Canceled) {
			t.Errorf("Dial: %v", err)
		}
	})
	t.Run("capabilities refused", func(t *testing.T) {
		// The fake answers qmp_capabilities itself: a raw server refuses it.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		path := rawServer(t, `{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""}, "capabilities": []}}`,
			`{"id": "dvp-1", "error": {"class": "GenericError", "desc": "Capabilities negotiation is already complete"}}`)
		_, err := qmp.Dial(ctx, path)
		var qerr *qmp.Error
		if !errors.As(err, &qerr) || !strings.Contains(err.Error(), "capabilities negotiation") {
			t.Errorf("Dial: %v", err)
		}
	})
}

// Replies are matched by id: a command answered late does not hold up one
// sent after it.
func TestRepliesMatchedByID(t *testing.T) {
	c, srv, ctx := dial(t)
	release := make(chan struct{})
	srv.Handle("slow", func(s *qmptest.Session, call qmptest.Call) (any, error) {
		go func() {
			<-release
			s.Reply(call.ID, "slow done", nil)
		}()
		return nil, qmptest.ErrNoReply
	})
	slow := make(chan error, 1)
	go func() {
		raw, err := c.Execute(ctx, "slow", nil)
		if err == nil && string(raw) != `"slow done"` {
			err = fmt.Errorf("slow returned %s", raw)
		}
		slow <- err
	}()
	if _, err := srv.WaitCall(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueryStatus(ctx); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-slow; err != nil {
		t.Error(err)
	}
}

// A cancelled or expired context abandons the wait, not the connection;
// the late reply is dropped.
func TestContextCancellation(t *testing.T) {
	c, srv, ctx := dial(t)
	late := make(chan func(), 1)
	srv.Handle("hang", func(s *qmptest.Session, call qmptest.Call) (any, error) {
		late <- func() { s.Reply(call.ID, "too late", nil) }
		return nil, qmptest.ErrNoReply
	})
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Execute(short, "hang", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Execute past its deadline: %v", err)
	}
	cancelled, cancel2 := context.WithCancel(ctx)
	cancel2()
	if err := c.Cont(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Cont with a cancelled context: %v", err)
	}
	(<-late)()
	st, err := c.QueryStatus(ctx)
	if err != nil || !st.Running {
		t.Errorf("after the cancellations: %+v %v", st, err)
	}
}

// Events and replies interleave on the wire; each goes where it belongs,
// events in order.
func TestEventsAndRepliesInterleaved(t *testing.T) {
	c, srv, ctx := dial(t)
	srv.SetClock(func() time.Time { return time.Unix(1700000000, 250000000) })
	srv.Handle("system_powerdown", func(s *qmptest.Session, _ qmptest.Call) (any, error) {
		s.Event("POWERDOWN", nil)
		s.AfterReply(func() {
			s.Event("SHUTDOWN", map[string]any{"guest": true, "reason": "guest-shutdown"})
		})
		return map[string]any{}, nil
	})
	if err := srv.Event("RTC_CHANGE", map[string]any{"offset": 3, "qom-path": "/machine/unattached/device[8]"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SystemPowerdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueryStatus(ctx); err != nil {
		t.Fatal(err)
	}
	var got []qmp.Event
	for len(got) < 3 {
		select {
		case ev := <-c.Events():
			got = append(got, ev)
		case <-ctx.Done():
			t.Fatalf("events did not arrive: %v", got)
		}
	}
	if got[0].Name != "RTC_CHANGE" || got[0].Payload != nil || !strings.Contains(string(got[0].Data), `"offset":3`) {
		t.Errorf("unknown event %+v: want its raw data and no payload", got[0])
	}
	if got[1].Name != qmp.EventPowerdown || got[1].Data != nil || got[1].Payload != (qmp.PowerdownEvent{}) {
		t.Errorf("POWERDOWN %+v", got[1])
	}
	if got[2].Payload != (qmp.ShutdownEvent{Guest: true, Reason: "guest-shutdown"}) {
		t.Errorf("SHUTDOWN %+v", got[2])
	}
	if want := time.Unix(1700000000, 250000000); !got[2].Timestamp.Equal(want) {
		t.Errorf("timestamp %v, want %v", got[2].Timestamp, want)
	}
}

// Events queue without bound: a consumer that does not drain them does not
// block command replies.
func TestEventsDoNotBlockReplies(t *testing.T) {
	c, srv, ctx := dial(t)
	srv.Handle("noisy", func(s *qmptest.Session, _ qmptest.Call) (any, error) {
		for i := 0; i < 500; i++ {
			s.Event("RTC_CHANGE", map[string]int{"offset": i})
		}
		return nil, nil
	})
	for i := 0; i < 3; i++ {
		if _, err := c.Execute(ctx, "noisy", nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 1500; i++ {
		ev := <-c.Events()
		var d struct{ Offset int }
		_ = json.Unmarshal(ev.Data, &d)
		if d.Offset != i%500 {
			t.Fatalf("event %d has offset %d: out of order", i, d.Offset)
		}
	}
}

// quit: QEMU hangs up; the events end and commands fail with ErrClosed.
func TestHangup(t *testing.T) {
	c, srv, ctx := dial(t)
	srv.Handle("quit", func(s *qmptest.Session, _ qmptest.Call) (any, error) {
		s.AfterReply(func() {
			s.Event("SHUTDOWN", map[string]any{"guest": false, "reason": "host-qmp-quit"})
			s.Hangup()
		})
		return nil, nil
	})
	if err := c.Quit(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := <-c.Events(); ev.Payload != (qmp.ShutdownEvent{Reason: "host-qmp-quit"}) {
		t.Errorf("event %+v", ev)
	}
	select {
	case _, ok := <-c.Events():
		if ok {
			t.Error("an event after the hang-up")
		}
	case <-ctx.Done():
		t.Fatal("Events not closed after the hang-up")
	}
	<-c.Done()
	if _, err := c.QueryStatus(ctx); !errors.Is(err, qmp.ErrClosed) {
		t.Errorf("a command after the hang-up: %v", err)
	}
}

// A command waiting when QEMU hangs up fails with ErrClosed.
func TestHangupWhileWaiting(t *testing.T) {
	c, srv, ctx := dial(t)
	srv.Handle("hang", func(s *qmptest.Session, _ qmptest.Call) (any, error) {
		s.AfterReply(s.Hangup)
		return nil, qmptest.ErrNoReply
	})
	if _, err := c.Execute(ctx, "hang", nil); !errors.Is(err, qmp.ErrClosed) {
		t.Errorf("Execute: %v", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTranscript(t *testing.T) {
	var tr syncBuffer
	c, srv, ctx := dial(t, qmp.WithTranscript(&tr))
	srv.Fail("cont", qmp.ClassGenericError, "no")
	if err := c.BlockResize(ctx, "disk0", 1<<20); err == nil {
		t.Error("block_resize with no handler succeeded")
	}
	_ = c.Cont(ctx)
	if err := srv.Event("STOP", nil); err != nil {
		t.Fatal(err)
	}
	<-c.Events()
	lines := strings.Split(strings.TrimSuffix(tr.String(), "\n"), "\n")
	want := []string{
		`<- {"QMP":`,
		`-> {"execute":"qmp_capabilities","id":"dvp-1"}`,
		`<- {"id":"dvp-1","return":{}}`,
		`-> {"execute":"block_resize","arguments":{"node-name":"disk0","size":1048576},"id":"dvp-2"}`,
		`<- {"error":{"class":"CommandNotFound"`,
		`-> {"execute":"cont","id":"dvp-3"}`,
		`<- {"error":{"class":"GenericError","desc":"no"},"id":"dvp-3"}`,
		`<- {"event":"STOP",`,
	}
	if len(lines) != len(want) {
		t.Fatalf("transcript:\n%s", tr.String())
	}
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z `)
	for i, l := range lines {
		if !stamp.MatchString(l) || !strings.HasPrefix(l[len("2006-01-02T15:04:05.000000Z "):], want[i]) {
			t.Errorf("line %d %q, want a timestamp and %q", i, l, want[i])
		}
	}
}

// The per-VM binary links this package: it must stay free of Kubernetes.
func TestNoKubernetesDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".", "./qmptest").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "k8s.io/") || strings.HasPrefix(pkg, "sigs.k8s.io/") {
			t.Errorf("qmp links %s", pkg)
		}
	}
}
