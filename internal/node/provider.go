package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/supervisor"
)

// Provider runs a node's pods as supervised local processes.
type Provider struct {
	nodeName string
	podsDir  string // DATA/nodes/<node>/pods
	binDir   string
	nodeIP   string   // reported as the pods' host and pod IP (no pod network)
	env      []string // environment every container gets (API address, ...)
	volumes  volumeSource
	log      klog.Logger
	// dvcrSecret signs pod-bound DVCR credentials (dvcr.go).
	dvcrSecret []byte

	mu     sync.Mutex
	pods   map[string]*podEntry // by namespace/name
	notify func(*corev1.Pod)
}

type podEntry struct {
	pod     *corev1.Pod
	dir     string
	failure string // set when the pod was refused; the pod is Failed
	// waiting is why the pod could not start yet (a ConfigMap the
	// controller-manager has not published, a claim not bound); the node
	// retries, as kubelet does, and the pod stays Pending meanwhile.
	waiting string
	started time.Time
	// deleted: the processes were stopped for a deletion; final is the
	// status reported from then on, kept until the pod leaves the API.
	deleted   bool
	final     *corev1.Pod
	deletedAt time.Time
	last      *corev1.PodStatus
}

func key(ns, name string) string { return ns + "/" + name }

// NewProvider rebuilds the provider's state from disk: pods whose supervisors
// still run are adopted, never started a second time. It must complete
// before the pod controller starts, or the controller would create duplicates.
func NewProvider(nodeName, nodeIP, dataDir, binDir string, kube kubernetes.Interface, env []string, log klog.Logger) (*Provider, error) {
	p := &Provider{
		nodeName: nodeName,
		nodeIP:   nodeIP,
		podsDir:  filepath.Join(dataDir, "nodes", nodeName, "pods"),
		binDir:   binDir,
		env:      env,
		volumes:  volumeSource{kube: kube},
		log:      log,
		pods:     map[string]*podEntry{},
	}
	if err := os.MkdirAll(p.podsDir, 0o750); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(p.podsDir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		dir := filepath.Join(p.podsDir, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "pod.json"))
		if err != nil {
			continue // a pod whose creation never completed; its processes never started
		}
		pod := &corev1.Pod{}
		if err := json.Unmarshal(b, pod); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		p.pods[key(pod.Namespace, pod.Name)] = &podEntry{pod: pod, dir: dir, started: pod.CreationTimestamp.Time}
		log.Info("Adopted pod from disk", "pod", klog.KObj(pod), "running", p.anyRunning(dir, pod))
	}
	return p, nil
}

func (p *Provider) anyRunning(dir string, pod *corev1.Pod) bool {
	for _, c := range pod.Spec.Containers {
		if id, err := supervisor.ReadIdentity(containerDir(dir, c.Name)); err == nil && id.Alive() {
			return true
		}
	}
	return false
}

func containerDir(podDir, name string) string { return filepath.Join(podDir, "containers", name) }

// CreatePod validates and starts a pod. A refused pod is recorded as Failed
// with the reason, so the user sees why instead of a pod stuck Pending.
func (p *Provider) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	k := key(pod.Namespace, pod.Name)
	p.mu.Lock()
	if e, ok := p.pods[k]; ok && e.pod.UID == pod.UID {
		p.mu.Unlock()
		return nil
	} else if ok && e.final == nil {
		p.mu.Unlock()
		return fmt.Errorf("a previous pod %s (uid %s) is still running on this node", k, e.pod.UID)
	}
	p.mu.Unlock()

	dir := filepath.Join(p.podsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
	entry := &podEntry{pod: pod.DeepCopy(), dir: dir, started: time.Now()}
	if err := checkPod(pod); err != nil {
		entry.failure = err.Error()
		p.store(k, entry)
		p.log.Info("Refused pod", "pod", klog.KObj(pod), "reason", err)
		return nil
	}
	if err := p.tryStart(ctx, pod, dir); err != nil {
		if errors.Is(err, errUnsupportedVolume) {
			entry.failure = err.Error()
			p.store(k, entry)
			return nil
		}
		entry.waiting = err.Error()
		p.store(k, entry)
		go p.retryStart(k, entry)
		return nil
	}
	p.store(k, entry)
	return nil
}

