package virtualdisk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/controller/importjob"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
	"github.com/virtlab/dvp/internal/registry"
	"github.com/virtlab/dvp/internal/upload"
)

// A disk from HTTP, a container image or an upload is made in two stages:
//
//  1. the data is imported into DVCR, repository vd/<namespace>/<name>
//     tagged with the disk's UID, by the same importer pod (named
//     vd-dvcr-importer-<name>) or upload gateway as an image's;
//  2. the disk's claim is created (its size known now) and, once bound,
//     filled from that repository exactly as from an image.
//
// The claim exists only after stage 1 succeeded, so "no claim yet" is
// stage 1. Once the claim is filled the staging repository, the importer
// pod and the Secrets are deleted; importjob.Finalizer on the disk marks
// that they may still exist, so deletion and a restart clean them up.

// sourceHashAnnotation on the stage-1 importer pod is a hash of the data
// source it imports: an import of a data source edited since is restarted.
const sourceHashAnnotation = "virtualization.deckhouse.io/data-source-hash"

// stagedSource reports whether the disk's data source goes through DVCR.
func stagedSource(ds *v1alpha2.VirtualDiskDataSource) bool {
	if ds == nil {
		return false
	}
	switch ds.Type {
	case v1alpha2.DataSourceTypeHTTP, v1alpha2.DataSourceTypeContainerImage, v1alpha2.DataSourceTypeUpload:
		return true
	}
	return false
}

