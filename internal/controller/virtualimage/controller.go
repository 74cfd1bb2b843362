package virtualimage

import (
	"context"
	"fmt"

	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/controller/importjob"
	"github.com/virtlab/dvp/internal/registry"
	"github.com/virtlab/dvp/internal/upload"
)

// Reconciler reconciles VirtualImages.
type Reconciler struct {
	Client   client.Client
	Jobs     *importjob.Env
	Recorder record.EventRecorder
	// Uploads, when set, serves images with an Upload data source.
	Uploads *importjob.Uploads
}

// SetupWithManager registers the reconciler; importer pods it owns trigger it.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return importjob.Setup(mgr, "virtualimage", &v1alpha2.VirtualImage{}, r)
}

func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	vi := &v1alpha2.VirtualImage{}
	if err := r.Client.Get(ctx, req.NamespacedName, vi); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return importjob.ReconcileImage(ctx, r.Client, r.Jobs, r.Recorder, image{vi, r.Uploads})
}

// image adapts a VirtualImage to importjob.ReconcileImage.
type image struct {
	vi      *v1alpha2.VirtualImage
	uploads *importjob.Uploads
}

func (i image) Object() client.Object      { return i.vi }
func (i image) StatusValue() any           { return *i.vi.Status.DeepCopy() }
func (i image) ObservedGeneration() *int64 { return &i.vi.Status.ObservedGeneration }
func (i image) ResetStatus()               { i.vi.Status = v1alpha2.VirtualImageStatus{} }

func (i image) Status() importjob.ImageStatus {
	s := &i.vi.Status
	return importjob.ImageStatus{
		Phase: (*string)(&s.Phase), Progress: &s.Progress, DownloadSpeed: &s.DownloadSpeed, Size: &s.Size,
		Format: &s.Format, CDROM: &s.CDROM, RegistryURL: &s.Target.RegistryURL, Digest: &s.Target.Digest, Conditions: &s.Conditions,
		Generation: i.vi.Generation,
	}
}

func (i image) Job() *importjob.Job {
	return &importjob.Job{
		Owner: i.vi, Namespace: i.vi.Namespace, Name: "vi-importer-" + i.vi.Name,
		Repository: registry.VIRepository(i.vi.Namespace, i.vi.Name), Tag: string(i.vi.UID),
	}
}

func (i image) Unsupported() string {
	if i.vi.Spec.Storage != v1alpha2.StorageContainerRegistry {
		return fmt.Sprintf("storage %s is not supported by this platform yet: use storage: ContainerRegistry", i.vi.Spec.Storage)
	}
	return ""
}

func (i image) DescribeSource(ctx context.Context, c client.Client, job *importjob.Job, st importjob.ImageStatus) (bool, error) {
	ds := i.vi.Spec.DataSource
	var pull *importjob.PullSecret
	if ds.ContainerImage != nil && ds.ContainerImage.ImagePullSecret != nil {
		pull = &importjob.PullSecret{Namespace: i.vi.Namespace, Name: ds.ContainerImage.ImagePullSecret.Name}
	}
	src := importjob.Source{Type: ds.Type, HTTP: ds.HTTP, PullSecret: pull, RefNamespace: i.vi.Namespace}
	if ds.ContainerImage != nil {
		src.Image, src.CABundle = ds.ContainerImage.Image, ds.ContainerImage.CABundle
	}
	if ds.ObjectRef != nil {
		src.RefKind, src.RefName = string(ds.ObjectRef.Kind), ds.ObjectRef.Name
	}
	return importjob.DescribeSource(ctx, c, job, st, src)
}

// Upload says where the upload Secret lives, for an Upload data source.
func (i image) Upload() *importjob.UploadTarget {
	if i.vi.Spec.DataSource.Type != v1alpha2.DataSourceTypeUpload {
		return nil
	}
	return &importjob.UploadTarget{Uploads: i.uploads, Kind: "VirtualImage", Namespace: i.vi.Namespace, SecretName: upload.SecretName("vi", i.vi.Name)}
}

func (i image) SetUploadURLs(command string, urls *v1alpha2.ImageUploadURLs) {
	i.vi.Status.UploadCommand, i.vi.Status.ImageUploadURLs = command, urls
}
