package node

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtlab/dvp/internal/supervisor"
)

func (p *Provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
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
	p.mu.Lock()
	failure, reason := e.failure, e.reason
	p.mu.Unlock()
	if reason == "" {
		reason = "UnsupportedPod"
	}
	if failure != "" {
		st.Phase, st.Reason, st.Message = corev1.PodFailed, reason, failure
		for _, c := range pod.Spec.Containers {
			st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 126, Reason: reason, Message: failure}},
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
