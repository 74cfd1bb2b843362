package node

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fakeProc lays out the /proc files the scanner reads.
func fakeProc(t *testing.T, procs map[string][2]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, files := range procs {
		dir := filepath.Join(root, pid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(dir, "cmdline"), []byte(files[0]), 0o644)
		_ = os.WriteFile(filepath.Join(dir, "stat"), []byte(files[1]), 0o644)
	}
	return root
}

func TestOrphanSupervisors(t *testing.T) {
	live := t.TempDir()
	gone := filepath.Join(t.TempDir(), "deleted", "containers", "main")
	proc := fakeProc(t, map[string][2]string{
		// A supervisor whose directory is gone, and its session.
		"100": {"/opt/bin/dvp-worker\x00supervise\x00" + gone + "\x00", "100 (dvp-worker) S 1 100 100 0 -1"},
		"101": {"/opt/bin/dvp-worker\x00launch\x00", "101 (dvp-worker) S 100 101 100 0 -1"},
		"102": {"qemu-system-x86_64\x00-name\x00vm\x00", "102 (qemu (vm) x) S 101 102 100 0 -1"},
		// A supervisor whose directory exists: adopted, never touched.
		"200": {"/opt/bin/dvp-worker\x00supervise\x00" + live + "\x00", "200 (dvp-worker) S 1 200 200 0 -1"},
		"201": {"/opt/bin/dvp-worker\x00idle\x00", "201 (dvp-worker) S 200 201 200 0 -1"},
		// Something else entirely.
		"300":  {"/usr/bin/vim\x00supervise\x00/nowhere\x00", "300 (vim) S 1 300 300 0 -1"},
		"self": {"", ""},
	})
	orphans := orphanSupervisors(proc)
	if !reflect.DeepEqual(orphans, []int{100}) {
		t.Fatalf("orphans = %v, want [100]", orphans)
	}
	members := sessionMembers(proc, 100)
	if !reflect.DeepEqual(members, []int{100, 101, 102}) {
		t.Errorf("session 100 = %v, want [100 101 102] (a command name with spaces and parentheses included)", members)
	}
}
