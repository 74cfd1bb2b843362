package webhook

import (
	"context"
	"regexp"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/virtlab/dvp/api/v1alpha2"
)

// Image names become registry repository path components, which is why they
// are narrower than Kubernetes names.
var imageNameRE = regexp.MustCompile(`^[0-9a-zA-Z-]+$`)

func validateImageName(kind, name string) field.ErrorList {
	if imageNameRE.MatchString(name) {
		return nil
	}
	return field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), name,
		kind+" names may contain only letters, digits and '-' (no dots)")}
}

type imageValidator struct{}

var _ admission.Validator[*v1alpha2.VirtualImage] = (*imageValidator)(nil)

func (v *imageValidator) ValidateCreate(_ context.Context, vi *v1alpha2.VirtualImage) (admission.Warnings, error) {
	return nil, invalid("VirtualImage", vi.Name, validateImageName("VirtualImage", vi.Name))
}

func (v *imageValidator) ValidateUpdate(_ context.Context, old, vi *v1alpha2.VirtualImage) (admission.Warnings, error) {
	var errs field.ErrorList
	if equality.Semantic.DeepEqual(old.Spec, vi.Spec) {
		return nil, nil
	}
	switch {
	case old.DeletionTimestamp != nil:
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "spec cannot be changed if the VirtualImage is the process of termination"))
	case old.Status.Phase == v1alpha2.VirtualImagePhaseReady:
		if !equality.Semantic.DeepEqual(old.Spec.DataSource, vi.Spec.DataSource) {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "dataSource"), "data source cannot be changed if the VirtualImage has already been provisioned"))
		}
		if !equality.Semantic.DeepEqual(old.Spec.PersistentVolumeClaim, vi.Spec.PersistentVolumeClaim) {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "persistentVolumeClaim", "storageClassName"), "storage class cannot be changed if the VirtualImage has already been provisioned"))
		}
		if old.Spec.Storage != vi.Spec.Storage {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "storage"), "storage cannot be changed if the VirtualImage has already been provisioned"))
		}
	}
	return nil, invalid("VirtualImage", vi.Name, errs)
}

func (v *imageValidator) ValidateDelete(context.Context, *v1alpha2.VirtualImage) (admission.Warnings, error) {
	return nil, nil
}

type clusterImageValidator struct{}

var _ admission.Validator[*v1alpha2.ClusterVirtualImage] = (*clusterImageValidator)(nil)

func (v *clusterImageValidator) ValidateCreate(_ context.Context, cvi *v1alpha2.ClusterVirtualImage) (admission.Warnings, error) {
	return nil, invalid("ClusterVirtualImage", cvi.Name, validateImageName("ClusterVirtualImage", cvi.Name))
}

func (v *clusterImageValidator) ValidateUpdate(_ context.Context, old, cvi *v1alpha2.ClusterVirtualImage) (admission.Warnings, error) {
	if equality.Semantic.DeepEqual(old.Spec, cvi.Spec) {
		return nil, nil
	}
	var errs field.ErrorList
	switch {
	case old.DeletionTimestamp != nil:
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "spec cannot be changed if the ClusterVirtualImage is the process of termination"))
	case old.Status.Phase == v1alpha2.ClusterVirtualImagePhaseReady:
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "ClusterVirtualImage is in a Ready state: configuration changes are not available"))
	}
	return nil, invalid("ClusterVirtualImage", cvi.Name, errs)
}

func (v *clusterImageValidator) ValidateDelete(context.Context, *v1alpha2.ClusterVirtualImage) (admission.Warnings, error) {
	return nil, nil
}
