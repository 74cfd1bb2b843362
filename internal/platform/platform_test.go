package platform

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestGenericClass(t *testing.T) {
	c := GenericClass()
	if c.GetName() != "generic" || c.GetKind() != "VirtualMachineClass" {
		t.Fatalf("unexpected object %s %s", c.GetKind(), c.GetName())
	}
	if _, ok := c.GetAnnotations()[DefaultClassAnnotation]; ok {
		t.Fatal("generic must not be the default class")
	}
	policies, _, _ := unstructured.NestedSlice(c.Object, "spec", "sizingPolicies")
	if len(policies) != 4 {
		t.Fatalf("want 4 sizing policies, got %d", len(policies))
	}
}
