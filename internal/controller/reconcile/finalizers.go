package reconcile

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// EnsureFinalizer adds the finalizers fs that obj lacks, in one patch, and
// reports whether it added any. The patch goes out from a copy, so obj keeps
// the status this reconcile has computed so far (a patch response carries
// the stored status) and gets only the new resourceVersion. The patch
// demands the resourceVersion it read: finalizers are a list, and a merge
// patch replaces lists whole, so without the lock it could drop another
// controller's finalizer added meanwhile.
func EnsureFinalizer(ctx context.Context, c client.Client, obj client.Object, fs ...string) (bool, error) {
	var missing []string
	for _, f := range fs {
		if !controllerutil.ContainsFinalizer(obj, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		return false, nil
	}
	return true, patchFinalizers(ctx, c, obj, func(o client.Object) {
		for _, f := range missing {
			controllerutil.AddFinalizer(o, f)
		}
	})
}

// RemoveFinalizer removes finalizer f from obj in the API if it is there and
// reports whether it did. An object already gone is not an error: the last
// finalizer's removal is what lets the API delete it.
func RemoveFinalizer(ctx context.Context, c client.Client, obj client.Object, f string) (bool, error) {
	if !controllerutil.ContainsFinalizer(obj, f) {
		return false, nil
	}
	err := patchFinalizers(ctx, c, obj, func(o client.Object) { controllerutil.RemoveFinalizer(o, f) })
	return true, client.IgnoreNotFound(err)
}

func patchFinalizers(ctx context.Context, c client.Client, obj client.Object, change func(client.Object)) error {
	orig, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return apierrors.NewBadRequest("object cannot be copied")
	}
	patch := client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
	next, _ := obj.DeepCopyObject().(client.Object)
	change(next)
	if err := c.Patch(ctx, next, patch); err != nil {
		return err
	}
	change(obj)
	obj.SetResourceVersion(next.GetResourceVersion())
	return nil
}
