package qmp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Client is a QMP connection: newline-separated JSON over a unix socket.
// Commands carry ids, so several goroutines may run commands at once;
// asynchronous events arrive on Events.
type Client struct {
	conn       net.Conn
	version    Version
	transcript *transcript // nil without WithTranscript

	wmu sync.Mutex // serializes writes

	mu      sync.Mutex
	nextID  uint64
	pending map[string]chan reply
	err     error // why the connection ended, once it has
	queue   []Event
	wake    chan struct{}

	events chan Event
	done   chan struct{} // closed when the reader stops
	closed chan struct{} // closed by Close
	once   sync.Once
}

// Version is the version QEMU announces in its greeting and query-version.
type Version struct {
	Major, Minor, Micro int
	// Package is the distribution's build, e.g. "Debian 1:7.2+dfsg-7".
	Package string
}

// String is major.minor.micro.
func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Micro)
}

// versionInfo is QEMU's VersionInfo, in the greeting and query-version.
type versionInfo struct {
	QEMU struct {
		Major int `json:"major"`
		Minor int `json:"minor"`
		Micro int `json:"micro"`
	} `json:"qemu"`
	Package string `json:"package"`
}

func (v versionInfo) version() Version {
	return Version{Major: v.QEMU.Major, Minor: v.QEMU.Minor, Micro: v.QEMU.Micro, Package: v.Package}
}

type reply struct {
	ret json.RawMessage
	err error
}

// message is any line QEMU sends: the greeting, a reply or an event.
type message struct {
	QMP *struct {
		Version versionInfo `json:"version"`
	} `json:"QMP"`
	Return    json.RawMessage `json:"return"`
	Error     *Error          `json:"error"`
	ID        json.RawMessage `json:"id"`
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	Timestamp *struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	} `json:"timestamp"`
}

// Option configures a Client.
type Option func(*Client)

// WithTranscript copies every line sent to and received from QEMU to w, one
// line each: an RFC 3339 timestamp with microseconds, "->" for sent or "<-"
// for received, and the JSON. Errors writing to w are ignored: the
// transcript is a debugging aid, never a reason to fail a command.
func WithTranscript(w io.Writer) Option {
	return func(c *Client) {
		if w != nil {
			c.transcript = &transcript{w: w, now: time.Now}
		}
	}
}

// Dial connects to the QMP socket at path and negotiates capabilities.
func Dial(ctx context.Context, path string, opts ...Option) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	c, err := New(ctx, conn, opts...)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}

// New runs the QMP handshake on conn: it reads the greeting and leaves
// capabilities negotiation mode. The Client owns conn from then on.
func New(ctx context.Context, conn net.Conn, opts ...Option) (*Client, error) {
	c := &Client{
		conn:    conn,
		pending: map[string]chan reply{},
		wake:    make(chan struct{}, 1),
		events:  make(chan Event),
		done:    make(chan struct{}),
		closed:  make(chan struct{}),
	}
	for _, o := range opts {
		o(c)
	}
	// The greeting is read here, before the reader goroutine exists: the
	// end of the context cuts the read short through its deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	r := bufio.NewReader(conn)
	line, err := c.readLine(r)
	stopped := stop()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("reading the QMP greeting: %w", err)
	}
	if !stopped {
		// The deadline was cut short: the context ended just as the
		// greeting arrived.
		return nil, fmt.Errorf("reading the QMP greeting: %w", ctx.Err())
	}
	_ = conn.SetReadDeadline(time.Time{})
	var greeting message
	if err := json.Unmarshal(line, &greeting); err != nil || greeting.QMP == nil {
		return nil, errors.New("reading the QMP greeting: not a QMP server")
	}
	c.version = greeting.QMP.Version.version()
	go c.read(r)
	go c.deliver()
	if _, err := c.Execute(ctx, "qmp_capabilities", nil); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("QMP capabilities negotiation: %w", err)
	}
	return c, nil
}

// Version is the QEMU version from the greeting.
func (c *Client) Version() Version { return c.version }

// Events delivers QMP events in order. It is closed after the connection
// ends and every event read before has been delivered. Events are queued
// without bound, so a slow reader never stalls command replies.
func (c *Client) Events() <-chan Event { return c.events }

