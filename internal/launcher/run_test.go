package launcher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/virtlab/dvp/internal/launcher/qmp"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func find(cs []Condition, typ string) Condition {
	for _, c := range cs {
		if c.Type == typ {
			return c
		}
	}
	return Condition{}
}

// waitCondition waits (generously) for GuestRunning to satisfy ok.
func waitCondition(t *testing.T, runDir string, ok func(Condition) bool) Condition {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last Condition
	for time.Now().Before(deadline) {
		if cs, err := ReadConditions(runDir); err == nil {
			last = find(cs, ConditionGuestRunning)
			if ok(last) {
				return last
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GuestRunning did not reach the expected state; last %+v", last)
	return last
}

func waitLog(t *testing.T, out *syncBuffer, line string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(out.String(), line) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%q not logged; log:\n%s", line, out)
}

func needQEMU(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts QEMU")
	}
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 is not installed")
	}
	return p
}

// vmFixture is a VM with one blank 16 MiB raw disk, reached through a
// DVP_ROOT symlink like a volume's devicePath, and a run directory deeper
// than a unix socket path may be.
type vmFixture struct {
	cfg     Config
	env     RunEnv
	disk    string
	out     *syncBuffer
	termLog string
}

func newVM(t *testing.T) *vmFixture {
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk0.raw")
	if err := os.WriteFile(disk, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 16<<20); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "dev/disks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(disk, filepath.Join(root, "dev/disks/disk0")); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, strings.Repeat("r", 60), strings.Repeat("u", 60))
	if len(filepath.Join(runDir, QMPSocket)) <= 108 {
		t.Fatalf("run dir %s is not long enough for the test", runDir)
	}
	out := &syncBuffer{}
	f := &vmFixture{
		cfg: Config{
			Namespace: "ns", Name: "vm-test", UID: testUID, OSType: OSGeneric, Bootloader: BootBIOS,
			Paravirtualization: true,
			CPU:                CPU{Type: CPUModel, Model: "qemu64", Cores: 1},
			MemoryMiB:          64,
			Disks:              []Disk{{Name: "disk0", Kind: KindVirtualDisk, Path: "/dev/disks/disk0", BootOrder: 1, Serial: "disk0"}},
		},
		disk:    disk,
		out:     out,
		termLog: filepath.Join(dir, "termination-log"),
	}
	f.env = RunEnv{Root: root, RunDir: runDir, TerminationLog: f.termLog, Stdout: out, Stderr: out, ResizeInterval: 500 * time.Millisecond}
	return f
}

// start runs the launcher and waits for the guest's vCPUs to run.
func (f *vmFixture) start(t *testing.T, ctx context.Context) <-chan Outcome {
	t.Helper()
	done := make(chan Outcome, 1)
	go func() { done <- Run(ctx, f.cfg, f.env) }()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if cs, err := ReadConditions(f.env.RunDir); err == nil && find(cs, ConditionGuestRunning).Status == "True" {
			return done
		}
		select {
		case o := <-done:
			t.Fatalf("Run ended before the guest ran: %s\n%s", o, f.out)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("the guest did not start running; log:\n%s", f.out)
	return nil
}

func (f *vmFixture) wait(t *testing.T, done <-chan Outcome) Outcome {
	t.Helper()
	select {
	case o := <-done:
		return o
	case <-time.After(120 * time.Second):
		t.Fatalf("Run did not return; log:\n%s", f.out)
	}
	return Outcome{}
}

// TestRunQEMU starts a real VM (it sits in SeaBIOS: nothing to boot),
// checks what the launcher reports, grows its disk, then kills QEMU.
func TestRunQEMU(t *testing.T) {
	needQEMU(t)
	f := newVM(t)
	done := f.start(t, context.Background())

	cs, err := ReadConditions(f.env.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	if c := find(cs, ConditionGuestRunning); c.Status != "True" || c.Reason != StateRunning {
		t.Errorf("GuestRunning %+v", c)
	}
	accel, why := DetectAccel()
	t.Logf("this machine: %s (%s)", accel, why)
	acc := find(cs, ConditionAcceleration)
	if accel == AccelTCG && (acc.Status != "False" || acc.Reason != AccelReasonTCG || acc.Message != why) {
		t.Errorf("Acceleration %+v, want False/TCG", acc)
	}
	if accel == AccelKVM && (acc.Status != "True" || acc.Reason != AccelReasonKVM) {
		t.Errorf("Acceleration %+v, want True/KVM", acc)
	}
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil && acc.Reason != AccelReasonTCG {
		t.Errorf("PVM host but Acceleration %+v", acc)
	}
	if c := find(cs, ConditionQEMUVersion); c.Status != "True" || !strings.Contains(c.Message, "QEMU "+c.Reason) || strings.Count(c.Reason, ".") != 2 {
		t.Errorf("QEMUVersion %+v", c)
	}
	for _, s := range []string{QMPSocket, SerialSocket, VNCSocket} {
		fi, err := os.Lstat(filepath.Join(f.env.RunDir, s))
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want a socket with 0600", s, fi.Mode())
		}
	}

	// The volume grows: the launcher resizes the disk in QEMU.
	if err := os.Truncate(f.disk, 32<<20); err != nil {
		t.Fatal(err)
	}
	waitLog(t, f.out, "disk disk0 grown to 33554432 bytes")

	b, err := os.ReadFile(filepath.Join(f.env.RunDir, PIDFile))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	o := f.wait(t, done)
	if o.Reason != ReasonQEMUExited || !strings.Contains(o.Message, "killed by signal 9") || o.ExitCode() != 1 {
		t.Errorf("outcome %q", o)
	}
	if b, _ := os.ReadFile(f.termLog); !strings.HasPrefix(string(b), "QEMUExited: qemu-system-x86_64 was killed by signal 9") {
		t.Errorf("termination log %q", b)
	}
	cs, _ = ReadConditions(f.env.RunDir)
	if c := find(cs, ConditionGuestRunning); c.Status != "False" || c.Reason != StateStopped {
		t.Errorf("after exit GuestRunning %+v", c)
	}
}

// TestRunGracefulStop: a stop request asks for ACPI power off; SeaBIOS
// does not answer, so QEMU is told to quit once the grace period is over.
func TestRunGracefulStop(t *testing.T) {
	needQEMU(t)
	f := newVM(t)
	f.env.Grace = 3 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := f.start(t, ctx)
	cancel()
	o := f.wait(t, done)
	if o.Reason != ReasonHostShutdown || !strings.Contains(o.Message, "did not power off") || o.ExitCode() != 0 {
		t.Errorf("outcome %q; log:\n%s", o, f.out)
	}
	log := f.out.String()
	for _, line := range []string{"asking the guest to power off (ACPI)", "telling QEMU to quit", "QEMU is shutting down (host-qmp-quit)"} {
		if !strings.Contains(log, line) {
			t.Errorf("%q not logged:\n%s", line, log)
		}
	}
}

// TestRunEFI: the OVMF firmware starts, with its own variables store.
func TestRunEFI(t *testing.T) {
	needQEMU(t)
	for _, boot := range []string{BootEFI, BootEFISecureBoot} {
		t.Run(boot, func(t *testing.T) {
			if _, _, err := FindFirmware(boot, DefaultFirmwareDirs); err != nil {
				t.Skip(err)
			}
			f := newVM(t)
			f.cfg.Bootloader = boot
			f.cfg.MemoryMiB = 256
			f.env.Grace = 2 * time.Second
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := f.start(t, ctx)
			fi, err := os.Stat(filepath.Join(f.env.RunDir, EFIVarsFile))
			if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
				t.Errorf("EFI variables copy: %v %v", fi, err)
			}
			// Give the firmware a moment: a broken setup ends QEMU early.
			time.Sleep(time.Second)
			cancel()
			if o := f.wait(t, done); o.Reason != ReasonHostShutdown {
				t.Errorf("outcome %q; log:\n%s", o, f.out)
			}
		})
	}
}

// TestArgsAcceptedByQEMU starts QEMU paused (-S) with each golden argv that
// can run here (TCG, no tap device, files for disks): QEMU must accept
// every option.
func TestArgsAcceptedByQEMU(t *testing.T) {
	qemu := needQEMU(t)
	for _, tc := range argsCases() {
		if tc.host.Accel != AccelTCG || (tc.cfg.Network != nil && tc.cfg.Network.Mode == NetworkTap) {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, h := tc.cfg, tc.host
			h.BlockDevices = nil
			cfg.Disks = append([]Disk(nil), cfg.Disks...)
			backing := h.Backing
			h.Backing = map[string]Backing{}
			for i := range cfg.Disks {
				p := filepath.Join(dir, "disk"+strconv.Itoa(i))
				if b, ok := backing[cfg.Disks[i].Path]; ok {
					// A base with a backing name of its own, which
					// QEMU must not follow (backing=).
					base := filepath.Join(dir, "base"+strconv.Itoa(i))
					args := []string{"create", "-q", "-f", b.Format, base, "16M"}
					if b.Format == FormatQcow2 {
						args = []string{"create", "-q", "-f", "qcow2", "-u", "-b", "/nonexistent", "-F", "raw", base, "16M"}
					}
					if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
						t.Skipf("qemu-img: %v %s", err, out)
					}
					h.Backing[p] = Backing{Path: base, Format: b.Format}
				}
				if cfg.Disks[i].Format == FormatQcow2 {
					// The header names a file that does not exist: QEMU
					// opens the disk only if it follows the chain the
					// argv gives, never the header's.
					if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "/nonexistent", "-F", "raw", p, "16M").CombinedOutput(); err != nil {
						t.Skipf("qemu-img: %v %s", err, out)
					}
				} else if err := os.WriteFile(p, make([]byte, 1<<20), 0o600); err != nil {
					t.Fatal(err)
				}
				cfg.Disks[i].Path = p
			}
			if cfg.CloudInit != nil {
				if err := WriteNoCloudISO(filepath.Join(dir, CloudInitISO), cfg.CloudInit, []byte(cfg.CloudInit.UserData)); err != nil {
					t.Fatal(err)
				}
			}
			if cfg.Bootloader != BootBIOS && cfg.Bootloader != "" {
				code, vars, err := FindFirmware(cfg.Bootloader, DefaultFirmwareDirs)
				if err != nil {
					t.Skip(err)
				}
				h.FirmwareCode = code
				if err := copyFile(vars, filepath.Join(dir, EFIVarsFile)); err != nil {
					t.Fatal(err)
				}
			}
			cfg.MemoryMiB = 128
			args, err := cfg.Args(h)
			if err != nil {
				t.Fatal(err)
			}
			out := &syncBuffer{}
			p, err := startQEMU(qemu, append(args, "-S"), dir, out, out)
			if err != nil {
				t.Fatal(err)
			}
			defer p.kill()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for {
				q, err := qmp.Dial(ctx, filepath.Join(dir, QMPSocket))
				if err == nil {
					_ = q.Quit(ctx)
					q.Close()
					break
				}
				if p.done() {
					t.Fatalf("QEMU refused the argv: %s\n%s", p.describe(), out)
				}
				if ctx.Err() != nil {
					t.Fatalf("no QMP socket: %v\n%s", err, out)
				}
				time.Sleep(50 * time.Millisecond)
			}
			select {
			case <-p.exited:
			case <-ctx.Done():
				t.Fatal("QEMU did not quit")
			}
		})
	}
}

// TestQEMUDiesWithLauncher kills a launcher process with SIGKILL: its QEMU
// must not outlive it, or a restarted launcher would run the VM twice.
func TestQEMUDiesWithLauncher(t *testing.T) {
	needQEMU(t)
	f := newVM(t)
	raw, err := json.Marshal(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), ConfigEnv+"="+string(raw), "DVP_ROOT="+f.env.Root, "DVP_RUN_DIR="+f.env.RunDir)
	cmd.Stdout, cmd.Stderr = f.out, f.out
	cmd.WaitDelay = time.Second // QEMU shares the output pipe
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitCondition(t, f.env.RunDir, func(c Condition) bool { return c.Status == "True" })
	b, err := os.ReadFile(filepath.Join(f.env.RunDir, PIDFile))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Gone, or a zombie waiting for init to reap it: either way dead.
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("QEMU (pid %d) outlived its launcher: %s", pid, stat)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
