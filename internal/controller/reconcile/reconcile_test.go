package reconcile

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/virtlab/dvp/api/v1alpha2"
)

func newClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha2.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).
		WithStatusSubresource(&v1alpha2.VirtualMachineClass{}).Build()
}

func class(gen int64) *v1alpha2.VirtualMachineClass {
	return &v1alpha2.VirtualMachineClass{ObjectMeta: metav1.ObjectMeta{Name: "generic", Generation: gen}}
}

func TestStatusWriter(t *testing.T) {
	stored := errors.New("reconcile failed")
	cases := []struct {
		name      string
		change    func(*v1alpha2.VirtualMachineClass)
		gen       int64
		err       error
		wantPhase v1alpha2.VirtualMachineClassPhase
		wantGen   int64
		wantErr   error
	}{
		{name: "unchanged writes nothing", change: func(*v1alpha2.VirtualMachineClass) {}, gen: 0},
		{name: "phase written", change: func(c *v1alpha2.VirtualMachineClass) { c.Status.Phase = v1alpha2.VirtualMachineClassPhaseReady },
			gen: 0, wantPhase: v1alpha2.VirtualMachineClassPhaseReady},
		{name: "new generation alone is a change", change: func(*v1alpha2.VirtualMachineClass) {}, gen: 3, wantGen: 3},
		{name: "reconcile error kept, status still written", change: func(c *v1alpha2.VirtualMachineClass) { c.Status.Phase = v1alpha2.VirtualMachineClassPhaseReady },
			err: stored, wantPhase: v1alpha2.VirtualMachineClassPhaseReady, wantErr: stored},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			cl := newClient(t, class(c.gen))
			obj := &v1alpha2.VirtualMachineClass{}
			if err := cl.Get(ctx, client.ObjectKey{Name: "generic"}, obj); err != nil {
				t.Fatal(err)
			}
			rv := obj.ResourceVersion
			w := SnapshotStatus(cl, obj, func() any { return *obj.Status.DeepCopy() }, &obj.Status.ObservedGeneration)
			c.change(obj)
			err := c.err
			w.Write(ctx, &err)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("error = %v, want %v", err, c.wantErr)
			}
			got := &v1alpha2.VirtualMachineClass{}
			if err := cl.Get(ctx, client.ObjectKey{Name: "generic"}, got); err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != c.wantPhase || got.Status.ObservedGeneration != c.wantGen {
				t.Fatalf("stored status = %+v, want phase %q generation %d", got.Status, c.wantPhase, c.wantGen)
			}
			wrote := got.ResourceVersion != rv
			if want := c.wantPhase != "" || c.wantGen != 0; wrote != want {
				t.Fatalf("wrote = %v, want %v", wrote, want)
			}
		})
	}
}

func TestStatusWriterObjectGone(t *testing.T) {
	ctx := context.Background()
	cl := newClient(t)
	obj := class(1)
	w := SnapshotStatus(cl, obj, func() any { return *obj.Status.DeepCopy() }, &obj.Status.ObservedGeneration)
	obj.Status.Phase = v1alpha2.VirtualMachineClassPhaseReady
	var err error
	w.Write(ctx, &err)
	if err != nil {
		t.Fatalf("deleted object: %v", err)
	}
}

func TestConditions(t *testing.T) {
	type condType string
	var conds []metav1.Condition
	SetCondition(&conds, 2, condType("Ready"), false, "", "waiting")
	c := Condition(conds, condType("Ready"))
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "Ready" || c.Message != "waiting" || c.ObservedGeneration != 2 {
		t.Fatalf("condition = %+v", c)
	}
	first := c.LastTransitionTime
	SetCondition(&conds, 3, condType("Ready"), false, "Waiting", "still waiting")
	if c := Condition(conds, condType("Ready")); c.LastTransitionTime != first || c.Reason != "Waiting" {
		t.Fatalf("same status moved the transition time or lost the reason: %+v", c)
	}
	SetCondition(&conds, 3, condType("Ready"), true, "Ready", "")
	if !ConditionTrue(conds, condType("Ready")) || ConditionTrue(conds, condType("Other")) {
		t.Fatalf("ConditionTrue wrong: %+v", conds)
	}
	RemoveCondition(&conds, condType("Ready"))
	if len(conds) != 0 || Condition(conds, condType("Ready")) != nil {
		t.Fatalf("not removed: %+v", conds)
	}
}

