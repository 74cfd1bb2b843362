package webhook

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/internal/sizing"
)

// classValidator admits VirtualMachineClasses.
type classValidator struct{ reader client.Reader }

var _ admission.Validator[*v1alpha2.VirtualMachineClass] = (*classValidator)(nil)

func (v *classValidator) ValidateCreate(ctx context.Context, c *v1alpha2.VirtualMachineClass) (admission.Warnings, error) {
	return v.validate(ctx, c)
}

func (v *classValidator) ValidateUpdate(ctx context.Context, _, c *v1alpha2.VirtualMachineClass) (admission.Warnings, error) {
	return v.validate(ctx, c)
}

func (v *classValidator) ValidateDelete(context.Context, *v1alpha2.VirtualMachineClass) (admission.Warnings, error) {
	return nil, nil
}

func (v *classValidator) validate(ctx context.Context, c *v1alpha2.VirtualMachineClass) (admission.Warnings, error) {
	errs := sizing.ValidatePolicies(c.Spec.SizingPolicies, field.NewPath("spec", "sizingPolicies"))
	if c.Annotations[platform.DefaultClassAnnotation] == "true" {
		var list v1alpha2.VirtualMachineClassList
		if err := v.reader.List(ctx, &list); err != nil {
			return nil, fmt.Errorf("listing VirtualMachineClasses: %w", err)
		}
		for _, o := range list.Items {
			if o.Name != c.Name && o.Annotations[platform.DefaultClassAnnotation] == "true" {
				errs = append(errs, field.Forbidden(field.NewPath("metadata", "annotations").Key(platform.DefaultClassAnnotation), fmt.Sprintf(
					"multiple default virtual machine classes are prohibited: %q is already the default; remove the annotation there first", o.Name)))
			}
		}
	}
	return nil, invalid("VirtualMachineClass", c.Name, errs)
}
