package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRunLimited checks that the limits bite, with prlimit and with the
// shell's ulimit when prlimit is missing.
func TestRunLimited(t *testing.T) {
	needQemuImg(t)
	qemuImg, _ := exec.LookPath("qemu-img")
	file := filepath.Join(t.TempDir(), "disk.qcow2")
	if err := os.WriteFile(file, convert(t, rawDisk(mib), "qcow2", 0), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	paths := map[string]string{"default PATH": os.Getenv("PATH")}
	// A PATH with qemu-img but no prlimit takes the ulimit route.
	bin := t.TempDir()
	if err := os.Symlink(qemuImg, filepath.Join(bin, "qemu-img")); err != nil {
		t.Fatal(err)
	}
	paths["without prlimit"] = bin
	for name, path := range paths {
		t.Run(name, func(t *testing.T) {
			t.Setenv("PATH", path)
			if _, err := runLimited(ctx, time.Minute, infoMemory, infoCPU, qemuImg, "info", "--output=json", "-f", "qcow2", file); err != nil {
				t.Fatalf("within limits: %v", err)
			}
			if _, err := runLimited(ctx, time.Minute, 4<<20, infoCPU, qemuImg, "info", "--output=json", "-f", "qcow2", file); err == nil {
				t.Error("qemu-img ran in 4 MiB of address space: the limit is not applied")
			}
			virtual, err := inspect(ctx, file, FormatQCOW2, mib)
			if err != nil || virtual != mib {
				t.Errorf("inspect = %d, %v", virtual, err)
			}
		})
	}
}
