package client_test

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtlab/dvp/api/client/clientset/versioned/fake"
	"github.com/virtlab/dvp/api/v1alpha2"
)

// The generated clientset is not used by the platform itself, so this test is what
// keeps it compiling against the types and its resource names and scopes in step
// with the CRDs.
func TestFakeClientsetCreatesAndGetsVirtualMachine(t *testing.T) {
	ctx := context.Background()
	vms := fake.NewSimpleClientset().VirtualizationV1alpha2().VirtualMachines("demo")

	want := &v1alpha2.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Name: "vm1", Namespace: "demo"},
		Spec: v1alpha2.VirtualMachineSpec{
			RunPolicy:               v1alpha2.RunPolicyManual,
			VirtualMachineClassName: "generic",
			BlockDeviceRefs:         []v1alpha2.BlockDeviceSpecRef{{Kind: v1alpha2.BlockDeviceKindVirtualDisk, Name: "root"}},
		},
	}
	if _, err := vms.Create(ctx, want, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}

	got, err := vms.Get(ctx, "vm1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if !equality.Semantic.DeepEqual(got.Spec, want.Spec) {
		t.Errorf("spec after a round trip = %+v, want %+v", got.Spec, want.Spec)
	}

	got.Status.Phase = v1alpha2.VirtualMachinePhaseRunning
	if _, err := vms.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status: %v", err)
	}
	list, err := vms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].Status.Phase != v1alpha2.VirtualMachinePhaseRunning {
		t.Errorf("list = %+v, want vm1 Running", list.Items)
	}

	// Another namespace does not see it.
	if _, err := fake.NewSimpleClientset(got).VirtualizationV1alpha2().VirtualMachines("other").Get(ctx, "vm1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get from another namespace: err = %v, want NotFound", err)
	}
}

func TestFakeClientsetClusterScopedKind(t *testing.T) {
	ctx := context.Background()
	classes := fake.NewSimpleClientset().VirtualizationV1alpha2().VirtualMachineClasses()

	class := &v1alpha2.VirtualMachineClass{ObjectMeta: metav1.ObjectMeta{Name: "generic"}}
	if _, err := classes.Create(ctx, class, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	got, err := classes.Get(ctx, "generic", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.Namespace != "" {
		t.Errorf("namespace = %q, want none for a cluster-scoped kind", got.Namespace)
	}
}
