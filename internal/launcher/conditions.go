package launcher

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Condition types the launcher reports in ConditionsFile; the node runtime
// copies them into the pod's status.conditions.
const (
	// ConditionGuestRunning is True while the guest's vCPUs run; the
	// reason is one of the State* words.
	ConditionGuestRunning = "virtualization.deckhouse.io/GuestRunning"
	// ConditionAcceleration is True under KVM and False under TCG
	// (reason KVM or TCG); the message says why.
	ConditionAcceleration = "virtualization.deckhouse.io/Acceleration"
	// ConditionQEMUVersion is True once QEMU answered; the reason is its
	// version (e.g. 7.2.22), the message the full version string.
	ConditionQEMUVersion = "virtualization.deckhouse.io/QEMUVersion"
)

// Reasons of ConditionGuestRunning.
const (
	StateStarting = "Starting" // preparing disks, starting QEMU
	StateRunning  = "Running"
	StatePaused   = "Paused"  // stopped by QEMU or an operator
	StateIOError  = "IOError" // paused on a disk I/O error (a full disk)
	StateStopped  = "Stopped" // QEMU has exited; the message is the outcome
)

// Reasons of ConditionAcceleration.
const (
	AccelReasonKVM = "KVM"
	AccelReasonTCG = "TCG"
)

// Condition is one entry of ConditionsFile.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"` // True or False
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// ReadConditions reads the conditions the launcher last wrote in runDir.
func ReadConditions(runDir string) ([]Condition, error) {
	b, err := os.ReadFile(filepath.Join(runDir, ConditionsFile))
	if err != nil {
		return nil, err
	}
	var cs []Condition
	if err := json.Unmarshal(b, &cs); err != nil {
		return nil, fmt.Errorf("%s: %w", ConditionsFile, err)
	}
	return cs, nil
}

// reporter keeps the conditions, rewrites ConditionsFile atomically on
// every change and logs one line per change.
type reporter struct {
	dir string
	log func(format string, args ...any)

	mu    sync.Mutex
	conds []Condition
}

func (r *reporter) set(c Condition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := 0
	for i < len(r.conds) && r.conds[i].Type != c.Type {
		i++
	}
	if i < len(r.conds) {
		if r.conds[i] == c {
			return
		}
		r.conds[i] = c
	} else {
		r.conds = append(r.conds, c)
	}
	short := c.Type[strings.LastIndex(c.Type, "/")+1:]
	r.log("%s=%s %s: %s", short, c.Status, c.Reason, c.Message)
	if err := writeJSONAtomic(r.dir, ConditionsFile, r.conds); err != nil {
		r.log("writing %s: %v", ConditionsFile, err)
	}
}

func (r *reporter) get(typ string) Condition {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conds {
		if c.Type == typ {
			return c
		}
	}
	return Condition{}
}

// writeJSONAtomic replaces dir/name with v as JSON: a reader sees the old
// file or the new one, never a partial write.
func writeJSONAtomic(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// lockedWriter serializes writes from the launcher's goroutines and the
// copy of QEMU's output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tailBuffer keeps the last bytes written to it: the end of QEMU's stderr
// for the termination message.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
