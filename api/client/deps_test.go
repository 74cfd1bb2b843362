package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoPlatformDependencies keeps the module importable on its own terms: a client
// of the API must not inherit Kubernetes itself (and its pinned staging modules),
// controller-runtime or the platform's code.
func TestNoPlatformDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "github.com/virtlab/dvp/api/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{"k8s.io/kubernetes/", "sigs.k8s.io/controller-runtime/", "github.com/virtlab/dvp/internal/"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("the api module links %s (forbidden prefix %s)", pkg, f)
			}
		}
	}
}
