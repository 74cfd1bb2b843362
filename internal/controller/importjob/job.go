package importjob

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/registry"
)

// SourceKind says where the data comes from.
type SourceKind string

const (
	SourceHTTP     SourceKind = "http"
	SourceRegistry SourceKind = "registry"
	SourceDVCR     SourceKind = "dvcr"
	// SourceVolume reads a VirtualDisk's claim, mounted into the pod.
	SourceVolume SourceKind = "volume"
)

// Job is one import.
type Job struct {
	Owner     client.Object // the VI/CVI; it owns the pod and Secret
	Namespace string        // where the importer pod runs
	Name      string        // pod name, e.g. vi-importer-ubuntu
	Kind      SourceKind
	URL       string // HTTP URL, image reference, or DVCR repository:tag
	CABundle  []byte
	Checksums string // "sha256:hex,md5:hex"
	// DockerConfig is a docker config JSON for a registry source.
	DockerConfig []byte
	// SourceRepository is the DVCR repository a dvcr source reads.
	SourceRepository string
	// Claim is the PersistentVolumeClaim a volume source reads (in
	// Namespace).
	Claim      *Claim
	Repository string // target DVCR repository
	Tag        string
	// Annotations go on the importer pod, so the owner can tell what the
	// running import was made for.
	Annotations map[string]string

	// dvcrAddress is set by ReconcileImage for DVCR-to-DVCR sources.
	dvcrAddress string
}

// Env is what every job needs from the platform.
type Env struct {
	Client client.Client
	Kube   kubernetes.Interface // pod logs
	// DVCRAddress is where importer pods reach DVCR (host:port).
	DVCRAddress string
	DVCRSecret  []byte
	// DVCRHost names DVCR in status.target.registryURL.
	DVCRHost  string
	Registry  Registry
	RequestGC func()
	// MaxImageSize bounds what an importer receives and unpacks
	// (import.maxImageSize; 0: no bound).
	MaxImageSize int64
	// AllowedAddresses are the exceptions to the importers' address
	// policy (import.allowedAddresses).
	AllowedAddresses []string
}

// Phase of a job.
type Phase string

const (
	NotStarted Phase = "NotStarted"
	Pending    Phase = "Pending"
	Running    Phase = "Running"
	Succeeded  Phase = "Succeeded"
	Failed     Phase = "Failed"
)

// Result is what the importer wrote on success.
type Result struct {
	Format        string
	CDROM         bool
	StoredBytes   int64
	UnpackedBytes int64
	Digest        string
}

// Outcome is the state of a job.
type Outcome struct {
	Phase    Phase
	Progress float64 // 0-100, -1 when unknown
	Received int64
	Speed    int64 // bytes per second
	Result   Result
	Reason   string // on failure: NotFound, DNS, Checksum, UnsupportedFormat, Corrupt, RegistryAuth, Network, ...
	Message  string
}

// Claim is a disk's PersistentVolumeClaim as a volume source.
type Claim struct {
	Name string
	// Block: the claim's volumeMode is Block and the device holds raw
	// data; else its directory holds image.VolumeDiskFile.
	Block bool
}

// Observe creates the importer pod and its Secret if they do not exist yet
// and reports the job's state.
func (e *Env) Observe(ctx context.Context, job *Job) (Outcome, error) {
	pod := &corev1.Pod{}
	err := e.Client.Get(ctx, client.ObjectKey{Namespace: job.Namespace, Name: job.Name}, pod)
	if apierrors.IsNotFound(err) {
		if err := e.create(ctx, job); err != nil {
			return Outcome{}, err
		}
		return Outcome{Phase: Pending, Progress: 0}, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	if pod.DeletionTimestamp != nil {
		return Outcome{Phase: Pending}, nil
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		var res struct {
			Result
			Error string
		}
		msg := terminationMessage(pod)
		if err := json.Unmarshal([]byte(msg), &res); err != nil || res.Format == "" {
			return Outcome{Phase: Failed, Reason: "ImporterError", Message: fmt.Sprintf("the importer reported no result: %q", msg)}, nil
		}
		return Outcome{Phase: Succeeded, Progress: 100, Result: res.Result}, nil
	case corev1.PodFailed:
		var res struct{ Error, Reason string }
		msg := terminationMessage(pod)
		if err := json.Unmarshal([]byte(msg), &res); err != nil || res.Error == "" {
			res.Error = msg
			if res.Error == "" {
				res.Error = pod.Status.Message
			}
			res.Reason = "ImporterError"
		}
		return Outcome{Phase: Failed, Reason: res.Reason, Message: res.Error}, nil
	case corev1.PodRunning:
		out := Outcome{Phase: Running, Progress: -1}
		e.readProgress(ctx, pod, &out)
		return out, nil
	}
	return Outcome{Phase: Pending, Progress: 0}, nil
}

// TerminationMessage is the message the pod's container ended with.
func TerminationMessage(pod *corev1.Pod) string { return terminationMessage(pod) }

func terminationMessage(pod *corev1.Pod) string {
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			return strings.TrimSpace(t.Message)
		}
	}
	return ""
}

// PodProgress reads the progress a running worker pod (importer or disk
// fill) last logged: percent (-1 when unknown) and bytes per second.
func (e *Env) PodProgress(ctx context.Context, pod *corev1.Pod) (percent float64, speed int64) {
	out := Outcome{Progress: -1}
	if e.Kube != nil && pod.Status.Phase == corev1.PodRunning {
		e.readProgress(ctx, pod, &out)
	}
	return out.Progress, out.Speed
}

