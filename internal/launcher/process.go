package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/virtlab/dvp/internal/launcher/qmp"
)

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

// terminate asks QEMU to exit with SIGTERM, and kills it when it has not
// within the wait.
func (p *qemuProc) terminate(wait time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(wait):
		p.kill()
	}
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

// The stop sequence on a stop request, each step when the one before did
// not end QEMU: requestStop (ACPI power button), quit (after the grace
// period), forceKill (10 s after quit).

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
	if err := r.qmp.SystemPowerdown(ctx); err != nil {
		r.logf("system_powerdown: %v", err)
		return time.After(0)
	}
	return time.After(wait)
}

// quit tells QEMU to quit and returns when to give up on it.
func (r *runner) quit() <-chan time.Time {
	r.logf("the guest did not power off in time; telling QEMU to quit")
	r.quitSent = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// QEMU may hang up before its reply gets out.
	if err := r.qmp.Quit(ctx); err != nil && !errors.Is(err, qmp.ErrClosed) {
		r.logf("quit: %v", err)
	}
	return time.After(10 * time.Second)
}

// forceKill kills a QEMU that did not quit; the loop sees it exit.
func (r *runner) forceKill() {
	r.logf("QEMU did not quit; killing it")
	r.killed = true
	_ = r.proc.cmd.Process.Kill()
}
