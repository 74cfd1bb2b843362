package guest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Console drives a text console such as a VM's serial port: it reads
// everything the guest prints in the background and lets a test wait for
// text to appear (Expect) and type into it (Send). It knows nothing about
// QEMU; any io.ReadWriter (a unix socket, a pipe pair, a pty) will do.
//
// Output is matched in order: each successful Expect consumes the output up
// to and including the match, so a later Expect only sees newer text.
type Console struct {
	w io.Writer

	mu      sync.Mutex
	buf     []byte // output read so far, minus a trimmed prefix
	pos     int    // start of the not yet consumed output in buf
	err     error  // set once reading stopped
	changed chan struct{}
	log     io.Writer
	seq     int
}

// keepConsumed is how much already consumed output is kept for Tail.
const keepConsumed = 64 << 10

// NewConsole starts reading rw. Every byte read is also copied to transcript
// when it is not nil (for example a file kept for debugging).
func NewConsole(rw io.ReadWriter, transcript io.Writer) *Console {
	c := &Console{w: rw, changed: make(chan struct{}), log: transcript}
	go c.read(rw)
	return c
}

func (c *Console) read(r io.Reader) {
	b := make([]byte, 4096)
	for {
		n, err := r.Read(b)
		c.mu.Lock()
		if n > 0 {
			c.buf = append(c.buf, b[:n]...)
			if c.log != nil {
				_, _ = c.log.Write(b[:n])
			}
			if c.pos > 4*keepConsumed {
				drop := c.pos - keepConsumed
				c.buf = append(c.buf[:0], c.buf[drop:]...)
				c.pos -= drop
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.EOF
			}
			c.err = err
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Wait waits up to timeout for any of the given substrings to appear in the
// not yet consumed output. It returns the index of the substring that
// matched first (the earliest in the output) and the output up to and
// including it, which is then consumed. It fails when the timeout passes or
// the console is closed first.
func (c *Console) Wait(timeout time.Duration, substrs ...string) (int, string, error) {
	if len(substrs) == 0 {
		return -1, "", errors.New("console: nothing to wait for")
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		best, bestAt := -1, -1
		pending := c.buf[c.pos:]
		for i, s := range substrs {
			if at := bytes.Index(pending, []byte(s)); at >= 0 && (bestAt < 0 || at < bestAt) {
				best, bestAt = i, at
			}
		}
		if best >= 0 {
			end := c.pos + bestAt + len(substrs[best])
			text := string(c.buf[c.pos:end])
			c.pos = end
			c.mu.Unlock()
			return best, text, nil
		}
		err, ch := c.err, c.changed
		c.mu.Unlock()
		if err != nil {
			return -1, "", fmt.Errorf("console closed (%v) while waiting for %q", err, substrs)
		}
		select {
		case <-ch:
		case <-timer.C:
			return -1, "", fmt.Errorf("timed out after %s waiting for %q", timeout, substrs)
		}
	}
}

// Expect waits up to timeout for substr and returns the output up to and
// including it. On timeout or a closed console it fails the test, showing
// the end of the output.
func (c *Console) Expect(t testing.TB, substr string, timeout time.Duration) string {
	t.Helper()
	_, text, err := c.Wait(timeout, substr)
	if err != nil {
		t.Fatalf("console: %v\n--- last console output ---\n%s\n---", err, c.Tail(3000))
	}
	return text
}

// ExpectAny is Expect for several alternatives: it returns the index of the
// one that appeared first and the output up to and including it.
func (c *Console) ExpectAny(t testing.TB, timeout time.Duration, substrs ...string) (int, string) {
	t.Helper()
	i, text, err := c.Wait(timeout, substrs...)
	if err != nil {
		t.Fatalf("console: %v\n--- last console output ---\n%s\n---", err, c.Tail(3000))
	}
	return i, text
}

// Send types s as is (add "\n" to end a line).
func (c *Console) Send(s string) error {
	_, err := io.WriteString(c.w, s)
	return err
}

// Run types a command line into a POSIX shell on the console and waits up
// to timeout for it to finish. It returns the command's output (carriage
// returns removed) and exit status. The command must fit on one line, end
// without a comment or "&", and not read from the terminal. Output is delimited by markers that only appear once the shell
// runs the line, so the echo of the typed line is never mistaken for output.
func (c *Console) Run(t testing.TB, command string, timeout time.Duration) (string, int) {
	t.Helper()
	c.mu.Lock()
	c.seq++
	tag := fmt.Sprintf("%d-%d", time.Now().UnixNano()%1e6, c.seq)
	c.mu.Unlock()
	begin, end := "@@BEGIN-"+tag, "@@END-"+tag+" "
	// The quotes split each marker in the typed line; the shell joins them.
	// One line, so nothing typed ahead is echoed into the command's output.
	line := fmt.Sprintf("echo '@@BEGIN''-%s'; %s; echo '@@END''-%s' $?\n", tag, command, tag)
	if err := c.Send(line); err != nil {
		t.Fatalf("console: send %q: %v", command, err)
	}
	c.Expect(t, begin, timeout)
	out := c.Expect(t, end, timeout)
	status := c.Expect(t, "\n", 30*time.Second)
	code, err := strconv.Atoi(strings.TrimSpace(status))
	if err != nil {
		t.Fatalf("console: %q: cannot read exit status from %q", command, status)
	}
	out = strings.TrimSuffix(out, end)
	out = strings.ReplaceAll(out, "\r", "")
	out = strings.TrimPrefix(out, "\n")
	return out, code
}

// Tail returns up to the last n bytes of output (consumed or not), with
// carriage returns removed, for error messages.
func (c *Console) Tail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buf
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.ReplaceAll(string(b), "\r", "")
}

// Err reports why reading stopped (io.EOF once the peer closed), or nil
// while the console is still open.
func (c *Console) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
