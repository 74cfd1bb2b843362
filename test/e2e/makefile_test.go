package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMakefileFindsGo is the README's premise: Go installed in /usr/local/go
// but not on PATH, and `make run`/`make test` still build.
func TestMakefileFindsGo(t *testing.T) {
	if _, err := os.Stat("/usr/local/go/bin/go"); err != nil {
		t.Skip("Go is not installed in /usr/local/go")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	cmd := exec.Command("make", "-n", "-C", "../..", "build", "fuzz")
	cmd.Env = []string{"HOME=" + os.Getenv("HOME"), "PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build with a PATH without Go: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "/usr/local/go/bin/go build") {
		t.Errorf("make does not use /usr/local/go/bin/go:\n%s", out)
	}
	// The recipes' scripts (fuzz, generate, guests) call plain `go`.
	cmd = exec.Command("make", "-s", "-C", "../..", "print-go")
	cmd.Env = []string{"HOME=" + os.Getenv("HOME"), "PATH=/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "/usr/local/go/bin/go" {
		t.Errorf("`go` inside a recipe: %q (%v)", out, err)
	}
}
