package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/virtlab/dvp/internal/network"
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
	// net is the host's VM network (network.go); nil without root.
	net *network.Manager

	mu     sync.Mutex
	pods   map[string]*podEntry // by namespace/name
	notify func(*corev1.Pod)
}

type podEntry struct {
	pod     *corev1.Pod
	dir     string
	failure string // set when the pod was refused; the pod is Failed
	reason  string // the Failed reason; UnsupportedPod when empty
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

func (p *Provider) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	e, ok := p.pods[key(namespace, name)]
	p.mu.Unlock()
	if !ok {
		return nil, errdefs.NotFound("pod not known to this node")
	}
	return p.podWithStatus(e), nil
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

// podCount is how many pods the node knows, for diagnostics.
func (p *Provider) podCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pods)
}
