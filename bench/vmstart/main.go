// Command vmstart measures how long a VirtualMachine whose disk is Ready
// takes from `kubectl apply` to a running QEMU process and to the first byte
// on its serial console, side by side with starting the identical QEMU
// command by hand; and the memory a running machine costs beyond QEMU.
// Run it inside the server's network namespace: bench/vmstart.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/virtlab/dvp/bench/internal/benchutil"
)

func gvr(r string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "virtualization.deckhouse.io", Version: "v1alpha2", Resource: r}
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig of a running dvp server")
	image := flag.String("image", "", "guest disk image to boot (the tiny guest)")
	addr := flag.String("listen", "10.77.0.2:0", "where to serve the image to the importer")
	n := flag.Int("n", 10, "iterations")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	benchutil.Must(err)
	// The polls below must not be throttled by client-go's default 5 QPS,
	// or the benchmark would measure its own rate limiter.
	cfg.QPS, cfg.Burst = 1000, 1000
	dyn, err := dynamic.NewForConfig(cfg)
	benchutil.Must(err)
	ctx := context.Background()

	l, err := net.Listen("tcp", *addr)
	benchutil.Must(err)
	go http.Serve(l, http.FileServer(http.Dir(filepath.Dir(*image)))) //nolint:errcheck // ends with the program
	apply(ctx, dyn, "virtualimages", fmt.Sprintf(`{apiVersion: virtualization.deckhouse.io/v1alpha2, kind: VirtualImage,
metadata: {name: bench, namespace: default}, spec: {storage: ContainerRegistry, dataSource: {type: HTTP, http: {url: "http://%s/%s"}}}}`, l.Addr(), filepath.Base(*image)))
	apply(ctx, dyn, "virtualdisks", `{apiVersion: virtualization.deckhouse.io/v1alpha2, kind: VirtualDisk,
metadata: {name: bench-root, namespace: default}, spec: {dataSource: {type: ObjectRef, objectRef: {kind: VirtualImage, name: bench}}}}`)
	fmt.Fprintln(os.Stderr, "waiting for the disk")
	waitPhase(ctx, dyn, "virtualdisks", "bench-root", "Ready")
	fmt.Fprintln(os.Stderr, "disk Ready")

	var toQEMU, toByte, toRunning []time.Duration
	var toCreated, toPod, toScheduled, toPodRunning []time.Duration
	kube, err := kubernetes.NewForConfig(cfg)
	benchutil.Must(err)
	var argv []string
	var runDir string
	var rss rssSample
	for i := range *n {
		t0 := time.Now()
		apply(ctx, dyn, "virtualmachines", `{apiVersion: virtualization.deckhouse.io/v1alpha2, kind: VirtualMachine,
metadata: {name: bench-vm, namespace: default}, spec: {virtualMachineClassName: generic, runPolicy: AlwaysOn,
terminationGracePeriodSeconds: 1, cpu: {cores: 1, coreFraction: 100%}, memory: {size: 256Mi}, blockDeviceRefs: [{kind: VirtualDisk, name: bench-root}]}}`)
		toCreated = append(toCreated, time.Since(t0))
		stages := make(chan [3]time.Duration, 1)
		go func() { stages <- podStages(ctx, kube, t0) }()
		pid := waitProcess("guest=default_bench-vm,")
		toQEMU = append(toQEMU, time.Since(t0))
		firstByte(fmt.Sprintf("/proc/%d/cwd/serial.sock", pid))
		toByte = append(toByte, time.Since(t0))
		waitPhase(ctx, dyn, "virtualmachines", "bench-vm", "Running")
		toRunning = append(toRunning, time.Since(t0))
		st := <-stages
		toPod, toScheduled, toPodRunning = append(toPod, st[0]), append(toScheduled, st[1]), append(toPodRunning, st[2])
		if i == 0 {
			argv, runDir = capture(pid)
			time.Sleep(5 * time.Second) // let the guest settle before weighing it
			rss = sample(pid)
		}
		benchutil.Must(dyn.Resource(gvr("virtualmachines")).Namespace("default").Delete(ctx, "bench-vm", metav1.DeleteOptions{}))
		waitGone(ctx, dyn, pid)
		fmt.Fprintf(os.Stderr, "iteration %d: QEMU %v, first byte %v, Running %v\n", i, toQEMU[i], toByte[i], toRunning[i])
	}

	var byHand, byHandByte []time.Duration
	var handRSS int64
	for i := range *n {
		d, b, r := startByHand(argv, runDir, i == 0)
		byHand, byHandByte = append(byHand, d), append(byHandByte, b)
		if i == 0 {
			handRSS = r
		}
	}
	fmt.Printf("%-52s %8s %8s %8s\n", "VM with a Ready disk, from start request", "p50", "p95", "max")
	report("by hand: exec -> QEMU process", byHand)
	report("platform: create call returns (admission)", toCreated)
	report("platform: kubectl apply -> launcher pod created", toPod)
	report("platform: kubectl apply -> launcher pod scheduled", toScheduled)
	report("platform: kubectl apply -> launcher pod Running", toPodRunning)
	report("platform: kubectl apply -> QEMU process", toQEMU)
	report("by hand: exec -> first serial byte", byHandByte)
	report("platform: kubectl apply -> first serial byte", toByte)
	report("platform: kubectl apply -> phase Running", toRunning)
	fmt.Printf("(%d iterations each)\n\n", *n)
	fmt.Printf("memory of one running machine (256Mi guest, tiny guest at its login prompt):\n")
	fmt.Printf("  QEMU started by hand           RSS %6.1f MiB\n", mib(handRSS))
	fmt.Printf("  QEMU under the platform        RSS %6.1f MiB\n", mib(rss.qemu))
	fmt.Printf("  launcher (dvp-worker launch)   RSS %6.1f MiB\n", mib(rss.launcher))
	fmt.Printf("  supervisor (dvp-worker)        RSS %6.1f MiB\n", mib(rss.supervisor))
	fmt.Printf("  platform overhead per machine      %6.1f MiB (launcher + supervisor)\n", mib(rss.launcher+rss.supervisor))
}

