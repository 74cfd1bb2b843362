package reconcile

import (
	"context"
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestQuietConflicts(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "virtualmachines"}, "vm", errors.New("the object has been modified"))
	other := errors.New("disk not found")
	cases := []struct {
		name      string
		err       error
		wantErr   bool
		wantAfter bool
	}{
		{"conflict", conflict, false, true},
		{"wrapped conflict", fmt.Errorf("updating status: %w", conflict), false, true},
		{"other error", other, true, false},
		{"no service account yet", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "vi-importer-ubuntu",
			errors.New(`error looking up service account vms/default: serviceaccount "default" not found`)), false, true},
		{"forbidden", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New("RBAC")), true, false},
		{"success", nil, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := QuietConflicts(reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) {
				return reconcile.Result{}, c.err
			}))
			res, err := r.Reconcile(context.Background(), reconcile.Request{})
			if (err != nil) != c.wantErr || (res.RequeueAfter > 0) != c.wantAfter {
				t.Errorf("got %+v, %v", res, err)
			}
		})
	}
}
