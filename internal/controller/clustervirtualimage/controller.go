package clustervirtualimage

import (
	"context"

	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/controller/importjob"
	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/internal/registry"
	"github.com/virtlab/dvp/internal/upload"
)

// Reconciler reconciles ClusterVirtualImages.
type Reconciler struct {
	Client   client.Client
	Jobs     *importjob.Env
	Recorder record.EventRecorder
	// Uploads, when set, serves images with an Upload data source.
	Uploads *importjob.Uploads
}

// SetupWithManager registers the reconciler; importer pods it owns trigger it.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return importjob.Setup(mgr, "clustervirtualimage", &v1alpha2.ClusterVirtualImage{}, r)
}

func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cvi := &v1alpha2.ClusterVirtualImage{}
	if err := r.Client.Get(ctx, req.NamespacedName, cvi); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return importjob.ReconcileImage(ctx, r.Client, r.Jobs, r.Recorder, image{cvi, r.Uploads})
}

// image adapts a ClusterVirtualImage to importjob.ReconcileImage.
type image struct {
	cvi     *v1alpha2.ClusterVirtualImage
	uploads *importjob.Uploads
}

func (i image) Object() client.Object      { return i.cvi }
func (i image) StatusValue() any           { return *i.cvi.Status.DeepCopy() }
func (i image) ObservedGeneration() *int64 { return &i.cvi.Status.ObservedGeneration }
func (i image) ResetStatus()               { i.cvi.Status = v1alpha2.ClusterVirtualImageStatus{} }
func (i image) Unsupported() string        { return "" }

func (i image) Status() importjob.ImageStatus {
	s := &i.cvi.Status
	return importjob.ImageStatus{
		Phase: (*string)(&s.Phase), Progress: &s.Progress, DownloadSpeed: &s.DownloadSpeed, Size: &s.Size,
		Format: &s.Format, CDROM: &s.CDROM, RegistryURL: &s.Target.RegistryURL, Digest: &s.Target.Digest, Conditions: &s.Conditions,
		Generation: i.cvi.Generation,
	}
}

// Job: cluster images are imported by pods in the platform namespace,
// except from a VirtualDisk: a pod mounts claims of its own namespace only,
// so that importer runs beside the disk (still owned by the image, which
// deletes it).
func (i image) Job() *importjob.Job {
	return &importjob.Job{
		Owner: i.cvi, Namespace: importerNamespace(i.cvi), Name: "cvi-importer-" + i.cvi.Name,
		Repository: registry.CVIRepository(i.cvi.Name), Tag: string(i.cvi.UID),
	}
}

func importerNamespace(cvi *v1alpha2.ClusterVirtualImage) string {
	if ref := cvi.Spec.DataSource.ObjectRef; cvi.Spec.DataSource.Type == v1alpha2.DataSourceTypeObjectRef && ref != nil &&
		ref.Kind == v1alpha2.ObjectRefKindVirtualDisk && ref.Namespace != "" {
		return ref.Namespace
	}
	return platform.Namespace
}

func (i image) DescribeSource(ctx context.Context, c client.Client, job *importjob.Job, st importjob.ImageStatus) (bool, error) {
	ds := i.cvi.Spec.DataSource
	src := importjob.Source{Type: ds.Type, HTTP: ds.HTTP}
	if ci := ds.ContainerImage; ci != nil {
		src.Image, src.CABundle = ci.Image, ci.CABundle
		if ci.ImagePullSecret != nil && ci.ImagePullSecret.Name != "" {
			ns := ci.ImagePullSecret.Namespace
			if ns == "" {
				ns = platform.Namespace
			}
			src.PullSecret = &importjob.PullSecret{Namespace: ns, Name: ci.ImagePullSecret.Name}
		}
	}
	if ref := ds.ObjectRef; ref != nil {
		src.RefKind, src.RefName, src.RefNamespace = string(ref.Kind), ref.Name, ref.Namespace
	}
	return importjob.DescribeSource(ctx, c, job, st, src)
}

// Upload says where the upload Secret lives, for an Upload data source.
func (i image) Upload() *importjob.UploadTarget {
	if i.cvi.Spec.DataSource.Type != v1alpha2.DataSourceTypeUpload {
		return nil
	}
	return &importjob.UploadTarget{Uploads: i.uploads, Kind: "ClusterVirtualImage", Namespace: platform.Namespace, SecretName: upload.SecretName("cvi", i.cvi.Name)}
}

func (i image) SetUploadURLs(command string, urls *v1alpha2.ImageUploadURLs) {
	i.cvi.Status.UploadCommand, i.cvi.Status.ImageUploadURLs = command, urls
}
