package sizing

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/virtlab/dvp/api/v1alpha2"
)

// MaxCores is the largest VM the platform starts.
const MaxCores = 248

// Sockets returns the socket count for a core count: 1-16 cores on one
// socket, 17-32 on 2, 33-64 on 4, more on 8.
func Sockets(cores int32) int32 {
	switch {
	case cores <= 16:
		return 1
	case cores <= 32:
		return 2
	case cores <= 64:
		return 4
	default:
		return 8
	}
}

// ValidateTopology checks that cores fit the socket layout.
func ValidateTopology(path *field.Path, cores int32) field.ErrorList {
	switch {
	case cores < 1:
		return field.ErrorList{field.Invalid(path, cores, "must be at least 1")}
	case cores > MaxCores:
		return field.ErrorList{field.Invalid(path, cores, fmt.Sprintf("must be at most %d", MaxCores))}
	}
	if s := Sockets(cores); cores%s != 0 {
		return field.ErrorList{field.Invalid(path, cores, fmt.Sprintf(
			"the requested number of cores must be a multiple of %d (%d cores are spread over %d sockets)", s, cores, s))}
	}
	return nil
}

// ParseCoreFraction turns "10%" into 10. "" yields 0 (unset).
func ParseCoreFraction(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if err != nil || !strings.HasSuffix(s, "%") || n < 1 || n > 100 {
		return 0, fmt.Errorf("%q is not a percentage between 1%% and 100%%", s)
	}
	return n, nil
}

// PolicyFor returns the sizing policy whose core range holds cores, or nil.
func PolicyFor(class *v1alpha2.VirtualMachineClass, cores int32) *v1alpha2.SizingPolicy {
	for i := range class.Spec.SizingPolicies {
		p := &class.Spec.SizingPolicies[i]
		if p.Cores != nil && int(cores) >= p.Cores.Min && int(cores) <= p.Cores.Max {
			return p
		}
	}
	return nil
}

// EffectiveCoreFraction is the VM's fraction, else the policy default, else 100.
func EffectiveCoreFraction(p *v1alpha2.SizingPolicy, spec string) int {
	if n, err := ParseCoreFraction(spec); err == nil && n > 0 {
		return n
	}
	if p != nil && p.DefaultCoreFraction != nil {
		if n, ok := defaultFraction(p); ok {
			return n
		}
	}
	return 100
}

func defaultFraction(p *v1alpha2.SizingPolicy) (int, bool) {
	d := p.DefaultCoreFraction
	if d.Type == 0 { // int
		return d.IntValue(), true
	}
	n, err := ParseCoreFraction(d.StrVal)
	if err != nil {
		n, err = strconv.Atoi(d.StrVal)
	}
	return n, err == nil && n > 0
}

