package importjob

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/internal/registry"
	"github.com/virtlab/dvp/internal/version"
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

const mountDir = "/etc/dvp-importer"

// ScratchDir is where worker pods spool a disk: an emptyDir, which the
// node keeps under the data directory and deletes with the pod, never the
// host's /tmp.
const ScratchDir = "/scratch"

// ScratchVolume is the worker pods' scratch emptyDir.
func ScratchVolume() (corev1.Volume, corev1.VolumeMount) {
	return corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.VolumeMount{Name: "scratch", MountPath: ScratchDir}
}

func secretName(job *Job) string { return job.Name + "-dvcr" }

// Claim is a disk's PersistentVolumeClaim as a volume source.
type Claim struct {
	Name string
	// Block: the claim's volumeMode is Block and the device holds raw
	// data; else its directory holds image.VolumeDiskFile.
	Block bool
}

// Where a volume source's claim appears in the importer pod.
const (
	volumeDevice = "/dev/disk-source"
	volumeMount  = "/data"
)

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

// Delete removes the job's pod and Secret (idempotent).
func (e *Env) Delete(ctx context.Context, job *Job) error {
	for _, obj := range []client.Object{
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, Name: job.Name}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, Name: secretName(job)}},
	} {
		if err := e.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

func (e *Env) create(ctx context.Context, job *Job) error {
	// No DVCR credentials go into the API: the pod names the accesses it
	// needs and the node runtime that starts it gives it credentials bound
	// to its UID (see docs/design/dvcr.md). Only the platform may create
	// pods of its image, and a container's environment is immutable, so a
	// namespace editor can neither read the credentials nor widen them.
	scopes := []image.DVCRScope{{Repository: job.Repository, Push: true}}
	data := map[string][]byte{}
	env := []corev1.EnvVar{
		{Name: "IMPORTER_SOURCE", Value: string(job.Kind)},
		{Name: "IMPORTER_URL", Value: job.URL},
		{Name: "IMPORTER_DEST", Value: fmt.Sprintf("%s/%s:%s", e.DVCRAddress, job.Repository, job.Tag)},
		// DVCR's certificate is signed by the cluster CA, which every pod
		// gets in its service-account volume.
		{Name: "IMPORTER_DEST_CA_FILE", Value: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"},
		{Name: "IMPORTER_SCRATCH", Value: ScratchDir},
	}
	if e.MaxImageSize > 0 {
		env = append(env, corev1.EnvVar{Name: "IMPORTER_MAX_BYTES", Value: strconv.FormatInt(e.MaxImageSize, 10)})
	}
	if len(e.AllowedAddresses) > 0 {
		env = append(env, corev1.EnvVar{Name: "IMPORTER_ALLOWED_ADDRESSES", Value: strings.Join(e.AllowedAddresses, ",")})
	}
	if job.Checksums != "" {
		env = append(env, corev1.EnvVar{Name: "IMPORTER_CHECKSUMS", Value: job.Checksums})
	}
	if len(job.CABundle) > 0 {
		data["ca.crt"] = job.CABundle
		env = append(env, corev1.EnvVar{Name: "IMPORTER_CA_FILE", Value: mountDir + "/ca.crt"})
	}
	if job.Kind == SourceDVCR {
		scopes = append(scopes, image.DVCRScope{Repository: job.SourceRepository})
		env = append(env, corev1.EnvVar{Name: "IMPORTER_CA_FILE", Value: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"})
	}
	if len(job.DockerConfig) > 0 {
		// The user's own pull secret for a registry source.
		data["config.json"] = job.DockerConfig
		env = append(env, corev1.EnvVar{Name: "IMPORTER_AUTH_FILE", Value: mountDir + "/config.json"})
	}
	env = append(env, corev1.EnvVar{Name: image.DVCRScopeEnv, Value: image.FormatDVCRScopes(scopes...)})
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, Name: secretName(job), Labels: labels()},
		Data:       data,
	}
	if err := controllerutil.SetControllerReference(job.Owner, secret, e.Client.Scheme()); err != nil {
		return err
	}
	if err := e.Client.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating importer secret: %w", err)
	}
	scratchVol, scratchMount := ScratchVolume()
	mounts := []corev1.VolumeMount{{Name: "importer", MountPath: mountDir, ReadOnly: true}, scratchMount}
	var devices []corev1.VolumeDevice
	volumes := []corev1.Volume{{Name: "importer", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secretName(job)}}}, scratchVol}
	if c := job.Claim; c != nil {
		volumes = append(volumes, corev1.Volume{Name: "disk", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name, ReadOnly: true}}})
		mode := "Filesystem"
		if c.Block {
			mode = "Block"
			devices = append(devices, corev1.VolumeDevice{Name: "disk", DevicePath: volumeDevice})
		} else {
			mounts = append(mounts, corev1.VolumeMount{Name: "disk", MountPath: volumeMount, ReadOnly: true})
		}
		env = append(env, corev1.EnvVar{Name: "IMPORTER_VOLUME_MODE", Value: mode})
	}
	pod := WorkerPod(job.Namespace, job.Name, []string{"dvp-worker", "import"}, env, mounts, devices, volumes)
	if job.Claim != nil {
		// The pod follows its volume: on a node-local class the node was
		// chosen by the disk's consumer, whose taints must not keep the
		// importer out (as for the disk's own importer).
		pod.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	}
	if len(job.Annotations) > 0 {
		pod.Annotations = job.Annotations
	}
	if err := controllerutil.SetControllerReference(job.Owner, pod, e.Client.Scheme()); err != nil {
		return err
	}
	if err := e.Client.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating importer pod: %w", err)
	}
	return nil
}

// WorkerPod is a one-shot pod of the platform image running the lean
// binary: importers of images and of disks. Its result is its termination
// message.
func WorkerPod(ns, name string, command []string, env []corev1.EnvVar, mounts []corev1.VolumeMount, devices []corev1.VolumeDevice, volumes []corev1.Volume) *corev1.Pod {
	grace := int64(5)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels()},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name:                     "importer",
				Image:                    platform.Image + ":" + version.Version,
				Command:                  command,
				Env:                      env,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				VolumeMounts:             mounts,
				VolumeDevices:            devices,
			}},
			Volumes: volumes,
		},
	}
}

// Labels marks the objects of import jobs.
func Labels() map[string]string { return labels() }

func labels() map[string]string {
	return map[string]string{"app.kubernetes.io/managed-by": "dvp", "app.kubernetes.io/component": "importer"}
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
