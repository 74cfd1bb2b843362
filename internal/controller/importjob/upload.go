package importjob

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/image"
	"github.com/virtlab/dvp/internal/upload"
)

// Gateway is what the controllers need from the upload gateway
// (upload.Gateway).
type Gateway interface {
	// Active reports an upload in progress in this process.
	Active(uid types.UID) (received, total int64, elapsed time.Duration, ok bool)
	// Cancel stops an upload in progress, if any.
	Cancel(uid types.UID)
	// Started is when the gateway started.
	Started() time.Time
}

// Uploads configures images with dataSource.type: Upload. It sits beside
// Env, which describes importer pods.
type Uploads struct {
	Gateway Gateway
	// Wait is how long an image waits for an upload to start
	// (config upload.waitTimeout).
	Wait time.Duration
	// BaseURL is the gateway's https://host:port; CAFile the CA that signed
	// its certificate, for the printed command.
	BaseURL string
	CAFile  string
}

// UploadTarget says where an image's (or disk's) upload Secret lives.
type UploadTarget struct {
	Uploads    *Uploads
	Kind       string // VirtualImage, ClusterVirtualImage or VirtualDisk, for messages
	Namespace  string
	SecretName string
	// DoneReason is the reason of the event sent once the upload is in
	// DVCR; "" is Ready (an image is Ready then, a disk is not yet).
	DoneReason string
}

// UploadImage is implemented by Image adapters of kinds that accept uploads.
type UploadImage interface {
	// Upload returns nil unless the data source is Upload.
	Upload() *UploadTarget
	SetUploadURLs(command string, urls *v1alpha2.ImageUploadURLs)
}

// uploadTarget returns the upload settings of img if it waits for an
// upload that this process can take.
func uploadTarget(img Image) (UploadImage, *UploadTarget) {
	ui, ok := img.(UploadImage)
	if !ok {
		return nil, nil
	}
	t := ui.Upload()
	if t == nil || t.Uploads == nil || t.Uploads.Gateway == nil {
		return nil, nil
	}
	return ui, t
}

// CancelUpload stops a running upload of obj and removes its upload Secret
// (idempotent).
func CancelUpload(ctx context.Context, c client.Client, obj client.Object, t *UploadTarget) error {
	return cancelUpload(ctx, c, obj, t)
}

// cancelUpload stops a running upload and removes the upload Secret.
func cancelUpload(ctx context.Context, c client.Client, obj client.Object, t *UploadTarget) error {
	if t.Uploads != nil && t.Uploads.Gateway != nil {
		t.Uploads.Gateway.Cancel(obj.GetUID())
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: t.Namespace, Name: t.SecretName}}
	if err := c.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// reconcileUpload drives an image whose data comes from the upload gateway.
func reconcileUpload(ctx context.Context, c client.Client, jobs *Env, rec record.EventRecorder, img Image, ui UploadImage, t *UploadTarget) (ctrl.Result, error) {
	registryURL := fmt.Sprintf("%s/%s", jobs.DVCRHost, imageRepository(img))
	return ReconcileUpload(ctx, c, rec, img.Object(), img.Status(), t, registryURL, ui.SetUploadURLs)
}

