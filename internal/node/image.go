package node

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/virtlab/dvp/internal/platform"
)

// binaries a pod may run: the platform's own, nothing else.
var binaries = map[string]bool{"dvp-worker": true, "dvp": true}

// checkPod refuses pods this node must not run, with a message for the
// pod's status.
func checkPod(pod *corev1.Pod) error {
	if len(pod.Spec.InitContainers) > 0 || len(pod.Spec.EphemeralContainers) > 0 {
		return fmt.Errorf("init and ephemeral containers are not supported by the dvp node runtime")
	}
	for _, c := range pod.Spec.Containers {
		if !platform.IsPlatformImage(c.Image) {
			return fmt.Errorf("container %q uses image %q: this node runs only the platform image %s", c.Name, c.Image, platform.Image)
		}
		if len(c.Command) == 0 {
			return fmt.Errorf("container %q has no command: name one of the platform binaries (dvp-worker, dvp)", c.Name)
		}
		if bin := path.Base(c.Command[0]); !binaries[bin] || strings.Contains(c.Command[0], "..") {
			return fmt.Errorf("container %q runs %q: only the platform binaries dvp-worker and dvp may run", c.Name, c.Command[0])
		}
	}
	return nil
}
