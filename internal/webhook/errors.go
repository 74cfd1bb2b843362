package webhook

import (
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/virtlab/dvp/api/v1alpha2"
)

// invalid turns field errors into the apiserver's Invalid status, which
// kubectl prints with every field path and message; nil when errs is empty.
func invalid(kind, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(schema.GroupKind{Group: v1alpha2.GroupVersion.Group, Kind: kind}, name, errs)
}
