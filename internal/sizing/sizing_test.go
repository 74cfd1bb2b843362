package sizing

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/virtlab/dvp/api/v1alpha2"
)

func TestTopology(t *testing.T) {
	for _, tc := range []struct {
		cores int32
		want  string
	}{
		{1, ""}, {16, ""}, {17, "multiple of 2"}, {18, ""}, {34, "multiple of 4"}, {36, ""},
		{66, "multiple of 8"}, {248, ""}, {0, "at least 1"}, {256, "at most 248"},
	} {
		errs := ValidateTopology(field.NewPath("cores"), tc.cores)
		if got := errs.ToAggregate(); (got == nil) != (tc.want == "") || (got != nil && !strings.Contains(got.Error(), tc.want)) {
			t.Errorf("cores %d: %v, want %q", tc.cores, got, tc.want)
		}
	}
}

func q(s string) *resource.Quantity { v := resource.MustParse(s); return &v }

func genericLike() *v1alpha2.VirtualMachineClass {
	c := &v1alpha2.VirtualMachineClass{}
	c.Name = "generic"
	def := intstr.FromInt32(20)
	c.Spec.SizingPolicies = []v1alpha2.SizingPolicy{
		{Cores: &v1alpha2.SizingPolicyCores{Min: 1, Max: 4}, CoreFractions: []int{5, 10, 20, 50, 100}, DefaultCoreFraction: &def},
		{Cores: &v1alpha2.SizingPolicyCores{Min: 5, Max: 8}, CoreFractions: []int{20, 50, 100}},
		{Cores: &v1alpha2.SizingPolicyCores{Min: 10, Max: 20, Step: 2}, Memory: &v1alpha2.SizingPolicyMemory{
			Min: q("2Gi"), Max: q("64Gi"), Step: q("1Gi"), PerCore: &v1alpha2.SizingPolicyMemoryPerCore{Min: q("512Mi"), Max: q("4Gi")}}},
	}
	return c
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cores    int32
		fraction string
		memory   string
		want     string
	}{
		{"seed VM", 1, "10%", "1Gi", ""},
		{"policy default fraction applies", 2, "", "1Gi", ""},
		{"fraction not allowed", 1, "30%", "1Gi", `allows coreFraction 5%, 10%, 20%, 50%, 100% for 1 cores`},
		{"implicit 100% allowed", 6, "", "1Gi", ""},
		{"no policy for 9 cores", 9, "", "1Gi", "allows cores in the ranges 1-4, 5-8, 10-20 only"},
		{"step", 11, "", "11Gi", "in steps of 2"},
		{"memory below min", 10, "", "1Gi", "requires at least 2Gi"},
		{"memory step", 10, "", "2500Mi", "in steps of 1Gi"},
		{"memory per core", 20, "", "5Gi", "per core"},
		{"fits", 12, "", "12Gi", ""},
	} {
		spec := &v1alpha2.VirtualMachineSpec{CPU: v1alpha2.CPUSpec{Cores: tc.cores, CoreFraction: tc.fraction}, Memory: v1alpha2.MemorySpec{Size: *q(tc.memory)}}
		got := Check(genericLike(), spec, field.NewPath("spec")).ToAggregate()
		if (got == nil) != (tc.want == "") || (got != nil && !strings.Contains(got.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, got, tc.want)
		}
	}
}

func TestValidatePolicies(t *testing.T) {
	bad := intstr.FromString("30%")
	policies := []v1alpha2.SizingPolicy{
		{Cores: &v1alpha2.SizingPolicyCores{Min: 1, Max: 4}, CoreFractions: []int{50, 100}, DefaultCoreFraction: &bad},
		{Cores: &v1alpha2.SizingPolicyCores{Min: 4, Max: 8}},
		{Cores: &v1alpha2.SizingPolicyCores{Min: 9, Max: 16}, Memory: &v1alpha2.SizingPolicyMemory{Min: q("4Gi"), Max: q("1Gi")}},
	}
	got := ValidatePolicies(policies, field.NewPath("spec", "sizingPolicies")).ToAggregate().Error()
	for _, want := range []string{"size policy cpu crosses: cores 4-8 overlap cores 1-4 of sizingPolicies[0]", "must be one of coreFractions (50%, 100%)", "must not be less than memory.min"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in %s", want, got)
		}
	}
	if errs := ValidatePolicies(genericLike().Spec.SizingPolicies, field.NewPath("p")); len(errs) != 0 {
		t.Errorf("valid policies refused: %v", errs)
	}
}
