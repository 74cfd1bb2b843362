package reconcile

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StatusWriter remembers an object's status at the start of a reconcile and
// writes it back at the end if, and only if, it changed: one write per
// reconcile, none when nothing happened (a reconcile that writes every time
// wakes its own watch forever).
type StatusWriter struct {
	client client.Client
	obj    client.Object
	value  func() any
	gen    *int64
	before any
}

// SnapshotStatus starts a StatusWriter. value returns a deep copy of obj's
// status (for example func() any { return *vm.Status.DeepCopy() }); gen, if
// not nil, points at status.observedGeneration, which Write sets to the
// object's generation before comparing.
func SnapshotStatus(c client.Client, obj client.Object, value func() any, gen *int64) *StatusWriter {
	return &StatusWriter{client: c, obj: obj, value: value, gen: gen, before: value()}
}

// Changed reports whether the status differs from the snapshot.
func (w *StatusWriter) Changed() bool {
	if w.gen != nil {
		*w.gen = w.obj.GetGeneration()
	}
	return !equality.Semantic.DeepEqual(w.before, w.value())
}

// Write updates the status subresource if it changed, for use in a defer:
// the first error of the reconcile wins and is kept in *errp; a write error
// is recorded only when the reconcile itself succeeded. An update, not a
// merge patch, on purpose: a patch carries only changed fields, so zero
// values the printer columns must show (cdrom: false) would never reach the
// API. The controller owns the status, and a conflict just requeues (see
// QuietConflicts). An object deleted meanwhile is not an error.
func (w *StatusWriter) Write(ctx context.Context, errp *error) {
	if !w.Changed() {
		return
	}
	err := w.client.Status().Update(ctx, w.obj)
	if err != nil && !apierrors.IsNotFound(err) && *errp == nil {
		*errp = err
	}
}