// sourceHash identifies a data source's content, for sourceHashAnnotation.
func sourceHash(ds *v1alpha2.VirtualDiskDataSource) string {
	b, _ := json.Marshal(ds)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// stageJob is the stage-1 import of a disk.
func (r *Reconciler) stageJob(vd *v1alpha2.VirtualDisk) *importjob.Job {
	return &importjob.Job{
		Owner: vd, Namespace: vd.Namespace, Name: "vd-dvcr-importer-" + vd.Name,
		Repository: registry.VDRepository(vd.Namespace, vd.Name), Tag: string(vd.UID),
		Annotations: map[string]string{sourceHashAnnotation: sourceHash(vd.Spec.DataSource)},
	}
}

// stagedImage is the stage-1 image of a disk, as the fill reads it.
func stagedImage(vd *v1alpha2.VirtualDisk, unpacked int64) source {
	return source{
		ref: importjob.ImageRef{Repository: registry.VDRepository(vd.Namespace, vd.Name), Tag: string(vd.UID)},
		uid: string(vd.UID), unpacked: unpacked,
	}
}

func (r *Reconciler) uploadTarget(vd *v1alpha2.VirtualDisk) *importjob.UploadTarget {
	return &importjob.UploadTarget{Uploads: r.Uploads, Kind: "VirtualDisk", Namespace: vd.Namespace,
		SecretName: upload.SecretName("vd", vd.Name), DoneReason: "Uploaded"}
}

// stage is the status of a stage-1 import in the shape importjob fills for
// images. It starts from the disk's status and is mapped back onto it by
// applyStage, so the image code's phases, conditions and messages apply
// unchanged without marking the disk Ready when only its data is in DVCR.
type stage struct {
	phase, progress string
	speed           *v1alpha2.StatusSpeed
	size            v1alpha2.ImageStatusSize
	format          string
	cdrom           bool
	registryURL     string
	conditions      []metav1.Condition
	generation      int64
}

// Stage-1 phases, as importjob writes them.
const (
	stagePending   = "Pending"
	stageRunning   = "Provisioning"
	stageUpload    = "WaitForUserUpload"
	stageSucceeded = "Ready"
	stageFailed    = "Failed"
)

func newStage(vd *v1alpha2.VirtualDisk) *stage {
	s := &stage{generation: vd.Generation, conditions: append([]metav1.Condition(nil), vd.Status.Conditions...)}
	switch vd.Status.Phase {
	case v1alpha2.VirtualDiskPhaseFailed:
		s.phase = stageFailed
	case v1alpha2.VirtualDiskPhaseWaitForUserUpload:
		s.phase = stageUpload
	case v1alpha2.VirtualDiskPhaseProvisioning:
		s.phase = stageRunning
	}
	return s
}

func (s *stage) status() importjob.ImageStatus {
	return importjob.ImageStatus{
		Phase: &s.phase, Progress: &s.progress, DownloadSpeed: &s.speed, Size: &s.size, Format: &s.format,
		CDROM: &s.cdrom, RegistryURL: &s.registryURL, Conditions: &s.conditions, Generation: s.generation,
	}
}

// stageShare is the part of the disk's progress that stage 1 covers: an
// import into DVCR shows 0-50%, writing it onto the disk 50-100%.
const stageShare = 50

// applyStage maps a stage-1 status onto the disk's. It leaves the disk's
// phase and Ready condition alone once the stage succeeded: the disk is
// then filled.
func applyStage(vd *v1alpha2.VirtualDisk, s *stage) {
	for _, c := range s.conditions {
		if c.Type == string(v1alpha2.VirtualDiskConditionReady) && s.phase == stageSucceeded {
			continue
		}
		meta.SetStatusCondition(&vd.Status.Conditions, c)
	}
	vd.Status.DownloadSpeed = s.speed
	switch s.phase {
	case stageSucceeded:
		vd.Status.DownloadSpeed = nil
		setProgress(vd, stageShare)
		return
	case stageFailed:
		vd.Status.Phase, vd.Status.DownloadSpeed = v1alpha2.VirtualDiskPhaseFailed, nil
		return
	case stageUpload:
		vd.Status.Phase = v1alpha2.VirtualDiskPhaseWaitForUserUpload
	case stageRunning:
		vd.Status.Phase = v1alpha2.VirtualDiskPhaseProvisioning
	default:
		vd.Status.Phase = v1alpha2.VirtualDiskPhasePending
	}
	if p, err := strconv.ParseFloat(trimPercent(s.progress), 64); err == nil && p >= 0 {
		setProgress(vd, min(p, 99.9)*stageShare/100)
	} else if vd.Status.Progress == "" {
		vd.Status.Progress = "0%"
	}
}

// setProgress raises the disk's progress to p percent; it never goes back,
// so a restarted importer does not make the column jump.
func setProgress(vd *v1alpha2.VirtualDisk, p float64) {
	cur, err := strconv.ParseFloat(trimPercent(vd.Status.Progress), 64)
	if err != nil || p > cur {
		vd.Status.Progress = importjob.FormatProgress(p)
	}
}

func trimPercent(s string) string {
	if n := len(s); n > 0 && s[n-1] == '%' {
		return s[:n-1]
	}
	return s
}

// importToDVCR runs stage 1 of a disk that has no claim yet. done is true
// with the unpacked size once the data is in DVCR; otherwise the status says
// why not and res says when to look again.
func (r *Reconciler) importToDVCR(ctx context.Context, vd *v1alpha2.VirtualDisk) (res ctrl.Result, unpacked int64, done bool, err error) {
	job := r.stageJob(vd)
	up := r.uploadTarget(vd)
	ds := vd.Spec.DataSource
	restart := vd.Status.Phase == v1alpha2.VirtualDiskPhaseFailed // the spec changed since it failed

	// Leftovers of a data source edited since: start over.
	stale, err := r.staleStage(ctx, vd, job, up)
	if err != nil {
		return ctrl.Result{}, 0, false, err
	}
	if stale {
		if err := r.resetStage(ctx, vd, job, up); err != nil {
			return ctrl.Result{}, 0, false, err
		}
		vd.Status.Phase, vd.Status.Progress, vd.Status.DownloadSpeed = v1alpha2.VirtualDiskPhasePending, "0%", nil
		vd.Status.UploadCommand, vd.Status.ImageUploadURLs = "", nil
		ctrl.LoggerFrom(ctx).Info("import started over: the data source changed")
		return ctrl.Result{RequeueAfter: time.Second}, 0, false, nil
	}

	s := newStage(vd)
	st := s.status()
	registryURL := fmt.Sprintf("%s/%s", r.Jobs.DVCRHost, job.Repository)
	wasFailed := vd.Status.Phase == v1alpha2.VirtualDiskPhaseFailed

	if ds.Type == v1alpha2.DataSourceTypeUpload {
		if r.Uploads == nil || r.Uploads.Gateway == nil {
			msg := "uploads are not served by this controller (no upload gateway configured)"
			vd.Status.Phase = v1alpha2.VirtualDiskPhasePending
			ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionDatasourceReady, false, string(v1alpha2.VirtualDiskReasonDatasourceIsNotReady), msg)
			ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionReady, false, string(v1alpha2.VirtualDiskReasonDatasourceIsNotReady), msg)
			return ctrl.Result{RequeueAfter: 10 * time.Second}, 0, false, nil
		}
		if restart {
			// Back from Failed: ReconcileUpload starts a failed or expired
			// upload over with a new token (the spec changed since).
			s.phase = stagePending
		}
		res, err := importjob.ReconcileUpload(ctx, r.Client, r.Recorder, vd, st, up, registryURL, func(cmd string, urls *v1alpha2.ImageUploadURLs) {
			vd.Status.UploadCommand, vd.Status.ImageUploadURLs = cmd, urls
		})
		if err != nil {
			return ctrl.Result{}, 0, false, err
		}
		applyStage(vd, s)
		if s.phase != stageSucceeded {
			return res, 0, false, nil
		}
		n, _ := strconv.ParseInt(s.size.UnpackedBytes, 10, 64)
		return ctrl.Result{}, n, true, nil
	}

	src := importjob.Source{Type: ds.Type, HTTP: ds.HTTP}
	if ci := ds.ContainerImage; ci != nil {
		src.Image, src.CABundle = ci.Image, ci.CABundle
		if ci.ImagePullSecret != nil && ci.ImagePullSecret.Name != "" {
			src.PullSecret = &importjob.PullSecret{Namespace: vd.Namespace, Name: ci.ImagePullSecret.Name}
		}
	}
	ok, err := importjob.DescribeSource(ctx, r.Client, job, st, src)
	if err != nil || !ok {
		applyStage(vd, &stage{phase: stagePending, conditions: s.conditions})
		ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionReady, false, string(v1alpha2.VirtualDiskReasonDatasourceIsNotReady), "the data source cannot be read yet: see the DatasourceReady condition")
		return ctrl.Result{RequeueAfter: 5 * time.Second}, 0, false, err
	}
	out, err := r.Jobs.Observe(ctx, job)
	if err != nil {
		return ctrl.Result{}, 0, false, err
	}
	if out.Phase == importjob.Failed && restart {
		// A failure of an earlier spec: try again.
		if err := r.Jobs.Delete(ctx, job); err != nil {
			return ctrl.Result{}, 0, false, err
		}
		vd.Status.Phase, vd.Status.DownloadSpeed = v1alpha2.VirtualDiskPhasePending, nil
		ctrlreconcile.SetCondition(&vd.Status.Conditions, vd.Generation, v1alpha2.VirtualDiskConditionReady, false, string(v1alpha2.VirtualDiskReasonProvisioningNotStarted), "Importing again: the spec changed since the import failed.")
		ctrl.LoggerFrom(ctx).Info("import restarted: the spec changed since it failed", "generation", vd.Generation)
		return ctrl.Result{RequeueAfter: time.Second}, 0, false, nil
	}
	msg := st.Apply(out, registryURL)
	applyStage(vd, s)
	switch out.Phase {
	case importjob.Succeeded:
		return ctrl.Result{}, out.Result.UnpackedBytes, true, nil
	case importjob.Failed:
		if msg != "" && !wasFailed {
			r.Recorder.Event(vd, corev1.EventTypeWarning, "ImportFailed", msg)
			ctrl.LoggerFrom(ctx).Info("import failed", "reason", out.Reason, "message", msg)
		}
		return ctrl.Result{}, 0, false, nil
	}
	return ctrl.Result{RequeueAfter: time.Second}, 0, false, nil
}

