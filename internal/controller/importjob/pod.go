package importjob

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/internal/version"
)

// The importer pod and its Secret: what runs a Job (job.go says what a job
// is and how it is going).

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

// Where a volume source's claim appears in the importer pod.
const (
	volumeDevice = "/dev/disk-source"
	volumeMount  = "/data"
)

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
	switch err := e.Client.Create(ctx, pod); {
	case err == nil:
		ctrl.LoggerFrom(ctx).Info("starting import", "source", job.Kind, "pod", job.Name, "repository", job.Repository)
	case !apierrors.IsAlreadyExists(err):
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
