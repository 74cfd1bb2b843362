package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLaunchCommandFailures checks that `dvp-worker launch` reports a bad
// environment as LauncherFailed in the termination log, and that container
// paths resolve under DVP_ROOT.
func TestLaunchCommandFailures(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no config", map[string]string{}, "LauncherFailed: DVP_LAUNCHER_CONFIG is empty"},
		{"bad json", map[string]string{"DVP_LAUNCHER_CONFIG": "{"}, "LauncherFailed: DVP_LAUNCHER_CONFIG: "},
		{"bad grace", map[string]string{"DVP_LAUNCHER_CONFIG": "{}", "DVP_GRACE_SECONDS": "soon"}, "LauncherFailed: DVP_GRACE_SECONDS=\"soon\""},
		{"no run dir", map[string]string{"DVP_LAUNCHER_CONFIG": "{}"}, "LauncherFailed: DVP_RUN_DIR is empty"},
		{"bad accel", map[string]string{"DVP_LAUNCHER_CONFIG": `{"disks":[]}`, "DVP_ACCEL": "xen", "DVP_RUN_DIR": filepath.Join(root, "run-accel")}, "LauncherFailed: accel \"xen\""},
		{"tap without a device", map[string]string{
			"DVP_LAUNCHER_CONFIG": `{"name":"vm","network":{"mode":"tap","mac":"02:00:00:00:00:01"}}`,
			"DVP_RUN_DIR":         filepath.Join(root, "run-tap"),
		}, "LauncherFailed: network mode tap names no tap device and DVP_NETWORK_TAP is empty"},
		{"tap from the node", map[string]string{
			"DVP_LAUNCHER_CONFIG": `{"name":"vm","cpu":{"type":"Host"},"memoryMiB":64,"network":{"mode":"tap","mac":"02:00:00:00:00:01"},"disks":[{"name":"root","kind":"VirtualDisk","path":"/dev/disks/root"}]}`,
			"DVP_RUN_DIR":         filepath.Join(root, "run-tap-env"),
			"DVP_NETWORK_TAP":     "dvpt0123456789",
		}, "LauncherFailed: disk \"root\""},
		{"missing disk", map[string]string{
			"DVP_LAUNCHER_CONFIG": `{"name":"vm","cpu":{"type":"Host"},"memoryMiB":64,"disks":[{"name":"root","kind":"VirtualDisk","path":"/dev/disks/root"}]}`,
			"DVP_RUN_DIR":         filepath.Join(root, "run-disk"),
		}, "LauncherFailed: disk \"root\": stat /dev/disks/root: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			termLog := filepath.Join(t.TempDir(), "termination-log")
			tc.env["DVP_ROOT"] = root
			tc.env["DVP_TERMINATION_LOG"] = termLog
			var stdout, stderr bytes.Buffer
			code := runLaunch(context.Background(), func(k string) string { return tc.env[k] }, &stdout, &stderr)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			b, err := os.ReadFile(termLog)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(b), tc.want) {
				t.Errorf("termination log %q, want it to start with %q", b, tc.want)
			}
		})
	}
}
