// Command podlatency measures how long a trivial pod of the platform image
// takes from create to Running (as the API reports it), side by side with
// starting the same process directly and through the per-pod supervisor
// alone. Run it inside the server's network namespace: bench/podlatency.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/virtlab/dvp/bench/internal/benchutil"
	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/internal/supervisor"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig of a running dvp server")
	binDir := flag.String("bin", "bin", "directory with dvp-worker")
	n := flag.Int("n", 20, "iterations")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	benchutil.Must(err)
	kube, err := kubernetes.NewForConfig(cfg)
	benchutil.Must(err)
	worker, err := filepath.Abs(filepath.Join(*binDir, "dvp-worker"))
	benchutil.Must(err)

	var direct, supervised, pods, scheduled []time.Duration
	for i := range *n {
		direct = append(direct, startDirect(worker))
		supervised = append(supervised, startSupervised(worker))
		sched, running := startPod(kube, i)
		scheduled = append(scheduled, sched)
		pods = append(pods, running)
	}
	fmt.Printf("%-44s %8s %8s %8s\n", "start of `dvp-worker idle` until running", "p50", "p95", "max")
	report("exec directly (fork+exec)", direct)
	report("through the supervisor alone", supervised)
	report("as a pod: create -> scheduled (nodeName)", scheduled)
	report("as a pod: create -> status Running", pods)
	fmt.Printf("(%d iterations each)\n", *n)
}

func report(name string, d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	p := func(q float64) time.Duration { return d[int(q*float64(len(d)-1)+0.5)].Round(10 * time.Microsecond) }
	fmt.Printf("%-44s %8v %8v %8v\n", name, p(0.5), p(0.95), d[len(d)-1].Round(10*time.Microsecond))
}

// startDirect measures until the child has exec'd (its cmdline is ours).
func startDirect(worker string) time.Duration {
	t0 := time.Now()
	cmd := exec.Command(worker, "idle")
	benchutil.Must(cmd.Start())
	waitExec(cmd.Process.Pid)
	d := time.Since(t0)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	return d
}

func waitExec(pid int) {
	for {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(b) > 0 && filepath.Base(string(b[:indexZero(b)])) == "dvp-worker" {
			return
		}
		time.Sleep(20 * time.Microsecond)
	}
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// startSupervised measures until the supervisor reports the child running.
func startSupervised(worker string) time.Duration {
	dir, err := os.MkdirTemp("", "podlatency-")
	benchutil.Must(err)
	defer os.RemoveAll(dir)
	benchutil.Must(supervisor.WriteJSON(dir, supervisor.SpecFile, supervisor.Spec{Argv: []string{worker, "idle"}, Dir: dir, RestartPolicy: supervisor.RestartNever}))
	t0 := time.Now()
	cmd, _, err := supervisor.Start(worker, dir)
	benchutil.Must(err)
	for {
		if st, err := supervisor.ReadState(dir); err == nil && st.Phase == supervisor.PhaseRunning {
			break
		}
		time.Sleep(50 * time.Microsecond)
	}
	d := time.Since(t0)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	return d
}

func startPod(kube kubernetes.Interface, i int) (scheduled, running time.Duration) {
	ctx := context.Background()
	name := fmt.Sprintf("latency-%d", i)
	pods := kube.CoreV1().Pods("default")
	grace := int64(5)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers:                    []corev1.Container{{Name: "main", Image: platform.Image + ":bench", Command: []string{"dvp-worker", "idle"}}},
		},
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	benchutil.Must(err)
	t0 := time.Now()
	_, err = pods.Create(ctx, pod, metav1.CreateOptions{})
	benchutil.Must(err)
	if os.Getenv("PODLATENCY_DEBUG") != "" {
		fmt.Fprintf(os.Stderr, "create call: %v\n", time.Since(t0))
	}
	var d time.Duration
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type == watch.Deleted {
			continue
		}
		if scheduled == 0 && p.Spec.NodeName != "" {
			scheduled = time.Since(t0)
		}
		if p.Status.Phase == corev1.PodRunning {
			d = time.Since(t0)
			break
		}
	}
	w.Stop()
	benchutil.Must(pods.Delete(ctx, name, metav1.DeleteOptions{}))
	for {
		if _, err := pods.Get(ctx, name, metav1.GetOptions{}); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let the teardown's own writes settle so the next sample measures a
	// start, not the queue behind the previous pod's deletion.
	time.Sleep(time.Second)
	return scheduled, d
}
