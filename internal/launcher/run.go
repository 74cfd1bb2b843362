package launcher

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/virtlab/dvp/internal/launcher/qmp"
)

// RunEnv is the launcher's environment, as `dvp-worker launch` reads it.
type RunEnv struct {
	// QEMUUser is the user QEMU drops to when started as root
	// (DVP_QEMU_USER; empty keeps root, see unprivilegedUser).
	QEMUUser string
	// Root is DVP_ROOT: container paths (disk device paths, the
	// cloud-init user data file, pull credentials) resolve under it.
	Root string
	// RunDir is DVP_RUN_DIR: QEMU's working directory, holding the
	// sockets (QMPSocket, SerialSocket, VNCSocket), ConditionsFile,
	// PIDFile, the EFI variables and pulled disks. Created if missing.
	RunDir string
	// TerminationLog, when set, receives Outcome.String() on exit.
	TerminationLog string
	// DVCRCredentials is the file the node runtime wrote the pod's DVCR
	// credentials to (DVP_DVCR_CREDENTIALS): pulls without an AuthFile
	// look their repository up there.
	DVCRCredentials string
	// Grace is the pod's termination grace period (DVP_GRACE_SECONDS,
	// default 60 s). On a stop request the guest gets Grace minus 2 s to
	// power off before QEMU is told to quit.
	Grace time.Duration
	// Stdout gets the launcher's log lines and QEMU's stdout; Stderr gets
	// QEMU's stderr. Default os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
	// QEMU is the emulator binary; default qemu-system-x86_64 from PATH.
	QEMU string
	// FirmwareDirs are searched for OVMF; default DefaultFirmwareDirs.
	FirmwareDirs []string
	// ResizeInterval is how often disk sizes are checked; default 2 s.
	ResizeInterval time.Duration
	// QMPTranscript appends every line the launcher and QEMU exchange
	// over QMP, timestamped, to QMPTranscriptFile in RunDir: a per-VM
	// record for debugging (DVP_QMP_TRANSCRIPT).
	QMPTranscript bool
}

// DefaultFirmwareDirs are where distributions install OVMF.
var DefaultFirmwareDirs = []string{"/usr/share/OVMF", "/usr/share/edk2/ovmf", "/usr/share/edk2-ovmf/x64", "/usr/share/edk2/x64", "/usr/share/qemu"}

// DefaultGrace is the grace period when RunEnv.Grace is zero.
const DefaultGrace = 60 * time.Second

// graceMargin is kept from the grace period for QEMU to quit and the
// launcher to report before the runtime kills the pod.
const graceMargin = 2 * time.Second

// Run runs the VM described by cfg until QEMU exits, and says how it
// ended. Cancelling ctx is a stop request: the guest is asked to power off
// (ACPI) and QEMU is told to quit when it has not within the grace period.
// QEMU never outlives the calling process (it gets SIGKILL when the thread
// that started it, and so the launcher, dies).
func Run(ctx context.Context, cfg Config, env RunEnv) Outcome {
	r := &runner{env: env}
	if r.env.Stdout == nil {
		r.env.Stdout = os.Stdout
	}
	if r.env.Stderr == nil {
		r.env.Stderr = os.Stderr
	}
	r.out = &lockedWriter{w: r.env.Stdout}
	if r.env.Grace <= 0 {
		r.env.Grace = DefaultGrace
	}
	if r.env.ResizeInterval <= 0 {
		r.env.ResizeInterval = 2 * time.Second
	}
	if len(r.env.FirmwareDirs) == 0 {
		r.env.FirmwareDirs = DefaultFirmwareDirs
	}
	r.rep = &reporter{dir: env.RunDir, log: r.logf}
	o := r.run(ctx, cfg)
	r.finish(o)
	if r.transcript != nil {
		_ = r.transcript.Close()
	}
	return o
}

type runner struct {
	env RunEnv
	out io.Writer
	rep *reporter

	cfg   Config // resolved: host paths, formats, pulled disks
	host  Host
	qemu  string
	disks []*watchedDisk
	nodes map[string]string // format node name -> disk name

	proc       *qemuProc
	qmp        *qmp.Client
	transcript *os.File // QMPTranscriptFile, when RunEnv.QMPTranscript

	// What happened, for the outcome.
	stopping  bool   // a stop was requested
	quitSent  bool   // the guest did not power off in time
	killed    bool   // QEMU did not quit and was killed
	shutdown  string // SHUTDOWN reason, "" when none was seen
	guestDown bool   // SHUTDOWN came from the guest
	panicked  string // GUEST_PANICKED details, "" when none was seen
	ioError   string // the last BLOCK_IO_ERROR that stopped the guest
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.out, "launcher: "+format+"\n", args...)
}

func (r *runner) run(ctx context.Context, cfg Config) Outcome {
	if r.env.RunDir == "" {
		return failed("no run directory (DVP_RUN_DIR)")
	}
	if err := os.MkdirAll(r.env.RunDir, 0o700); err != nil {
		return failed("run directory: %v", err)
	}
	r.rep.set(Condition{Type: ConditionGuestRunning, Status: "False", Reason: StateStarting, Message: "preparing disks and starting QEMU"})
	// Refuse a bad configuration before pulling gigabytes for it.
	if err := cfg.Validate(); err != nil {
		return failed("%v", err)
	}
	if err := r.prepare(ctx, cfg); err != nil {
		if ctx.Err() != nil {
			return stoppedBeforeStart()
		}
		return failed("%v", err)
	}
	args, err := r.cfg.Args(r.host)
	if err != nil {
		return failed("%v", err)
	}
	if ctx.Err() != nil {
		return stoppedBeforeStart()
	}
	for _, s := range []string{QMPSocket, SerialSocket, VNCSocket} {
		_ = os.Remove(filepath.Join(r.env.RunDir, s))
	}
	r.logf("starting %s %s", r.qemu, strings.Join(args, " "))
	r.proc, err = startQEMU(r.qemu, args, r.env.RunDir, r.qemuStdout(), r.env.Stderr)
	if err != nil {
		return failed("starting %s: %v", r.qemu, err)
	}
	defer r.proc.kill() // on any early return; a no-op once QEMU exited
	pid := r.proc.cmd.Process.Pid
	_ = os.WriteFile(filepath.Join(r.env.RunDir, PIDFile), []byte(strconv.Itoa(pid)+"\n"), 0o644)
	r.logf("QEMU started, pid %d", pid)

	if o, ok := r.connect(ctx); !ok {
		return o
	}
	defer r.qmp.Close()
	return r.loop(ctx)
}

// qemuStdout is where QEMU's stdout goes: straight to a file (no copying
// goroutine), else through the launcher's serialized writer.
func (r *runner) qemuStdout() io.Writer {
	if f, ok := r.env.Stdout.(*os.File); ok {
		return f
	}
	return r.out
}
