package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/virtlab/dvp/internal/fsutil"
)

// unprivilegedUser is who QEMU runs as: the user named by DVP_QEMU_USER
// when the launcher runs as root and the user exists, else "" (stay as is).
// It is opt-in: the kernel clears a process's parent-death signal when it
// changes credentials, so a QEMU that dropped root no longer dies with its
// launcher, and a launcher killed with SIGKILL would leave it running (the
// next launcher then fails to lock the disk rather than run the machine
// twice). Running unprivileged by default needs a reaper that outlives the
// launcher (a cgroup or the supervisor): see the closing notes.
func unprivilegedUser(want string) string {
	if want == "" || want == "root" || os.Geteuid() != 0 {
		return ""
	}
	if _, err := user.Lookup(want); err != nil {
		return ""
	}
	return want
}

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
}

// DefaultFirmwareDirs are where distributions install OVMF.
var DefaultFirmwareDirs = []string{"/usr/share/OVMF", "/usr/share/edk2/ovmf", "/usr/share/edk2-ovmf/x64", "/usr/share/edk2/x64", "/usr/share/qemu"}

// DefaultGrace is the grace period when RunEnv.Grace is zero.
const DefaultGrace = 60 * time.Second

// graceMargin is kept from the grace period for QEMU to quit and the
// launcher to report before the runtime kills the pod.
const graceMargin = 2 * time.Second

// Outcome is how a launcher run ended: Reason is one of the Reason*
// constants, Message a sentence for people.
type Outcome struct {
	Reason  string
	Message string
}

// String is the termination message: "Reason: message".
func (o Outcome) String() string {
	if o.Message == "" {
		return o.Reason
	}
	return o.Reason + ": " + o.Message
}

// ExitCode is the launcher's exit status: 0 when the VM ended the way a
// VM may end (powered off, rebooted, stopped on request), 1 otherwise.
func (o Outcome) ExitCode() int {
	switch o.Reason {
	case ReasonGuestShutdown, ReasonGuestReset, ReasonHostShutdown:
		return 0
	}
	return 1
}

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

	proc *qemuProc
	qmp  *QMP

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

