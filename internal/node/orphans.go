package node

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// reapOrphans stops the processes of pods whose data directory is gone.
// Supervisors outlive the platform on purpose, and adoption finds them
// through their directories; a user who deletes the data directory while
// machines run leaves them with nothing that will ever manage them, their
// disks open on deleted files. Such a supervisor started a session of its
// own: everything in that session (its container and, through the
// launcher, QEMU) goes with it.
func reapOrphans(proc string, log klog.Logger) {
	sessions := orphanSupervisors(proc)
	if len(sessions) == 0 {
		return
	}
	var pids []int
	for _, sid := range sessions {
		pids = append(pids, sessionMembers(proc, sid)...)
	}
	log.Info("Stopping processes of pods whose data directory was deleted", "pids", pids)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		left := 0
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil && !zombie(proc, pid) {
				left++
			}
		}
		if left == 0 {
			return
		}
	}
}

// orphanSupervisors lists the PIDs of `dvp-worker supervise DIR` processes
// whose DIR no longer exists.
func orphanSupervisors(proc string) []int {
	var out []int
	for _, pid := range pids(proc) {
		b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) != 3 || filepath.Base(args[0]) != "dvp-worker" || args[1] != "supervise" || !filepath.IsAbs(args[2]) {
			continue
		}
		if _, err := os.Stat(args[2]); errors.Is(err, os.ErrNotExist) {
			out = append(out, pid)
		}
	}
	return out
}

// sessionMembers lists the processes of session sid (the sixth field of
// /proc/<pid>/stat, counted after the command name, which may hold spaces).
func sessionMembers(proc string, sid int) []int {
	var out []int
	for _, pid := range pids(proc) {
		if s, ok := statField(proc, pid, 6); ok && s == strconv.Itoa(sid) {
			out = append(out, pid)
		}
	}
	return out
}

// pids lists the processes in proc, in ascending order.
func pids(proc string) []int {
	entries, _ := os.ReadDir(proc)
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	sort.Ints(out)
	return out
}

func zombie(proc string, pid int) bool {
	s, ok := statField(proc, pid, 3)
	return ok && s == "Z"
}

// statField returns field n (1-based, as in proc(5)) of /proc/<pid>/stat.
func statField(proc string, pid, n int) (string, bool) {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || n < 3 {
		return "", false
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < n-2 {
		return "", false
	}
	return fields[n-3], true
}
