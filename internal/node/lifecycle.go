package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/supervisor"
)

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
		if reason, ok := permanent(err); ok {
			entry.failure, entry.reason = err.Error(), reason
			p.store(k, entry)
			p.log.Info("Pod failed", "pod", klog.KObj(pod), "reason", err)
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

// permanent says whether a start error fails the pod (with its reason)
// rather than making it wait for another try.
func permanent(err error) (reason string, ok bool) {
	switch {
	case errors.Is(err, errUnsupportedVolume):
		return "UnsupportedPod", true
	case errors.Is(err, errPodNetwork):
		return "NetworkSetupFailed", true
	}
	return "", false
}

// tryStart starts the pod or leaves nothing behind, so the next attempt
// starts clean.
func (p *Provider) tryStart(ctx context.Context, pod *corev1.Pod, dir string) error {
	if err := p.start(ctx, pod, dir); err != nil {
		p.stopAll(dir, pod, 0)
		_ = os.RemoveAll(dir)
		p.teardownNetwork(pod)
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
		reason, failed := permanent(err)
		switch {
		case err == nil:
			e.waiting, e.started = "", time.Now()
		case failed:
			e.waiting, e.failure, e.reason = "", err.Error(), reason
		default:
			e.waiting = err.Error()
		}
		notify := p.notify
		p.mu.Unlock()
		if notify != nil {
			notify(p.podWithStatus(e))
		}
		if err == nil || failed {
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
	// After the volumes, which are what a pod usually waits for, so a
	// waiting pod does not make and remove its tap on every try.
	podNet, err := p.setupNetwork(ctx, pod)
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
		if env, err = podNet.env(env); err != nil {
			return fmt.Errorf("container %q: %w", c.Name, err)
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
		p.teardownNetwork(e.pod)
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
