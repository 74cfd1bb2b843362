package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/test/harness"
)

// podManifest renders a pod of the platform image in namespace default.
func podManifest(name, restart string, command []string, extra string) string {
	q := make([]string, len(command))
	for i, c := range command {
		q[i] = strconv.Quote(c)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: default}
spec:
  restartPolicy: %s
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: %s:test
    command: [%s]
%s`, name, restart, platform.Image, strings.Join(q, ", "), extra)
}

// waitFor polls a kubectl jsonpath until it equals want (no wall-clock
// assertion: the limit only keeps a broken run from hanging forever).
func waitFor(t *testing.T, srv *harness.Server, want string, args ...string) string {
	t.Helper()
	return waitWithin(t, srv, 2*time.Minute, want, args...)
}

// waitWithin polls kubectl until it prints want; limit only bounds a hung
// test.
func waitWithin(t *testing.T, srv *harness.Server, limit time.Duration, want string, args ...string) string {
	t.Helper()
	var got string
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r := srv.Kubectl(args...)
		got = r.Stdout
		if r.Err == nil && got == want {
			return got
		}
	}
	t.Fatalf("kubectl %s = %q, want %q", strings.Join(args, " "), got, want)
	return got
}

// TestNodeRuntime runs pods of the platform image as processes on the node
// and checks what a user sees: phases, exit codes, termination messages,
// logs, refusals, deletion, and adoption after kill -9 of the server.
func TestNodeRuntime(t *testing.T) {
	srv := harness.Start(t, harness.Options{Config: storageConfig})

	t.Run("NodeReady", func(t *testing.T) {
		out := srv.MustKubectl("get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
		if !strings.Contains(out, " True\n") {
			t.Fatalf("no Ready node:\n%s", out)
		}
	})
	t.Run("SucceededWithLogs", func(t *testing.T) {
		srv.MustKubectlStdin(podManifest("hello", "Never", []string{"dvp-worker", "version"}, ""), "apply", "-f", "-")
		waitFor(t, srv, "Succeeded", "get", "pod", "hello", "-o", "jsonpath={.status.phase}")
		logs := srv.MustKubectl("logs", "hello")
		if strings.TrimSpace(logs) == "" {
			t.Errorf("kubectl logs hello is empty")
		}
		if r := tableRow(srv.MustKubectl("get", "pod", "hello"), "hello"); len(r) < 3 || r[2] != "Completed" {
			t.Errorf("kubectl get pod hello row = %q, want STATUS Completed", r)
		}
	})
	t.Run("FailedWithExitCodeAndMessage", func(t *testing.T) {
		srv.MustKubectlStdin(podManifest("fails", "Never", []string{"dvp-worker", "exit", "3", "disk is full"}, ""), "apply", "-f", "-")
		waitFor(t, srv, "Failed", "get", "pod", "fails", "-o", "jsonpath={.status.phase}")
		got := srv.MustKubectl("get", "pod", "fails", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}/{.status.containerStatuses[0].state.terminated.message}")
		if got != "3/disk is full" {
			t.Errorf("terminated state = %q, want 3/disk is full", got)
		}
		if logs := srv.MustKubectl("logs", "fails"); !strings.Contains(logs, "disk is full") {
			t.Errorf("logs %q", logs)
		}
	})
	t.Run("OnFailureRestarts", func(t *testing.T) {
		srv.MustKubectlStdin(podManifest("retry", "OnFailure", []string{"dvp-worker", "exit", "1"}, ""), "apply", "-f", "-")
		for i := 0; ; i++ {
			n := srv.MustKubectl("get", "pod", "retry", "-o", "jsonpath={.status.containerStatuses[0].restartCount}")
			if n != "" && n != "0" {
				break
			}
			if i == 600 {
				t.Fatalf("restartCount stayed %q", n)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if phase := srv.MustKubectl("get", "pod", "retry", "-o", "jsonpath={.status.phase}"); phase != "Running" {
			t.Errorf("a restarting OnFailure pod is %q, want Running", phase)
		}
	})
	t.Run("WaitsForAMissingSecret", func(t *testing.T) {
		// As kubelet does: a volume that cannot be made yet keeps the pod
		// Pending (ContainerCreating) and the node retries; it never fails.
		extra := "    volumeMounts: [{name: s, mountPath: /secret}]\n  volumes: [{name: s, secret: {secretName: later}}]\n"
		srv.MustKubectlStdin(podManifest("patient", "Never", []string{"dvp-worker", "version"}, extra), "apply", "-f", "-")
		waitFor(t, srv, "ContainerCreating", "get", "pod", "patient", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}")
		if phase := srv.MustKubectl("get", "pod", "patient", "-o", "jsonpath={.status.phase}"); phase != "Pending" {
			t.Fatalf("pod waiting for a Secret is %q, want Pending", phase)
		}
		srv.MustKubectl("create", "secret", "generic", "later", "--from-literal=k=v")
		waitFor(t, srv, "Succeeded", "get", "pod", "patient", "-o", "jsonpath={.status.phase}")
	})
	t.Run("ForeignImageFails", func(t *testing.T) {
		srv.MustKubectlStdin("apiVersion: v1\nkind: Pod\nmetadata: {name: foreign, namespace: default}\nspec:\n  containers: [{name: web, image: nginx}]\n", "apply", "-f", "-")
		waitFor(t, srv, "Failed", "get", "pod", "foreign", "-o", "jsonpath={.status.phase}")
		msg := srv.MustKubectl("get", "pod", "foreign", "-o", "jsonpath={.status.message}")
		if !strings.Contains(msg, `uses image "nginx": this node runs only the platform image`) {
			t.Errorf("message %q", msg)
		}
	})
	t.Run("OnlyThePlatformMayUseItsImage", func(t *testing.T) {
		bob := srv.UserKubeconfig("bob")
		srv.MustKubectl("create", "rolebinding", "bob-edit", "--clusterrole=edit", "--user=bob", "-n", "default")
		r := srv.KubectlAs(bob, "run", "sneaky", "--image="+platform.Image+":test", "--command", "--", "dvp-worker", "idle")
		if r.Err == nil || !strings.Contains(r.Stderr, "only the platform itself may create them") {
			t.Fatalf("a namespace editor created a pod of the platform image: %s", r)
		}
		// The same user may still create ordinary pods.
		if r := srv.KubectlAs(bob, "run", "ordinary", "--image=nginx"); r.Err != nil {
			t.Fatalf("ordinary pod refused: %s", r)
		}
	})
	t.Run("DeleteStopsTheProcess", func(t *testing.T) {
		srv.MustKubectlStdin(podManifest("stopme", "Always", []string{"dvp-worker", "idle"}, ""), "apply", "-f", "-")
		waitFor(t, srv, "true", "get", "pod", "stopme", "-o", "jsonpath={.status.containerStatuses[0].ready}")
		pid := podPID(t, srv, "stopme")
		srv.MustKubectl("delete", "pod", "stopme")
		if processAlive(pid) {
			t.Errorf("process %d of a deleted pod still runs", pid)
		}
	})
	t.Run("KillServerAdoptsProcesses", func(t *testing.T) {
		srv.MustKubectlStdin(podManifest("survivor", "Always", []string{"dvp-worker", "idle"}, ""), "apply", "-f", "-")
		waitFor(t, srv, "true", "get", "pod", "survivor", "-o", "jsonpath={.status.containerStatuses[0].ready}")
		pid := podPID(t, srv, "survivor")
		srv.Restart(true) // kill -9
		if !processAlive(pid) {
			t.Fatalf("process %d died with the server", pid)
		}
		waitFor(t, srv, "Running", "get", "pod", "survivor", "-o", "jsonpath={.status.phase}")
		if again := podPID(t, srv, "survivor"); again != pid {
			t.Errorf("after restart the pod runs PID %d, before %d", again, pid)
		}
		if n := countIdle(srv.DataDir); n != 1 {
			t.Errorf("%d supervised `dvp-worker idle` processes for one pod after restart", n)
		}
		if logs := srv.MustKubectl("logs", "survivor"); !strings.Contains(logs, "idle: waiting for SIGTERM") {
			t.Errorf("logs after adoption %q", logs)
		}
		srv.MustKubectl("delete", "pod", "survivor")
		if processAlive(pid) {
			t.Errorf("adopted process %d survived the deletion of its pod", pid)
		}
	})
	t.Run("WaitForFirstConsumerVolume", func(t *testing.T) {
		storageRequireProvisioner(t, srv)
		srv.MustKubectlStdin(`apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: wffc, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 100M}}
