package e2e

import (
	"strings"
	"testing"

	"github.com/virtlab/dvp/test/harness"
)

// twoNodes is a cluster of two simulated nodes: node-a is reserved for the
// "system" role by a label and a taint, as in the user documentation's
// placement example; node-b takes everything else.
const twoNodes = `nodes:
  - name: node-a
    labels: {node-role.kubernetes.io/system: ""}
    taints: [{key: node-role.kubernetes.io/system, effect: NoSchedule}]
  - name: node-b
storageClasses:
  - {name: local-thin, volumeBindingMode: WaitForFirstConsumer, default: true, nodeLocal: true}
`

// TestPlacement checks that kube-scheduler places the platform's pods by
// nodeSelector and tolerations across simulated nodes, and that a node-local
// WaitForFirstConsumer volume is provisioned on the node its consumer got.
func TestPlacement(t *testing.T) {
	srv := harness.Start(t, harness.Options{Config: twoNodes})
	if out := srv.MustKubectl("get", "nodes", "-o", "name"); out != "node/node-a\nnode/node-b\n" {
		t.Fatalf("nodes:\n%s", out)
	}
	system := "  nodeSelector: {node-role.kubernetes.io/system: \"\"}\n"
	tolerate := "  tolerations: [{key: node-role.kubernetes.io/system, operator: Exists, effect: NoSchedule}]\n"
	for _, tc := range []struct {
		name, extra, wantNode string
	}{
		{"plain", "", "node-b"},
		{"system", system + tolerate, "node-a"},
		{"tolerates-only", tolerate + "  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [node-a]}]}]}}}\n", "node-a"},
	} {
		srv.MustKubectlStdin(podManifest(tc.name, "Always", []string{"dvp-worker", "idle"}, tc.extra), "apply", "-f", "-")
		waitFor(t, srv, "Running", "get", "pod", tc.name, "-o", "jsonpath={.status.phase}")
		if got := srv.MustKubectl("get", "pod", tc.name, "-o", "jsonpath={.spec.nodeName}"); got != tc.wantNode {
			t.Errorf("pod %s ran on %q, want %q", tc.name, got, tc.wantNode)
		}
	}
	// Selecting the tainted node without tolerating its taint cannot be
	// scheduled: the pod stays Pending with the scheduler's reason.
	srv.MustKubectlStdin(podManifest("intolerant", "Always", []string{"dvp-worker", "idle"}, system), "apply", "-f", "-")
	waitFor(t, srv, "Unschedulable", "get", "pod", "intolerant", "-o", `jsonpath={.status.conditions[?(@.type=="PodScheduled")].reason}`)
	got := srv.MustKubectl("get", "pod", "intolerant", "-o", `jsonpath={.status.phase}/{.spec.nodeName}/{.status.conditions[?(@.type=="PodScheduled")].reason}`)
	if got != "Pending//Unschedulable" {
		t.Errorf("intolerant pod = %q, want Pending//Unschedulable", got)
	}

	// A node-local WaitForFirstConsumer claim lands where its consumer runs.
	storageRequireProvisioner(t, srv)
	srv.MustKubectlStdin("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: local-data, namespace: default}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 10Mi}}\n", "apply", "-f", "-")
	extra := "    volumeMounts: [{name: data, mountPath: /data}]\n  volumes: [{name: data, persistentVolumeClaim: {claimName: local-data}}]\n" + system + tolerate
	srv.MustKubectlStdin(podManifest("local-consumer", "Never", []string{"dvp-worker", "version"}, extra), "apply", "-f", "-")
	waitFor(t, srv, "Succeeded", "get", "pod", "local-consumer", "-o", "jsonpath={.status.phase}")
	pv := srv.MustKubectl("get", "pvc", "local-data", "-o", "jsonpath={.spec.volumeName}")
	affinity := srv.MustKubectl("get", "pv", pv, "-o", "jsonpath={.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values}")
	if !strings.Contains(affinity, `"node-a"`) {
		t.Errorf("PV %s node affinity %s, want node-a (where the consumer ran)", pv, affinity)
	}
}
