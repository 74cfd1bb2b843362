package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runDirName is the per-container directory for sockets and reported state
// (DVP_RUN_DIR); it lives beside the container root, outside anything a
// volume maps.
const runDirName = "run"

// conditionsFile, in the run directory, is how a process tells the platform
// more than "running": the VM launcher reports whether the guest runs, is
// paused on an I/O error, and which accelerator it got. The node copies the
// entries into the pod's status.conditions, where the controllers watch them.
const conditionsFile = "conditions.json"

type reportedCondition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// reportedConditions reads a container's conditions file. Only types with a
// domain prefix are taken, so a process cannot fake Ready or PodScheduled.
func reportedConditions(cdir string, at metav1.Time) []corev1.PodCondition {
	b, err := os.ReadFile(filepath.Join(cdir, runDirName, conditionsFile))
	if err != nil {
		return nil
	}
	var in []reportedCondition
	if json.Unmarshal(b, &in) != nil {
		return nil
	}
	var out []corev1.PodCondition
	for _, c := range in {
		if !strings.Contains(c.Type, "/") {
			continue
		}
		st := corev1.ConditionFalse
		if c.Status == string(corev1.ConditionTrue) {
			st = corev1.ConditionTrue
		}
		out = append(out, corev1.PodCondition{
			Type: corev1.PodConditionType(c.Type), Status: st,
			Reason: c.Reason, Message: c.Message, LastTransitionTime: at,
		})
	}
	return out
}
