package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIdentityOfSelf(t *testing.T) {
	id, err := IdentityOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !id.Alive() {
		t.Fatal("own identity is not alive")
	}
	stale := id
	stale.StartTime++
	if stale.Alive() {
		t.Fatal("an identity with another start time (PID reuse) counts as alive")
	}
	if (Identity{PID: 1 << 22}).Alive() {
		t.Fatal("a missing PID counts as alive")
	}
}

func run(t *testing.T, policy RestartPolicy, script string) (State, string) {
	t.Helper()
	dir := t.TempDir()
	spec := Spec{
		Argv:          []string{"/bin/sh", "-c", script},
		Env:           []string{"TL=" + filepath.Join(dir, TerminationLogFile), "COUNT=" + filepath.Join(dir, "count")},
		Dir:           dir,
		RestartPolicy: policy,
	}
	if err := WriteJSON(dir, SpecFile, spec); err != nil {
		t.Fatal(err)
	}
	if err := Run(dir); err != nil {
		t.Fatal(err)
	}
	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := os.ReadFile(filepath.Join(dir, LogFile))
	return st, string(log)
}

func TestExitCodeMessageAndLog(t *testing.T) {
	st, log := run(t, RestartNever, `echo out; echo err >&2; printf 'disk full' > "$TL"; exit 3`)
	if st.Phase != PhaseExited || st.ExitCode != 3 || st.Message != "disk full" || st.Restarts != 0 {
		t.Errorf("state %+v", st)
	}
	if !strings.Contains(log, "out\n") || !strings.Contains(log, "err\n") {
		t.Errorf("log %q", log)
	}
}

func TestOnFailureRestartsUntilSuccess(t *testing.T) {
	// Fails on the first run, succeeds on the second.
	st, log := run(t, RestartOnFailure, `if [ -f "$COUNT" ]; then echo second; exit 0; fi; touch "$COUNT"; echo first; exit 7`)
	if st.Phase != PhaseExited || st.ExitCode != 0 || st.Restarts != 1 || st.LastExitCode != 7 {
		t.Errorf("state %+v", st)
	}
	if log != "first\nsecond\n" {
		t.Errorf("log %q", log)
	}
}

func TestSignalledChild(t *testing.T) {
	st, _ := run(t, RestartNever, `kill -9 $$`)
	if st.ExitCode != 137 || st.Signal != "killed" {
		t.Errorf("state %+v", st)
	}
}