// tryStart starts the pod or leaves nothing behind, so the next attempt
// starts clean.
func (p *Provider) tryStart(ctx context.Context, pod *corev1.Pod, dir string) error {
	if err := p.start(ctx, pod, dir); err != nil {
		p.stopAll(dir, pod, 0)
		_ = os.RemoveAll(dir)
		return err
	}
	return nil
}

// retryStart keeps trying to start a waiting pod with back-off until it
// starts or is deleted.
func (p *Provider) retryStart(k string, e *podEntry) {
	backoff := 500 * time.Millisecond
	for {
		time.Sleep(backoff)
		backoff = min(backoff*2, 10*time.Second)
		p.mu.Lock()
		cur, ok := p.pods[k]
		p.mu.Unlock()
		if !ok || cur != e || e.final != nil || e.pod.DeletionTimestamp != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := p.tryStart(ctx, e.pod, e.dir)
		cancel()
		p.mu.Lock()
		if err == nil {
			e.waiting, e.started = "", time.Now()
		} else {
			e.waiting = err.Error()
		}
		notify := p.notify
		p.mu.Unlock()
		if notify != nil {
			notify(p.podWithStatus(e))
		}
		if err == nil {
			return
		}
		p.log.V(1).Info("Pod not started yet; retrying", "pod", k, "reason", err)
	}
}

func (p *Provider) store(k string, e *podEntry) {
	p.mu.Lock()
	p.pods[k] = e
	notify := p.notify
	p.mu.Unlock()
	if notify != nil {
		notify(p.podWithStatus(e))
	}
}

func (p *Provider) start(ctx context.Context, pod *corev1.Pod, dir string) error {
	paths, err := p.volumes.prepare(ctx, pod, filepath.Join(dir, "volumes"))
	if err != nil {
		return err
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cdir := containerDir(dir, c.Name)
		root := filepath.Join(cdir, "root")
		if err := buildRoot(root, c, paths); err != nil {
			return fmt.Errorf("container %q: %w", c.Name, err)
		}
		if err := os.MkdirAll(filepath.Join(cdir, runDirName), 0o700); err != nil {
			return fmt.Errorf("container %q: %w", c.Name, err)
		}
		env := p.containerEnv(c, root, cdir)
		creds, err := p.writeDVCRCredentials(pod, c, filepath.Join(cdir, runDirName))
		if err != nil {
			return fmt.Errorf("container %q: %w", c.Name, err)
		}
		if creds != "" {
			// Last, so it wins over anything the spec says.
			env = append(env, image.DVCRCredentialsEnv+"="+creds)
		}
		spec := supervisor.Spec{
			Argv:          p.argv(c),
			Env:           env,
			Dir:           root,
			RestartPolicy: supervisor.RestartPolicy(pod.Spec.RestartPolicy),
		}
		if err := supervisor.WriteJSON(cdir, supervisor.SpecFile, spec); err != nil {
			return err
		}
	}
	// pod.json marks the pod as fully prepared: only now may a restarted
	// runtime adopt it.
	b, err := json.Marshal(pod)
	if err != nil {
		return err
	}
	if err := supervisor.WriteJSON(dir, "pod.json", json.RawMessage(b)); err != nil {
		return err
	}
	for _, c := range pod.Spec.Containers {
		cmd, _, err := supervisor.Start(filepath.Join(p.binDir, "dvp-worker"), containerDir(dir, c.Name))
		if err != nil {
			return fmt.Errorf("container %q: %w", c.Name, err)
		}
		go func() { _ = cmd.Wait() }() // reap; after a runtime restart, init does
	}
	// The supervisor reports its child within milliseconds; waiting for
	// that lets the first status the pod controller sees say Running
	// instead of waiting for the next poll of the state files.
	for _, c := range pod.Spec.Containers {
		waitForState(containerDir(dir, c.Name), time.Second)
	}
	return nil
}

