package importjob

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"
)

// PullSecret names an image pull secret.
type PullSecret struct{ Namespace, Name string }

// Source is a data source in a form common to all image kinds.
type Source struct {
	Type       v1alpha2.DataSourceType
	HTTP       *v1alpha2.DataSourceHTTP
	Image      string
	CABundle   []byte
	PullSecret *PullSecret
	// RefKind/RefName/RefNamespace: an ObjectRef source.
	RefKind, RefName, RefNamespace string
}

// DescribeSource fills the job from src and records DatasourceReady. It
// returns false while the source cannot be used yet.
func DescribeSource(ctx context.Context, c client.Client, job *Job, st ImageStatus, src Source) (bool, error) {
	switch src.Type {
	case v1alpha2.DataSourceTypeHTTP:
		job.Kind, job.URL, job.CABundle = SourceHTTP, src.HTTP.URL, src.HTTP.CABundle
		job.Checksums = src.HTTP.Checksum.Pairs()
	case v1alpha2.DataSourceTypeContainerImage:
		job.Kind, job.URL, job.CABundle = SourceRegistry, src.Image, src.CABundle
		if ps := src.PullSecret; ps != nil && ps.Name != "" {
			cfg, err := DockerConfig(ctx, c, ps.Namespace, ps.Name)
			if err != nil {
				st.SetDatasource(false, "ContainerRegistrySecretNotFound", err.Error())
				return false, nil
			}
			job.DockerConfig = cfg
		}
	case v1alpha2.DataSourceTypeObjectRef:
		ref, ok, msg := ResolveImageRef(ctx, c, src.RefKind, src.RefNamespace, src.RefName)
		if !ok {
			reason := "ImageNotReady"
			if src.RefKind == string(v1alpha2.ObjectRefKindClusterVirtualImage) {
				reason = "ClusterImageNotReady"
			}
			st.SetDatasource(false, reason, msg)
			return false, nil
		}
		job.Kind, job.SourceRepository = SourceDVCR, ref.Repository
		job.URL = fmt.Sprintf("%s/%s:%s", job.dvcrAddress, ref.Repository, ref.Tag)
	default:
		st.SetDatasource(false, "DatasourceNotReady", fmt.Sprintf("data source type %s is not supported by this platform yet", src.Type))
		return false, nil
	}
	st.SetDatasource(true, "DatasourceReady", "")
	return true, nil
}
