package logging

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

func TestSetup(t *testing.T) {
	defer klog.ClearLogger()
	cases := []struct {
		level, format string
		wantOwnInfo   bool
		wantCompInfo  bool
		wantBenign    bool
	}{
		{LevelInfo, FormatText, true, false, false},
		{LevelError, FormatText, false, false, false},
		{LevelDebug, FormatText, true, true, true},
		{LevelInfo, FormatJSON, true, false, false},
	}
	for _, c := range cases {
		t.Run(c.level+"-"+c.format, func(t *testing.T) {
			var out bytes.Buffer
			own, err := Setup(Options{Level: c.level, Format: c.format}, &out)
			if err != nil {
				t.Fatal(err)
			}
			own.Info("own action", "vm", "vms/linux-vm")
			own.Info("Starting EventSource", "controller", "vm")
			own.Error(errors.New("boom"), "own failure")
			klog.InfoS("Adding GroupVersion to ResourceManager")
			klog.ErrorS(errors.New(`namespaces "kube-system" not found`), "Failed to ensure lease exists")
			klog.ErrorS(errors.New("disk full"), "component failure")
			klog.Flush()
			got := out.String()
			check := func(what string, want bool) {
				t.Helper()
				if strings.Contains(got, what) != want {
					t.Errorf("%q in the log = %v, want %v:\n%s", what, !want, want, got)
				}
			}
			check("own action", c.wantOwnInfo)
			check("Starting EventSource", c.level == LevelDebug)
			check("own failure", true)
			check("Adding GroupVersion", c.wantCompInfo)
			check("Failed to ensure lease", c.wantBenign)
			check("component failure", true)
			if c.format == FormatText && !strings.Contains(got, "logging_test.go:") {
				t.Errorf("the log names a wrapper, not the file that logged:\n%s", got)
			}
			if c.format == FormatJSON && !strings.HasPrefix(got, "{") {
				t.Errorf("json format wrote %q", got)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	if err := (Options{Level: "verbose", Format: FormatText}).Validate(); err == nil || !strings.Contains(err.Error(), "want error, info or debug") {
		t.Errorf("bad level: %v", err)
	}
	if err := (Options{Level: LevelInfo, Format: "xml"}).Validate(); err == nil || !strings.Contains(err.Error(), "want text or json") {
		t.Errorf("bad format: %v", err)
	}
}