// Check returns every way the VM spec violates its class's sizing policies.
// A class without policies allows any size.
func Check(class *v1alpha2.VirtualMachineClass, spec *v1alpha2.VirtualMachineSpec, specPath *field.Path) field.ErrorList {
	if len(class.Spec.SizingPolicies) == 0 {
		return nil
	}
	coresPath := specPath.Child("cpu", "cores")
	cores := spec.CPU.Cores
	p := PolicyFor(class, cores)
	if p == nil {
		return field.ErrorList{field.Invalid(coresPath, cores, fmt.Sprintf(
			"VirtualMachineClass %q allows cores in the ranges %s only", class.Name, coreRanges(class)))}
	}
	var errs field.ErrorList
	if p.Cores.Step > 0 && (int(cores)-p.Cores.Min)%p.Cores.Step != 0 {
		errs = append(errs, field.Invalid(coresPath, cores, fmt.Sprintf(
			"VirtualMachineClass %q allows cores from %d to %d in steps of %d", class.Name, p.Cores.Min, p.Cores.Max, p.Cores.Step)))
	}
	if len(p.CoreFractions) > 0 {
		frac := EffectiveCoreFraction(p, spec.CPU.CoreFraction)
		if !slices.Contains(p.CoreFractions, frac) {
			errs = append(errs, field.Invalid(specPath.Child("cpu", "coreFraction"), fmt.Sprintf("%d%%", frac), fmt.Sprintf(
				"VirtualMachineClass %q allows coreFraction %s for %d cores", class.Name, percentList(p.CoreFractions), cores)))
		}
	}
	if m := p.Memory; m != nil {
		memPath := specPath.Child("memory", "size")
		size := spec.Memory.Size
		if m.Min != nil && size.Cmp(*m.Min) < 0 {
			errs = append(errs, field.Invalid(memPath, size.String(), fmt.Sprintf("VirtualMachineClass %q requires at least %s for %d cores", class.Name, m.Min, cores)))
		}
		if m.Max != nil && size.Cmp(*m.Max) > 0 {
			errs = append(errs, field.Invalid(memPath, size.String(), fmt.Sprintf("VirtualMachineClass %q allows at most %s for %d cores", class.Name, m.Max, cores)))
		}
		if m.Step != nil && m.Step.Value() > 0 {
			base := int64(0)
			if m.Min != nil {
				base = m.Min.Value()
			}
			if (size.Value()-base)%m.Step.Value() != 0 {
				errs = append(errs, field.Invalid(memPath, size.String(), fmt.Sprintf("VirtualMachineClass %q requires memory in steps of %s", class.Name, m.Step)))
			}
		}
		if pc := m.PerCore; pc != nil && cores > 0 {
			per := resource.NewQuantity(size.Value()/int64(cores), resource.BinarySI)
			if pc.Min != nil && per.Cmp(*pc.Min) < 0 {
				errs = append(errs, field.Invalid(memPath, size.String(), fmt.Sprintf("VirtualMachineClass %q requires at least %s per core (%s per core requested)", class.Name, pc.Min, per)))
			}
			if pc.Max != nil && per.Cmp(*pc.Max) > 0 {
				errs = append(errs, field.Invalid(memPath, size.String(), fmt.Sprintf("VirtualMachineClass %q allows at most %s per core (%s per core requested)", class.Name, pc.Max, per)))
			}
		}
	}
	return errs
}

func coreRanges(class *v1alpha2.VirtualMachineClass) string {
	var parts []string
	for _, p := range class.Spec.SizingPolicies {
		if p.Cores != nil {
			parts = append(parts, fmt.Sprintf("%d-%d", p.Cores.Min, p.Cores.Max))
		}
	}
	return strings.Join(parts, ", ")
}

func percentList(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = fmt.Sprintf("%d%%", n)
	}
	return strings.Join(parts, ", ")
}

// ValidatePolicies checks a class's own policies: core ranges must not
// overlap and each default fraction must be one of the allowed fractions.
func ValidatePolicies(policies []v1alpha2.SizingPolicy, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, p := range policies {
		pp := path.Index(i)
		if p.Cores == nil {
			continue
		}
		for j := range i {
			q := policies[j]
			if q.Cores != nil && p.Cores.Min <= q.Cores.Max && q.Cores.Min <= p.Cores.Max {
				errs = append(errs, field.Invalid(pp.Child("cores"), fmt.Sprintf("%d-%d", p.Cores.Min, p.Cores.Max), fmt.Sprintf(
					"size policy cpu crosses: cores %d-%d overlap cores %d-%d of sizingPolicies[%d]", p.Cores.Min, p.Cores.Max, q.Cores.Min, q.Cores.Max, j)))
			}
		}
		if p.DefaultCoreFraction != nil && len(p.CoreFractions) > 0 {
			if n, ok := defaultFraction(&p); !ok || !slices.Contains(p.CoreFractions, n) {
				errs = append(errs, field.Invalid(pp.Child("defaultCoreFraction"), p.DefaultCoreFraction.String(), fmt.Sprintf(
					"must be one of coreFractions (%s)", percentList(p.CoreFractions))))
			}
		}
		if m := p.Memory; m != nil {
			if m.Min != nil && m.Max != nil && m.Min.Cmp(*m.Max) > 0 {
				errs = append(errs, field.Invalid(pp.Child("memory", "max"), m.Max.String(), "must not be less than memory.min"))
			}
			if pc := m.PerCore; pc != nil && pc.Min != nil && pc.Max != nil && pc.Min.Cmp(*pc.Max) > 0 {
				errs = append(errs, field.Invalid(pp.Child("memory", "perCore", "max"), pc.Max.String(), "must not be less than memory.perCore.min"))
			}
		}
	}
	return errs
}
