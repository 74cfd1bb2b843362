package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// QMP is a client of the QEMU Machine Protocol: newline-separated JSON over
// a unix socket. Commands carry ids, so several goroutines may Execute at
// once; asynchronous events arrive on Events.
type QMP struct {
	conn    net.Conn
	version QEMUVersion

	wmu sync.Mutex // serializes writes

	mu      sync.Mutex
	nextID  uint64
	pending map[string]chan qmpReply
	err     error // why the connection ended, once it has
	queue   []Event
	wake    chan struct{}

	events chan Event
	done   chan struct{} // closed when the reader stops
	closed chan struct{} // closed by Close
	once   sync.Once
}

// QEMUVersion is the version QEMU announces in its greeting.
type QEMUVersion struct {
	Major, Minor, Micro int
	// Package is the distribution's build, e.g. "Debian 1:7.2+dfsg-7".
	Package string
}

// String is major.minor.micro.
func (v QEMUVersion) String() string {
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Micro)
}

// Event is a QMP event.
type Event struct {
	Name      string
	Data      json.RawMessage // nil when the event has no data
	Timestamp time.Time
}

// QMPError is an error response to a command.
type QMPError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *QMPError) Error() string { return e.Desc + " (" + e.Class + ")" }

// ErrQMPClosed is returned for commands on a connection that has ended.
var ErrQMPClosed = errors.New("QMP connection closed")

type qmpReply struct {
	ret json.RawMessage
	err error
}

type qmpMessage struct {
	QMP *struct {
		Version struct {
			QEMU struct {
				Major int `json:"major"`
				Minor int `json:"minor"`
				Micro int `json:"micro"`
			} `json:"qemu"`
			Package string `json:"package"`
		} `json:"version"`
	} `json:"QMP"`
	Return    json.RawMessage `json:"return"`
	Error     *QMPError       `json:"error"`
	ID        json.RawMessage `json:"id"`
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	Timestamp *struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	} `json:"timestamp"`
}

// DialQMP connects to the QMP socket at path and negotiates capabilities.
func DialQMP(ctx context.Context, path string) (*QMP, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	q, err := NewQMP(ctx, conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return q, nil
}

// NewQMP runs the QMP handshake on conn: it reads the greeting and leaves
// capabilities negotiation mode. The QMP owns conn from then on.
func NewQMP(ctx context.Context, conn net.Conn) (*QMP, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	dec := json.NewDecoder(conn)
	var greeting qmpMessage
	if err := dec.Decode(&greeting); err != nil {
		return nil, fmt.Errorf("reading the QMP greeting: %w", err)
	}
	if greeting.QMP == nil {
		return nil, errors.New("reading the QMP greeting: not a QMP server")
	}
	_ = conn.SetReadDeadline(time.Time{})
	v := greeting.QMP.Version
	q := &QMP{
		conn:    conn,
		version: QEMUVersion{Major: v.QEMU.Major, Minor: v.QEMU.Minor, Micro: v.QEMU.Micro, Package: v.Package},
		pending: map[string]chan qmpReply{},
		wake:    make(chan struct{}, 1),
		events:  make(chan Event),
		done:    make(chan struct{}),
		closed:  make(chan struct{}),
	}
	go q.read(dec)
	go q.deliver()
	if _, err := q.Execute(ctx, "qmp_capabilities", nil); err != nil {
		_ = q.Close()
		return nil, fmt.Errorf("QMP capabilities negotiation: %w", err)
	}
	return q, nil
}

// Version is the QEMU version from the greeting.
func (q *QMP) Version() QEMUVersion { return q.version }

// Events delivers QMP events in order. It is closed after the connection
// ends and every event read before has been delivered. Events are queued
// without bound, so a slow reader never stalls command replies.
func (q *QMP) Events() <-chan Event { return q.events }

// Done is closed when the connection has ended (QEMU exited or Close).
func (q *QMP) Done() <-chan struct{} { return q.done }

// Close ends the connection.
func (q *QMP) Close() error {
	var err error
	q.once.Do(func() {
		close(q.closed)
		err = q.conn.Close()
	})
	return err
}

// Execute runs a command and returns its "return" value. args is
// marshalled as the command's arguments (nil for none). A QMP error
// response is a *QMPError.
func (q *QMP) Execute(ctx context.Context, cmd string, args any) (json.RawMessage, error) {
	reply := make(chan qmpReply, 1)
	q.mu.Lock()
	if q.err != nil {
		err := q.err
		q.mu.Unlock()
		return nil, err
	}
	q.nextID++
	id := "dvp-" + strconv.FormatUint(q.nextID, 10)
	q.pending[id] = reply
	q.mu.Unlock()
	forget := func() {
		q.mu.Lock()
		delete(q.pending, id)
		q.mu.Unlock()
	}

	msg := struct {
		Execute   string `json:"execute"`
		Arguments any    `json:"arguments,omitempty"`
		ID        string `json:"id"`
	}{cmd, args, id}
	b, err := json.Marshal(msg)
	if err != nil {
		forget()
		return nil, fmt.Errorf("QMP %s: %w", cmd, err)
	}
	q.wmu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		_ = q.conn.SetWriteDeadline(dl)
	} else {
		_ = q.conn.SetWriteDeadline(time.Time{})
	}
	_, err = q.conn.Write(append(b, '\n'))
	q.wmu.Unlock()
	if err != nil {
		forget()
		return nil, fmt.Errorf("QMP %s: %w", cmd, err)
	}
	select {
	case r := <-reply:
		if r.err != nil {
			return nil, fmt.Errorf("QMP %s: %w", cmd, r.err)
		}
		return r.ret, nil
	case <-ctx.Done():
		forget()
		return nil, fmt.Errorf("QMP %s: %w", cmd, ctx.Err())
	}
}

