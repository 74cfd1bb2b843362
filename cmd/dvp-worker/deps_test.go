package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoControlPlaneDependencies keeps the per-VM binary lean: it fails when
// anything pulls the Kubernetes control plane or etcd server into it.
func TestNoControlPlaneDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{"k8s.io/kubernetes/", "go.etcd.io/etcd/server", "k8s.io/apiserver/", "github.com/virtlab/dvp/internal/controlplane"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("dvp-worker links %s (forbidden prefix %s)", pkg, f)
			}
		}
	}
}
