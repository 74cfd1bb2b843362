package launcher

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtlab/dvp/internal/launcher/qmp"
	"github.com/virtlab/dvp/internal/launcher/qmp/qmptest"
)

// The test binary doubles as a scripted QEMU: with DVP_FAKE_QEMU set it
// serves QMP on qmp.sock in its working directory (a qmptest fake monitor)
// and plays a scenario, so Run's handling of events is tested without an
// emulator.
func TestMain(m *testing.M) {
	if scenario := os.Getenv("DVP_FAKE_QEMU"); scenario != "" {
		os.Exit(fakeQEMU(scenario))
	}
	// ... and as a launcher process, for tests that kill it.
	if raw := os.Getenv(ConfigEnv); raw != "" {
		var cfg Config
		if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
			os.Exit(3)
		}
		os.Exit(Run(context.Background(), cfg, RunEnv{Root: os.Getenv("DVP_ROOT"), RunDir: os.Getenv("DVP_RUN_DIR")}).ExitCode())
	}
	os.Exit(m.Run())
}

// fakeQEMU scenarios:
//
//	shutdown  the guest powers off right after the launcher connects
//	reset     the guest reboots
//	panic     the guest panics (pvpanic)
//	ioerror   a write fails with ENOSPC and the guest stops; cont resumes
//	          it; system_powerdown powers it off
//	crash     QEMU exits with status 1 and a message, without QMP
func fakeQEMU(scenario string) int {
	if scenario == "crash" {
		os.Stderr.WriteString("qemu-system-x86_64: -device foo: 'foo' is not a valid device model name\n")
		return 1
	}
	for _, s := range []string{SerialSocket, VNCSocket} {
		if ln, err := net.Listen("unix", s); err == nil {
			defer ln.Close()
		}
	}
	srv, err := qmptest.Listen(QMPSocket)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	defer srv.Close()
	srv.SetVersion(qmp.Version{Major: 7, Minor: 2, Micro: 22, Package: "fake"})
	exit := make(chan struct{})
	// Handlers run one at a time, on the session's goroutine: the
	// variables they share need no lock.
	status, first, exited := qmp.RunRunning, true, false
	exitAfter := func(s *qmptest.Session, events ...func()) {
		s.AfterReply(func() {
			for _, ev := range events {
				ev()
			}
			if !exited {
				exited = true
				close(exit)
			}
		})
	}
	shutdown := func(s *qmptest.Session, guest bool, reason string) func() {
		return func() { s.Event("SHUTDOWN", map[string]any{"guest": guest, "reason": reason}) }
	}
	srv.Handle("query-status", func(s *qmptest.Session, _ qmptest.Call) (any, error) {
		ret := map[string]any{"status": status, "running": status == qmp.RunRunning}
		if !first {
			return ret, nil
		}
		first = false
		switch scenario {
		case "shutdown":
			exitAfter(s, shutdown(s, true, "guest-shutdown"))
		case "reset":
			exitAfter(s, shutdown(s, true, "guest-reset"))
		case "panic":
			exitAfter(s, func() {
				s.Event("GUEST_PANICKED", map[string]any{"action": "pause", "info": map[string]any{"type": "hyper-v"}})
			}, shutdown(s, true, "guest-panic"))
		case "ioerror":
			s.AfterReply(func() {
				status = qmp.RunIOError
				s.Event("BLOCK_IO_ERROR", map[string]any{"device": "", "node-name": "disk0", "operation": "write", "action": "stop", "nospace": true, "reason": "No space left on device"})
				s.Event("STOP", nil)
			})
		}
		return ret, nil
	})
	srv.Reply("block_resize", nil)
	srv.Handle("cont", func(s *qmptest.Session, _ qmptest.Call) (any, error) {
		status = qmp.RunRunning
		s.AfterReply(func() { s.Event("RESUME", nil) })
		return nil, nil
	})
	srv.Handle("system_powerdown", func(s *qmptest.Session, _ qmptest.Call) (any, error) {
		exitAfter(s, func() { s.Event("POWERDOWN", nil) }, shutdown(s, true, "guest-shutdown"))
		return nil, nil
	})
	srv.Handle("quit", func(s *qmptest.Session, _ qmptest.Call) (any, error) {
		exitAfter(s, shutdown(s, false, "host-qmp-quit"))
		return nil, nil
	})
	select {
	case <-exit:
		time.Sleep(50 * time.Millisecond)
	case <-srv.HungUp():
	}
	return 0
}

// fakeRun runs the launcher against the scripted QEMU.
func fakeRun(t *testing.T, scenario string, disk bool, during func(runDir string, cancel func())) (Outcome, string, string) {
	t.Helper()
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	cfg := Config{
		Namespace: "ns", Name: "fake", UID: testUID, Bootloader: BootBIOS, Paravirtualization: true,
		CPU: CPU{Type: CPUModel, Model: "qemu64", Cores: 1}, MemoryMiB: 64, Accel: AccelTCG,
	}
	if disk {
		p := filepath.Join(dir, "disk.raw")
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, 1<<20); err != nil {
			t.Fatal(err)
		}
		cfg.Disks = []Disk{{Name: "data", Kind: KindVirtualDisk, Path: p}}
	}
	t.Setenv("DVP_FAKE_QEMU", scenario)
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	termLog := filepath.Join(dir, "termination-log")
	done := make(chan Outcome, 1)
	go func() {
		done <- Run(ctx, cfg, RunEnv{
			RunDir: runDir, TerminationLog: termLog, Stdout: out, Stderr: out,
			QEMU: os.Args[0], Grace: 5 * time.Second, ResizeInterval: 100 * time.Millisecond,
			QMPTranscript: true,
		})
	}()
	if during != nil {
		during(runDir, cancel)
	}
	var o Outcome
	select {
	case o = <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("Run did not return; log:\n%s", out)
	}
	b, _ := os.ReadFile(termLog)
	return o, string(b), out.String()
}