func waitForState(dir string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if st, err := supervisor.ReadState(dir); err == nil && st.Phase != supervisor.PhaseStarting {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// argv maps the command to the platform binary and expands $(VAR) references
// as kubelet does.
func (p *Provider) argv(c *corev1.Container) []string {
	vars := map[string]string{}
	for _, e := range c.Env {
		vars[e.Name] = e.Value
	}
	expand := func(s string) string {
		return varRef.ReplaceAllStringFunc(s, func(m string) string {
			if v, ok := vars[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		})
	}
	argv := []string{filepath.Join(p.binDir, path.Base(c.Command[0]))}
	for _, a := range append(append([]string{}, c.Command[1:]...), c.Args...) {
		argv = append(argv, expand(a))
	}
	return argv
}

func (p *Provider) containerEnv(c *corev1.Container, root, cdir string) []string {
	env := []string{"PATH=" + p.binDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + root}
	env = append(env, p.env...)
	env = append(env, "DVP_ROOT="+root, "DVP_TERMINATION_LOG="+filepath.Join(cdir, supervisor.TerminationLogFile),
		"DVP_RUN_DIR="+filepath.Join(cdir, runDirName))
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

// UpdatePod: a pod's spec is immutable apart from the image, which must stay
// the platform's; nothing to do.
func (p *Provider) UpdatePod(ctx context.Context, pod *corev1.Pod) error { return nil }

// DeletePod stops the pod's processes: SIGTERM, then SIGKILL after the grace
// period. It returns at once; the final status is reported when they exit.
func (p *Provider) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	k := key(pod.Namespace, pod.Name)
	p.mu.Lock()
	e, ok := p.pods[k]
	p.mu.Unlock()
	if !ok {
		return errdefs.NotFound("pod not known to this node")
	}
	grace := int64(30)
	if pod.DeletionGracePeriodSeconds != nil {
		grace = *pod.DeletionGracePeriodSeconds
	} else if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	go func() {
		p.stopAll(e.dir, e.pod, time.Duration(grace)*time.Second)
		p.mu.Lock()
		e.deleted = true
		p.mu.Unlock()
		// The pod controller asks for the final status after the
		// notification, so the entry stays (with its status cached) until
		// pruneDeleted drops it; the files go now.
		final := p.podWithStatus(e)
		p.mu.Lock()
		e.final, e.deletedAt = final, time.Now()
		notify := p.notify
		p.mu.Unlock()
		_ = os.RemoveAll(e.dir)
		if notify != nil {
			notify(final.DeepCopy())
		}
		// As kubelet does, the node makes the final delete once the
		// processes are gone (the pod controller would otherwise wait out
		// the whole grace period); the UID precondition spares a new pod
		// of the same name.
		zero := int64(0)
		uid := pod.UID
		err := p.volumes.kube.CoreV1().Pods(pod.Namespace).Delete(context.Background(), pod.Name,
			metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			p.log.Error(err, "Final delete of pod failed; the pod controller retries after the grace period", "pod", klog.KObj(pod))
		}
	}()
	return nil
}

// stopAll signals every container's supervisor and waits for them to exit,
// killing what is left after grace.
func (p *Provider) stopAll(dir string, pod *corev1.Pod, grace time.Duration) {
	var alive []supervisor.Identity
	for _, c := range pod.Spec.Containers {
		if id, err := supervisor.ReadIdentity(containerDir(dir, c.Name)); err == nil && id.Alive() {
			_ = supervisor.Signal(id, syscall.SIGTERM)
			alive = append(alive, id)
		}
	}
	deadline := time.Now().Add(grace)
	for len(alive) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		alive = stillAlive(alive)
	}
	for _, c := range pod.Spec.Containers {
		supervisor.Kill(containerDir(dir, c.Name))
	}
	// A container's process may have started one outside its process
	// group (the launcher's QEMU): it dies with its parent, but only a
	// moment later. The pod is not gone until that process is, or a new
	// pod of the same machine would find its disks still locked.
	for _, c := range pod.Spec.Containers {
		reapDetached(filepath.Join(containerDir(dir, c.Name), runDirName))
	}
}

// reapDetached kills and waits for the processes named by *.pid files in a
// container's run directory, if they still run there (their working
// directory is that run directory, which also guards against PID reuse).
func reapDetached(runDir string) {
	if real, err := filepath.EvalSymlinks(runDir); err == nil {
		runDir = real // /proc/<pid>/cwd shows the resolved path
	}
	files, _ := filepath.Glob(filepath.Join(runDir, "*.pid"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			continue
		}
		owned := func() bool {
			cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
			return err == nil && cwd == runDir
		}
		if !owned() {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for deadline := time.Now().Add(10 * time.Second); owned() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func stillAlive(ids []supervisor.Identity) []supervisor.Identity {
	var out []supervisor.Identity
	for _, id := range ids {
		if id.Alive() {
			out = append(out, id)
		}
	}
	return out
}

func (p *Provider) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	e, ok := p.pods[key(namespace, name)]
	p.mu.Unlock()
	if !ok {
		return nil, errdefs.NotFound("pod not known to this node")
	}
	return p.podWithStatus(e), nil
}

func (p *Provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

func (p *Provider) GetPods(ctx context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	entries := make([]*podEntry, 0, len(p.pods))
	for _, e := range p.pods {
		entries = append(entries, e)
	}
	p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(entries))
	for _, e := range entries {
		out = append(out, p.podWithStatus(e))
	}
	return out, nil
}

// NotifyPods registers the status callback and starts watching the
// supervisors' state files for changes.
func (p *Provider) NotifyPods(ctx context.Context, cb func(*corev1.Pod)) {
	p.mu.Lock()
	p.notify = cb
	p.mu.Unlock()
	go p.watch(ctx, cb)
}

func (p *Provider) watch(ctx context.Context, cb func(*corev1.Pod)) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.pruneDeleted()
		p.mu.Lock()
		entries := make([]*podEntry, 0, len(p.pods))
		for _, e := range p.pods {
			entries = append(entries, e)
		}
		p.mu.Unlock()
		for _, e := range entries {
			pod := p.podWithStatus(e)
			if e.last != nil && equality.Semantic.DeepEqual(*e.last, pod.Status) {
				continue
			}
			e.last = pod.Status.DeepCopy()
			cb(pod)
		}
	}
}

// pruneDeleted forgets deleted pods once the API has had time to drop them.
func (p *Provider) pruneDeleted() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, e := range p.pods {
		if e.final != nil && time.Since(e.deletedAt) > 2*time.Minute {
			delete(p.pods, k)
		}
	}
}

// podWithStatus derives the pod's status from the supervisors' files.
func (p *Provider) podWithStatus(e *podEntry) *corev1.Pod {
	p.mu.Lock()
	final := e.final
	p.mu.Unlock()
	if final != nil {
		return final.DeepCopy()
	}
	pod := e.pod.DeepCopy()
	start := metav1.NewTime(e.started)
	st := corev1.PodStatus{StartTime: &start, HostIP: p.nodeIP, QOSClass: pod.Status.QOSClass}
	if st.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
		st.PodIP, st.PodIPs = st.HostIP, []corev1.PodIP{{IP: st.HostIP}}
	}
	if e.failure != "" {
		st.Phase, st.Reason, st.Message = corev1.PodFailed, "UnsupportedPod", e.failure
		for _, c := range pod.Spec.Containers {
			st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 126, Reason: "UnsupportedPod", Message: e.failure}},
			})
		}
		pod.Status = st
		return pod
	}
	p.mu.Lock()
	waiting := e.waiting
	p.mu.Unlock()
	if waiting != "" {
		st.Phase = corev1.PodPending
		for _, c := range pod.Spec.Containers {
			st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: waiting}},
			})
		}
		pod.Status = st
		return pod
	}
	running, succeeded, failed := 0, 0, 0
	for _, c := range pod.Spec.Containers {
		cs := containerStatus(containerDir(e.dir, c.Name), c, e.deleted)
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			succeeded++
		case cs.State.Terminated != nil:
			failed++
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	n := len(pod.Spec.Containers)
	switch {
	case succeeded+failed == n && failed == 0:
		st.Phase = corev1.PodSucceeded
	case succeeded+failed == n:
		st.Phase = corev1.PodFailed
	case running+succeeded+failed > 0 || restarting(st.ContainerStatuses):
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodPending
	}
	ready := corev1.ConditionFalse
	if running == n {
		ready = corev1.ConditionTrue
	}
	// Transition times come from the files, not the clock, so an unchanged
	// pod compares equal between polls and is not written again.
	st.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: start},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: start},
		{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: start},
		{Type: corev1.PodReady, Status: ready, LastTransitionTime: start},
	}
	if !e.deleted {
		for _, c := range pod.Spec.Containers {
			st.Conditions = append(st.Conditions, reportedConditions(containerDir(e.dir, c.Name), start)...)
		}
	}
	pod.Status = st
	return pod
}