// staleStage reports stage-1 leftovers that do not match the data source:
// an importer pod made for another source, or an upload Secret while the
// source is no upload.
func (r *Reconciler) staleStage(ctx context.Context, vd *v1alpha2.VirtualDisk, job *importjob.Job, up *importjob.UploadTarget) (bool, error) {
	pod := &corev1.Pod{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: job.Namespace, Name: job.Name}, pod)
	switch {
	case err == nil:
		if pod.DeletionTimestamp == nil && pod.Annotations[sourceHashAnnotation] != job.Annotations[sourceHashAnnotation] {
			return true, nil
		}
	case !apierrors.IsNotFound(err):
		return false, err
	}
	if vd.Spec.DataSource.Type == v1alpha2.DataSourceTypeUpload {
		return false, nil
	}
	sec := &corev1.Secret{}
	err = r.Client.Get(ctx, client.ObjectKey{Namespace: up.Namespace, Name: up.SecretName}, sec)
	switch {
	case err == nil:
		return sec.DeletionTimestamp == nil && metav1.IsControlledBy(sec, vd), nil
	case apierrors.IsNotFound(err):
		return false, nil
	}
	return false, err
}

// resetStage stops a stage-1 import and deletes its pod and Secrets; what
// it pushed is overwritten by the next import under the same tag.
func (r *Reconciler) resetStage(ctx context.Context, vd *v1alpha2.VirtualDisk, job *importjob.Job, up *importjob.UploadTarget) error {
	if err := importjob.CancelUpload(ctx, r.Client, vd, up); err != nil {
		return err
	}
	return r.Jobs.Delete(ctx, job)
}

// forgetStage deletes everything stage 1 left: the importer pod and its
// Secret, the upload Secret, and the staging repository in DVCR.
func (r *Reconciler) forgetStage(ctx context.Context, vd *v1alpha2.VirtualDisk) error {
	if err := importjob.CancelUpload(ctx, r.Client, vd, r.uploadTarget(vd)); err != nil {
		return err
	}
	return r.Jobs.Forget(ctx, r.stageJob(vd))
}