func (q *QMP) read(dec *json.Decoder) {
	var err error
	for {
		var m qmpMessage
		if err = dec.Decode(&m); err != nil {
			break
		}
		switch {
		case m.Event != "":
			ev := Event{Name: m.Event}
			if len(m.Data) > 0 {
				ev.Data = m.Data
			}
			if m.Timestamp != nil {
				ev.Timestamp = time.Unix(m.Timestamp.Seconds, m.Timestamp.Microseconds*1000)
			}
			q.mu.Lock()
			q.queue = append(q.queue, ev)
			q.mu.Unlock()
			select {
			case q.wake <- struct{}{}:
			default:
			}
		case m.ID != nil:
			var id string
			if json.Unmarshal(m.ID, &id) != nil {
				continue
			}
			q.mu.Lock()
			ch := q.pending[id]
			delete(q.pending, id)
			q.mu.Unlock()
			if ch == nil {
				continue
			}
			if m.Error != nil {
				ch <- qmpReply{err: m.Error}
			} else {
				ch <- qmpReply{ret: m.Return}
			}
		}
	}
	q.mu.Lock()
	q.err = ErrQMPClosed
	for id, ch := range q.pending {
		ch <- qmpReply{err: ErrQMPClosed}
		delete(q.pending, id)
	}
	q.mu.Unlock()
	close(q.done)
	_ = q.conn.Close()
}

// deliver moves queued events to the Events channel.
func (q *QMP) deliver() {
	defer close(q.events)
	for {
		q.mu.Lock()
		var ev Event
		have := len(q.queue) > 0
		if have {
			ev = q.queue[0]
			q.queue[0] = Event{}
			q.queue = q.queue[1:]
		}
		q.mu.Unlock()
		if have {
			select {
			case q.events <- ev:
			case <-q.closed:
				return
			}
			continue
		}
		select {
		case <-q.wake:
		case <-q.done:
			// The reader has stopped: whatever it queued is all there is.
			q.mu.Lock()
			empty := len(q.queue) == 0
			q.mu.Unlock()
			if empty {
				return
			}
		case <-q.closed:
			return
		}
	}
}
