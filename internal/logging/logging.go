package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"
)

// Levels and formats the flags accept.
const (
	LevelError = "error" // errors only, the platform's included
	LevelInfo  = "info"  // the platform's actions and every error (default)
	LevelDebug = "debug" // also the embedded components' informational lines

	FormatText = "text"
	FormatJSON = "json"
)

// Options are the logging flags.
type Options struct {
	Level     string
	Format    string
	Verbosity int // klog's -v, for the platform's own V(n) lines
}

// Validate checks the flag values and says what is allowed.
func (o Options) Validate() error {
	switch o.Level {
	case LevelError, LevelInfo, LevelDebug:
	default:
		return fmt.Errorf("--log-level %q: want %s, %s or %s", o.Level, LevelError, LevelInfo, LevelDebug)
	}
	switch o.Format {
	case FormatText, FormatJSON:
	default:
		return fmt.Errorf("--log-format %q: want %s or %s", o.Format, FormatText, FormatJSON)
	}
	return nil
}

// Setup installs the filtered logger behind klog's global functions (what
// the embedded Kubernetes components use) and returns the logger the
// platform's own code gets through its context.
func Setup(o Options, out io.Writer) (logr.Logger, error) {
	if err := o.Validate(); err != nil {
		return logr.Discard(), err
	}
	v := o.Verbosity
	if o.Level == LevelDebug && v < 2 {
		v = 2
	}
	var base logr.Logger
	switch o.Format {
	case FormatJSON:
		// logr's slog bridge maps V(n) to slog level -n.
		base = logr.FromSlogHandler(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.Level(-v)}))
	default:
		base = textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(v), textlogger.Output(out)))
	}
	components := logr.New(&filter{sink: skipFrame(base.GetSink()), info: o.Level == LevelDebug, benign: o.Level != LevelDebug})
	klog.SetLogger(components)
	own := QuietStartup(base)
	if o.Level == LevelError {
		own = logr.New(&filter{sink: skipFrame(base.GetSink())})
	}
	return own, nil
}

// benignErrors are errors a healthy start prints: the apiserver's
// controllers race the creation of kube-system, and the apiserver finds no
// static manifests to load. Anything else is a real error and shown.
var benignErrors = []string{
	`namespaces "kube-system" not found`,
	"The manifest file is empty",
}

// filter passes errors (less benign ones, when asked) and, when info is
// set, informational lines.
type filter struct {
	sink   logr.LogSink
	info   bool
	benign bool // drop benignErrors
}

var (
	_ logr.LogSink          = (*filter)(nil)
	_ logr.CallDepthLogSink = (*filter)(nil)
)

func (f *filter) Init(ri logr.RuntimeInfo) {
	ri.CallDepth++
	f.sink.Init(ri)
}

func (f *filter) Enabled(level int) bool { return f.info && f.sink.Enabled(level) }

func (f *filter) Info(level int, msg string, kv ...any) {
	if f.info {
		f.sink.Info(level, msg, kv...)
	}
}

func (f *filter) Error(err error, msg string, kv ...any) {
	if f.benign && isBenign(err, msg) {
		return
	}
	f.sink.Error(err, msg, kv...)
}

func isBenign(err error, msg string) bool {
	text := msg
	if err != nil {
		text += " " + err.Error()
	}
	for _, b := range benignErrors {
		if strings.Contains(text, b) {
			return true
		}
	}
	return false
}

func (f *filter) WithValues(kv ...any) logr.LogSink {
	return &filter{sink: f.sink.WithValues(kv...), info: f.info, benign: f.benign}
}

func (f *filter) WithName(name string) logr.LogSink {
	return &filter{sink: f.sink.WithName(name), info: f.info, benign: f.benign}
}

func (f *filter) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := f.sink.(logr.CallDepthLogSink); ok {
		return &filter{sink: cd.WithCallDepth(depth), info: f.info, benign: f.benign}
	}
	return f
}

// routineStartup are controller-runtime's informational lines about its own
// machinery starting and stopping, one per controller, watch and webhook
// path: dozens on every start and stop, and nothing an operator acts on.
var routineStartup = []string{
	"Starting EventSource", "Starting Controller", "Starting workers", "Registering webhook",
	"Starting webhook server", "Serving webhook server", "Updated current TLS certificate",
	"Starting certificate poll+watcher", "Starting provisioner controller", "Started provisioner controller",
	"Stopping", "Shutdown signal received, waiting for all workers to finish", "All workers finished",
	"Wait completed, proceeding to shutdown the manager", "Shutting down webhook server with timeout of 1 minute",
	"Event occurred",
}

// routinePrefixes are the same for families of lines.
var routinePrefixes = []string{"Stopping and waiting for "}

// QuietStartup returns l without routineStartup's lines, which come back
// with -v 1.
func QuietStartup(l logr.Logger) logr.Logger {
	if l.V(1).Enabled() {
		return l
	}
	return logr.New(&quiet{LogSink: skipFrame(l.GetSink())})
}

// skipFrame copies a sink for a wrapper of its own, so that the wrapper's
// Init (which sets the call depth, one more for the wrapper's frame, so the
// log names the file that logged, not this package) changes no other
// logger sharing the sink.
func skipFrame(s logr.LogSink) logr.LogSink {
	if cd, ok := s.(logr.CallDepthLogSink); ok {
		return cd.WithCallDepth(0)
	}
	return s
}

type quiet struct{ logr.LogSink }

func (q *quiet) Init(ri logr.RuntimeInfo) {
	ri.CallDepth++
	q.LogSink.Init(ri)
}

func (q *quiet) Info(level int, msg string, kv ...any) {
	for _, m := range routineStartup {
		if msg == m {
			return
		}
	}
	for _, m := range routinePrefixes {
		if strings.HasPrefix(msg, m) {
			return
		}
	}
	q.LogSink.Info(level, msg, kv...)
}

func (q *quiet) WithValues(kv ...any) logr.LogSink { return &quiet{q.LogSink.WithValues(kv...)} }
func (q *quiet) WithName(name string) logr.LogSink { return &quiet{q.LogSink.WithName(name)} }
func (q *quiet) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := q.LogSink.(logr.CallDepthLogSink); ok {
		return &quiet{cd.WithCallDepth(depth)}
	}
	return q
}