// readProgress parses the importer's last log line:
// "progress <percent|-> <received> <total|-> <bytes-per-second>".
func (e *Env) readProgress(ctx context.Context, pod *corev1.Pod, out *Outcome) {
	tail := int64(1)
	b, err := e.Kube.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{TailLines: &tail}).DoRaw(ctx)
	if err != nil {
		return
	}
	f := strings.Fields(string(b))
	if len(f) < 5 || f[0] != "progress" {
		return
	}
	if p, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64); err == nil {
		out.Progress = p
	}
	out.Received, _ = strconv.ParseInt(f[2], 10, 64)
	out.Speed, _ = strconv.ParseInt(f[4], 10, 64)
}

// DockerConfigJSON renders credentials for one registry host.
func DockerConfigJSON(host, user, pass string) []byte { return dockerConfigJSON(host, user, pass) }

func dockerConfigJSON(host, user, pass string) []byte {
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"username": user, "password": pass}}})
	return b
}

// HumanBytes formats sizes as the printer columns show them: 285.9Mi, 2.2Gi.
func HumanBytes(n int64) string {
	units := []string{"B", "Ki", "Mi", "Gi", "Ti", "Pi"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	s := strconv.FormatFloat(f, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + units[i]
}

// FormatProgress renders a percentage as the status shows it ("66.5%").
func FormatProgress(p float64) string {
	s := strconv.FormatFloat(p, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + "%"
}

// Registry is the part of DVCR the controllers use.
type Registry interface {
	DeleteRepository(ctx context.Context, repo string) error
}

// Forget removes everything an image left: the importer pod and Secret, and
// its repository in DVCR, then asks for a garbage collection so the space is
// freed.
func (e *Env) Forget(ctx context.Context, job *Job) error {
	if err := e.Delete(ctx, job); err != nil {
		return err
	}
	if e.Registry != nil {
		if err := e.Registry.DeleteRepository(ctx, job.Repository); err != nil {
			return fmt.Errorf("deleting DVCR repository %s: %w", job.Repository, err)
		}
	}
	if e.RequestGC != nil {
		e.RequestGC()
	}
	return nil
}

// DockerConfig reads an image pull secret's docker config JSON.
func DockerConfig(ctx context.Context, c client.Client, ns, name string) ([]byte, error) {
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		return nil, fmt.Errorf("image pull secret %s/%s: %w", ns, name, err)
	}
	if b := s.Data[corev1.DockerConfigJsonKey]; len(b) > 0 {
		return b, nil
	}
	return nil, fmt.Errorf("image pull secret %s/%s has no %s key", ns, name, corev1.DockerConfigJsonKey)
}

// ImageRef names an image stored in DVCR.
type ImageRef struct {
	Repository, Tag string
	// Digest is the manifest the image's status recorded; readers pull it
	// rather than the tag, which anyone with push on the repository could
	// have moved.
	Digest string
}

// Pinned is the reference readers pull: addr/repository@digest.
func (r ImageRef) Pinned(addr string) string {
	return fmt.Sprintf("%s/%s@%s", addr, r.Repository, r.Digest)
}

// noDigest is why an image without a recorded digest cannot be read.
func noDigest(what string) string {
	return fmt.Sprintf("%s has no recorded digest (status.target.digest; it was imported by an older version): recreate the image", what)
}

// ResolveImageRef finds a Ready VirtualImage (in ns) or ClusterVirtualImage
// to copy from. ok is false with a message while it is not Ready.
func ResolveImageRef(ctx context.Context, c client.Client, kind, ns, name string) (ImageRef, bool, string) {
	switch kind {
	case string(v1alpha2.ObjectRefKindVirtualImage):
		vi := &v1alpha2.VirtualImage{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, vi); err != nil {
			return ImageRef{}, false, fmt.Sprintf("VirtualImage %s/%s: %v", ns, name, err)
		}
		if vi.Status.Phase != v1alpha2.VirtualImagePhaseReady {
			return ImageRef{}, false, fmt.Sprintf("waiting for VirtualImage %s/%s to be Ready (now %q)", ns, name, vi.Status.Phase)
		}
		if vi.Status.Target.Digest == "" {
			return ImageRef{}, false, noDigest(fmt.Sprintf("VirtualImage %s/%s", ns, name))
		}
		return ImageRef{registry.VIRepository(ns, name), string(vi.UID), vi.Status.Target.Digest}, true, ""
	case string(v1alpha2.ObjectRefKindClusterVirtualImage):
		cvi := &v1alpha2.ClusterVirtualImage{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, cvi); err != nil {
			return ImageRef{}, false, fmt.Sprintf("ClusterVirtualImage %s: %v", name, err)
		}
		if cvi.Status.Phase != v1alpha2.ClusterVirtualImagePhaseReady {
			return ImageRef{}, false, fmt.Sprintf("waiting for ClusterVirtualImage %s to be Ready (now %q)", name, cvi.Status.Phase)
		}
		if cvi.Status.Target.Digest == "" {
			return ImageRef{}, false, noDigest(fmt.Sprintf("ClusterVirtualImage %s", name))
		}
		return ImageRef{registry.CVIRepository(name), string(cvi.UID), cvi.Status.Target.Digest}, true, ""
	}
	return ImageRef{}, false, fmt.Sprintf("an image from a %s is not supported by this platform yet", kind)
}
