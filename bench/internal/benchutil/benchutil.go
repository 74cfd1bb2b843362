// Package benchutil holds what the benchmark programs share: failing fast
// and a client for VirtualImages.
package benchutil

import (
	"fmt"
	"os"
	"os/exec"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

// Must ends the benchmark on an error.
func Must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Run runs a command and ends the benchmark if it fails.
func Run(name string, args ...string) {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n%s", name, err, out)
		os.Exit(1)
	}
}

// VirtualImages returns a client for VirtualImages in namespace "default".
func VirtualImages(kubeconfig string) dynamic.ResourceInterface {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	Must(err)
	dyn, err := dynamic.NewForConfig(cfg)
	Must(err)
	gvr := schema.GroupVersionResource{Group: "virtualization.deckhouse.io", Version: "v1alpha2", Resource: "virtualimages"}
	return dyn.Resource(gvr).Namespace("default")
}
