package e2e

import (
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/virtlab/dvp/test/guest"
)

// consoleProc is an interactive command (d8 v console) driven like a user
// at a terminal: its output feeds a guest.Console, keystrokes go to stdin.
type consoleProc struct {
	*guest.Console
	cmd  *exec.Cmd
	in   io.WriteCloser
	done chan error
}

type pipeRW struct {
	io.Reader
	io.Writer
}

func startConsole(t *testing.T, cmd *exec.Cmd) *consoleProc {
	t.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	p := &consoleProc{Console: guest.NewConsole(pipeRW{r, in}, nil), cmd: cmd, in: in, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = in.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
		r.Close()
	})
	return p
}

// wait waits for the command to end and returns its error.
func (p *consoleProc) wait(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(limit):
		t.Fatalf("the command did not end within %s\n%s", limit, p.Tail(2000))
		return nil
	}
}
