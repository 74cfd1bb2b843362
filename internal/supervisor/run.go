package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const maxMessage = 4096

// Run is the body of `dvp-worker supervise DIR`: it runs the spec in DIR,
// applying its restart policy, until the child is done for good or the
// supervisor gets SIGTERM (forwarded to the child's process group).
func Run(dir string) error {
	var spec Spec
	if err := ReadJSON(dir, SpecFile, &spec); err != nil {
		return fmt.Errorf("reading spec: %w", err)
	}
	if len(spec.Argv) == 0 {
		return errors.New("spec has no command")
	}
	self, err := IdentityOf(os.Getpid())
	if err != nil {
		return err
	}
	if err := WriteJSON(dir, IdentityFile, self); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	st, _ := ReadState(dir) // a restarted supervisor keeps the restart count
	backoff := time.Second
	for {
		started := time.Now()
		st = runOnce(ctx, dir, spec, st)
		if ctx.Err() != nil || !shouldRestart(spec.RestartPolicy, st.ExitCode) {
			st.Phase = PhaseExited
			return WriteJSON(dir, StateFile, st)
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		st.Phase = PhaseBackOff
		if err := WriteJSON(dir, StateFile, st); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			st.Phase = PhaseExited
			return WriteJSON(dir, StateFile, st)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Minute)
		st.LastExitCode, st.LastFinishedAt = st.ExitCode, st.FinishedAt
		st.Restarts++
	}
}

func shouldRestart(p RestartPolicy, code int) bool {
	switch p {
	case RestartAlways:
		return true
	case RestartOnFailure:
		return code != 0
	}
	return false
}

// runOnce starts the child and waits for it; SIGTERM on ctx goes to the
// child's whole process group (a launcher and its QEMU, say).
func runOnce(ctx context.Context, dir string, spec Spec, st State) State {
	logf, err := os.OpenFile(filepath.Join(dir, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return failed(st, 128, fmt.Sprintf("opening log: %v", err))
	}
	defer logf.Close()
	_ = os.Remove(filepath.Join(dir, TerminationLogFile))
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return failed(st, 128, fmt.Sprintf("starting %s: %v", spec.Argv[0], err))
	}
	st.Phase, st.PID, st.StartedAt, st.FinishedAt, st.Message, st.Signal = PhaseRunning, cmd.Process.Pid, time.Now(), time.Time{}, "", ""
	_ = WriteJSON(dir, StateFile, st)

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		waitErr = <-done
	}
	st.FinishedAt = time.Now()
	st.ExitCode, st.Signal = exitStatus(cmd.ProcessState, waitErr)
	st.Message = terminationMessage(dir)
	return st
}

func failed(st State, code int, msg string) State {
	st.ExitCode, st.Message, st.FinishedAt = code, msg, time.Now()
	return st
}

func exitStatus(ps *os.ProcessState, err error) (int, string) {
	if ps == nil {
		return 128, ""
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), ws.Signal().String()
	}
	return ps.ExitCode(), ""
}

func terminationMessage(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, TerminationLogFile))
	if err != nil {
		return ""
	}
	if len(b) > maxMessage {
		b = b[:maxMessage]
	}
	return strings.TrimSpace(string(b))
}

// Start launches `exe supervise dir` in a new session, detached from the
// caller's process group and signals, and returns its identity once it has
// recorded it. The caller must Wait for the returned command (or exit) so the
// supervisor is reaped; after the caller restarts, init reaps it.
func Start(exe, dir string) (*exec.Cmd, Identity, error) {
	_ = os.Remove(filepath.Join(dir, IdentityFile))
	cmd := exec.Command(exe, "supervise", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, Identity{}, err
	}
	defer devnull.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	if err := cmd.Start(); err != nil {
		return nil, Identity{}, fmt.Errorf("starting supervisor: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.After(10 * time.Second)
	for {
		if id, err := ReadIdentity(dir); err == nil && id.PID == cmd.Process.Pid {
			return cmd, id, nil
		}
		select {
		case <-exited:
			// A short-lived container may finish before we look: what
			// matters is that the supervisor recorded itself and ran it.
			if id, err := ReadIdentity(dir); err == nil && id.PID == cmd.Process.Pid {
				return cmd, id, nil
			}
			return nil, Identity{}, fmt.Errorf("supervisor exited at start: %v", cmd.ProcessState)
		case <-deadline:
			_ = cmd.Process.Kill()
			return nil, Identity{}, errors.New("supervisor did not record its identity within 10s")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Signal sends sig to a supervisor, if it is still the process id names.
func Signal(id Identity, sig syscall.Signal) error {
	if !id.Alive() {
		return os.ErrProcessDone
	}
	return syscall.Kill(id.PID, sig)
}

// Kill ends the child's process group and the supervisor at once.
func Kill(dir string) {
	if st, err := ReadState(dir); err == nil && st.PID > 0 && st.Phase == PhaseRunning {
		_ = syscall.Kill(-st.PID, syscall.SIGKILL)
	}
	if id, err := ReadIdentity(dir); err == nil {
		_ = Signal(id, syscall.SIGKILL)
	}
}
