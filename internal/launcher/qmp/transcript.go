package qmp

import (
	"io"
	"sync"
	"time"
)

// transcript writes the lines of a connection to a writer. A nil
// transcript writes nothing.
type transcript struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
	buf []byte
}

// TranscriptTimeFormat is the timestamp at the start of each transcript
// line: RFC 3339 in UTC with microseconds, the resolution of QMP's own
// event timestamps.
const TranscriptTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// line writes "<time> <dir> <line>\n" in one Write, so lines from the
// reader and from commands never interleave.
func (t *transcript) line(dir string, line []byte) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.now().UTC().AppendFormat(t.buf[:0], TranscriptTimeFormat)
	b = append(b, ' ')
	b = append(b, dir...)
	b = append(b, ' ')
	b = append(b, line...)
	b = append(b, '\n')
	_, _ = t.w.Write(b)
	t.buf = b
}
