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
	components := logr.New(&filter{sink: base.GetSink(), info: o.Level == LevelDebug, benign: o.Level != LevelDebug})
	klog.SetLogger(components)
	own := base
	if o.Level == LevelError {
		own = logr.New(&filter{sink: base.GetSink()})
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

func (f *filter) Init(ri logr.RuntimeInfo) { f.sink.Init(ri) }

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