func failed(format string, args ...any) Outcome {
	return Outcome{Reason: ReasonFailed, Message: fmt.Sprintf(format, args...)}
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
			return Outcome{Reason: ReasonHostShutdown, Message: "stopped on request before the VM started"}
		}
		return failed("%v", err)
	}
	args, err := r.cfg.Args(r.host)
	if err != nil {
		return failed("%v", err)
	}
	if ctx.Err() != nil {
		return Outcome{Reason: ReasonHostShutdown, Message: "stopped on request before the VM started"}
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

// prepare resolves the disks, pulls images, writes the cloud-init seed,
// picks the accelerator and the firmware.
func (r *runner) prepare(ctx context.Context, cfg Config) error {
	r.cfg = cfg
	r.cfg.Disks = append([]Disk(nil), cfg.Disks...)
	r.host = Host{RunDir: r.env.RunDir, BlockDevices: map[string]bool{}, Backing: map[string]Backing{}}
	r.nodes = map[string]string{}

	for i := range r.cfg.Disks {
		d := &r.cfg.Disks[i]
		r.nodes[formatNode(i)] = d.Name
		if d.Pull != nil {
			target := filepath.Join(r.env.RunDir, fmt.Sprintf("pull-%d.img", i))
			if err := pull(ctx, r.env.Root, r.env.RunDir, r.env.DVCRCredentials, d.Name, d.Pull, target, r.logf); err != nil {
				return err
			}
			d.Path, d.Format = target, FormatRaw
		} else {
			if d.Path == "" {
				return fmt.Errorf("disk %q has no path", d.Name)
			}
			d.Path = fsutil.ResolveUnder(r.env.Root, d.Path)
			// QEMU resolves a qcow2 overlay's relative backing file
			// against the name it is given; under DVP_ROOT that name
			// runs through symlinks, so give it the real one.
			// (A missing disk is reported by the Stat below.)
			if real, err := filepath.EvalSymlinks(d.Path); err == nil {
				d.Path = real
			}
		}
		fi, err := os.Stat(d.Path)
		if err != nil {
			return fmt.Errorf("disk %q: %w", d.Name, err)
		}
		if isBlockDevice(fi) {
			r.host.BlockDevices[d.Path] = true
		} else if !fi.Mode().IsRegular() {
			return fmt.Errorf("disk %q: %s is neither a file nor a block device", d.Name, d.Path)
		}
		if d.Format == "" {
			if d.Format, err = detectFormat(d.Path); err != nil {
				return fmt.Errorf("disk %q: %w", d.Name, err)
			}
		}
		if d.Format == FormatQcow2 && d.Pull == nil {
			b, ok, err := diskBacking(d.Path)
			if err != nil {
				return fmt.Errorf("disk %q: %w", d.Name, err)
			}
			if ok {
				r.host.Backing[d.Path] = b
			}
		}
		// A raw VirtualDisk's volume may be expanded while the VM runs;
		// a qcow2 file grows with its data, which says nothing of the
		// virtual size, and images are read-only.
		if w, err := watchDisk(d, formatNode(i)); err != nil {
			return fmt.Errorf("disk %q: %w", d.Name, err)
		} else if w != nil {
			r.disks = append(r.disks, w)
		}
	}

	if ci := r.cfg.CloudInit; ci != nil {
		seed := *ci
		userData := []byte(ci.UserData)
		if ci.UserData == "" && ci.UserDataFile != "" {
			b, err := os.ReadFile(fsutil.ResolveUnder(r.env.Root, ci.UserDataFile))
			if err != nil {
				return fmt.Errorf("cloud-init user data: %w", err)
			}
			userData = b
		}
		if seed.InstanceID == "" {
			seed.InstanceID = r.cfg.UID
		}
		if seed.InstanceID == "" {
			seed.InstanceID = r.cfg.Name
		}
		if seed.Hostname == "" {
			seed.Hostname = r.cfg.Name
		}
		if err := WriteNoCloudISO(filepath.Join(r.env.RunDir, CloudInitISO), &seed, userData); err != nil {
			return err
		}
		r.host.CloudInitISO = CloudInitISO
	}

	accel, why, err := ChooseAccel(r.cfg.Accel)
	if err != nil {
		return err
	}
	r.host.Accel = accel
	r.host.RunAs = unprivilegedUser(r.env.QEMUUser)
	if accel == AccelKVM {
		r.rep.set(Condition{Type: ConditionAcceleration, Status: "True", Reason: AccelReasonKVM, Message: why})
	} else {
		r.rep.set(Condition{Type: ConditionAcceleration, Status: "False", Reason: AccelReasonTCG, Message: why})
	}

	if r.cfg.Bootloader == BootEFI || r.cfg.Bootloader == BootEFISecureBoot {
		code, vars, err := FindFirmware(r.cfg.Bootloader, r.env.FirmwareDirs)
		if err != nil {
			return err
		}
		// The VM's own variable store. It lives as long as the run
		// directory: a launcher restarted in the same pod keeps it.
		own := filepath.Join(r.env.RunDir, EFIVarsFile)
		if !exists(own) {
			if err := copyFile(vars, own); err != nil {
				return fmt.Errorf("EFI variables: %w", err)
			}
		}
		r.host.FirmwareCode, r.host.FirmwareVars = code, EFIVarsFile
	}

	r.qemu = r.env.QEMU
	if r.qemu == "" {
		p, err := exec.LookPath("qemu-system-x86_64")
		if err != nil {
			return errors.New("qemu-system-x86_64 is not installed")
		}
		r.qemu = p
	}
	return nil
}

// FindFirmware finds the OVMF code and variables template for an EFI
// bootloader in dirs: the 4 MiB builds first, the Microsoft-keys (.ms)
// ones for secure boot.
func FindFirmware(bootloader string, dirs []string) (code, vars string, err error) {
	type pair struct{ code, vars string }
	var want []pair
	switch bootloader {
	case BootEFI:
		want = []pair{{"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"}, {"OVMF_CODE.fd", "OVMF_VARS.fd"}}
	case BootEFISecureBoot:
		want = []pair{
			{"OVMF_CODE_4M.ms.fd", "OVMF_VARS_4M.ms.fd"},
			{"OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"},
			{"OVMF_CODE.secboot.fd", "OVMF_VARS.ms.fd"},
		}
	default:
		return "", "", fmt.Errorf("bootloader %q has no EFI firmware", bootloader)
	}
	for _, p := range want {
		for _, d := range dirs {
			c, v := filepath.Join(d, p.code), filepath.Join(d, p.vars)
			if exists(c) && exists(v) {
				return c, v, nil
			}
		}
	}
	return "", "", fmt.Errorf("bootloader %s: no OVMF firmware (%s and %s) in %s", bootloader, want[0].code, want[0].vars, strings.Join(dirs, ", "))
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		_ = os.Remove(dst)
		return err
	}
	return out.Close()
}

