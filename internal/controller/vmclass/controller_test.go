package vmclass

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/platform"
)

// TestLifecycle takes a class from no nodes to Ready to deleted and checks
// the phase, the finalizer, which reconciles write the status, and that
// only the actions are logged, once each.
func TestLifecycle(t *testing.T) {
	class := &v1alpha2.VirtualMachineClass{ObjectMeta: metav1.ObjectMeta{Name: "generic", Generation: 1}}
	c := fake.NewClientBuilder().WithScheme(platform.Scheme()).
		WithStatusSubresource(&v1alpha2.VirtualMachineClass{}).WithObjects(class).Build()
	var lines []string
	ctx := ctrl.LoggerInto(context.Background(), funcr.New(func(_, args string) { lines = append(lines, args) }, funcr.Options{}))
	r := &Reconciler{Client: c}
	req := ctrl.Request{NamespacedName: client.ObjectKey{Name: "generic"}}

	steps := []struct {
		name      string
		before    func()
		wantPhase v1alpha2.VirtualMachineClassPhase
		wantWrite bool
		wantLog   string // "" for no line
	}{
		{"no node", func() {}, v1alpha2.VirtualMachineClassPhasePending, true, ""},
		{"node joins", func() {
			if err := c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}); err != nil {
				t.Fatal(err)
			}
		}, v1alpha2.VirtualMachineClassPhaseReady, true, `"class ready"`},
		{"nothing changed", func() {}, v1alpha2.VirtualMachineClassPhaseReady, false, ""},
		{"deleted", func() {
			if err := c.Delete(ctx, class); err != nil {
				t.Fatal(err)
			}
		}, "", true, `"class released for deletion`},
	}
	for _, s := range steps {
		s.before()
		lines = nil
		cur := &v1alpha2.VirtualMachineClass{}
		if err := c.Get(ctx, req.NamespacedName, cur); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := &v1alpha2.VirtualMachineClass{}
		err := c.Get(ctx, req.NamespacedName, got)
		if s.wantPhase == "" {
			if !apierrors.IsNotFound(err) {
				t.Fatalf("%s: the class is still there (%v): %+v", s.name, err, got)
			}
		} else {
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if got.Status.Phase != s.wantPhase || got.Status.ObservedGeneration != 1 || len(got.Finalizers) != 1 || got.Finalizers[0] != Finalizer {
				t.Errorf("%s: phase %q, observedGeneration %d, finalizers %v", s.name, got.Status.Phase, got.Status.ObservedGeneration, got.Finalizers)
			}
			if wrote := got.ResourceVersion != cur.ResourceVersion; wrote != s.wantWrite {
				t.Errorf("%s: wrote = %v, want %v", s.name, wrote, s.wantWrite)
			}
		}
		switch {
		case s.wantLog == "" && len(lines) > 0:
			t.Errorf("%s: logged %q, want nothing", s.name, lines)
		case s.wantLog != "" && (len(lines) != 1 || !strings.Contains(lines[0], s.wantLog)):
			t.Errorf("%s: logged %q, want one line with %s", s.name, lines, s.wantLog)
		}
	}
}