// Done is closed when the connection has ended (QEMU exited or Close).
func (c *Client) Done() <-chan struct{} { return c.done }

// Close ends the connection.
func (c *Client) Close() error {
	var err error
	c.once.Do(func() {
		close(c.closed)
		err = c.conn.Close()
	})
	return err
}

// Execute runs a command and returns its "return" value. args is
// marshalled as the command's arguments (nil for none). A QMP error
// response is returned as a wrapped *Error; a connection that ended, as
// ErrClosed.
func (c *Client) Execute(ctx context.Context, cmd string, args any) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		// Not sent at all: a command QEMU runs must not look abandoned.
		return nil, fmt.Errorf("QMP %s: %w", cmd, err)
	}
	ch := make(chan reply, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("QMP %s: %w", cmd, err)
	}
	c.nextID++
	id := "dvp-" + strconv.FormatUint(c.nextID, 10)
	c.pending[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
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
	c.wmu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetWriteDeadline(dl)
	} else {
		_ = c.conn.SetWriteDeadline(time.Time{})
	}
	c.transcript.line("->", b)
	_, err = c.conn.Write(append(b, '\n'))
	c.wmu.Unlock()
	if err != nil {
		forget()
		return nil, fmt.Errorf("QMP %s: %w", cmd, err)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("QMP %s: %w", cmd, r.err)
		}
		return r.ret, nil
	case <-ctx.Done():
		forget()
		return nil, fmt.Errorf("QMP %s: %w", cmd, ctx.Err())
	}
}

// readLine reads one line, without its line ending, and copies it to the
// transcript.
func (c *Client) readLine(r *bufio.Reader) ([]byte, error) {
	for {
		line, err := r.ReadBytes('\n')
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			c.transcript.line("<-", line)
			// A last line without its newline still counts.
			return line, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (c *Client) read(r *bufio.Reader) {
	for {
		line, err := c.readLine(r)
		if err != nil {
			break
		}
		var m message
		if json.Unmarshal(line, &m) != nil {
			continue // not JSON: it is in the transcript, and nobody waits for it
		}
		switch {
		case m.Event != "":
			c.queueEvent(m)
		case m.ID != nil:
			var id string
			if json.Unmarshal(m.ID, &id) != nil {
				continue
			}
			c.mu.Lock()
			ch := c.pending[id]
			delete(c.pending, id)
			c.mu.Unlock()
			if ch == nil {
				continue // its caller gave up
			}
			if m.Error != nil {
				ch <- reply{err: m.Error}
			} else {
				ch <- reply{ret: m.Return}
			}
		}
	}
	c.mu.Lock()
	c.err = ErrClosed
	for id, ch := range c.pending {
		ch <- reply{err: ErrClosed}
		delete(c.pending, id)
	}
	c.mu.Unlock()
	close(c.done)
	_ = c.conn.Close()
}

func (c *Client) queueEvent(m message) {
	ev := Event{Name: m.Event}
	if len(m.Data) > 0 && !bytes.Equal(m.Data, []byte("null")) {
		ev.Data = m.Data
	}
	if m.Timestamp != nil {
		ev.Timestamp = time.Unix(m.Timestamp.Seconds, m.Timestamp.Microseconds*1000)
	}
	ev.Payload = decodePayload(ev.Name, ev.Data)
	c.mu.Lock()
	c.queue = append(c.queue, ev)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// deliver moves queued events to the Events channel.
func (c *Client) deliver() {
	defer close(c.events)
	for {
		c.mu.Lock()
		var ev Event
		have := len(c.queue) > 0
		if have {
			ev = c.queue[0]
			c.queue[0] = Event{}
			c.queue = c.queue[1:]
		}
		c.mu.Unlock()
		if have {
			select {
			case c.events <- ev:
			case <-c.closed:
				return
			}
			continue
		}
		select {
		case <-c.wake:
		case <-c.done:
			// The reader has stopped: whatever it queued is all there is.
			c.mu.Lock()
			empty := len(c.queue) == 0
			c.mu.Unlock()
			if empty {
				return
			}
		case <-c.closed:
			return
		}
	}
}
