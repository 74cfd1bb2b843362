package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virtlab/dvp/internal/supervisor"
	"github.com/virtlab/dvp/test/harness"
)

// idlePod starts a long-running pod and returns its supervisor's PID.
func idlePod(t *testing.T, srv *harness.Server, name string) int {
	t.Helper()
	srv.MustKubectlStdin(podManifest(name, "Never", []string{"dvp-worker", "idle"}, ""), "apply", "-f", "-")
	waitFor(t, srv, "Running", "get", "pod", name, "-o", "jsonpath={.status.phase}")
	dirs, _ := filepath.Glob(filepath.Join(srv.DataDir, "nodes", "*", "pods", "*"+name+"*", "containers", "main"))
	if len(dirs) != 1 {
		t.Fatalf("container directories of %s: %v", name, dirs)
	}
	id, err := supervisor.ReadIdentity(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	return id.PID
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); alive(pid); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: process %d still runs", what, pid)
		}
	}
}

func logOf(t *testing.T, srv *harness.Server) string {
	t.Helper()
	b, err := os.ReadFile(srv.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPodsOnExit: Ctrl+C leaves machines running and says so; a data
// directory deleted under running pods leaves no process behind once a
// server starts again; --stop-vms-on-exit stops them instead.
func TestPodsOnExit(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to see and signal the supervisors")
	}
	srv := harness.Start(t, harness.Options{})
	pid := idlePod(t, srv, "survivor")
	srv.Stop()
	if !alive(pid) {
		t.Fatalf("the pod's supervisor stopped with the server")
	}
	if log := logOf(t, srv); !strings.Contains(log, "Leaving pods running: start dvp again to manage them") || !strings.Contains(log, "--stop-vms-on-exit") {
		t.Errorf("the server said nothing about the pods it left running:\n%s", log)
	}

	// The data directory goes while the pod runs: nothing could adopt it.
	if err := os.RemoveAll(srv.DataDir); err != nil {
		t.Fatal(err)
	}
	next := harness.Start(t, harness.Options{Args: []string{"--stop-vms-on-exit"}})
	waitGone(t, pid, "a supervisor whose data directory was deleted, after the next start")
	if log := logOf(t, next); !strings.Contains(log, "Stopping processes of pods whose data directory was deleted") {
		t.Errorf("the next server did not say what it stopped:\n%s", log)
	}

	pid = idlePod(t, next, "stopped-on-exit")
	next.Stop()
	waitGone(t, pid, "a pod of a server run with --stop-vms-on-exit, after it stopped")
	if log := logOf(t, next); !strings.Contains(log, "Stopped pods before exit") {
		t.Errorf("the server did not say it stopped its pods:\n%s", log)
	}
}
