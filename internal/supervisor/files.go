package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/virtlab/dvp/internal/fsutil"
)

// File names inside a supervisor directory.
const (
	SpecFile           = "spec.json"
	IdentityFile       = "supervisor.json"
	StateFile          = "state.json"
	LogFile            = "log"
	TerminationLogFile = "termination-log"
)

// RestartPolicy mirrors the pod's restartPolicy.
type RestartPolicy string

const (
	RestartNever     RestartPolicy = "Never"
	RestartOnFailure RestartPolicy = "OnFailure"
	RestartAlways    RestartPolicy = "Always"
)

// Spec is what to run.
type Spec struct {
	Argv          []string      `json:"argv"`
	Env           []string      `json:"env"`
	Dir           string        `json:"dir"`
	RestartPolicy RestartPolicy `json:"restartPolicy"`
}

// Phase of the supervised process.
type Phase string

const (
	PhaseStarting Phase = "Starting"
	PhaseRunning  Phase = "Running"
	// PhaseBackOff: exited, a restart is due.
	PhaseBackOff Phase = "BackOff"
	// PhaseExited: exited and will not be restarted.
	PhaseExited Phase = "Exited"
)

// State is the child's last known state.
type State struct {
	Phase      Phase     `json:"phase"`
	PID        int       `json:"pid,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	ExitCode   int       `json:"exitCode"`
	Signal     string    `json:"signal,omitempty"`
	Message    string    `json:"message,omitempty"`
	Restarts   int       `json:"restarts"`
	// LastExitCode and LastFinishedAt describe the previous run after a
	// restart, as a container's lastState does.
	LastExitCode   int       `json:"lastExitCode,omitempty"`
	LastFinishedAt time.Time `json:"lastFinishedAt,omitzero"`
}

// Identity names a process in a way that survives PID reuse and reboots.
type Identity struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"` // clock ticks since boot, /proc/PID/stat field 22
	BootID    string `json:"bootID"`
}

// IdentityOf reads the identity of a running process.
func IdentityOf(pid int) (Identity, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Identity{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Identity{}, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); start time is field 22.
	if len(fields) < 20 {
		return Identity{}, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	if fields[0] == "Z" {
		return Identity{}, fmt.Errorf("process %d is a zombie", pid)
	}
	st, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return Identity{}, err
	}
	boot, err := BootID()
	if err != nil {
		return Identity{}, err
	}
	return Identity{PID: pid, StartTime: st, BootID: boot}, nil
}

// BootID identifies the current boot of the machine.
func BootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Alive reports whether the identity still names the same live process.
func (id Identity) Alive() bool {
	if id.PID <= 0 {
		return false
	}
	cur, err := IdentityOf(id.PID)
	return err == nil && cur == id
}

// WriteJSON writes v to dir/name atomically.
func WriteJSON(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, name), b, 0o640)
}

// ReadJSON reads dir/name into v.
func ReadJSON(dir, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// ErrNotStarted means the directory has no supervisor identity yet.
var ErrNotStarted = errors.New("supervisor not started")

// ReadIdentity reads the supervisor identity of dir.
func ReadIdentity(dir string) (Identity, error) {
	var id Identity
	if err := ReadJSON(dir, IdentityFile, &id); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return id, ErrNotStarted
		}
		return id, err
	}
	return id, nil
}

// ReadState reads the child state of dir.
func ReadState(dir string) (State, error) {
	var st State
	err := ReadJSON(dir, StateFile, &st)
	return st, err
}