func TestFinalizers(t *testing.T) {
	const f = "virtualization.deckhouse.io/test"
	cases := []struct {
		name      string
		has       bool
		ensure    bool
		wantDid   bool
		wantAfter bool
	}{
		{"ensure adds", false, true, true, true},
		{"ensure keeps", true, true, false, true},
		{"remove removes", true, false, true, false},
		{"remove absent", false, false, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			start := class(1)
			if c.has {
				start.Finalizers = []string{"other", f}
			} else {
				start.Finalizers = []string{"other"}
			}
			cl := newClient(t, start)
			obj := &v1alpha2.VirtualMachineClass{}
			if err := cl.Get(ctx, client.ObjectKey{Name: "generic"}, obj); err != nil {
				t.Fatal(err)
			}
			// Status computed in memory before the finalizer write survives it.
			obj.Status.Phase = v1alpha2.VirtualMachineClassPhaseReady
			var did bool
			var err error
			if c.ensure {
				did, err = EnsureFinalizer(ctx, cl, obj, f)
			} else {
				did, err = RemoveFinalizer(ctx, cl, obj, f)
			}
			if err != nil || did != c.wantDid {
				t.Fatalf("did = %v, err = %v; want %v", did, err, c.wantDid)
			}
			if obj.Status.Phase != v1alpha2.VirtualMachineClassPhaseReady {
				t.Fatalf("in-memory status lost: %+v", obj.Status)
			}
			stored := &v1alpha2.VirtualMachineClass{}
			if err := cl.Get(ctx, client.ObjectKey{Name: "generic"}, stored); err != nil {
				t.Fatal(err)
			}
			if stored.ResourceVersion != obj.ResourceVersion {
				t.Fatalf("resourceVersion not carried back: %s vs %s", obj.ResourceVersion, stored.ResourceVersion)
			}
			has := false
			for _, x := range stored.Finalizers {
				has = has || x == f
			}
			if has != c.wantAfter || stored.Finalizers[0] != "other" {
				t.Fatalf("stored finalizers = %v", stored.Finalizers)
			}
		})
	}
}

func TestEnsureFinalizerStaleObject(t *testing.T) {
	ctx := context.Background()
	cl := newClient(t, class(1))
	obj := &v1alpha2.VirtualMachineClass{}
	if err := cl.Get(ctx, client.ObjectKey{Name: "generic"}, obj); err != nil {
		t.Fatal(err)
	}
	stale := obj.DeepCopy()
	obj.Finalizers = []string{"someone-else"}
	if err := cl.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	// A merge patch replaces the list whole: without the optimistic lock the
	// stale copy would drop someone-else's finalizer.
	if _, err := EnsureFinalizer(ctx, cl, stale, "mine"); !apierrors.IsConflict(err) {
		t.Fatalf("stale write: err = %v, want a conflict", err)
	}
	if controllerutilHas(stale, "mine") {
		t.Fatal("a failed patch left the finalizer on the in-memory object")
	}
}

func controllerutilHas(o client.Object, f string) bool {
	for _, x := range o.GetFinalizers() {
		if x == f {
			return true
		}
	}
	return false
}

// A disk that needs two finalizers gets them in one write, keeping the one
// it had.
func TestEnsureFinalizers(t *testing.T) {
	ctx := context.Background()
	start := class(1)
	start.Finalizers = []string{"a"}
	cl := newClient(t, start)
	obj := &v1alpha2.VirtualMachineClass{}
	if err := cl.Get(ctx, client.ObjectKey{Name: "generic"}, obj); err != nil {
		t.Fatal(err)
	}
	rv := obj.ResourceVersion
	did, err := EnsureFinalizer(ctx, cl, obj, "a", "b", "c")
	if err != nil || !did {
		t.Fatalf("did = %v, err = %v", did, err)
	}
	stored := &v1alpha2.VirtualMachineClass{}
	if err := cl.Get(ctx, client.ObjectKey{Name: "generic"}, stored); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stored.Finalizers, ","); got != "a,b,c" || strings.Join(obj.Finalizers, ",") != got {
		t.Fatalf("stored %v, in memory %v", stored.Finalizers, obj.Finalizers)
	}
	if mustAtoi(t, stored.ResourceVersion) != mustAtoi(t, rv)+1 {
		t.Fatalf("resourceVersion %s -> %s: want one write", rv, stored.ResourceVersion)
	}
	if did, err := EnsureFinalizer(ctx, cl, obj, "b", "c"); did || err != nil {
		t.Fatalf("all present: did = %v, err = %v", did, err)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