func TestRunOutcomes(t *testing.T) {
	for _, tc := range []struct {
		scenario, reason, message string
		code                      int
	}{
		{"shutdown", ReasonGuestShutdown, "the guest powered off", 0},
		{"reset", ReasonGuestReset, "the guest rebooted", 0},
		{"panic", ReasonGuestPanic, "the guest kernel panicked", 1},
		{"crash", ReasonQEMUExited, "exited with status 1: qemu-system-x86_64: -device foo: 'foo' is not a valid device model name", 1},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			o, term, log := fakeRun(t, tc.scenario, false, nil)
			if o.Reason != tc.reason || !strings.Contains(o.Message, tc.message) || o.ExitCode() != tc.code {
				t.Errorf("outcome %q (exit %d), want %s containing %q (exit %d); log:\n%s", o, o.ExitCode(), tc.reason, tc.message, tc.code, log)
			}
			if !strings.HasPrefix(term, tc.reason+": ") {
				t.Errorf("termination log %q", term)
			}
		})
	}
}

// A disk that runs full pauses the guest (IOError); growing it resizes the
// disk in QEMU and resumes the guest; a stop request powers it off.
func TestRunIOErrorAndResume(t *testing.T) {
	var runDir string
	o, _, log := fakeRun(t, "ioerror", true, func(dir string, cancel func()) {
		runDir = dir
		c := waitCondition(t, runDir, func(c Condition) bool { return c.Reason == StateIOError })
		if c.Status != "False" || !strings.Contains(c.Message, "disk data") || !strings.Contains(c.Message, "No space left on device") {
			t.Errorf("IOError condition %+v", c)
		}
		disk := filepath.Join(filepath.Dir(runDir), "disk.raw")
		if err := os.Truncate(disk, 2<<20); err != nil {
			t.Fatal(err)
		}
		waitCondition(t, runDir, func(c Condition) bool { return c.Reason == StateRunning })
		cancel()
	})
	if !strings.Contains(log, "disk data grown to 2097152 bytes") {
		t.Errorf("no resize logged:\n%s", log)
	}
	if o.Reason != ReasonHostShutdown || !strings.Contains(o.Message, "the guest powered off") {
		t.Errorf("outcome %q; log:\n%s", o, log)
	}
	// RunEnv.QMPTranscript: every line both ways, in order.
	tr, err := os.ReadFile(filepath.Join(runDir, QMPTranscriptFile))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ dir, has string }{
		{"<-", `{"QMP":`},
		{"->", `{"execute":"qmp_capabilities"`},
		{"->", `{"execute":"query-status"`},
		{"<-", `"event":"BLOCK_IO_ERROR"`},
		{"->", `{"execute":"block_resize","arguments":{"node-name":"disk0","size":2097152}`},
		{"->", `{"execute":"cont"`},
		{"<-", `"event":"RESUME"`},
		{"->", `{"execute":"system_powerdown"`},
		{"<-", `{"data":{"guest":true,"reason":"guest-shutdown"},"event":"SHUTDOWN"`},
	}
	lines := strings.Split(string(tr), "\n")
	for _, w := range want {
		for len(lines) > 0 && !(strings.Contains(lines[0], "Z "+w.dir+" ") && strings.Contains(lines[0], w.has)) {
			lines = lines[1:]
		}
		if len(lines) == 0 {
			t.Fatalf("%s %s not in the transcript after the lines before it:\n%s", w.dir, w.has, tr)
		}
	}
}

func TestRunConfigErrors(t *testing.T) {
	dir := t.TempDir()
	termLog := filepath.Join(dir, "termination-log")
	cfg := baseConfig()
	o := Run(context.Background(), cfg, RunEnv{Root: dir, RunDir: filepath.Join(dir, "run"), TerminationLog: termLog, Stdout: &syncBuffer{}, Stderr: &syncBuffer{}})
	if o.Reason != ReasonFailed || !strings.Contains(o.Message, `disk "root"`) || o.ExitCode() != 1 {
		t.Errorf("missing disk: %q", o)
	}
	if b, _ := os.ReadFile(termLog); !strings.HasPrefix(string(b), "LauncherFailed: disk \"root\"") {
		t.Errorf("termination log %q", b)
	}
	cs, err := ReadConditions(filepath.Join(dir, "run"))
	if err != nil {
		t.Fatal(err)
	}
	if c := find(cs, ConditionGuestRunning); c.Reason != StateStopped || c.Status != "False" {
		t.Errorf("GuestRunning %+v", c)
	}
}