`, "apply", "-f", "-")
		time.Sleep(time.Second)
		if phase := srv.MustKubectl("get", "pvc", "wffc", "-o", "jsonpath={.status.phase}"); phase != "Pending" {
			t.Fatalf("a WaitForFirstConsumer claim without consumer is %q, want Pending", phase)
		}
		extra := "    volumeMounts: [{name: data, mountPath: /data}]\n  volumes: [{name: data, persistentVolumeClaim: {claimName: wffc}}]\n"
		srv.MustKubectlStdin(podManifest("consumer", "Never", []string{"dvp-worker", "version"}, extra), "apply", "-f", "-")
		waitFor(t, srv, "Bound", "get", "pvc", "wffc", "-o", "jsonpath={.status.phase}")
		waitFor(t, srv, "Succeeded", "get", "pod", "consumer", "-o", "jsonpath={.status.phase}")
		node := srv.MustKubectl("get", "pod", "consumer", "-o", "jsonpath={.spec.nodeName}")
		selected := srv.MustKubectl("get", "pvc", "wffc", "-o", `jsonpath={.metadata.annotations.volume\.kubernetes\.io/selected-node}`)
		if node == "" || selected != node {
			t.Errorf("claim provisioned for node %q, consumer runs on %q", selected, node)
		}
		if cap := srv.MustKubectl("get", "pvc", "wffc", "-o", "jsonpath={.status.capacity.storage}"); cap != "97657Ki" {
			t.Errorf("capacity %q, want 97657Ki", cap)
		}
		// The rest of the lifecycle on this class: data written into the
		// volume survives an expansion, and deletion frees the space.
		pv := srv.MustKubectl("get", "pvc", "wffc", "-o", "jsonpath={.spec.volumeName}")
		path := srv.MustKubectl("get", "pv", pv, "-o", `jsonpath={.metadata.annotations.virtualization\.deckhouse\.io/volume-path}`)
		data := []byte("bytes that must survive a resize\n")
		if err := os.WriteFile(filepath.Join(path, "file"), data, 0o644); err != nil {
			t.Fatalf("writing into the volume at %q: %v", path, err)
		}
		srv.MustKubectl("patch", "pvc", "wffc", "--type", "merge", "-p", `{"spec":{"resources":{"requests":{"storage":"200M"}}}}`)
		waitFor(t, srv, "195313Ki", "get", "pvc", "wffc", "-o", "jsonpath={.status.capacity.storage}")
		if got, err := os.ReadFile(filepath.Join(path, "file")); err != nil || string(got) != string(data) {
			t.Errorf("after expansion the file holds %q (%v)", got, err)
		}
		srv.MustKubectl("delete", "pod", "consumer")
		srv.MustKubectl("delete", "pvc", "wffc")
		for i := 0; ; i++ {
			if _, err := os.Stat(path); os.IsNotExist(err) {
				break
			}
			if i == 300 {
				t.Fatalf("volume %s still on disk after its claim was deleted", path)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func podPID(t *testing.T, srv *harness.Server, name string) int {
	t.Helper()
	uid := srv.MustKubectl("get", "pod", name, "-o", "jsonpath={.metadata.uid}")
	matches, _ := filepath.Glob(filepath.Join(srv.DataDir, "nodes", "*", "pods", "*_"+uid, "containers", "main", "state.json"))
	if len(matches) != 1 {
		t.Fatalf("state of pod %s: %v", name, matches)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ PID int }
	if err := jsonUnmarshal(b, &st); err != nil || st.PID == 0 {
		t.Fatalf("state %s: %v", b, err)
	}
	return st.PID
}

func processAlive(pid int) bool {
	for range 50 { // a process may take a moment to be reaped
		if syscall.Kill(pid, 0) != nil {
			return false
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(b), ") Z ") {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// countIdle counts running `dvp-worker idle` processes started under dataDir.
func countIdle(dataDir string) int {
	n := 0
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.HasSuffix(strings.TrimRight(string(b), "\x00"), "idle") {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join(filepath.Dir(p), "cwd"))
		if strings.HasPrefix(cwd, dataDir) {
			n++
		}
	}
	return n
}