// podStages polls the launcher pod: when it exists, has a node, runs.
func podStages(ctx context.Context, kube kubernetes.Interface, t0 time.Time) (out [3]time.Duration) {
	for out[2] == 0 && time.Since(t0) < time.Minute {
		pods, err := kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "vm.virtualization.deckhouse.io/name=bench-vm"})
		if err == nil {
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil {
					continue
				}
				if out[0] == 0 {
					out[0] = time.Since(t0)
				}
				if out[1] == 0 && p.Spec.NodeName != "" {
					out[1] = time.Since(t0)
				}
				if p.Status.Phase == "Running" {
					out[2] = time.Since(t0)
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return out
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func report(name string, d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	p := func(q float64) time.Duration { return d[int(q*float64(len(d)-1)+0.5)].Round(time.Millisecond) }
	fmt.Printf("%-52s %8v %8v %8v\n", name, p(0.5), p(0.95), d[len(d)-1].Round(time.Millisecond))
}

func apply(ctx context.Context, dyn dynamic.Interface, resource, doc string) {
	var obj map[string]any
	benchutil.Must(yaml.Unmarshal([]byte(doc), &obj))
	u := &unstructured.Unstructured{Object: obj}
	_, err := dyn.Resource(gvr(resource)).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{})
	benchutil.Must(err)
}

func waitPhase(ctx context.Context, dyn dynamic.Interface, resource, name, phase string) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		u, err := dyn.Resource(gvr(resource)).Namespace("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if p, _, _ := unstructured.NestedString(u.Object, "status", "phase"); p == phase {
				return
			}
		}
		if time.Now().After(deadline) {
			benchutil.Must(fmt.Errorf("%s %s did not reach %s", resource, name, phase))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitProcess polls /proc for a process whose command line contains s.
func waitProcess(s string) int {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if pid := findProcess(s); pid > 0 {
			return pid
		}
		time.Sleep(time.Millisecond)
	}
	benchutil.Must(fmt.Errorf("no process with %q", s))
	return 0
}

func findProcess(s string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(b), s) && strings.Contains(string(b), "qemu-system") {
			return pid
		}
	}
	return 0
}

// firstByte connects to a serial socket as soon as it exists and waits for
// the first byte the guest prints.
func firstByte(path string) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			b := make([]byte, 1)
			_ = c.SetReadDeadline(deadline)
			_, err = io.ReadFull(c, b)
			c.Close()
			benchutil.Must(err)
			return
		}
		if time.Now().After(deadline) {
			benchutil.Must(err)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitGone(ctx context.Context, dyn dynamic.Interface, pid int) {
	for {
		_, err := dyn.Resource(gvr("virtualmachines")).Namespace("default").Get(ctx, "bench-vm", metav1.GetOptions{})
		if err != nil && syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// capture copies the platform's QEMU command line and what it refers to
// in the pod's run directory, with disk paths resolved to the volumes, so
// the same command can run by hand once the machine is gone.
func capture(pid int) ([]string, string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	benchutil.Must(err)
	argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	benchutil.Must(err)
	dir, err := os.MkdirTemp("", "vmstart-")
	benchutil.Must(err)
	for i, a := range argv {
		opts := strings.Split(a, ",")
		for j, o := range opts {
			k, v, ok := strings.Cut(o, "=")
			if !ok || k != "filename" {
				continue
			}
			switch {
			case !filepath.IsAbs(v): // in the run directory: copy it
				data, err := os.ReadFile(filepath.Join(cwd, v))
				benchutil.Must(err)
				benchutil.Must(os.WriteFile(filepath.Join(dir, v), data, 0o600))
			default:
				if r, err := filepath.EvalSymlinks(v); err == nil {
					opts[j] = k + "=" + r
				}
			}
		}
		argv[i] = strings.Join(opts, ",")
	}
	return argv, dir
}

type rssSample struct{ qemu, launcher, supervisor int64 }

// sample weighs QEMU, its launcher (parent) and the supervisor (grandparent).
func sample(pid int) rssSample {
	launcher := ppid(pid)
	return rssSample{qemu: rss(pid), launcher: rss(launcher), supervisor: rss(ppid(launcher))}
}

func ppid(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	p, _ := strconv.Atoi(f[1])
	return p
}

func rss(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// startByHand runs the captured command in a fresh directory (its sockets
// are relative paths) and measures exec -> process and -> first serial
// byte; the first run also weighs QEMU once the guest settled.
func startByHand(argv []string, from string, weigh bool) (time.Duration, time.Duration, int64) {
	dir, err := os.MkdirTemp("", "vmstart-hand-")
	benchutil.Must(err)
	defer os.RemoveAll(dir)
	ents, _ := os.ReadDir(from)
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		benchutil.Must(err)
		benchutil.Must(os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600))
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	t0 := time.Now()
	benchutil.Must(cmd.Start())
	for {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid)); err == nil && strings.Contains(string(b), "qemu-system") {
			break
		}
		time.Sleep(20 * time.Microsecond)
	}
	d := time.Since(t0)
	firstByte(filepath.Join(dir, "serial.sock"))
	b := time.Since(t0)
	var r int64
	if weigh {
		time.Sleep(5 * time.Second)
		r = rss(cmd.Process.Pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return d, b, r
}
