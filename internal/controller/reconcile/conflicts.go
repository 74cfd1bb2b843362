package reconcile

import (
	"context"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// conflictRetry is how soon an object whose write lost an optimistic-lock
// race is reconciled again, from the newer version the cache will hold.
const conflictRetry = 100 * time.Millisecond

// QuietConflicts retries, without an error, a reconcile that failed only
// because the object changed under it ("the object has been modified"),
// which is how optimistic concurrency works, or because a new namespace has
// no default service account yet. controller-runtime would log either as
// "Reconciler error" and back off exponentially.
func QuietConflicts(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		res, err := r.Reconcile(ctx, req)
		switch {
		case err == nil:
		case apierrors.IsConflict(err):
			return reconcile.Result{RequeueAfter: conflictRetry}, nil
		case noServiceAccountYet(err):
			return reconcile.Result{RequeueAfter: serviceAccountRetry}, nil
		}
		return res, err
	})
}

// serviceAccountRetry: kube-controller-manager makes a new namespace's
// default service account within a second or two.
const serviceAccountRetry = time.Second

// noServiceAccountYet is the refusal of a pod in a namespace created a
// moment ago, before its default service account exists: a wait, not an
// error.
func noServiceAccountYet(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "error looking up service account") &&
		strings.Contains(err.Error(), "not found")
}