// qemuProc is the QEMU process.
type qemuProc struct {
	cmd     *exec.Cmd
	stderr  *tailBuffer
	exited  chan struct{} // closed once QEMU has been reaped
	waitErr error
}

// startQEMU starts QEMU in dir. It gets SIGKILL when the launcher dies
// (Pdeathsig), runs in a process group of its own (the SIGTERM the
// supervisor sends to the launcher's group is the launcher's to handle,
// gracefully) and inherits umask 0177, so its sockets are 0600.
func startQEMU(bin string, args []string, dir string, stdout, stderr io.Writer) (*qemuProc, error) {
	p := &qemuProc{stderr: &tailBuffer{max: 2048}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout = stdout
	p.cmd.Stderr = io.MultiWriter(stderr, p.stderr)
	p.cmd.WaitDelay = 5 * time.Second
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that forked
		// QEMU exits, not only the process: this goroutine keeps its
		// thread for as long as QEMU lives, and never unlocks it, so the
		// thread only ends after QEMU did.
		runtime.LockOSThread()
		// A socket gets 0777 less the umask: 0177 makes QEMU's sockets
		// 0600 (it creates no other files or directories).
		old := syscall.Umask(0o177)
		err := p.cmd.Start()
		syscall.Umask(old)
		started <- err
		if err != nil {
			return
		}
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func (p *qemuProc) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// kill ends QEMU at once and reaps it.
func (p *qemuProc) kill() {
	if p.done() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// describe says how QEMU exited, e.g. "qemu-system-x86_64 was killed by
// signal 9" or "... exited with status 1".
func (p *qemuProc) describe() string {
	name := filepath.Base(p.cmd.Path)
	ps := p.cmd.ProcessState
	if ps == nil {
		return fmt.Sprintf("%s ended: %v", name, p.waitErr)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("%s was killed by signal %d (%v)", name, int(ws.Signal()), ws.Signal())
	}
	return fmt.Sprintf("%s exited with status %d", name, ps.ExitCode())
}

// oPath is O_PATH on Linux, which package syscall does not name.
const oPath = 0x200000

// connect dials QMP (the socket appears shortly after QEMU starts) and
// reports the QEMU version and the guest state.
func (r *runner) connect(ctx context.Context) (Outcome, bool) {
	// The run directory may be too deep for a socket address: dial
	// through /proc/self/fd/N instead, N being an O_PATH descriptor of
	// the directory.
	dirfd, err := syscall.Open(r.env.RunDir, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return failed("opening the run directory: %v", err), false
	}
	defer syscall.Close(dirfd)
	path := fmt.Sprintf("/proc/self/fd/%d/%s", dirfd, QMPSocket)
	deadline := time.Now().Add(60 * time.Second)
	for {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		q, err := DialQMP(dctx, path)
		cancel()
		if err == nil {
			r.qmp = q
			break
		}
		if r.proc.done() {
			return r.outcome(), false
		}
		if ctx.Err() != nil {
			r.stopping = true
			_ = r.proc.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-r.proc.exited:
			case <-time.After(10 * time.Second):
				r.proc.kill()
			}
			return Outcome{Reason: ReasonHostShutdown, Message: "stopped on request before the VM started"}, false
		}
		if time.Now().After(deadline) {
			return failed("QEMU did not open its QMP socket within 60s: %v", err), false
		}
		select {
		case <-r.proc.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
	v := r.qmp.Version()
	qctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if raw, err := r.qmp.Execute(qctx, "query-version", nil); err == nil {
		var qv struct {
			QEMU struct {
				Major, Minor, Micro int
			} `json:"qemu"`
			Package string `json:"package"`
		}
		if json.Unmarshal(raw, &qv) == nil {
			v = QEMUVersion{Major: qv.QEMU.Major, Minor: qv.QEMU.Minor, Micro: qv.QEMU.Micro, Package: qv.Package}
		}
	}
	msg := "QEMU " + v.String()
	if p := strings.TrimSpace(v.Package); p != "" {
		msg += " (" + p + ")"
	}
	r.rep.set(Condition{Type: ConditionQEMUVersion, Status: "True", Reason: v.String(), Message: msg})
	r.refreshState()
	return Outcome{}, true
}

// refreshState asks QEMU for the run state and reports it.
func (r *runner) refreshState() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := r.qmp.Execute(ctx, "query-status", nil)
	if err != nil {
		r.logf("query-status: %v", err)
		return
	}
	var st struct {
		Status  string `json:"status"`
		Running bool   `json:"running"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return
	}
	switch {
	case st.Running:
		r.setRunning()
	case st.Status == "io-error":
		msg := r.ioError
		if msg == "" {
			msg = "a disk I/O error"
		}
		r.rep.set(Condition{Type: ConditionGuestRunning, Status: "False", Reason: StateIOError, Message: "the guest is paused on " + msg})
	case st.Status == "shutdown":
		// QEMU is on its way out; the outcome says the rest.
	default:
		r.rep.set(Condition{Type: ConditionGuestRunning, Status: "False", Reason: StatePaused, Message: "the guest is paused (" + st.Status + ")"})
	}
}

func (r *runner) setRunning() {
	r.ioError = ""
	r.rep.set(Condition{Type: ConditionGuestRunning, Status: "True", Reason: StateRunning, Message: "the guest is running"})
}

// loop follows QEMU until it exits.
func (r *runner) loop(ctx context.Context) Outcome {
	events := r.qmp.Events()
	stopReq := ctx.Done()
	tick := time.NewTicker(r.env.ResizeInterval)
	defer tick.Stop()
	var quitAt, killAt <-chan time.Time
	for {
		select {
		case <-r.proc.exited:
			return r.outcome()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			r.handle(ev)
		case <-stopReq:
			stopReq = nil
			quitAt = r.requestStop()
		case <-quitAt:
			quitAt = nil
			r.logf("the guest did not power off in time; telling QEMU to quit")
			r.quitSent = true
			qctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := r.qmp.Execute(qctx, "quit", nil)
			cancel()
			if err != nil && !errors.Is(err, ErrQMPClosed) {
				r.logf("quit: %v", err)
			}
			killAt = time.After(10 * time.Second)
		case <-killAt:
			killAt = nil
			r.logf("QEMU did not quit; killing it")
			r.killed = true
			_ = r.proc.cmd.Process.Kill()
		case <-tick.C:
			r.checkResize()
		}
	}
}

// requestStop asks the guest to power off and returns when to give up on
// it.
func (r *runner) requestStop() <-chan time.Time {
	r.stopping = true
	wait := r.env.Grace - graceMargin
	if wait < 0 {
		wait = 0
	}
	if c := r.rep.get(ConditionGuestRunning); c.Reason != StateRunning {
		r.logf("stop requested; the guest is not running (%s), so it cannot power off itself", c.Reason)
		return time.After(0)
	}
	r.logf("stop requested; asking the guest to power off (ACPI), waiting up to %s", wait)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.qmp.Execute(ctx, "system_powerdown", nil); err != nil {
		r.logf("system_powerdown: %v", err)
		return time.After(0)
	}
	return time.After(wait)
}

func (r *runner) handle(ev Event) {
	switch ev.Name {
	case "SHUTDOWN":
		var d struct {
			Guest  bool   `json:"guest"`
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(ev.Data, &d)
		r.shutdown, r.guestDown = d.Reason, d.Guest
		if r.shutdown == "" {
			r.shutdown = "unknown"
		}
		r.logf("QEMU is shutting down (%s)", r.shutdown)
	case "GUEST_PANICKED":
		r.panicked = "the guest kernel panicked"
		var d struct {
			Info json.RawMessage `json:"info"`
		}
		if json.Unmarshal(ev.Data, &d) == nil && len(d.Info) > 0 {
			r.panicked += " (" + string(d.Info) + ")"
		}
		r.logf("%s", r.panicked)
	case "STOP", "SUSPEND", "WAKEUP":
		r.refreshState()
	case "RESUME":
		r.setRunning()
	case "BLOCK_IO_ERROR":
		var d struct {
			Device   string `json:"device"`
			NodeName string `json:"node-name"`
			Op       string `json:"operation"`
			Action   string `json:"action"`
			Reason   string `json:"reason"`
		}
		_ = json.Unmarshal(ev.Data, &d)
		disk := r.nodes[d.NodeName]
		if disk == "" {
			disk = d.NodeName
			if disk == "" {
				disk = d.Device
			}
		}
		msg := fmt.Sprintf("a %s error on disk %s: %s", d.Op, disk, d.Reason)
		if d.Action != "stop" {
			r.logf("%s (action %s)", msg, d.Action)
			return
		}
		if r.ioError != msg {
			r.ioError = msg
			r.rep.set(Condition{Type: ConditionGuestRunning, Status: "False", Reason: StateIOError, Message: "the guest is paused on " + msg})
		}
	case "RESET", "POWERDOWN":
		r.logf("QEMU event %s", ev.Name)
	}
}

// checkResize grows the guest's disks whose volume grew.
func (r *runner) checkResize() {
	for _, d := range r.disks {
		size, err := d.wanted()
		if err != nil || size < 0 {
			continue
		}
		switch {
		case size > d.size:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := r.qmp.Execute(ctx, "block_resize", map[string]any{"node-name": d.node, "size": size})
			cancel()
			if err != nil {
				r.logf("disk %s: growing to %d bytes: %v", d.name, size, err)
				continue
			}
			d.size, d.shrunk = size, false
			r.logf("disk %s grown to %d bytes", d.name, size)
			if r.rep.get(ConditionGuestRunning).Reason == StateIOError {
				// The guest stopped on a full disk and there is room now:
				// retry its I/O.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if _, err := r.qmp.Execute(ctx, "cont", nil); err != nil {
					r.logf("resuming the guest: %v", err)
				}
				cancel()
			}
		case size < d.size && !d.shrunk:
			d.shrunk = true
			r.logf("disk %s shrank to %d bytes; left as it is", d.name, size)
		}
	}
}

// outcome decides how the run ended, once QEMU has exited. Events still
// in flight are read first: QEMU reports the SHUTDOWN before it exits.
func (r *runner) outcome() Outcome {
	if r.qmp != nil {
		timeout := time.After(3 * time.Second)
	drain:
		for {
			select {
			case ev, ok := <-r.qmp.Events():
				if !ok {
					break drain
				}
				r.handle(ev)
			case <-timeout:
				break drain
			}
		}
	}
	exit := r.proc.describe()
	switch {
	case r.panicked != "" || r.shutdown == "guest-panic":
		msg := r.panicked
		if msg == "" {
			msg = "the guest kernel panicked"
		}
		return Outcome{Reason: ReasonGuestPanic, Message: msg}
	case r.stopping:
		switch {
		case r.guestDown:
			return Outcome{Reason: ReasonHostShutdown, Message: "stopped on request: the guest powered off"}
		case r.killed:
			return Outcome{Reason: ReasonHostShutdown, Message: fmt.Sprintf("stopped on request: the guest did not power off within %s and QEMU did not quit; %s", max(r.env.Grace-graceMargin, 0), exit)}
		case r.quitSent:
			return Outcome{Reason: ReasonHostShutdown, Message: fmt.Sprintf("stopped on request: the guest did not power off within %s, so QEMU was stopped", max(r.env.Grace-graceMargin, 0))}
		}
		return Outcome{Reason: ReasonHostShutdown, Message: "stopped on request: " + exit}
	}
	switch r.shutdown {
	case "":
	case "guest-shutdown":
		return Outcome{Reason: ReasonGuestShutdown, Message: "the guest powered off"}
	case "guest-reset":
		return Outcome{Reason: ReasonGuestReset, Message: "the guest rebooted"}
	case "host-qmp-quit", "host-signal", "host-ui", "host-qmp-system-reset":
		return Outcome{Reason: ReasonHostShutdown, Message: "QEMU was stopped (" + r.shutdown + ")"}
	default:
		return Outcome{Reason: ReasonQEMUExited, Message: fmt.Sprintf("QEMU shut down (%s): %s", r.shutdown, exit)}
	}
	msg := exit
	if ps := r.proc.cmd.ProcessState; ps != nil && ps.ExitCode() > 0 {
		if tail := lastLines(r.proc.stderr.String(), 3); tail != "" {
			msg += ": " + tail
		}
	}
	return Outcome{Reason: ReasonQEMUExited, Message: msg}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, " "))
}

// finish reports the outcome: the GuestRunning condition, a log line and
// the termination log.
func (r *runner) finish(o Outcome) {
	if r.env.RunDir != "" && exists(r.env.RunDir) {
		r.rep.set(Condition{Type: ConditionGuestRunning, Status: "False", Reason: StateStopped, Message: o.String()})
	}
	r.logf("exiting: %s", o)
	if r.env.TerminationLog != "" {
		msg := o.String()
		if len(msg) > 3000 { // the termination message is cut at 4 KiB
			msg = msg[:3000] + "..."
		}
		if err := os.WriteFile(r.env.TerminationLog, []byte(msg+"\n"), 0o644); err != nil {
			r.logf("writing the termination log: %v", err)
		}
	}
}
