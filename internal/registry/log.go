package registry

import (
	"context"
	"io"
	"log"
	"reflect"
	"slices"

	"github.com/go-logr/logr"
	"github.com/sirupsen/logrus"
)

// Distribution logs through logrus, taking the logger from the context under
// a key of its internal dcontext package and falling back to logrus's
// process-wide standard logger. This file routes those logs to the caller's
// logr.Logger without touching the standard logger, which other code in the
// process may use.

// Verbosity of distribution's levels. Even its warnings and errors are
// request-level detail (a client's first, anonymous ping is logged as a
// warning; a missing tag as an error), and failures that matter to the
// platform come back as errors from this package's methods.
const (
	vProblem = 2 // logrus Error, Warn
	vInfo    = 4 // logrus Info: a line per request
	vDebug   = 6
)

// dcontextPkg is where distribution keeps its logger context key.
const dcontextPkg = "github.com/distribution/distribution/v3/internal/dcontext"

// newLogrusEntry returns a private logrus logger that forwards to l.
func newLogrusEntry(l logr.Logger) *logrus.Entry {
	lg := logrus.New()
	lg.SetOutput(io.Discard)
	lg.SetLevel(logrus.InfoLevel)
	if l.V(vDebug).Enabled() {
		lg.SetLevel(logrus.DebugLevel)
	}
	if !l.V(vProblem).Enabled() {
		lg.SetLevel(logrus.PanicLevel) // nothing would be shown: skip the formatting
	}
	lg.AddHook(logrHook{l: l})
	return logrus.NewEntry(lg)
}

// logrHook forwards logrus entries to a logr.Logger.
type logrHook struct {
	l logr.Logger
}

func (logrHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h logrHook) Fire(e *logrus.Entry) error {
	v := vDebug
	switch {
	case e.Level <= logrus.WarnLevel:
		v = vProblem
	case e.Level == logrus.InfoLevel:
		v = vInfo
	}
	l := h.l.V(v)
	if !l.Enabled() {
		return nil
	}
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	kv := make([]any, 0, 2+2*len(keys))
	kv = append(kv, "level", e.Level.String())
	for _, k := range keys {
		kv = append(kv, k, e.Data[k])
	}
	l.Info(e.Message, kv...)
	return nil
}

// loggerContext answers distribution's logger lookups with entry. The key
// type is internal to distribution, so it is recognised by name; should a
// new version rename it, logs fall back to logrus's standard logger and
// TestDistributionLogsAreRouted fails.
type loggerContext struct {
	context.Context
	entry *logrus.Entry
}

func withLogrus(ctx context.Context, entry *logrus.Entry) context.Context {
	return loggerContext{Context: ctx, entry: entry}
}

func (c loggerContext) Value(key any) any {
	if t := reflect.TypeOf(key); t != nil && t.Name() == "loggerKey" && t.PkgPath() == dcontextPkg {
		return c.entry
	}
	return c.Context.Value(key)
}

// newStdLogger adapts l for net/http's server errors (TLS handshake
// failures of scanners and the like).
func newStdLogger(l logr.Logger) *log.Logger {
	return log.New(logrWriter{l: l.V(vProblem)}, "", 0)
}

type logrWriter struct {
	l logr.Logger
}

func (w logrWriter) Write(p []byte) (int, error) {
	if w.l.Enabled() {
		msg := string(p)
		if n := len(msg); n > 0 && msg[n-1] == '\n' {
			msg = msg[:n-1]
		}
		w.l.Info(msg)
	}
	return len(p), nil
}