func restarting(cs []corev1.ContainerStatus) bool {
	for _, c := range cs {
		if c.State.Waiting != nil && c.RestartCount > 0 {
			return true
		}
	}
	return false
}

func containerStatus(dir string, c corev1.Container, deleted bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image, ContainerID: "dvp://" + filepath.Base(filepath.Dir(filepath.Dir(dir))) + "/" + c.Name}
	st, err := supervisor.ReadState(dir)
	id, idErr := supervisor.ReadIdentity(dir)
	supervisorAlive := idErr == nil && id.Alive()
	if err != nil {
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		if deleted || (idErr == nil && !supervisorAlive) {
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Killed"}}
		}
		return cs
	}
	cs.RestartCount = int32(st.Restarts)
	if st.LastFinishedAt.After(time.Time{}) {
		cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: int32(st.LastExitCode), FinishedAt: metav1.NewTime(st.LastFinishedAt)}
	}
	switch {
	case st.Phase == supervisor.PhaseRunning && supervisorAlive && !deleted:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(st.StartedAt)}
		t := true
		cs.Ready, cs.Started = true, &t
	case st.Phase == supervisor.PhaseBackOff && supervisorAlive && !deleted:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: fmt.Sprintf("back-off restarting failed container %s", c.Name)}
	default:
		// Exited, or the supervisor is gone (killed with the node): the
		// container is over either way.
		t := &corev1.ContainerStateTerminated{ExitCode: int32(st.ExitCode), Message: st.Message, StartedAt: metav1.NewTime(st.StartedAt), FinishedAt: metav1.NewTime(st.FinishedAt)}
		if st.Phase == supervisor.PhaseRunning {
			t.ExitCode, t.Reason = 137, "Killed"
		}
		switch {
		case t.Reason != "":
		case st.Signal != "":
			t.Reason = "Signaled: " + st.Signal
		case t.ExitCode == 0:
			t.Reason = "Completed"
		default:
			t.Reason = "Error"
		}
		cs.State.Terminated = t
	}
	return cs
}