// ReconcileUpload drives an object whose data comes from the upload gateway:
// it creates the upload Secret (t.SecretName, owned by obj) with a fresh
// token, shows the upload URL through setURLs, expires the wait, and maps the
// gateway's record to st: phase WaitForUserUpload, Provisioning, Ready (the
// data is in DVCR) or Failed. registryURL names the target in events.
func ReconcileUpload(ctx context.Context, c client.Client, rec record.EventRecorder, obj client.Object, st ImageStatus, t *UploadTarget, registryURL string, setURLs func(command string, urls *v1alpha2.ImageUploadURLs)) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	u := t.Uploads
	sec := &corev1.Secret{}
	err := c.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.SecretName}, sec)
	if apierrors.IsNotFound(err) {
		token, err := upload.NewToken()
		if err != nil {
			return ctrl.Result{}, err
		}
		sec = upload.NewSecret(t.Namespace, t.SecretName, token)
		sec.Annotations = map[string]string{generationAnnotation: strconv.FormatInt(obj.GetGeneration(), 10)}
		if err := controllerutil.SetControllerReference(obj, sec, c.Scheme()); err != nil {
			return ctrl.Result{}, err
		}
		if err := c.Create(ctx, sec); err != nil {
			if apierrors.IsAlreadyExists(err) { // the cache is behind
				return ctrl.Result{RequeueAfter: time.Second}, nil
			}
			return ctrl.Result{}, fmt.Errorf("creating the upload secret: %w", err)
		}
		log.Info("waiting for an upload", "secret", t.SecretName, "wait", u.Wait)
	} else if err != nil {
		return ctrl.Result{}, err
	}
	if !metav1.IsControlledBy(sec, obj) {
		*st.Phase = "Failed"
		st.SetReady(false, "ProvisioningFailed", fmt.Sprintf("Secret %s/%s exists and does not belong to this %s: delete it", t.Namespace, t.SecretName, t.Kind))
		return ctrl.Result{}, nil
	}
	// A failed or expired upload of an older spec: the spec was edited after
	// the failure, so start over with a new token. (Also covers a cache that
	// still shows the Secret deleted when the status was reset.)
	if gen, _ := strconv.ParseInt(sec.Annotations[generationAnnotation], 10, 64); gen < obj.GetGeneration() {
		if s := upload.State(sec); s == upload.StateFailed || s == upload.StateExpired {
			if err := c.Delete(ctx, sec, client.Preconditions{UID: &sec.UID}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return ctrl.Result{}, err
			}
			*st.Phase = "Pending"
			log.Info("upload restarted with a new token: the spec changed since it failed", "generation", obj.GetGeneration())
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
	}
	url := u.BaseURL + upload.PathPrefix + string(sec.Data[upload.KeyToken])
	setURLs(fmt.Sprintf("curl --cacert %s %s -T example.iso", u.CAFile, url), &v1alpha2.ImageUploadURLs{External: url, InCluster: url})
	st.SetDatasource(true, "DatasourceReady", "")

	if cutOffByRestart(sec, obj.GetUID(), u.Gateway) {
		// The upload never reached DVCR (the gateway pushes only a
		// complete file), so the same token takes it again.
		upload.MarkInterrupted(sec.Data, "The upload was cut off by a restart of the platform", time.Now())
		if err := c.Update(ctx, sec); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{RequeueAfter: time.Second}, nil
			}
			return ctrl.Result{}, err
		}
		log.Info("upload cut off by a restart: waiting for it again")
	}

	var out Outcome
	switch upload.State(sec) {
	case upload.StateWaiting, "":
		// The wait runs from the Secret's creation, or from the last
		// interrupted upload.
		since := upload.WaitingSince(sec)
		if since.IsZero() {
			since = time.Now()
		}
		left := time.Until(since.Add(u.Wait))
		if left > 0 {
			note := string(sec.Data[upload.KeyInterrupted])
			if note != "" && *st.Phase == "Provisioning" {
				rec.Event(obj, corev1.EventTypeWarning, "UploadInterrupted", note+": upload again with the command in status.uploadCommand")
			}
			*st.Phase, *st.DownloadSpeed = "WaitForUserUpload", nil
			if *st.Progress == "" {
				*st.Progress = "0%"
			}
			st.SetReady(false, "WaitForUserUpload", waitingMessage(note, since.Add(u.Wait)))
			return ctrl.Result{RequeueAfter: min(left+100*time.Millisecond, 5*time.Second)}, nil
		}
		// Expire the token; conditional on the version read, so an upload
		// the gateway claims meanwhile wins.
		sec.Data[upload.KeyState] = []byte(upload.StateExpired)
		if err := c.Update(ctx, sec); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{RequeueAfter: time.Second}, nil
			}
			return ctrl.Result{}, err
		}
		fallthrough
	case upload.StateExpired:
		msg := fmt.Sprintf("no upload started within %s: delete and recreate the %s, then upload with the command in status.uploadCommand", u.Wait, t.Kind)
		if *st.Phase != "Failed" {
			rec.Event(obj, corev1.EventTypeWarning, "WaitForUserUploadTimeout", msg)
			log.Info("no upload started in time", "wait", u.Wait)
		}
		*st.Phase, *st.DownloadSpeed = "Failed", nil
		st.SetReady(false, "WaitForUserUploadTimeout", msg)
		return ctrl.Result{}, nil
	case upload.StateUploading:
		if received, total, elapsed, ok := u.Gateway.Active(obj.GetUID()); ok {
			out = Outcome{Phase: Running, Progress: -1, Received: received}
			if total > 0 {
				out.Progress = 100 * float64(received) / float64(total)
			}
			if s := elapsed.Seconds(); s > 0 {
				out.Speed = int64(float64(received) / s)
			}
			break
		}
		// Finished a moment ago, and the cache has not caught up.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	case upload.StateSucceeded:
		var r image.Result
		if err := json.Unmarshal(sec.Data[upload.KeyResult], &r); err != nil || r.Format == "" {
			out = Outcome{Phase: Failed, Reason: "UploadError", Message: fmt.Sprintf("the upload gateway recorded no result: %q", sec.Data[upload.KeyResult])}
			break
		}
		out = Outcome{Phase: Succeeded, Progress: 100, Result: Result{Format: r.Format, CDROM: r.CDROM, StoredBytes: r.StoredBytes, UnpackedBytes: r.UnpackedBytes, Digest: r.Digest}}
	case upload.StateFailed:
		out = Outcome{Phase: Failed, Reason: string(sec.Data[upload.KeyReason]), Message: string(sec.Data[upload.KeyError])}
	default:
		out = Outcome{Phase: Failed, Reason: "UploadError", Message: fmt.Sprintf("unknown upload state %q", upload.State(sec))}
	}
	wasFailed := *st.Phase == "Failed"
	msg := st.Apply(out, registryURL)
	switch out.Phase {
	case Running:
		st.SetReady(false, "Provisioning", "Receiving the upload into DVCR.")
		return ctrl.Result{RequeueAfter: time.Second}, nil
	case Succeeded:
		reason := t.DoneReason
		if reason == "" {
			reason = "Ready"
		}
		rec.Eventf(obj, corev1.EventTypeNormal, reason, "Uploaded a %s image of %s into %s", out.Result.Format, st.Size.Unpacked, registryURL)
		log.Info("upload finished", "format", out.Result.Format, "size", st.Size.Unpacked, "registryURL", registryURL)
	case Failed:
		if msg != "" && !wasFailed {
			rec.Event(obj, corev1.EventTypeWarning, "UploadFailed", msg)
			log.Info("upload failed", "reason", out.Reason, "message", msg)
		}
	}
	return ctrl.Result{}, nil
}

// cutOffByRestart reports an upload recorded as running that started before
// the gateway did, so no process is receiving it any more.
func cutOffByRestart(sec *corev1.Secret, uid types.UID, gw Gateway) bool {
	if upload.State(sec) != upload.StateUploading {
		return false
	}
	if _, _, _, ok := gw.Active(uid); ok {
		return false
	}
	started, _ := time.Parse(time.RFC3339Nano, string(sec.Data[upload.KeyStartedAt]))
	return started.Before(gw.Started())
}

// waitingMessage is the Ready condition's message while an upload is
// awaited until deadline; note says why an earlier upload was cut off.
func waitingMessage(note string, deadline time.Time) string {
	until := deadline.UTC().Format(time.RFC3339)
	if note == "" {
		return fmt.Sprintf("Waiting for the upload until %s: run the command in status.uploadCommand.", until)
	}
	return fmt.Sprintf("%s: upload the file again with the command in status.uploadCommand, before %s.", note, until)
}

// generationAnnotation on an upload Secret is the image generation it was
// made for.
const generationAnnotation = "virtualization.deckhouse.io/image-generation"

// imageRepository is the DVCR repository of an image.
func imageRepository(img Image) string { return img.Job().Repository }
