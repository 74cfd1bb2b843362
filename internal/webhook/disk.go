package webhook

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/virtlab/dvp/api/v1alpha2"
)

// diskValidator admits VirtualDisks.
type diskValidator struct{}

var _ admission.Validator[*v1alpha2.VirtualDisk] = (*diskValidator)(nil)

var sizePath = field.NewPath("spec", "persistentVolumeClaim", "size")

func (v *diskValidator) ValidateCreate(_ context.Context, vd *v1alpha2.VirtualDisk) (admission.Warnings, error) {
	var errs field.ErrorList
	size := vd.Spec.PersistentVolumeClaim.Size
	if vd.Spec.DataSource == nil && size == nil {
		errs = append(errs, field.Required(sizePath,
			"if the data source is not specified, it's necessary to set spec.PersistentVolumeClaim.size to create blank virtual disk"))
	}
	if size != nil && size.Sign() <= 0 {
		errs = append(errs, field.Invalid(sizePath, size.String(), "must be greater than 0"))
	}
	return nil, invalid("VirtualDisk", vd.Name, errs)
}

func (v *diskValidator) ValidateUpdate(_ context.Context, old, vd *v1alpha2.VirtualDisk) (admission.Warnings, error) {
	var errs field.ErrorList
	if old.DeletionTimestamp != nil && !equality.Semantic.DeepEqual(old.Spec, vd.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "spec cannot be changed while the VirtualDisk is being deleted"))
		return nil, invalid("VirtualDisk", vd.Name, errs)
	}
	oldSize, size := old.Spec.PersistentVolumeClaim.Size, vd.Spec.PersistentVolumeClaim.Size
	switch {
	case oldSize != nil && size == nil:
		errs = append(errs, field.Required(sizePath, "the size cannot be removed once set"))
	case size != nil && size.Sign() <= 0:
		errs = append(errs, field.Invalid(sizePath, size.String(), "must be greater than 0"))
	case oldSize != nil && size.Cmp(*oldSize) < 0:
		// Upstream allows a shrink while the disk is still provisioning; a
		// PersistentVolumeClaim can never shrink, so neither can the disk.
		errs = append(errs, field.Invalid(sizePath, size.String(), fmt.Sprintf(
			"spec.persistentVolumeClaim.size value (%s) should be greater than or equal to the current value (%s)", size, oldSize)))
	}
	if oldSize != nil && size != nil && size.Cmp(*oldSize) != 0 && old.Status.Phase == v1alpha2.VirtualDiskPhaseMigrating {
		errs = append(errs, field.Forbidden(sizePath, "the size cannot be changed while the disk is migrating"))
	}
	if !equality.Semantic.DeepEqual(old.Spec.DataSource, vd.Spec.DataSource) {
		switch {
		case diskProvisioned(old):
			errs = append(errs, field.Forbidden(field.NewPath("spec", "dataSource"),
				"data source cannot be changed if the VirtualDisk has already been provisioned"))
		case old.Status.Target.PersistentVolumeClaim != "":
			// The claim was sized for this source and is being written
			// from it (for HTTP, registry and upload sources, from the
			// copy already imported into DVCR).
			errs = append(errs, field.Forbidden(field.NewPath("spec", "dataSource"),
				"data source cannot be changed once the VirtualDisk's PersistentVolumeClaim has been made for it: delete and recreate the disk"))
		}
	}
	return nil, invalid("VirtualDisk", vd.Name, errs)
}

func (v *diskValidator) ValidateDelete(context.Context, *v1alpha2.VirtualDisk) (admission.Warnings, error) {
	return nil, nil
}

func diskProvisioned(vd *v1alpha2.VirtualDisk) bool {
	switch vd.Status.Phase {
	case v1alpha2.VirtualDiskPhaseReady, v1alpha2.VirtualDiskPhaseMigrating, v1alpha2.VirtualDiskPhasePVCLost, v1alpha2.VirtualDiskPhaseResizing:
		return true
	}
	return false
}