// GetContainerLogs serves `kubectl logs` from the supervisor's log file.
func (p *Provider) GetContainerLogs(ctx context.Context, namespace, podName, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	p.mu.Lock()
	e, ok := p.pods[key(namespace, podName)]
	p.mu.Unlock()
	if !ok {
		return nil, errdefs.NotFound("pod not known to this node")
	}
	f, err := os.Open(filepath.Join(containerDir(e.dir, containerName), supervisor.LogFile))
	if errors.Is(err, os.ErrNotExist) {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if err != nil {
		return nil, err
	}
	if opts.Tail > 0 {
		return tail(f, opts.Tail)
	}
	if opts.Follow {
		return &follower{f: f, ctx: ctx, dir: containerDir(e.dir, containerName)}, nil
	}
	return f, nil
}

func tail(f *os.File, n int) (io.ReadCloser, error) {
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return io.NopCloser(strings.NewReader(strings.Join(lines, ""))), nil
}

// follower streams a log file as it grows until the container exits.
type follower struct {
	f   *os.File
	ctx context.Context
	dir string
}

func (r *follower) Read(b []byte) (int, error) {
	for {
		n, err := r.f.Read(b)
		if n > 0 || (err != nil && err != io.EOF) {
			return n, err
		}
		if st, err := supervisor.ReadState(r.dir); err == nil && st.Phase == supervisor.PhaseExited {
			return 0, io.EOF
		}
		select {
		case <-r.ctx.Done():
			return 0, io.EOF
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *follower) Close() error { return r.f.Close() }

var errNotSupported = errdefs.InvalidInput("not supported by the dvp node runtime")

func (p *Provider) RunInContainer(context.Context, string, string, string, []string, api.AttachIO) error {
	return errNotSupported
}
func (p *Provider) AttachToContainer(context.Context, string, string, string, api.AttachIO) error {
	return errNotSupported
}
func (p *Provider) PortForward(context.Context, string, string, int32, io.ReadWriteCloser) error {
	return errNotSupported
}
func (p *Provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return nil, errNotSupported
}
func (p *Provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, errNotSupported
}

// podCount is how many pods the node knows, for diagnostics.
func (p *Provider) podCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pods)
}
