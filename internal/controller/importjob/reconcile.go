package importjob

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
)

// Finalizer keeps an image until its DVCR repository is deleted.
const Finalizer = "virtualization.deckhouse.io/dvcr-cleanup"

// Image adapts one kind (VirtualImage, ClusterVirtualImage) to ReconcileImage.
type Image interface {
	Object() client.Object
	// Status points at the status fields; StatusValue returns a copy to
	// compare before and after.
	Status() ImageStatus
	StatusValue() any
	ObservedGeneration() *int64
	// ResetStatus clears the status to start an import over.
	ResetStatus()
	// Job describes the import; DescribeSource fills its source and
	// returns false while the source cannot be used yet.
	Job() *Job
	DescribeSource(ctx context.Context, c client.Client, job *Job, st ImageStatus) (bool, error)
	// Unsupported returns a reason the image cannot be made here, or "".
	Unsupported() string
}

// ReconcileImage is the whole reconcile of an image kind: finalizer, import
// job, status, cleanup on deletion. Status is written once, at the end.
func ReconcileImage(ctx context.Context, c client.Client, jobs *Env, rec record.EventRecorder, img Image) (res ctrl.Result, retErr error) {
	log := ctrl.LoggerFrom(ctx)
	obj := img.Object()
	job := img.Job()
	job.dvcrAddress = jobs.DVCRAddress
	_, upTarget := uploadTarget(img)
	if !obj.GetDeletionTimestamp().IsZero() {
		if upTarget != nil {
			if err := cancelUpload(ctx, c, obj, upTarget); err != nil {
				return ctrl.Result{}, err
			}
		}
		if err := jobs.Forget(ctx, job); err != nil {
			return ctrl.Result{}, err
		}
		if removed, err := ctrlreconcile.RemoveFinalizer(ctx, c, obj, Finalizer); err != nil || !removed {
			return ctrl.Result{}, err
		}
		log.Info("image deleted with its DVCR repository", "repository", job.Repository)
		return ctrl.Result{}, nil
	}
	if _, err := ctrlreconcile.EnsureFinalizer(ctx, c, obj, Finalizer); err != nil {
		return ctrl.Result{}, err
	}

	status := ctrlreconcile.SnapshotStatus(c, obj, img.StatusValue, img.ObservedGeneration())
	defer status.Write(ctx, &retErr)
	st := img.Status()
	switch *st.Phase {
	case "Ready":
		if st.Digest != nil && *st.Digest == "" {
			backfillDigest(ctx, jobs, obj, job, st, rec)
		}
		// Frozen: admission refuses spec changes. The importer's pod and
		// Secret go only now that Ready is stored: deleted earlier, a lost
		// status write would find no pod and start the import again.
		return ctrl.Result{}, jobs.Delete(ctx, job)
	case "Failed":
		if *img.ObservedGeneration() == obj.GetGeneration() {
			return ctrl.Result{}, nil
		}
		// A spec edited after a failure starts the import over.
		if err := jobs.Delete(ctx, job); err != nil {
			return ctrl.Result{}, err
		}
		if upTarget != nil { // a new upload gets a new token
			if err := cancelUpload(ctx, c, obj, upTarget); err != nil {
				return ctrl.Result{}, err
			}
		}
		img.ResetStatus()
		*st.Phase = "Pending"
		log.Info("import restarted: the spec changed since it failed", "generation", obj.GetGeneration())
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	if msg := img.Unsupported(); msg != "" {
		*st.Phase = "Failed"
		st.SetReady(false, "ProvisioningFailed", msg)
		log.Info("image refused", "reason", msg)
		return ctrl.Result{}, nil
	}
	if ui, t := uploadTarget(img); t != nil {
		return reconcileUpload(ctx, c, jobs, rec, img, ui, t)
	}
	ok, err := img.DescribeSource(ctx, c, job, st)
	if err != nil || !ok {
		if *st.Phase == "" {
			*st.Phase = "Pending"
		}
		return ctrl.Result{RequeueAfter: 5 * time.Second}, err
	}
	out, err := jobs.Observe(ctx, job)
	if err != nil {
		return ctrl.Result{}, err
	}
	url := fmt.Sprintf("%s/%s", jobs.DVCRHost, job.Repository)
	if msg := st.Apply(out, url); msg != "" {
		rec.Event(obj, corev1.EventTypeWarning, "ImportFailed", msg)
		log.Info("import failed", "reason", out.Reason, "message", msg)
	}
	switch out.Phase {
	case Succeeded:
		rec.Eventf(obj, corev1.EventTypeNormal, "Ready", "Imported a %s image of %s into %s", out.Result.Format, st.Size.Unpacked, url)
		log.Info("import finished", "format", out.Result.Format, "size", st.Size.Unpacked, "repository", job.Repository)
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	case Running, Pending, NotStarted:
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	return ctrl.Result{}, nil
}

// Setup registers a reconciler of kind obj that owns its importer pods and
// Secrets (upload Secrets: the gateway records an upload there).
func Setup(mgr ctrl.Manager, name string, obj client.Object, r interface {
	Reconcile(context.Context, ctrl.Request) (ctrl.Result, error)
}) error {
	return ctrl.NewControllerManagedBy(mgr).Named(name).For(obj).Owns(&corev1.Pod{}).Owns(&corev1.Secret{}).Complete(ctrlreconcile.QuietConflicts(reconcilerFunc(r.Reconcile)))
}

type reconcilerFunc func(context.Context, ctrl.Request) (ctrl.Result, error)

func (f reconcilerFunc) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return f(ctx, req)
}

// tagDigester is the in-process registry's look-up of a tag.
type tagDigester interface {
	TagDigest(repo, tag string) (string, error)
}

// backfillDigest records the digest of an image that became Ready before
// the platform recorded digests (readers pull by digest only, and would
// refuse it). The tag is trusted this once, at upgrade: what it names still
// passes the image cache's checks and the launcher's explicit block graph.
// Without the registry in this process (split mode) the image keeps
// telling readers to recreate it.
func backfillDigest(ctx context.Context, jobs *Env, obj client.Object, job *Job, st ImageStatus, rec record.EventRecorder) {
	td, ok := jobs.Registry.(tagDigester)
	if !ok {
		return
	}
	d, err := td.TagDigest(job.Repository, string(obj.GetUID()))
	if err != nil {
		rec.Eventf(obj, corev1.EventTypeWarning, "DigestUnknown", "The image was imported by an older version and its digest cannot be read (%v): recreate it", err)
		return
	}
	*st.Digest = d
	rec.Eventf(obj, corev1.EventTypeNormal, "DigestRecorded", "Recorded the digest %s of an image imported by an older version", d)
	ctrl.LoggerFrom(ctx).Info("digest recorded for an image imported by an older version", "digest", d)
}
